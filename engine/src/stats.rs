//! Activity statistics: per-relation counters and latency histograms, and
//! their persistence in `<data_dir>/stats`.
//!
//! A relation's counters live in one `RelationStats` of relaxed atomics,
//! shared through an `Arc`: the executor looks the `Arc` up once per plan (or
//! per scan) and then counts with plain `fetch_add`s, so counting takes no
//! lock and no map lookup per row. The registry is keyed by the id the
//! catalog gives the relation (its oid), so counters survive REINDEX and
//! TRUNCATE, which give a relation new storage; `sync` keeps the map from
//! storage ids to counters that VACUUM (which only knows storage) uses.
//!
//! Counters are written at every checkpoint (atomic replace: temp file,
//! fsync, rename) and loaded at startup, so a restart — clean or after a
//! crash — keeps everything counted up to the last checkpoint. This module
//! does not know SQL: what each counter means for a view is the sql crate's
//! business; it only stores numbers.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::RwLock;

use crate::buffer::BuildPageHasher;
use crate::RelFileId;

static TRACKING: AtomicBool = AtomicBool::new(true);

/// Turn activity counting on or off for the whole process (the server's
/// `--track-counts`; off only to measure what counting costs).
pub fn set_tracking(on: bool) {
    TRACKING.store(on, Ordering::Relaxed);
}

/// Whether activity is being counted.
#[inline]
pub fn tracking() -> bool {
    TRACKING.load(Ordering::Relaxed)
}

/// Wall-clock time in microseconds since the Unix epoch (0 never happens
/// in practice and means "never" in the timestamp counters).
pub fn now_unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(1)
        .max(1)
}

thread_local! {
    /// A (monotonic, wall-clock) pair read together, for `unix_micros_at`.
    static WALL_ANCHOR: Cell<Option<(std::time::Instant, u64)>> = const { Cell::new(None) };
}

/// The wall-clock time (microseconds since the Unix epoch) of a monotonic
/// instant the caller already read, without a second clock read: the
/// calling thread keeps a pair of both clocks read together and renews it
/// once a second, so a step of the system clock shows within a second.
/// For timestamps taken on hot paths (an index's last use) where the
/// caller reads the monotonic clock anyway.
pub fn unix_micros_at(t: std::time::Instant) -> u64 {
    WALL_ANCHOR.with(|a| {
        if let Some((at, micros)) = a.get() {
            if let Some(d) = t.checked_duration_since(at) {
                if d < Duration::from_secs(1) {
                    return micros + d.as_micros() as u64;
                }
            }
        }
        let anchor = (std::time::Instant::now(), now_unix_micros());
        a.set(Some(anchor));
        match anchor.0.checked_duration_since(t) {
            Some(back) => anchor.1.saturating_sub(back.as_micros() as u64).max(1),
            None => anchor.1,
        }
    })
}

/// What the calling thread did to shared buffers and the WAL since it
/// started: pg_stat_statements takes a snapshot before a statement and
/// reports the difference after it (the statement runs on its session's
/// thread). Plain thread-local cells: counting takes no atomic and no lock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadIo {
    /// Pages found in the buffer pool / read from disk (or created by
    /// extending a relation, as Postgres counts them).
    pub blks_hit: u64,
    pub blks_read: u64,
    /// Pages this thread turned from clean to dirty.
    pub blks_dirtied: u64,
    /// Dirty pages this thread wrote out to free a frame for its own
    /// reads (checkpoint writes are not the statement's).
    pub blks_written: u64,
    /// Nanoseconds spent reading data pages / writing them (above).
    pub read_ns: u64,
    pub write_ns: u64,
    /// WAL records appended, how many full page images they carried, and
    /// their bytes.
    pub wal_records: u64,
    pub wal_fpi: u64,
    pub wal_bytes: u64,
}

