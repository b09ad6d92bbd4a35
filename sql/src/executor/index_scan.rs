//! IndexScanExecutor (Index Scan and Bitmap Heap Scan): turns the plan's
//! key conditions into byte ranges of the index (`types::key` encoding), reads
//! the matching entries, fetches each row version from the heap with the
//! statement's snapshot, and rechecks the whole original filter on it.
//!
//! Plain mode streams entries in index order (so ORDER BY ... LIMIT stops
//! early); bitmap mode collects every matching tid first and fetches them in
//! physical order, visiting each heap page once. A lossy index (BRIN) answers
//! with heap page ranges instead of tids: bitmap mode then reads every
//! visible row on those pages, and the recheck of the filter keeps only the
//! matching ones.
//!
//! Index-only mode reads entries like plain mode but builds each row from the
//! entry itself (decoded key columns and the INCLUDE tail; columns the query
//! does not read stay NULL). It visits the heap only when the visibility map
//! does not mark the entry's page all-visible, to check that this statement
//! sees the version (`Heap Fetches` in EXPLAIN ANALYZE).

use std::collections::VecDeque;
use std::ops::{Bound, Range};
use std::sync::Arc;

use sargdb_catalog::types::decode_row;
use sargdb_catalog::types::key::{
    apply_exact_hint, decode_key_prefix_with, encode_key_value, range_bounds,
};
use sargdb_catalog::types::{cast, DataType};
use sargdb_catalog::Value;
use sargdb_engine::index::{IndexCursor, IndexEntry};
use sargdb_engine::stats::{tracking, Counter, Latency};
use sargdb_engine::{Engine, Fetched, HeapScan, IndexHandle, ScanKey, TupleId};

use super::expr::{eval, eval_pred, fold_constants, has_foldable};
use super::index_maint::handle;
use super::scan::{decode_masked_into, tid_value};
use super::stats::ScanCounts;
use super::{ExecContext, Executor, OpCounts, Row};
use crate::binder::bound::BoundExpr;
use crate::error::{Result, SqlError};
use crate::planner::plan::{IndexScanMode, IndexScanPlan, KeyCond};

pub struct IndexScanExecutor {
    plan: std::sync::Arc<IndexScanPlan>,
    /// The test of this execution (the plan's `recheck`, or its whole
    /// `filter` when `full`) with its constant comparison sides evaluated,
    /// when that is worth it (else the plan's own is used).
    filter: Option<BoundExpr>,
    /// A bound could not be applied as planned (a value outside the key
    /// column's range): test the whole filter and decode every column.
    full: bool,
    /// Index-only mode: whether a row needs any value from its entry (else
    /// the entry is not decoded: every column stays NULL).
    decode_entry: bool,
    /// `next_unread` is moving past rows nobody reads: an entry that needs
    /// no decoding builds no row either.
    unread: bool,
    state: Option<State>,
    /// The row being built from a fetched tuple or entry: one the filter
    /// rejects costs no allocation, a returned row is replaced.
    buf: Row,
    /// Rows from a lossy index's pages that failed the recheck.
    removed: u64,
    /// Rows fetched that failed the filter (outside a lossy recheck).
    filtered: u64,
    /// Index-only mode: entries whose visibility the heap had to decide.
    heap_fetches: u64,
}

struct State {
    handle: IndexHandle,
    /// For the table's VACUUM epoch (`kill_dead`).
    engine: Arc<Engine>,
    heap: sargdb_engine::RelFileId,
    /// Scans still to run (IN lists run one per value, in key order).
    keys: VecDeque<ScanKey>,
    /// The running scan; its current entry is the one whose tuple is
    /// being fetched (plain and index-only modes).
    current: Option<Box<dyn IndexCursor>>,
    /// Bitmap mode: the sorted tids still to fetch.
    bitmap: Option<std::vec::IntoIter<TupleId>>,
    /// Bitmap mode over a lossy index: the heap page ranges still to read
    /// and the scan of the current one.
    pages: Option<(VecDeque<Range<u32>>, Option<HeapScan>)>,
    /// The table's VACUUM epoch read before the current index scan started
    /// (index-only mode trusts all-visible bits only while it holds).
    epoch: u64,
    /// Entries whose tuples no transaction can see any more: removed from
    /// the index in batches (Postgres's "kill prior tuple"), so the next scan
    /// does not fetch them again.
    dead: Vec<IndexEntry>,
    counts: ScanCounts,
}

