//! SortExecutor: materializes its input and sorts it by the keys (ASC/DESC,
//! NULLS FIRST/LAST); stable, so equal keys keep their input order. Under a
//! constant LIMIT it is bounded: it keeps only the rows that can still be
//! among the first LIMIT + OFFSET. It records the most memory it held for
//! EXPLAIN ANALYZE's `Sort Method:` line.
//!
//! An unbounded sort whose rows would take query work memory past its
//! limit (`--memory-limit`) spills: it sorts what it holds, writes it to a
//! temporary file as one sorted run, gives the memory back and goes on
//! reading; at the end it merges the runs and what it still holds. Each
//! record of a run is the row's sort key values, its input position (so
//! the merge stays stable) and the row, in a temporary file (`spill`).
//! Every `MAX_RUNS` runs are merged into one as they accumulate, so the
//! open files stay few however large the sort.

use std::cmp::Ordering;

use sargdb_catalog::types::compare;
use sargdb_catalog::Value;

use super::expr::eval;
use super::spill::{SpillReader, SpillWriter};
use super::{BoxedExecutor, ExecContext, Executor, Row, SortInfo};
use crate::error::{Result, SqlError};
use crate::memory::row_bytes;
use crate::planner::plan::SortKey;

pub struct SortExecutor {
    input: BoxedExecutor,
    keys: Vec<SortKey>,
    /// At most this many rows will be read (a constant LIMIT above): the
    /// sort keeps only the first `bound` rows in key order.
    bound: Option<usize>,
    sorted: Option<Sorted>,
    /// The buffered rows, as query work memory.
    memory: crate::memory::WorkMemory,
    /// Set once sorted: what EXPLAIN ANALYZE reports.
    info: Option<SortInfo>,
}

impl SortExecutor {
    pub fn new(input: BoxedExecutor, keys: Vec<SortKey>, bound: Option<usize>) -> Self {
        SortExecutor {
            input,
            keys,
            bound,
            sorted: None,
            memory: Default::default(),
            info: None,
        }
    }

    /// Read the whole input and sort it. With a bound, whenever more than
    /// twice the bound is buffered the first `bound` rows in sort order are
    /// selected and the rest dropped (Postgres switches to a bounded heap at
    /// the same point), so at most 2 x bound + 1 rows are held.
    fn fill(&mut self, ctx: &mut ExecContext) -> Result<()> {
        // (sort key values, input position, row): the position breaks ties
        // so the sort is stable, and so is the pruning.
        let mut rows: Vec<Record> = vec![];
        let mut held: u64 = 0;
        let mut peak: u64 = 0;
        let mut pruned = false;
        let mut runs: Vec<Source> = vec![];
        let mut disk_bytes = 0u64;
        let keys = self.keys.clone();
        let order = |a: &Record, b: &Record| -> Ordering {
            compare_keys(&a.0, &b.0, &keys).then(a.1.cmp(&b.1))
        };
        let mut seq = 0usize;
        while let Some(r) = self.input.next(ctx)? {
            ctx.check_cancel()?;
            let mut k = Vec::with_capacity(self.keys.len());
            for key in &self.keys {
                k.push(eval(&key.expr, &r, ctx)?);
            }
            let b = row_bytes(&r) + row_bytes(&k);
            if let Err(full) = self.memory.add(b) {
                // Out of work memory: spill what is held as a sorted run
                // (a bounded sort holds little and never spills).
                if self.bound.is_some() || rows.is_empty() {
                    return Err(full);
                }
                rows.sort_unstable_by(&order);
                let mut drain = rows.drain(..);
                runs.push(write_run(ctx, || Ok(drain.next()), &mut disk_bytes)?);
                drop(drain);
                if runs.len() == MAX_RUNS {
                    let mut merge = Merge::new(std::mem::take(&mut runs), &self.keys)?;
                    runs.push(write_run(ctx, || merge.next(), &mut disk_bytes)?);
                }
                self.memory.release(held);
                held = 0;
                self.memory.add(b)?;
            }
            held += b;
            rows.push((k, seq, r));
            seq += 1;
            peak = peak.max(held + array_bytes(&rows));
            if let Some(bound) = self.bound {
                if rows.len() > bound.saturating_mul(2) {
                    let dropped = prune(&mut rows, bound, &order);
                    self.memory.release(dropped);
                    held -= dropped;
                    pruned = true;
                }
            }
        }
        // At most twice the bound remain; the LIMIT reads only the first
        // `bound` of them (like Postgres, which keeps a plain sort unless
        // the input outgrew twice the bound).
        rows.sort_unstable_by(&order);
        // The sorted rows move into an array of their own while the
        // buffered one is still held.
        let out_bytes = (rows.len() * std::mem::size_of::<Row>()) as u64;
        peak = peak.max(held + array_bytes(&rows) + out_bytes);
        self.info = Some(SortInfo {
            top_n: pruned,
            peak_bytes: peak,
            disk_bytes,
        });
        self.sorted = Some(if runs.is_empty() {
            Sorted::Memory(
                rows.into_iter()
                    .map(|(_, _, r)| r)
                    .collect::<Vec<_>>()
                    .into_iter(),
            )
        } else {
            runs.push(Source::Memory(rows.into_iter()));
            Sorted::Merge(Merge::new(runs, &self.keys)?)
        });
        Ok(())
    }
}

/// Bytes of the array of buffered rows itself (its capacity).
fn array_bytes<T>(rows: &Vec<T>) -> u64 {
    (rows.capacity() * std::mem::size_of::<T>()) as u64
}

