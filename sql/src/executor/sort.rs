//! SortExecutor: materializes its input and sorts it by the keys (ASC/DESC,
//! NULLS FIRST/LAST); stable, so equal keys keep their input order. Under a
//! constant LIMIT it is bounded: it keeps only the rows that can still be
//! among the first LIMIT + OFFSET. It records the most memory it held for
//! EXPLAIN ANALYZE's `Sort Method:` line.

use std::cmp::Ordering;

use sargdb_catalog::types::compare;
use sargdb_catalog::Value;

use super::expr::eval;
use super::{BoxedExecutor, ExecContext, Executor, Row, SortInfo};
use crate::error::Result;
use crate::memory::row_bytes;
use crate::planner::plan::SortKey;

pub struct SortExecutor {
    input: BoxedExecutor,
    keys: Vec<SortKey>,
    /// At most this many rows will be read (a constant LIMIT above): the
    /// sort keeps only the first `bound` rows in key order.
    bound: Option<usize>,
    sorted: Option<std::vec::IntoIter<Row>>,
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
        let mut rows: Vec<(Vec<Value>, usize, Row)> = vec![];
        let mut held: u64 = 0;
        let mut peak: u64 = 0;
        let mut pruned = false;
        let keys = self.keys.clone();
        let order = |a: &(Vec<Value>, usize, Row), b: &(Vec<Value>, usize, Row)| -> Ordering {
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
            self.memory.add(b)?;
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
        });
        self.sorted = Some(
            rows.into_iter()
                .map(|(_, _, r)| r)
                .collect::<Vec<_>>()
                .into_iter(),
        );
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
    rows: &mut Vec<(Vec<Value>, usize, Row)>,
    bound: usize,
    order: &impl Fn(&(Vec<Value>, usize, Row), &(Vec<Value>, usize, Row)) -> Ordering,
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

impl Executor for SortExecutor {
    fn next(&mut self, ctx: &mut ExecContext) -> Result<Option<Row>> {
        if self.sorted.is_none() {
            self.fill(ctx)?;
        }
        Ok(self.sorted.as_mut().and_then(|s| s.next()))
    }

    fn sort_info(&self) -> Option<SortInfo> {
        self.info
    }
}