/// Dead entries collected before they are removed from the index.
const KILL_BATCH: usize = 64;

impl State {
    fn kill_dead(&mut self) -> Result<()> {
        if !self.dead.is_empty() {
            // Only if no VACUUM freed heap slots since the entries were
            // read (see `AccessMethod::kill`).
            let (engine, heap, epoch) = (&self.engine, self.heap, self.epoch);
            let removed = self
                .handle
                .kill(&self.dead, &|| engine.vacuum_epoch(heap) == epoch)?;
            if let Some(ix) = &self.counts.index {
                ix.add(Counter::Deletes, removed);
            }
            self.dead.clear();
        }
        Ok(())
    }
}

impl Drop for State {
    fn drop(&mut self) {
        // A scan that stops early (LIMIT) still cleans what it found; an
        // error here only means the entries stay for VACUUM.
        if let Err(e) = self.kill_dead() {
            tracing::debug!("removing dead index entries failed: {e}");
        }
    }
}

/// Whether the scan probes for whole keys (every key column fixed by
/// equality, or by one value of an IN list per probe) rather than a range.
fn is_lookup(p: &IndexScanPlan) -> bool {
    let nkeys = p.index.key_types.len();
    match &p.next {
        None => p.eq.len() == nkeys,
        Some(KeyCond::In(_)) => p.eq.len() + 1 == nkeys,
        Some(_) => false,
    }
}

impl IndexScanExecutor {
    pub fn new(plan: std::sync::Arc<IndexScanPlan>) -> Self {
        IndexScanExecutor {
            plan,
            filter: None,
            full: false,
            decode_entry: true,
            unread: false,
            state: None,
            buf: Vec::new(),
            removed: 0,
            filtered: 0,
            heap_fetches: 0,
        }
    }
}

/// Evaluate a constant (row-independent) expression.
fn value_of(e: &crate::binder::bound::BoundExpr, ctx: &mut ExecContext) -> Result<Value> {
    eval(e, &[], ctx)
}

/// Coerce a probe value to the key column's type. None: no value of the
/// column can equal it (out of range), so an equality probe finds nothing.
fn to_key_type(v: Value, ty: &DataType, ctx: &ExecContext) -> Option<Value> {
    cast(v, ty, false, &ctx.call.types).ok()
}

/// The byte scan keys for the plan's conditions; empty when nothing can match.
/// A scan of one column of a `column_keys` index says which column. Sets
/// `dropped` when a range bound was left out (its value lies outside the
/// key column's range): then only the whole filter keeps the result exact.
fn scan_keys(p: &IndexScanPlan, ctx: &mut ExecContext, dropped: &mut bool) -> Result<Vec<ScanKey>> {
    let keys = prefix_scan_keys(p, ctx, dropped)?;
    Ok(match p.index.scan_column {
        Some(column) => keys
            .into_iter()
            .map(|key| ScanKey::Column {
                column,
                key: Box::new(key),
            })
            .collect(),
        None => keys,
    })
}