/// Keep the first `bound` entries of `rows` in `order` (in no particular
/// order); the bytes of the dropped rows.
fn prune(
    rows: &mut Vec<Record>,
    bound: usize,
    order: &impl Fn(&Record, &Record) -> Ordering,
) -> u64 {
    if bound == 0 {
        let dropped = rows
            .iter()
            .map(|(k, _, r)| row_bytes(r) + row_bytes(k))
            .sum();
        rows.clear();
        return dropped;
    }
    if rows.len() <= bound {
        return 0;
    }
    rows.select_nth_unstable_by(bound - 1, order);
    let dropped = rows[bound..]
        .iter()
        .map(|(k, _, r)| row_bytes(r) + row_bytes(k))
        .sum();
    rows.truncate(bound);
    dropped
}

pub fn compare_keys(a: &[Value], b: &[Value], keys: &[SortKey]) -> Ordering {
    for (i, k) in keys.iter().enumerate() {
        let (x, y) = (&a[i], &b[i]);
        let o = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => {
                if k.nulls_first {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (false, true) => {
                if k.nulls_first {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (false, false) => {
                let o = compare(x, y);
                if k.desc {
                    o.reverse()
                } else {
                    o
                }
            }
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// One row of a sort: (sort key values, input position, row). The input
/// position breaks ties, so the sort and the merge are stable.
type Record = (Vec<Value>, usize, Row);

/// Runs held open at once: when a sort has written this many, it merges
/// them into one, so a large sort under a small limit never holds more
/// files than this.
const MAX_RUNS: usize = 64;

/// Where the merge takes rows from: a run on disk, or the rows still in
/// memory.
enum Source {
    Run(SpillReader),
    Memory(std::vec::IntoIter<Record>),
}

impl Source {
    fn next(&mut self, nkeys: usize) -> Result<Option<Record>> {
        let f = match self {
            Source::Memory(rows) => return Ok(rows.next()),
            Source::Run(f) => f,
        };
        let corrupt = || SqlError::Internal("a sort's temporary file is corrupt".into());
        let Some(mut vals) = f.next()? else {
            return Ok(None);
        };
        if vals.len() <= nkeys {
            return Err(corrupt());
        }
        let row = vals.split_off(nkeys + 1);
        let Some(Value::Int8(seq)) = vals.pop() else {
            return Err(corrupt());
        };
        Ok(Some((vals, seq as usize, row)))
    }
}

/// A source's next row in the merge heap, ordered so that the heap's top
/// is the smallest key (equal keys by input position).
struct MergeHead {
    record: Record,
    source: usize,
    order: std::sync::Arc<[SortKey]>,
}

impl Ord for MergeHead {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap.
        let (a, b) = (&self.record, &other.record);
        compare_keys(&b.0, &a.0, &self.order).then(b.1.cmp(&a.1))
    }
}
impl PartialOrd for MergeHead {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for MergeHead {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for MergeHead {}

/// Sorted sources merged into one order.
struct Merge {
    heap: std::collections::BinaryHeap<MergeHead>,
    sources: Vec<Source>,
    nkeys: usize,
}

impl Merge {
    fn new(sources: Vec<Source>, keys: &[SortKey]) -> Result<Merge> {
        let order: std::sync::Arc<[SortKey]> = keys.to_vec().into();
        let mut m = Merge {
            heap: std::collections::BinaryHeap::with_capacity(sources.len()),
            sources,
            nkeys: keys.len(),
        };
        for i in 0..m.sources.len() {
            if let Some(record) = m.sources[i].next(m.nkeys)? {
                m.heap.push(MergeHead {
                    record,
                    source: i,
                    order: order.clone(),
                });
            }
        }
        Ok(m)
    }

    fn next(&mut self) -> Result<Option<Record>> {
        let Some(mut top) = self.heap.pop() else {
            return Ok(None);
        };
        match self.sources[top.source].next(self.nkeys)? {
            Some(record) => {
                let out = std::mem::replace(&mut top.record, record);
                self.heap.push(top);
                Ok(Some(out))
            }
            None => Ok(Some(top.record)),
        }
    }
}

/// The sorted output: all in memory, or the merge of the runs and the rows
/// held at the end.
enum Sorted {
    Memory(std::vec::IntoIter<Row>),
    Merge(Merge),
}

impl Sorted {
    fn next(&mut self) -> Result<Option<Row>> {
        match self {
            Sorted::Memory(rows) => Ok(rows.next()),
            Sorted::Merge(m) => Ok(m.next()?.map(|(_, _, row)| row)),
        }
    }
}

/// Write `records` (in order) as a run; adds its size to `disk_bytes`.
fn write_run(
    ctx: &ExecContext,
    mut records: impl FnMut() -> Result<Option<Record>>,
    disk_bytes: &mut u64,
) -> Result<Source> {
    let mut w = SpillWriter::create(ctx)?;
    let mut vals: Vec<Value> = Vec::new();
    let mut n = 0usize;
    while let Some((k, seq, r)) = records()? {
        if n.is_multiple_of(1024) {
            ctx.check_cancel()?;
        }
        n += 1;
        vals.clear();
        vals.extend(k);
        vals.push(Value::Int8(seq as i64));
        vals.extend(r);
        w.write(&vals)?;
    }
    *disk_bytes += w.bytes();
    Ok(Source::Run(w.finish()?))
}

impl Executor for SortExecutor {
    fn next(&mut self, ctx: &mut ExecContext) -> Result<Option<Row>> {
        if self.sorted.is_none() {
            self.fill(ctx)?;
        }
        match self.sorted.as_mut() {
            Some(s) => s.next(),
            None => Ok(None),
        }
    }

    fn sort_info(&self) -> Option<SortInfo> {
        self.info
    }
}