impl ThreadIo {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &ThreadIo) -> ThreadIo {
        ThreadIo {
            blks_hit: self.blks_hit.saturating_sub(earlier.blks_hit),
            blks_read: self.blks_read.saturating_sub(earlier.blks_read),
            blks_dirtied: self.blks_dirtied.saturating_sub(earlier.blks_dirtied),
            blks_written: self.blks_written.saturating_sub(earlier.blks_written),
            read_ns: self.read_ns.saturating_sub(earlier.read_ns),
            write_ns: self.write_ns.saturating_sub(earlier.write_ns),
            wal_records: self.wal_records.saturating_sub(earlier.wal_records),
            wal_fpi: self.wal_fpi.saturating_sub(earlier.wal_fpi),
            wal_bytes: self.wal_bytes.saturating_sub(earlier.wal_bytes),
        }
    }
}

#[derive(Default)]
struct IoCells {
    dirtied: Cell<u64>,
    written: Cell<u64>,
    read_ns: Cell<u64>,
    write_ns: Cell<u64>,
    wal_records: Cell<u64>,
    wal_fpi: Cell<u64>,
    wal_bytes: Cell<u64>,
}

thread_local! {
    static THREAD_IO: IoCells = IoCells::default();
}

fn bump(c: &Cell<u64>, n: u64) {
    c.set(c.get().wrapping_add(n));
}

/// The calling thread's buffer and WAL activity so far.
pub fn thread_io() -> ThreadIo {
    let (blks_hit, blks_read) = crate::buffer::thread_counters();
    THREAD_IO.with(|c| ThreadIo {
        blks_hit,
        blks_read,
        blks_dirtied: c.dirtied.get(),
        blks_written: c.written.get(),
        read_ns: c.read_ns.get(),
        write_ns: c.write_ns.get(),
        wal_records: c.wal_records.get(),
        wal_fpi: c.wal_fpi.get(),
        wal_bytes: c.wal_bytes.get(),
    })
}

/// The calling thread made a clean page dirty.
#[inline]
pub(crate) fn note_dirtied() {
    THREAD_IO.with(|c| bump(&c.dirtied, 1));
}

/// The calling thread read a data page from disk in `d`.
pub(crate) fn note_read(d: Duration) {
    THREAD_IO.with(|c| bump(&c.read_ns, d.as_nanos() as u64));
}

/// The calling thread wrote a dirty page out in `d`.
pub(crate) fn note_written(d: Duration) {
    THREAD_IO.with(|c| {
        bump(&c.written, 1);
        bump(&c.write_ns, d.as_nanos() as u64);
    });
}

/// The calling thread appended a WAL record of `bytes` carrying `fpi`
/// full page images.
#[inline]
pub(crate) fn note_wal(fpi: u64, bytes: u64) {
    THREAD_IO.with(|c| {
        bump(&c.wal_records, 1);
        bump(&c.wal_fpi, fpi);
        bump(&c.wal_bytes, bytes);
    });
}