/// The scan keys over the index's leading key columns.
fn prefix_scan_keys(
    p: &IndexScanPlan,
    ctx: &mut ExecContext,
    dropped: &mut bool,
) -> Result<Vec<ScanKey>> {
    let ix = &p.index;
    let mut prefix = Vec::new();
    for (i, e) in p.eq.iter().enumerate() {
        let ty = &ix.key_types[i];
        let v = if p.eq_null.get(i).copied().unwrap_or(false) {
            Value::Null
        } else {
            let v = value_of(e, ctx)?;
            if v.is_null() {
                return Ok(vec![]); // `col = NULL` matches nothing
            }
            match to_key_type(v, ty, ctx) {
                Some(v) => v,
                None => return Ok(vec![]),
            }
        };
        encode_key_value(&v, ty, ix.key_cols[i], &mut prefix)?;
    }
    let k = p.eq.len();
    // A value for every key column is a whole key: an equality scan (the
    // only kind hash indexes serve).
    let whole = |kb: Vec<u8>, cols: usize| {
        // Entries may continue after the key (INCLUDE, key copies).
        if cols == ix.keys.len() && !ix.def.has_tail() {
            ScanKey::Eq(kb)
        } else {
            ScanKey::Prefix(kb)
        }
    };
    let next = match &p.next {
        None => {
            return Ok(vec![if prefix.is_empty() {
                ScanKey::All
            } else {
                whole(prefix, k)
            }]);
        }
        Some(n) => n,
    };
    let ty = &ix.key_types[k];
    let col = ix.key_cols[k];
    match next {
        KeyCond::In(list) => {
            let mut keys: Vec<Vec<u8>> = vec![];
            for e in list {
                let v = value_of(e, ctx)?;
                if v.is_null() {
                    continue;
                }
                let Some(v) = to_key_type(v, ty, ctx) else {
                    continue;
                };
                let mut kb = prefix.clone();
                encode_key_value(&v, ty, col, &mut kb)?;
                keys.push(kb);
            }
            keys.sort();
            keys.dedup();
            if p.backward {
                keys.reverse();
            }
            Ok(keys.into_iter().map(|kb| whole(kb, k + 1)).collect())
        }
        KeyCond::Prefix(e) => {
            let v = value_of(e, ctx)?;
            let Value::Text(pattern) = v else {
                return Ok(vec![]);
            };
            let lit = like_prefix(&pattern);
            if lit.is_empty() {
                // No fixed prefix: every non-NULL key.
                let (lo, hi) = range_bounds(&prefix, ty, col, Bound::Unbounded, Bound::Unbounded)?;
                return Ok(vec![ScanKey::Range {
                    lower: lo,
                    upper: hi,
                }]);
            }
            let mut kb = prefix.clone();
            encode_key_value(&Value::Text(lit), ty, col, &mut kb)?;
            // Drop the 2-byte string terminator: what remains is a byte prefix
            // of every string that starts with the literal.
            kb.truncate(kb.len().saturating_sub(2));
            Ok(vec![ScanKey::Prefix(kb)])
        }
        KeyCond::Range { lower, upper } => {
            let mut bound = |b: &Option<(crate::binder::bound::BoundExpr, bool)>,
                             ctx: &mut ExecContext|
             -> Result<Option<Bound<Value>>> {
                Ok(match b {
                    None => Some(Bound::Unbounded),
                    Some((e, incl)) => {
                        let v = value_of(e, ctx)?;
                        if v.is_null() {
                            return Ok(None); // comparison with NULL matches nothing
                        }
                        match to_key_type(v, ty, ctx) {
                            Some(v) if *incl => Some(Bound::Included(v)),
                            Some(v) => Some(Bound::Excluded(v)),
                            // Out of the column's range: drop the bound, the
                            // recheck of the whole filter keeps the result
                            // exact.
                            None => {
                                *dropped = true;
                                Some(Bound::Unbounded)
                            }
                        }
                    }
                })
            };
            let (Some(lo), Some(hi)) = (bound(lower, ctx)?, bound(upper, ctx)?) else {
                return Ok(vec![]);
            };
            let (lo_b, hi_b) = range_bounds(&prefix, ty, col, lo.as_ref(), hi.as_ref())?;
            Ok(vec![ScanKey::Range {
                lower: lo_b,
                upper: hi_b,
            }])
        }
    }
}

/// The fixed text before the first wildcard of a LIKE pattern (backslash
/// escapes honoured).
pub fn like_prefix(pattern: &str) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' | '_' => break,
            '\\' => match chars.next() {
                Some(n) => out.push(n),
                None => break,
            },
            c => out.push(c),
        }
    }
    out
}

impl IndexScanExecutor {
    /// The plan's test for this execution (before any folding).
    fn plan_filter(&self) -> Option<&BoundExpr> {
        if self.full {
            self.plan.filter.as_ref()
        } else {
            self.plan.recheck.as_ref()
        }
    }

    /// The columns decoded from a fetched row.
    fn needed(&self) -> Option<&[bool]> {
        if self.full {
            None
        } else {
            self.plan.needed_columns.as_deref()
        }
    }

