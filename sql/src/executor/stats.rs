//! Activity counting for the statistics views (`pg_stat_*`,
//! `pg_stat_indexes`): how operators reach a relation's counters cheaply.
//!
//! A plan holds a `StatsSlot` per index, resolved to the index's
//! `RelationStats` on first use and kept with the (possibly cached) plan,
//! so counting costs a relaxed atomic add, never a lookup per row. Scans keep
//! their per-row counts in locals and add them once, when they finish or are
//! dropped (`ScanCounts`).

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use sargdb_engine::stats::{tracking, unix_micros_at, Counter, Latency, RelationStats};

use super::ExecContext;

/// A relation's counters, looked up once and then shared by every execution
/// of the plan holding it. Equality and Debug ignore it: it is a cache, not
/// part of what the plan means.
#[derive(Clone, Default)]
pub struct StatsSlot(Arc<OnceLock<Arc<RelationStats>>>);

impl StatsSlot {
    pub fn get(&self, ctx: &ExecContext, oid: u32) -> &Arc<RelationStats> {
        self.0.get_or_init(|| ctx.engine.relation_stats().get(oid))
    }
}

impl PartialEq for StatsSlot {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for StatsSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StatsSlot")
    }
}

/// The counters of a table (one registry lookup per call: use once per
/// statement, not per row).
pub fn table_stats(ctx: &ExecContext, oid: u32) -> Arc<RelationStats> {
    ctx.engine.relation_stats().get(oid)
}

/// Rows a DML statement changed in one table.
pub fn note_dml(ctx: &ExecContext, table: u32, ins: u64, upd: u64, del: u64) {
    if ins + upd + del == 0 || !tracking() {
        return;
    }
    let s = table_stats(ctx, table);
    s.add(Counter::TupIns, ins);
    s.add(Counter::TupUpd, upd);
    s.add(Counter::TupDel, del);
    s.add(Counter::LiveTup, ins);
    s.sub(Counter::LiveTup, del);
    // An update leaves the old version dead, as a delete does.
    s.add(Counter::DeadTup, upd + del);
    s.add(Counter::ModSinceAnalyze, ins + upd + del);
    s.add(Counter::InsSinceVacuum, ins);
}

/// Time an index operation and record it in one of the index's histograms
/// (just run it when counting is off).
pub fn timed<R>(s: &RelationStats, l: Latency, f: impl FnOnce() -> R) -> R {
    if !tracking() {
        return f();
    }
    let t = Instant::now();
    let r = f();
    s.latency(l).record(t.elapsed());
    r
}

/// Per-scan counts, added to the counters when the scan ends or is dropped.
pub struct ScanCounts {
    /// None when counting is off (`ScanCounts::off`).
    pub table: Option<Arc<RelationStats>>,
    pub index: Option<Arc<RelationStats>>,
    /// Index entries read (idx_tup_read).
    pub entries: u64,
    /// Live table rows fetched through the index (idx_tup_fetch), or rows a
    /// sequential scan returned (seq_tup_read).
    pub fetched: u64,
    /// Rows the index scan produced after its recheck (rows_returned).
    pub returned: u64,
    /// Which latency histogram the scan's keys go to.
    pub kind: Latency,
    /// When the key being scanned started.
    started: Option<Instant>,
    /// Whether the index's last_used was set by this scan.
    touched: bool,
}

impl ScanCounts {
    pub fn seq(table: Arc<RelationStats>) -> Self {
        table.add(Counter::SeqScan, 1);
        let mut c = ScanCounts::off();
        c.table = Some(table);
        c
    }

    /// An index scan starts: idx_scan of the index, and when it was last
    /// used. (The table's idx_scan and idx_tup_fetch are sums over its
    /// indexes, as in Postgres's view, so the table's counters are not
    /// touched: one shared cache line fewer per probe.)
    pub fn index(index: Arc<RelationStats>, kind: Latency) -> Self {
        index.add(Counter::IdxScan, 1);
        // last_used is set by the first key's start (from the clock read
        // it takes anyway), or when the scan ends if no key ran.
        let mut c = ScanCounts::off();
        c.index = Some(index);
        c.kind = kind;
        c
    }

    /// Counts nothing (activity counting is off).
    pub fn off() -> Self {
        ScanCounts {
            table: None,
            index: None,
            entries: 0,
            fetched: 0,
            returned: 0,
            started: None,
            touched: false,
            kind: Latency::Lookup,
        }
    }

    /// A key's probe or range scan starts (its latency runs from here to
    /// `key_done`).
    #[inline]
    pub fn key_start(&mut self) {
        if let Some(ix) = &self.index {
            let now = Instant::now();
            if !self.touched {
                ix.touch_coarse_at(Counter::LastUsed, unix_micros_at(now));
                self.touched = true;
            }
            self.started = Some(now);
        }
    }

    /// One key's probe or range scan of the index has finished.
    pub fn key_done(&mut self) {
        if let (Some(ix), Some(t)) = (&self.index, self.started.take()) {
            ix.add(
                match self.kind {
                    Latency::Lookup => Counter::Lookups,
                    _ => Counter::RangeScans,
                },
                1,
            );
            ix.latency(self.kind).record(t.elapsed());
        }
    }

    fn flush(&mut self) {
        match (&self.index, &self.table) {
            (None, None) => {}
            (None, Some(table)) => table.add(Counter::SeqTupRead, self.fetched),
            (Some(ix), _) => {
                if !self.touched {
                    ix.touch_coarse(Counter::LastUsed);
                    self.touched = true;
                }
                ix.add(Counter::IdxTupRead, self.entries);
                ix.add(Counter::IdxTupFetch, self.fetched);
                ix.add(Counter::RowsReturned, self.returned);
            }
        }
        self.entries = 0;
        self.fetched = 0;
        self.returned = 0;
    }
}

impl Drop for ScanCounts {
    fn drop(&mut self) {
        if self.started.is_some() {
            // Stopped early (LIMIT): the probe still happened.
            self.key_done();
        }
        self.flush();
    }
}