macro_rules! counters {
    ($($(#[$m:meta])* $name:ident),* $(,)?) => {
        /// One counter of a relation. Table counters and index counters share
        /// the enum; a relation only uses the ones of its kind.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(usize)]
        pub enum Counter { $($(#[$m])* $name),* }
        impl Counter {
            pub const ALL: &'static [Counter] = &[$(Counter::$name),*];
        }
    };
}

counters! {
    /// Sequential scans started on the table.
    SeqScan,
    /// Live rows returned by sequential scans.
    SeqTupRead,
    /// Index scans started (counted on the index; a table's is the sum
    /// over its indexes).
    IdxScan,
    /// Live table rows fetched by scans of the index.
    IdxTupFetch,
    /// Index entries returned by scans of the index.
    IdxTupRead,
    TupIns,
    TupUpd,
    TupDel,
    TupHotUpd,
    /// Estimated live / dead row versions (gauges; stored two's complement,
    /// read clamped at zero).
    LiveTup,
    DeadTup,
    ModSinceAnalyze,
    InsSinceVacuum,
    /// Timestamps (Unix microseconds, 0 = never).
    LastVacuum,
    LastAutovacuum,
    LastAnalyze,
    LastAutoanalyze,
    VacuumCount,
    AutovacuumCount,
    AnalyzeCount,
    AutoanalyzeCount,
    /// Index: equality probes (every key column fixed), one per probed key.
    Lookups,
    /// Index: scans over a range of keys (prefix, inequality, full).
    RangeScans,
    /// Index: rows its scans produced after the heap fetch and recheck.
    RowsReturned,
    /// Index: entries added / removed (removals include VACUUM's).
    Inserts,
    Deletes,
    /// Index: last scan (Unix microseconds, 0 = never).
    LastUsed,
    CreatedAt,
    LastRebuilt,
}

const NCOUNTERS: usize = Counter::ALL.len();

/// Log-linear histogram of durations in nanoseconds: exact below 16 ns,
/// then 8 buckets per power of two (every bucket within 12.5% of its
/// values), up to about 2^48 ns (3 days); longer durations land in the last
/// bucket.
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
}

const SUB_BITS: u32 = 3;
const SUB: usize = 1 << SUB_BITS;
const LINEAR: u64 = 16;
const MAX_EXP: u32 = 48;
const NBUCKETS: usize = LINEAR as usize + (MAX_EXP as usize - 4 + 1) * SUB;

fn bucket_of(ns: u64) -> usize {
    if ns < LINEAR {
        return ns as usize;
    }
    let e = 63 - ns.leading_zeros();
    if e > MAX_EXP {
        return NBUCKETS - 1;
    }
    let sub = ((ns >> (e - SUB_BITS)) as usize) & (SUB - 1);
    LINEAR as usize + (e as usize - 4) * SUB + sub
}

/// Smallest and largest value of a bucket.
fn bucket_range(i: usize) -> (u64, u64) {
    if i < LINEAR as usize {
        return (i as u64, i as u64);
    }
    let e = ((i - LINEAR as usize) / SUB) as u32 + 4;
    let sub = ((i - LINEAR as usize) % SUB) as u64;
    let width = 1u64 << (e - SUB_BITS);
    let lo = (1u64 << e) + sub * width;
    (lo, lo + width - 1)
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..NBUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Histogram {
    pub fn record(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(ns)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The `q` quantile (0..=1) in nanoseconds: the midpoint of the bucket
    /// holding the value of that rank; None when nothing was recorded.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        // Rank of the wanted value, 1-based (nearest-rank method).
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, hi) = bucket_range(i);
                return Some((lo as f64 + hi as f64) / 2.0);
            }
        }
        None
    }

    fn reset(&self) {
        for b in self.buckets.iter() {
            b.store(0, Ordering::Relaxed);
        }
    }
}

/// Which latency histogram of an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Latency {
    Lookup = 0,
    RangeScan = 1,
    Insert = 2,
}

/// The counters of one relation (table or index).
pub struct RelationStats {
    counters: [AtomicU64; NCOUNTERS],
    latency: [Histogram; 3],
}

impl Default for RelationStats {
    fn default() -> Self {
        RelationStats {
            counters: std::array::from_fn(|_| AtomicU64::new(0)),
            latency: Default::default(),
        }
    }
}

impl std::fmt::Debug for RelationStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelationStats").finish_non_exhaustive()
    }
}

impl RelationStats {
    #[inline]
    pub fn add(&self, c: Counter, n: u64) {
        if n != 0 {
            self.counters[c as usize].fetch_add(n, Ordering::Relaxed);
        }
    }
    /// Lower a gauge (LiveTup, DeadTup).
    #[inline]
    pub fn sub(&self, c: Counter, n: u64) {
        if n != 0 {
            self.counters[c as usize].fetch_sub(n, Ordering::Relaxed);
        }
    }
    #[inline]
    pub fn set(&self, c: Counter, v: u64) {
        self.counters[c as usize].store(v, Ordering::Relaxed);
    }
    /// Record "now" in a timestamp counter.
    pub fn touch(&self, c: Counter) {
        self.set(c, now_unix_micros());
    }
    /// Record "now" in a timestamp counter read on every probe, writing
    /// only when it moved by a millisecond or more: concurrent probes of one
    /// index then rarely write the same cache line.
    #[inline]
    pub fn touch_coarse(&self, c: Counter) {
        self.touch_coarse_at(c, now_unix_micros());
    }
    /// `touch_coarse` with a time the caller has (see `unix_micros_at`).
    #[inline]
    pub fn touch_coarse_at(&self, c: Counter, now: u64) {
        let slot = &self.counters[c as usize];
        if now >= slot.load(Ordering::Relaxed) + 1000 {
            slot.store(now, Ordering::Relaxed);
        }
    }
    /// A counter's value; gauges that went below zero read as zero.
    pub fn get(&self, c: Counter) -> u64 {
        let v = self.counters[c as usize].load(Ordering::Relaxed);
        if matches!(c, Counter::LiveTup | Counter::DeadTup) && (v as i64) < 0 {
            0
        } else {
            v
        }
    }
    pub fn latency(&self, l: Latency) -> &Histogram {
        &self.latency[l as usize]
    }
    /// Zero every activity counter. Creation and rebuild times describe the
    /// relation, not its activity, and the row gauges describe its contents
    /// (Postgres's pg_stat_reset zeroes those too, and so do we).
    pub fn reset(&self) {
        for c in Counter::ALL {
            if !matches!(c, Counter::CreatedAt | Counter::LastRebuilt) {
                self.set(*c, 0);
            }
        }
        for h in &self.latency {
            h.reset();
        }
    }
}