    fn open(&mut self, ctx: &mut ExecContext) -> Result<()> {
        let mut dropped = false;
        let keys: VecDeque<ScanKey> = scan_keys(&self.plan, ctx, &mut dropped)?.into();
        self.full = dropped;
        // Rows fetched by a range (or a lossy index's pages) are many:
        // their recheck should not redo the filter's constant parts.
        if !is_lookup(&self.plan) {
            if let Some(f) = self.plan_filter().filter(|f| has_foldable(f)) {
                self.filter = Some(fold_constants(f, ctx));
            }
        }
        self.decode_entry = match self.needed() {
            None => true,
            Some(needed) => {
                let ix = &self.plan.index;
                (0..ix.keys.len())
                    .filter_map(|i| ix.key_column(i))
                    .chain(ix.def.tail_columns())
                    .any(|c| needed.get(c).copied().unwrap_or(true))
            }
        };
        let handle = handle(ctx, &self.plan.table, &self.plan.index)?;
        let kind = if is_lookup(&self.plan) {
            Latency::Lookup
        } else {
            Latency::RangeScan
        };
        let counts = if tracking() {
            let index_stats = self
                .plan
                .index
                .stats
                .get(ctx, self.plan.index.def.oid)
                .clone();
            ScanCounts::index(index_stats, kind)
        } else {
            ScanCounts::off()
        };
        let mut st = State {
            handle,
            engine: ctx.engine.clone(),
            heap: self.plan.table.storage,
            keys,
            current: None,
            bitmap: None,
            counts,
            pages: None,
            epoch: 0,
            dead: Vec::new(),
        };
        if self.plan.mode == IndexScanMode::Bitmap && st.handle.capabilities().lossy_pages {
            let mut ranges: Vec<Range<u32>> = vec![];
            if self.plan.more_columns.is_empty() {
                while let Some(k) = st.keys.pop_front() {
                    ranges.extend(st.handle.scan_pages(&k)?);
                }
            } else {
                // One group of keys per constrained column: the pages all
                // of them leave.
                let mut groups = vec![st.keys.drain(..).collect::<Vec<_>>()];
                for c in &self.plan.more_columns {
                    let column = IndexScanPlan {
                        index: c.index.clone(),
                        eq: c.eq.clone(),
                        eq_null: c.eq_null.clone(),
                        next: c.next.clone(),
                        more_columns: vec![],
                        ..(*self.plan).clone()
                    };
                    groups.push(scan_keys(&column, ctx, &mut dropped)?);
                }
                if groups.iter().all(|g| !g.is_empty()) {
                    ranges = st.handle.scan_pages_all(&groups)?;
                }
            }
            ranges.sort_by_key(|r| r.start);
            let mut merged: VecDeque<Range<u32>> = VecDeque::new();
            for r in ranges {
                match merged.back_mut() {
                    Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                    _ => merged.push_back(r),
                }
            }
            st.pages = Some((merged, None));
        } else if self.plan.mode == IndexScanMode::Bitmap {
            let mut tids = vec![];
            while let Some(k) = st.keys.pop_front() {
                st.counts.key_start();
                let mut n = 0u64;
                let mut c = st.handle.cursor(&k, false)?;
                while c.advance()? {
                    ctx.check_cancel()?;
                    tids.push(c.current().1);
                    n += 1;
                }
                st.counts.entries += n;
                st.counts.key_done();
            }
            tids.sort_unstable();
            tids.dedup();
            st.bitmap = Some(tids.into_iter());
        }
        self.state = Some(st);
        Ok(())
    }

    fn next_tid(&mut self, ctx: &mut ExecContext) -> Result<Option<TupleId>> {
        let backward = self.plan.backward;
        let Some(st) = self.state.as_mut() else {
            return Ok(None);
        };
        if let Some(b) = st.bitmap.as_mut() {
            return Ok(b.next());
        }
        loop {
            ctx.check_cancel()?;
            if st.current.is_none() {
                let Some(k) = st.keys.pop_front() else {
                    return Ok(None);
                };
                st.counts.key_start();
                st.epoch = ctx.txn.vacuum_epoch(self.plan.table.storage);
                st.current = Some(st.handle.cursor(&k, backward)?);
            }
            let more = match st.current.as_mut() {
                Some(c) => c.advance()?,
                None => false,
            };
            match st.current.as_ref().filter(|_| more) {
                Some(c) => {
                    st.counts.entries += 1;
                    return Ok(Some(c.current().1));
                }
                None => {
                    st.current = None;
                    st.counts.key_done();
                    st.kill_dead()?;
                }
            }
        }
    }
}

impl IndexScanExecutor {
    /// Lossy bitmap mode: the tid of the next visible row on the returned
    /// pages, decoded into `buf` (None when the pages are exhausted;
    /// Some(None) when not in this mode).
    fn next_page_row(&mut self, ctx: &mut ExecContext) -> Result<Option<Option<TupleId>>> {
        let Some((ranges, scan)) = self.state.as_mut().and_then(|s| s.pages.as_mut()) else {
            return Ok(Some(None));
        };
        loop {
            ctx.check_cancel()?;
            if scan.is_none() {
                let Some(r) = ranges.pop_front() else {
                    return Ok(None);
                };
                *scan = Some(ctx.txn.scan_blocks(self.plan.table.storage, r)?);
            }
            match scan.as_mut().and_then(|s| s.next_tuple()) {
                Some(item) => {
                    let (tid, bytes) = item?;
                    decode_masked_into(
                        &self.plan.table,
                        &bytes,
                        if self.full {
                            None
                        } else {
                            self.plan.needed_columns.as_deref()
                        },
                        &ctx.call.types,
                        &mut self.buf,
                    )?;
                    return Ok(Some(Some(tid)));
                }
                None => *scan = None,
            }
        }
    }

    /// Decode the row at `tid` into `buf` if this statement sees it (false
    /// if not); remembers the current entry for removal if nobody can see
    /// its tuple any more.
    fn fetch_row(&mut self, tid: TupleId, ctx: &mut ExecContext) -> Result<bool> {
        let needed = if self.full {
            None
        } else {
            self.plan.needed_columns.as_deref()
        };
        let (table, types) = (&self.plan.table, &ctx.call.types);
        let buf = &mut self.buf;
        match ctx.txn.fetch_checked_with(table.storage, tid, |bytes| {
            decode_masked_into(table, bytes, needed, types, buf)
        })? {
            Fetched::Visible(decoded) => {
                decoded?;
                Ok(true)
            }
            Fetched::Invisible => Ok(false),
            Fetched::Dead => {
                if let Some(st) = self.state.as_mut() {
                    // The index entry that led here (bitmap mode has none).
                    if let Some(c) = st.current.as_ref() {
                        let (key, tid) = c.current();
                        st.dead.push(IndexEntry {
                            key: key.to_vec(),
                            tid,
                        });
                        if st.dead.len() >= KILL_BATCH {
                            st.kill_dead()?;
                        }
                    }
                }
                Ok(false)
            }
        }
    }
}

impl IndexScanExecutor {
    /// Index-only mode: the row of the current entry if this statement sees
    /// its version: from the entry (key and INCLUDE columns, the rest NULL)
    /// when its page is all-visible, else from the heap like an index scan.
    fn index_only_row(&mut self, tid: TupleId, ctx: &mut ExecContext) -> Result<bool> {
        let Some(st) = self.state.as_mut() else {
            return Ok(false);
        };
        if ctx
            .txn
            .entry_all_visible(self.plan.table.storage, tid.page, st.epoch)
        {
            return match &st.current {
                Some(c) if self.decode_entry => {
                    row_from_entry(&self.plan, c.current().0, &mut self.buf)?;
                    Ok(true)
                }
                Some(_) if self.unread && self.plan.recheck.is_none() && !self.full => Ok(true),
                Some(_) => {
                    // Nothing above reads a value of the entry.
                    self.buf.clear();
                    self.buf
                        .extend((0..self.plan.table.columns.len()).map(|_| Value::Null));
                    Ok(true)
                }
                None => Ok(false),
            };
        }
        self.heap_fetches += 1;
        st.counts.fetched += 1;
        self.fetch_row(tid, ctx)
    }
}