/// Statistics an upper layer keeps (pg_stat_statements), saved with the
/// counters at every checkpoint as an opaque blob.
pub type StatsExtension = Arc<dyn Fn() -> Vec<u8> + Send + Sync>;

/// Every relation's counters, plus the time of the last full reset.
pub struct StatsRegistry {
    rels: RwLock<HashMap<u32, Arc<RelationStats>, BuildPageHasher>>,
    by_storage: RwLock<HashMap<RelFileId, Arc<RelationStats>, BuildPageHasher>>,
    reset_at: AtomicU64,
    extension: RwLock<Option<StatsExtension>>,
    /// The extension's blob read at startup, until its owner takes it.
    loaded_extension: parking_lot::Mutex<Option<Vec<u8>>>,
}

impl Default for StatsRegistry {
    fn default() -> Self {
        StatsRegistry {
            rels: RwLock::new(HashMap::default()),
            by_storage: RwLock::new(HashMap::default()),
            reset_at: AtomicU64::new(0),
            extension: RwLock::new(None),
            loaded_extension: parking_lot::Mutex::new(None),
        }
    }
}

/// A relation the catalog knows, for `StatsRegistry::sync`.
#[derive(Clone, Copy, Debug)]
pub struct KnownRelation {
    pub id: u32,
    pub storage: RelFileId,
    pub is_index: bool,
}

impl StatsRegistry {
    /// The counters of relation `id`, created on first use.
    pub fn get(&self, id: u32) -> Arc<RelationStats> {
        if let Some(s) = self.rels.read().get(&id) {
            return s.clone();
        }
        self.rels.write().entry(id).or_default().clone()
    }

    /// The counters of the relation stored in `storage`, if `sync` told us.
    pub fn for_storage(&self, storage: RelFileId) -> Option<Arc<RelationStats>> {
        self.by_storage.read().get(&storage).cloned()
    }

    /// The storage of every relation whose counters satisfy `pred`.
    pub fn storages_where(&self, pred: impl Fn(&RelationStats) -> bool) -> Vec<RelFileId> {
        self.by_storage
            .read()
            .iter()
            .filter(|(_, s)| pred(s))
            .map(|(&r, _)| r)
            .collect()
    }

    /// Take the current set of relations: map their storage, stamp the
    /// creation time of indexes seen for the first time, and forget
    /// relations with an id below `dropped_below` that are no longer there
    /// (ids at or above it may belong to a transaction still running).
    pub fn sync(&self, known: &[KnownRelation], dropped_below: u32) {
        let mut rels = self.rels.write();
        let mut by_storage =
            HashMap::with_capacity_and_hasher(known.len(), BuildPageHasher::default());
        for k in known {
            let s = rels.entry(k.id).or_default().clone();
            if k.is_index && s.get(Counter::CreatedAt) == 0 {
                s.touch(Counter::CreatedAt);
            }
            by_storage.insert(k.storage, s);
        }
        let present: std::collections::HashSet<u32> = known.iter().map(|k| k.id).collect();
        rels.retain(|id, _| *id >= dropped_below || present.contains(id));
        *self.by_storage.write() = by_storage;
    }

    /// Every relation's counters.
    pub fn all(&self) -> Vec<(u32, Arc<RelationStats>)> {
        self.rels
            .read()
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }

    pub fn reset_all(&self) {
        for s in self.rels.read().values() {
            s.reset();
        }
        self.reset_at.store(now_unix_micros(), Ordering::Relaxed);
    }

    /// Save `f()`'s bytes with the counters from now on.
    pub fn set_extension(&self, f: StatsExtension) {
        *self.extension.write() = Some(f);
    }

    /// The extension's bytes loaded at startup (once).
    pub fn take_loaded_extension(&self) -> Option<Vec<u8>> {
        self.loaded_extension.lock().take()
    }

    /// When `reset_all` last ran (Unix microseconds, 0 = never).
    pub fn reset_time(&self) -> u64 {
        self.reset_at.load(Ordering::Relaxed)
    }

    /// Serialize: `[u32 version][u64 reset_at][u32 n]` then per relation
    /// `[u32 id][u64 x NCOUNTERS-as-written: u32 count, values]` and three
    /// histograms as `[u32 nonzero] ([u16 bucket][u64 count])*`.
    pub fn encode(&self, io: &HashMap<RelFileId, (u64, u64)>) -> Vec<u8> {
        let rels = self.all();
        let mut out = Vec::with_capacity(64 + rels.len() * (NCOUNTERS * 8 + 32));
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&self.reset_time().to_le_bytes());
        out.extend_from_slice(&(rels.len() as u32).to_le_bytes());
        for (id, s) in rels {
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&(NCOUNTERS as u32).to_le_bytes());
            for c in &s.counters {
                out.extend_from_slice(&c.load(Ordering::Relaxed).to_le_bytes());
            }
            for h in &s.latency {
                let nz: Vec<(usize, u64)> = h
                    .buckets
                    .iter()
                    .enumerate()
                    .map(|(i, b)| (i, b.load(Ordering::Relaxed)))
                    .filter(|(_, n)| *n > 0)
                    .collect();
                out.extend_from_slice(&(nz.len() as u32).to_le_bytes());
                for (i, n) in nz {
                    out.extend_from_slice(&(i as u16).to_le_bytes());
                    out.extend_from_slice(&n.to_le_bytes());
                }
            }
        }
        out.extend_from_slice(&(io.len() as u32).to_le_bytes());
        for (rel, (hits, reads)) in io {
            out.extend_from_slice(&rel.to_le_bytes());
            out.extend_from_slice(&hits.to_le_bytes());
            out.extend_from_slice(&reads.to_le_bytes());
        }
        // Then `[u32 len][bytes]` of the extension (absent in older files).
        // Until its owner is back (a checkpoint at the end of recovery), the
        // bytes loaded at startup are kept as they were.
        let ext = self.extension.read().clone();
        let blob = match ext {
            Some(f) => Some(f()),
            None => self.loaded_extension.lock().clone(),
        };
        if let Some(blob) = blob {
            out.extend_from_slice(&(blob.len() as u32).to_le_bytes());
            out.extend_from_slice(&blob);
        }
        out
    }

    /// Load what `encode` wrote; returns the buffer I/O counts per storage.
    /// A malformed file is an error (the caller logs it and starts from
    /// zero: losing statistics must never stop the server).
    pub fn decode(&self, b: &[u8]) -> Result<HashMap<RelFileId, (u64, u64)>, String> {
        let mut r = Reader { b, pos: 0 };
        let version = r.u32()?;
        if version != 1 {
            return Err(format!("unknown statistics file version {version}"));
        }
        self.reset_at.store(r.u64()?, Ordering::Relaxed);
        let n = r.u32()?;
        let mut rels = self.rels.write();
        for _ in 0..n {
            let id = r.u32()?;
            let s = RelationStats::default();
            let nc = r.u32()? as usize;
            for i in 0..nc {
                let v = r.u64()?;
                if let Some(c) = s.counters.get(i) {
                    c.store(v, Ordering::Relaxed);
                }
            }
            for h in &s.latency {
                let nz = r.u32()?;
                for _ in 0..nz {
                    let i = r.u16()? as usize;
                    let v = r.u64()?;
                    if let Some(bk) = h.buckets.get(i) {
                        bk.store(v, Ordering::Relaxed);
                    }
                }
            }
            rels.insert(id, Arc::new(s));
        }
        let nio = r.u32()?;
        let mut io = HashMap::new();
        for _ in 0..nio {
            let rel = r.u32()?;
            let hits = r.u64()?;
            let reads = r.u64()?;
            io.insert(rel, (hits, reads));
        }
        if r.pos < r.b.len() {
            let n = r.u32()? as usize;
            *self.loaded_extension.lock() = Some(r.take(n)?.to_vec());
        }
        Ok(io)
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.pos + n;
        if end > self.b.len() {
            return Err("statistics file is truncated".into());
        }
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2")))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_their_values() {
        for ns in [
            0u64,
            1,
            15,
            16,
            17,
            100,
            1000,
            12345,
            1 << 30,
            (1 << 40) + 7,
        ] {
            let (lo, hi) = bucket_range(bucket_of(ns));
            assert!(lo <= ns && ns <= hi, "{ns} not in [{lo}, {hi}]");
            assert!(hi - lo <= ns / 8 + 1, "bucket of {ns} too wide");
        }
        assert_eq!(bucket_of(u64::MAX), NBUCKETS - 1);
    }

    #[test]
    fn quantiles_follow_the_recorded_values() {
        let h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        for us in 1..=100u64 {
            h.record(Duration::from_micros(us));
        }
        let p50 = h.quantile(0.5).unwrap() / 1000.0;
        let p99 = h.quantile(0.99).unwrap() / 1000.0;
        assert!((45.0..=56.0).contains(&p50), "p50 {p50}");
        assert!((90.0..=112.0).contains(&p99), "p99 {p99}");
    }

    #[test]
    fn encode_decode_round_trip() {
        let reg = StatsRegistry::default();
        let s = reg.get(16384);
        s.add(Counter::SeqScan, 3);
        s.add(Counter::LiveTup, 10);
        s.sub(Counter::LiveTup, 2);
        s.latency(Latency::Insert).record(Duration::from_micros(5));
        let mut io = HashMap::new();
        io.insert(7, (11, 2));
        let blob = reg.encode(&io);
        let back = StatsRegistry::default();
        let io2 = back.decode(&blob).unwrap();
        assert_eq!(io2, io);
        let s2 = back.get(16384);
        assert_eq!(s2.get(Counter::SeqScan), 3);
        assert_eq!(s2.get(Counter::LiveTup), 8);
        assert_eq!(s2.latency(Latency::Insert).count(), 1);
        assert!(back.decode(&blob[..blob.len() - 3]).is_err());
        assert_eq!(back.take_loaded_extension(), None);
        // An extension's bytes ride along.
        reg.set_extension(Arc::new(|| b"statements".to_vec()));
        let back = StatsRegistry::default();
        back.decode(&reg.encode(&io)).unwrap();
        assert_eq!(
            back.take_loaded_extension().as_deref(),
            Some(&b"statements"[..])
        );
        assert_eq!(back.take_loaded_extension(), None);
    }

    #[test]
    fn gauges_never_read_negative_and_reset_keeps_creation() {
        let s = RelationStats::default();
        s.sub(Counter::DeadTup, 1);
        assert_eq!(s.get(Counter::DeadTup), 0);
        s.touch(Counter::CreatedAt);
        s.add(Counter::Lookups, 4);
        s.reset();
        assert_eq!(s.get(Counter::Lookups), 0);
        assert!(s.get(Counter::CreatedAt) > 0);
    }

    #[test]
    fn sync_maps_storage_and_forgets_dropped() {
        let reg = StatsRegistry::default();
        reg.get(20).add(Counter::Inserts, 1);
        reg.get(30).add(Counter::Inserts, 1);
        reg.sync(
            &[KnownRelation {
                id: 20,
                storage: 200,
                is_index: true,
            }],
            25,
        );
        assert_eq!(reg.for_storage(200).unwrap().get(Counter::Inserts), 1);
        assert!(reg.get(20).get(Counter::CreatedAt) > 0);
        // 30 may be a relation of a running transaction: kept.
        assert_eq!(reg.get(30).get(Counter::Inserts), 1);
        reg.sync(&[], 40);
        assert!(reg.for_storage(200).is_none());
        assert_eq!(reg.get(20).get(Counter::Inserts), 0);
    }
}