/// A physical row of the scanned table from an index entry's stored key:
/// the plain key columns decoded (key copies made exact with their hints),
/// the INCLUDE columns from the tail, every other column NULL (the planner chose
/// index-only mode because nothing reads them).
fn row_from_entry(p: &IndexScanPlan, key: &[u8], row: &mut Row) -> Result<()> {
    let ix = &p.index;
    row.clear();
    row.extend((0..p.table.columns.len()).map(|_| Value::Null));
    let used = decode_key_prefix_with(key, &ix.key_types, &ix.key_cols, |i, v| {
        if let Some(slot) = ix.key_column(i).and_then(|c| row.get_mut(c)) {
            *slot = v;
        }
    })?;
    let mut at = used;
    for &c in &ix.def.key_copies {
        let (Some(i), Some(slot)) = (ix.key_index_of(c), row.get_mut(c)) else {
            return Err(SqlError::Internal("key copy is not a key column".into()));
        };
        let (v, n) = apply_exact_hint(
            std::mem::replace(slot, Value::Null),
            &ix.key_types[i],
            &key[at..],
        )?;
        *slot = v;
        at += n;
    }
    if !ix.def.include.is_empty() {
        let types: Vec<DataType> = ix
            .def
            .include
            .iter()
            .map(|&c| {
                p.table
                    .columns
                    .get(c)
                    .map(|col| col.data_type.clone())
                    .unwrap_or(DataType::Unknown)
            })
            .collect();
        let inc = decode_row(&key[at..], &types)?;
        for (&c, v) in ix.def.include.iter().zip(inc) {
            if let Some(slot) = row.get_mut(c) {
                *slot = v.unwrap_or(Value::Null);
            }
        }
    }
    Ok(())
}

impl IndexScanExecutor {
    /// Move to the next row this statement sees that passes the test: the
    /// row is in `buf` (without the tid column), its tid is returned.
    fn advance(&mut self, ctx: &mut ExecContext) -> Result<Option<TupleId>> {
        if self.state.is_none() {
            self.open(ctx)?;
        }
        loop {
            let mut lossy = false;
            let tid = match self.next_page_row(ctx)? {
                None => return Ok(None),
                Some(Some(tid)) => {
                    lossy = true;
                    if let Some(st) = self.state.as_mut() {
                        st.counts.fetched += 1;
                    }
                    tid
                }
                Some(None) => {
                    let Some(tid) = self.next_tid(ctx)? else {
                        return Ok(None);
                    };
                    if self.plan.mode == IndexScanMode::IndexOnly {
                        if !self.index_only_row(tid, ctx)? {
                            continue;
                        }
                    } else {
                        if !self.fetch_row(tid, ctx)? {
                            continue;
                        }
                        if let Some(st) = self.state.as_mut() {
                            st.counts.fetched += 1;
                        }
                    }
                    tid
                }
            };
            let f = match &self.filter {
                Some(f) => Some(f),
                None if self.full => self.plan.filter.as_ref(),
                None => self.plan.recheck.as_ref(),
            };
            if let Some(f) = f {
                if !eval_pred(f, &self.buf, ctx)? {
                    // The filter rechecks the index conditions too, but
                    // those fail only on a lossy index's pages.
                    if lossy {
                        self.removed += 1;
                    } else {
                        self.filtered += 1;
                    }
                    continue;
                }
            }
            if let Some(st) = self.state.as_mut() {
                st.counts.returned += 1;
            }
            return Ok(Some(tid));
        }
    }
}

impl Executor for IndexScanExecutor {
    fn counts(&self) -> OpCounts {
        OpCounts {
            removed_by_recheck: self.removed,
            removed_by_filter: self.filtered,
            heap_fetches: self.heap_fetches,
        }
    }

    fn next(&mut self, ctx: &mut ExecContext) -> Result<Option<Row>> {
        let Some(tid) = self.advance(ctx)? else {
            return Ok(None);
        };
        let width = self.buf.len() + 1;
        let mut row = std::mem::replace(&mut self.buf, Vec::with_capacity(width));
        if self.plan.with_tid {
            row.push(tid_value(tid));
        }
        Ok(Some(row))
    }

    fn next_into(&mut self, ctx: &mut ExecContext, row: &mut Row) -> Result<bool> {
        let Some(tid) = self.advance(ctx)? else {
            return Ok(false);
        };
        // The caller's previous row becomes the next one's buffer: no
        // allocation per row.
        std::mem::swap(row, &mut self.buf);
        if self.plan.with_tid {
            row.push(tid_value(tid));
        }
        Ok(true)
    }

    fn next_unread(&mut self, ctx: &mut ExecContext) -> Result<bool> {
        self.unread = true;
        let r = self.advance(ctx);
        self.unread = false;
        Ok(r?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::like_prefix;

    #[test]
    fn like_prefixes() {
        assert_eq!(like_prefix("abc%"), "abc");
        assert_eq!(like_prefix("a_c%"), "a");
        assert_eq!(like_prefix("a\\%b%"), "a%b");
        assert_eq!(like_prefix("%x"), "");
        assert_eq!(like_prefix("plain"), "plain");
    }
}
