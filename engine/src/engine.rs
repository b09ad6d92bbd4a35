//! The `Engine`: opening a data directory, recovery, checkpoints, vacuum and
//! the background worker (periodic checkpoints and autovacuum).
//!
//! Data directory layout (formats in docs/storage.md):
//!
//! ```text
//! <data_dir>/sargdb.lock   held (flock) while a server has the directory open
//! <data_dir>/control       last checkpoint: redo LSN, next xid (atomic replace)
//! <data_dir>/xact/<seg>    commit log segments as of the last checkpoint
//! <data_dir>/catalog       catalog blob and the LSN of the commit that wrote it
//! <data_dir>/sequences     sequence states and the LSN they include
//! <data_dir>/stats         activity counters as of the last checkpoint
//! <data_dir>/vm            visibility map as of the last checkpoint
//! <data_dir>/base/<rel>    relation files of 8 KiB pages
//! <data_dir>/wal/<lsn>     WAL segments
//! ```
//!
//! Recovery: load the files written by the last checkpoint, replay every WAL
//! record from its redo point (page changes only where the page LSN is older
//! than the record), mark transactions that never finished as aborted, and
//! take a checkpoint.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};

use crate::buffer::{BufferPool, BuildPageHasher};
use crate::error::{EngineError, Result};
use crate::heap::TupleId;
use crate::index::btree::BTreeIndex;
use crate::index::{IndexHandle, IndexKind, IndexOptions, IndexStats};
use crate::page::{
    page_lsn, set_page_lsn, HeapPage, HeapPageMut, TupleHeader, PAGE_SIZE, TUPLE_HEADER_SIZE,
    TUPLE_LOCK_ONLY,
};
use crate::stats::{Counter, RelationStats, StatsRegistry};
use crate::storage::{write_atomic, Storage};
use crate::txn::{
    CommitLog, IsolationLevel, Transaction, TxnManager, Xid, CLOG_SEGMENT_XIDS, FIRST_NORMAL_XID,
    XID_ABORTED, XID_COMMITTED, XID_IN_PROGRESS,
};
use crate::visibility_map::VisibilityMap;
use crate::wal::{self, Lsn, Wal, WalRecord};
use crate::RelFileId;

/// Engine settings (filled from the server's configuration).
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub data_dir: PathBuf,
    /// Buffer pool size in bytes (rounded down to whole 8 KiB pages).
    pub buffer_pool_bytes: usize,
    /// fsync WAL at commit and data files at checkpoint. Only tests of
    /// non-durable paths turn this off.
    pub fsync: bool,
    /// Time between automatic checkpoints.
    pub checkpoint_interval: Duration,
    /// WAL bytes written since the last checkpoint that trigger a new one.
    pub checkpoint_wal_bytes: u64,
    /// Count activity for the statistics views (`stats::set_tracking`).
    pub track_counts: bool,
}

impl EngineConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        EngineConfig {
            data_dir: data_dir.into(),
            buffer_pool_bytes: 128 << 20,
            fsync: true,
            checkpoint_interval: Duration::from_secs(300),
            checkpoint_wal_bytes: 256 << 20,
            track_counts: true,
        }
    }
}

/// What VACUUM did to one relation.
#[derive(Clone, Debug, Default)]
pub struct VacuumStats {
    pub pages_scanned: u64,
    pub tuples_removed: u64,
    pub tuples_remaining: u64,
    /// Pages this VACUUM marked all-visible.
    pub pages_all_visible: u64,
}

/// Counters for observability views.
#[derive(Clone, Debug, Default)]
pub struct EngineStats {
    pub buffer_hits: u64,
    pub buffer_misses: u64,
    pub buffer_evictions: u64,
    pub buffer_dirty: u64,
    pub buffer_frames: u64,
    /// Most frames ever holding a page at once.
    pub buffer_peak_resident: u64,
    pub wal_bytes: u64,
    pub wal_fsyncs: u64,
    pub checkpoints: u64,
}

/// Tickets of deferred commits (see `Shared::in_flight`).
#[derive(Default)]
pub(crate) struct InFlight {
    next: u64,
    active: BTreeSet<u64>,
}

#[derive(Default)]
struct FsmRel {
    initialized: bool,
    current: Option<u32>,
    free: BTreeSet<u32>,
}

/// State shared by the engine and every transaction.
pub(crate) struct Shared {
    pub cfg: EngineConfig,
    pub storage: Arc<Storage>,
    pub wal: Arc<Wal>,
    pub pool: BufferPool,
    pub txns: TxnManager,
    /// Taken shared by commits (append + flush + commit log), exclusively by
    /// a checkpoint while it fixes its redo point.
    pub commit_lock: RwLock<()>,
    /// Deferred commits (`Transaction::commit_deferred`) between their
    /// commit record and their commit-log entry: they cannot hold
    /// `commit_lock` while the log writer flushes for them, so a checkpoint
    /// waits for those that started before its redo point instead.
    pub(crate) in_flight: Mutex<InFlight>,
    pub(crate) in_flight_done: Condvar,
    /// Committed catalog blob and the end LSN of the commit that wrote it.
    pub catalog: Mutex<(Lsn, Option<Vec<u8>>)>,
    /// Sequence states and the end LSN of the last sequence record applied.
    sequences: Mutex<(Lsn, HashMap<u32, (i64, bool)>)>,
    fsm: Mutex<HashMap<RelFileId, FsmRel, BuildPageHasher>>,
    pub unique_locks: Mutex<HashMap<RelFileId, Arc<Mutex<()>>, BuildPageHasher>>,
    /// Bytes open indexes hold outside the buffer pool (a hash index's
    /// cached bucket addressing), and the most they ever held together.
    pub(crate) index_memory: std::sync::atomic::AtomicU64,
    pub(crate) index_memory_peak: std::sync::atomic::AtomicU64,
    checkpoint_mutex: Mutex<()>,
    /// VACUUMs run one at a time (Postgres: VACUUM's lock conflicts with
    /// itself). Two at once on one table both free the same dead slots: the
    /// second would remove the index entries and the slot of a row inserted
    /// into the slot after the first freed it.
    vacuum_mutex: Mutex<()>,
    last_checkpoint_lsn: AtomicU64,
    checkpoints: AtomicU64,
    /// Rows deleted or updated per relation since its last vacuum.
    dead: Mutex<HashMap<RelFileId, u64, BuildPageHasher>>,
    /// Rows inserted, updated or deleted per relation since the counter was
    /// last taken (what auto-analyze looks at).
    modified: Mutex<HashMap<RelFileId, u64, BuildPageHasher>>,
    wake: (Mutex<bool>, Condvar),
    /// Open indexes: index storage -> (heap storage, handle).
    indexes: RwLock<HashMap<RelFileId, (RelFileId, IndexHandle), BuildPageHasher>>,
    /// Index storage whose bulk build is filling it without WAL: the
    /// building transaction created the storage and writes and fsyncs it
    /// before its commit record (`Transaction::begin_unlogged_build`).
    unlogged_builds: Mutex<std::collections::HashSet<RelFileId>>,
    /// Activity counters (persisted in `stats` at checkpoints).
    pub stats: Arc<StatsRegistry>,
    /// All-visible heap pages (persisted in `vm` at checkpoints).
    pub vm: VisibilityMap,
}

impl Shared {
    /// The page an insert into `rel` should try next; None: extend.
    pub fn fsm_candidate(&self, rel: RelFileId) -> Option<u32> {
        let mut fsm = self.fsm.lock();
        let e = fsm.entry(rel).or_default();
        if !e.initialized {
            // First insert since open: continue on the relation's last page.
            e.initialized = true;
            if let Ok(n) = self.pool.relation_size(rel) {
                if n > 0 {
                    e.current = Some(n - 1);
                }
            }
        }
        if let Some(c) = e.current {
            return Some(c);
        }
        let b = e.free.pop_first()?;
        e.current = Some(b);
        Some(b)
    }

    pub fn fsm_set_current(&self, rel: RelFileId, block: u32) {
        let mut fsm = self.fsm.lock();
        let e = fsm.entry(rel).or_default();
        e.initialized = true;
        e.current = Some(block);
    }

    pub fn fsm_page_full(&self, rel: RelFileId, block: u32) {
        let mut fsm = self.fsm.lock();
        let e = fsm.entry(rel).or_default();
        e.free.remove(&block);
        if e.current == Some(block) {
            e.current = None;
        }
    }

    pub fn note_dead(&self, rel: RelFileId) {
        *self.dead.lock().entry(rel).or_insert(0) += 1;
    }

    pub fn note_modified(&self, rel: RelFileId) {
        self.note_modified_n(rel, 1);
    }

    /// `n` rows of `rel` changed (what auto-vacuum and auto-analyze count).
    pub fn note_modified_n(&self, rel: RelFileId, n: u64) {
        *self.modified.lock().entry(rel).or_insert(0) += n;
    }

    /// Discard a relation's buffers and delete its file.
    pub fn remove_relation(&self, rel: RelFileId) {
        self.indexes.write().remove(&rel);
        self.pool.discard_relation(rel);
        self.fsm.lock().remove(&rel);
        self.dead.lock().remove(&rel);
        self.vm.remove(rel);
        if let Err(e) = self.storage.remove(rel) {
            tracing::warn!("could not remove relation file {rel}: {e}");
        }
    }

    /// Whether a bulk build of index storage `rel` may leave pages that were
    /// never WAL-logged unlogged (see `unlogged_builds`).
    pub(crate) fn is_unlogged_build(&self, rel: RelFileId) -> bool {
        self.unlogged_builds.lock().contains(&rel)
    }

    pub(crate) fn set_unlogged_build(&self, rel: RelFileId, on: bool) {
        let mut set = self.unlogged_builds.lock();
        if on {
            set.insert(rel);
        } else {
            set.remove(&rel);
        }
    }

    /// A deferred commit is about to append its commit record: its ticket.
    pub(crate) fn begin_in_flight(&self) -> u64 {
        let mut f = self.in_flight.lock();
        let t = f.next;
        f.next += 1;
        f.active.insert(t);
        t
    }

    /// The deferred commit of `ticket` has its commit-log entry.
    pub(crate) fn end_in_flight(&self, ticket: u64) {
        self.in_flight.lock().active.remove(&ticket);
        self.in_flight_done.notify_all();
    }

    /// Waits until no deferred commit with a ticket below `upto` is left.
    fn wait_in_flight(&self, upto: u64) {
        let before = |f: &InFlight| f.active.first().is_some_and(|&t| t < upto);
        if !before(&self.in_flight.lock()) {
            return;
        }
        crate::blocking::about_to_wait();
        let mut f = self.in_flight.lock();
        while before(&f) {
            self.in_flight_done.wait(&mut f);
        }
    }

    pub fn maybe_request_checkpoint(&self) {
        let since = self
            .wal
            .insert_lsn()
            .saturating_sub(self.last_checkpoint_lsn.load(Ordering::Relaxed));
        if since > self.cfg.checkpoint_wal_bytes {
            let (m, cv) = &self.wake;
            *m.lock() = true;
            cv.notify_one();
        }
    }
}

pub struct Engine {
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    worker: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The log writer (`Wal::run_writer`).
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    _lock_file: File,
}

/// Version of the on-disk formats (pages, rows, WAL records) a data
/// directory was written in, kept in its control file. A build refuses a
/// directory of another version instead of misreading it. 2: the compact
/// row encoding and hole-free page images (session 10). 3: the 28-byte
/// tuple header (one command-id field, combo ids). 4: the commit log in
/// segment files (`xact/`); a format-3 directory is still read, and its
/// single `pg_xact` file replaced by segments at the first checkpoint.
pub const STORAGE_FORMAT_VERSION: u64 = 4;

/// The older format this build still opens (see `STORAGE_FORMAT_VERSION`).
const READABLE_OLDER_FORMAT: u64 = 3;

struct Control {
    redo: Lsn,
    checkpoint: Lsn,
    next_xid: Xid,
}

fn read_control(path: &Path) -> Result<Option<Control>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(EngineError::io(path, e)),
    };
    let mut vals = HashMap::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            vals.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    let get = |k: &str| -> Result<u64> {
        vals.get(k)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| EngineError::CorruptWal(format!("control file lacks {k}")))
    };
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("crc="))
        .map(|l| format!("{l}\n"))
        .collect();
    if get("crc")? as u32 != crc32fast::hash(body.as_bytes()) {
        return Err(EngineError::CorruptWal(
            "control file checksum mismatch".into(),
        ));
    }
    let version = get("version")?;
    if version != STORAGE_FORMAT_VERSION && version != READABLE_OLDER_FORMAT {
        return Err(EngineError::IncompatibleDataDir {
            found: version,
            supported: STORAGE_FORMAT_VERSION,
        });
    }
    Ok(Some(Control {
        redo: get("redo")?,
        checkpoint: get("checkpoint")?,
        next_xid: get("next_xid")?,
    }))
}

fn write_control(path: &Path, c: &Control, fsync: bool) -> Result<()> {
    let body = format!(
        "version={}\nredo={}\ncheckpoint={}\nnext_xid={}\n",
        STORAGE_FORMAT_VERSION, c.redo, c.checkpoint, c.next_xid
    );
    let crc = crc32fast::hash(body.as_bytes());
    write_atomic(path, format!("{body}crc={crc}\n").as_bytes(), fsync)
}

/// `[u64 lsn][u32 crc of the rest][payload]`
fn read_lsn_file(path: &Path) -> Result<Option<(Lsn, Vec<u8>)>> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(EngineError::io(path, e)),
    };
    if data.len() < 12 {
        return Err(EngineError::CorruptWal(format!(
            "{} is truncated",
            path.display()
        )));
    }
    let lsn = u64::from_le_bytes(data[0..8].try_into().expect("8"));
    let crc = u32::from_le_bytes(data[8..12].try_into().expect("4"));
    if crc32fast::hash(&data[12..]) != crc {
        return Err(EngineError::CorruptWal(format!(
            "{} fails its checksum",
            path.display()
        )));
    }
    Ok(Some((lsn, data[12..].to_vec())))
}

/// The commit log's directory of segment files (`CLOG_SEGMENT_XIDS`).
const CLOG_DIR: &str = "xact";
/// Format 3's commit log: one file holding every status.
const SINGLE_FILE_CLOG: &str = "pg_xact";

/// The commit log as the last checkpoints left it, and whether format 3's
/// single file was still there. Its segment files go over that file's
/// statuses: a segment is never older than the file, which is removed only
/// after every segment holding its statuses was written.
fn read_commit_log(dir: &Path) -> Result<(Vec<u8>, bool)> {
    let single = read_lsn_file(&dir.join(SINGLE_FILE_CLOG))?;
    let had_single = single.is_some();
    let mut bytes = single.map(|(_, b)| b).unwrap_or_default();
    let xact = dir.join(CLOG_DIR);
    let entries = match std::fs::read_dir(&xact) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((bytes, had_single)),
        Err(e) => return Err(EngineError::io(&xact, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| EngineError::io(&xact, e))?;
        let name = entry.file_name();
        // Eight hex digits; a `.tmp` left by a crash mid-write is not one.
        let seg = match name.to_str() {
            Some(n) if n.len() == 8 => match u32::from_str_radix(n, 16) {
                Ok(seg) => seg,
                Err(_) => continue,
            },
            _ => continue,
        };
        let Some((_, b)) = read_lsn_file(&entry.path())? else {
            continue;
        };
        if b.len() > CLOG_SEGMENT_XIDS {
            return Err(EngineError::CorruptWal(format!(
                "{} holds {} statuses, more than a segment's {CLOG_SEGMENT_XIDS}",
                entry.path().display(),
                b.len()
            )));
        }
        let start = seg as usize * CLOG_SEGMENT_XIDS;
        if bytes.len() < start + b.len() {
            bytes.resize(start + b.len(), XID_IN_PROGRESS);
        }
        bytes[start..start + b.len()].copy_from_slice(&b);
    }
    Ok((bytes, had_single))
}

/// Write the commit-log segments a checkpoint took (each atomically, as of
/// `redo`), then remove format 3's single file if it is still there: the
/// first checkpoint after reading it took every segment.
fn write_commit_log(dir: &Path, redo: Lsn, segments: &[(u32, Vec<u8>)], fsync: bool) -> Result<()> {
    let xact = dir.join(CLOG_DIR);
    if !segments.is_empty() && !xact.is_dir() {
        std::fs::create_dir_all(&xact).map_err(|e| EngineError::io(&xact, e))?;
        if fsync {
            crate::storage::sync_dir(dir)?;
        }
    }
    for (seg, bytes) in segments {
        write_lsn_file(&xact.join(format!("{seg:08x}")), redo, bytes, fsync)?;
    }
    let single = dir.join(SINGLE_FILE_CLOG);
    if single.exists() {
        std::fs::remove_file(&single).map_err(|e| EngineError::io(&single, e))?;
        if fsync {
            crate::storage::sync_dir(dir)?;
        }
    }
    Ok(())
}

fn write_lsn_file(path: &Path, lsn: Lsn, payload: &[u8], fsync: bool) -> Result<()> {
    let mut data = Vec::with_capacity(payload.len() + 12);
    data.extend_from_slice(&lsn.to_le_bytes());
    data.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    data.extend_from_slice(payload);
    write_atomic(path, &data, fsync)
}

fn encode_sequences(seqs: &HashMap<u32, (i64, bool)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(seqs.len() * 13);
    for (&id, &(v, called)) in seqs {
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&v.to_le_bytes());
        out.push(called as u8);
    }
    out
}

fn decode_sequences(b: &[u8]) -> HashMap<u32, (i64, bool)> {
    b.chunks_exact(13)
        .map(|c| {
            (
                u32::from_le_bytes(c[0..4].try_into().expect("4")),
                (
                    i64::from_le_bytes(c[4..12].try_into().expect("8")),
                    c[12] != 0,
                ),
            )
        })
        .collect()
}

/// Apply one WAL page record during recovery, then set the page's
/// visibility-map bit from its all-visible flag (see `visibility_map`).
fn redo_page(
    pool: &BufferPool,
    vm: &VisibilityMap,
    rel: RelFileId,
    block: u32,
    end: Lsn,
    f: impl FnOnce(&mut [u8]) -> bool,
) -> Result<()> {
    let page = pool.fetch(rel, block)?;
    let mut g = page.write();
    if page_lsn(&g[..]) < end {
        if !f(&mut g[..]) {
            return Err(EngineError::CorruptWal(format!(
                "record ending at {end} does not apply to block {block} of relation {rel}"
            )));
        }
        set_page_lsn(&mut g[..], end);
        page.mark_dirty();
    }
    vm.set_to(rel, block, crate::page::is_all_visible(&g[..]));
    Ok(())
}

/// Redo of a heap change: the change cleared the page's all-visible flag
/// before it was made.
fn redo_heap_change(p: &mut [u8]) {
    let flags = crate::page::page_flags(p);
    crate::page::set_page_flags(p, flags & !crate::page::PAGE_ALL_VISIBLE);
}

impl Engine {
    /// Open (creating if needed) the data directory and run recovery.
    pub fn open(cfg: EngineConfig) -> Result<Arc<Engine>> {
        let dir = cfg.data_dir.clone();
        std::fs::create_dir_all(&dir).map_err(|e| EngineError::io(&dir, e))?;
        let lock_path = dir.join("sargdb.lock");
        let lock_file = File::create(&lock_path).map_err(|e| EngineError::io(&lock_path, e))?;
        if lock_file.try_lock().is_err() {
            return Err(EngineError::DataDirLocked(dir));
        }
        let storage = Arc::new(Storage::open(&dir, cfg.fsync)?);
        let control = read_control(&dir.join("control"))?;
        let (redo, mut next_xid) = match &control {
            Some(c) => (c.redo, c.next_xid),
            None => (0, FIRST_NORMAL_XID),
        };
        let (clog_bytes, single_file) = read_commit_log(&dir)?;
        let clog = CommitLog::new(clog_bytes);
        if single_file {
            // Read from format 3's one file: the next checkpoint writes it
            // as segments and removes the file.
            clog.mark_all_dirty();
        }
        let (mut cat_lsn, mut catalog) = match read_lsn_file(&dir.join("catalog"))? {
            Some((l, b)) => (l, Some(b)),
            None => (0, None),
        };
        let (mut seq_lsn, mut seqs) = match read_lsn_file(&dir.join("sequences"))? {
            Some((l, b)) => (l, decode_sequences(&b)),
            None => (0, HashMap::new()),
        };

        let (records, end) = wal::read_from(&dir.join("wal"), redo)?;
        if let Some(c) = &control {
            if end < c.checkpoint {
                return Err(EngineError::CorruptWal(format!(
                    "WAL ends at {end}, before the last checkpoint at {}",
                    c.checkpoint
                )));
            }
        }
        let wal = Arc::new(Wal::open(&dir, end, redo, cfg.fsync)?);
        let nframes = (cfg.buffer_pool_bytes / PAGE_SIZE).max(16);
        let pool = BufferPool::new(nframes, storage.clone(), wal.clone());
        crate::stats::set_tracking(cfg.track_counts);
        let stats = Arc::new(StatsRegistry::default());
        match read_lsn_file(&dir.join("stats")) {
            Ok(Some((_, blob))) => match stats.decode(&blob) {
                Ok(io) => pool.load_io_counts(io),
                Err(e) => tracing::warn!("statistics file ignored: {e}"),
            },
            Ok(None) => {}
            // Statistics are worth keeping, never worth refusing to start.
            Err(e) => tracing::warn!("statistics file ignored: {e}"),
        }

        let vm = match read_lsn_file(&dir.join("vm"))? {
            Some((_, b)) => VisibilityMap::decode(&b).ok_or_else(|| {
                EngineError::CorruptWal(format!("{} is malformed", dir.join("vm").display()))
            })?,
            None => VisibilityMap::default(),
        };
        let replayed = records.len();
        for r in records {
            next_xid = next_xid.max(r.xid + 1);
            match r.record {
                WalRecord::HeapInsert {
                    rel,
                    block,
                    slot,
                    tuple,
                } => redo_page(&pool, &vm, rel, block, r.end, |p| {
                    redo_heap_change(p);
                    HeapPageMut::new(p).insert_at(slot, &tuple)
                })?,
                WalRecord::HeapSetXmax {
                    rel,
                    block,
                    slot,
                    xmax,
                    cmax,
                    infomask,
                } => redo_page(&pool, &vm, rel, block, r.end, |p| {
                    redo_heap_change(p);
                    let mut hp = HeapPageMut::new(p);
                    match hp.tuple_mut(slot) {
                        Some(t) => {
                            let mut h = TupleHeader::read(t);
                            h.xmax = xmax;
                            h.cid = cmax;
                            h.infomask = infomask;
                            h.ctid_page = block;
                            h.ctid_slot = slot;
                            h.write(t);
                            true
                        }
                        None => false,
                    }
                })?,
                WalRecord::HeapSetCtid {
                    rel,
                    block,
                    slot,
                    ctid_block,
                    ctid_slot,
                } => redo_page(&pool, &vm, rel, block, r.end, |p| {
                    redo_heap_change(p);
                    let mut hp = HeapPageMut::new(p);
                    match hp.tuple_mut(slot) {
                        Some(t) => {
                            let mut h = TupleHeader::read(t);
                            h.ctid_page = ctid_block;
                            h.ctid_slot = ctid_slot;
                            h.write(t);
                            true
                        }
                        None => false,
                    }
                })?,
                WalRecord::PageImage { rel, block, image } => {
                    redo_page(&pool, &vm, rel, block, r.end, |p| {
                        p.copy_from_slice(&image);
                        true
                    })?
                }
                WalRecord::Commit {
                    subxids,
                    drop_rels,
                    catalog: cat,
                } => {
                    for &x in &subxids {
                        next_xid = next_xid.max(x + 1);
                    }
                    let mut all = vec![r.xid];
                    all.extend(subxids);
                    clog.set(&all, XID_COMMITTED);
                    if let Some(c) = cat {
                        if r.end > cat_lsn {
                            cat_lsn = r.end;
                            catalog = Some(c);
                        }
                    }
                    for rel in drop_rels {
                        pool.discard_relation(rel);
                        vm.remove(rel);
                        storage.remove(rel)?;
                    }
                }
                WalRecord::Abort { subxids, drop_rels } => {
                    for &x in &subxids {
                        next_xid = next_xid.max(x + 1);
                    }
                    clog.set(&subxids, XID_ABORTED);
                    for rel in drop_rels {
                        pool.discard_relation(rel);
                        vm.remove(rel);
                        storage.remove(rel)?;
                    }
                }
                WalRecord::Sequence {
                    seq,
                    value,
                    is_called,
                } => {
                    if r.end > seq_lsn {
                        seq_lsn = r.end;
                        seqs.insert(seq, (value, is_called));
                    }
                }
                WalRecord::Checkpoint { next_xid: nx, .. } => next_xid = next_xid.max(nx),
                WalRecord::BTreeInsert {
                    rel,
                    block,
                    pos,
                    key,
                    tid_block,
                    tid_slot,
                } => redo_page(&pool, &vm, rel, block, r.end, |p| {
                    crate::index::btree::redo_leaf_insert(p, pos, key, tid_block, tid_slot)
                })?,
                WalRecord::BTreeDelete {
                    rel,
                    block,
                    positions,
                } => redo_page(&pool, &vm, rel, block, r.end, |p| {
                    crate::index::btree::redo_leaf_delete(p, &positions)
                })?,
                WalRecord::HeapPrune { rel, block, slots } => {
                    redo_page(&pool, &vm, rel, block, r.end, |p| {
                        let slots: Vec<u16> = slots.iter().map(|&s| s as u16).collect();
                        HeapPageMut::new(p).remove_and_compact(&slots);
                        true
                    })?
                }
                WalRecord::PagePatch {
                    rel,
                    block,
                    patches,
                } => redo_page(&pool, &vm, rel, block, r.end, |p| {
                    for (off, bytes) in &patches {
                        p[*off as usize..*off as usize + bytes.len()].copy_from_slice(bytes);
                    }
                    true
                })?,
                WalRecord::PagePatches { rel, pages } => {
                    for (block, patches) in pages {
                        redo_page(&pool, &vm, rel, block, r.end, |p| {
                            for (off, bytes) in &patches {
                                p[*off as usize..*off as usize + bytes.len()]
                                    .copy_from_slice(bytes);
                            }
                            true
                        })?
                    }
                }
                WalRecord::PageImages { rel, pages } => {
                    for (block, image) in pages {
                        redo_page(&pool, &vm, rel, block, r.end, |p| {
                            p.copy_from_slice(&image);
                            true
                        })?
                    }
                }
            }
        }
        clog.abort_unfinished(next_xid);
        if replayed > 0 {
            tracing::info!("recovery replayed {replayed} WAL records from LSN {redo} to {end}");
        }

        let shared = Arc::new(Shared {
            cfg: cfg.clone(),
            storage,
            wal,
            pool,
            txns: TxnManager::new(next_xid, clog),
            commit_lock: RwLock::new(()),
            in_flight: Mutex::new(InFlight::default()),
            in_flight_done: Condvar::new(),
            catalog: Mutex::new((cat_lsn, catalog)),
            sequences: Mutex::new((seq_lsn, seqs)),
            fsm: Mutex::new(HashMap::default()),
            unique_locks: Mutex::new(HashMap::default()),
            index_memory: Default::default(),
            index_memory_peak: Default::default(),
            checkpoint_mutex: Mutex::new(()),
            vacuum_mutex: Mutex::new(()),
            last_checkpoint_lsn: AtomicU64::new(end),
            checkpoints: AtomicU64::new(0),
            dead: Mutex::new(HashMap::default()),
            modified: Mutex::new(HashMap::default()),
            wake: (Mutex::new(false), Condvar::new()),
            indexes: RwLock::new(HashMap::default()),
            unlogged_builds: Mutex::new(Default::default()),
            stats,
            vm,
        });
        checkpoint(&shared)?;

        let stop = Arc::new(AtomicBool::new(false));
        let worker = {
            let shared = shared.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("sargdb-bgworker".into())
                .spawn(move || background_worker(shared, stop))
                .map_err(|e| EngineError::io("background worker", e))?
        };
        let writer = {
            let wal = shared.wal.clone();
            std::thread::Builder::new()
                .name("sargdb-walwriter".into())
                .spawn(move || wal.run_writer())
                .map_err(|e| EngineError::io("WAL writer", e))?
        };
        Ok(Arc::new(Engine {
            shared,
            stop,
            worker: Mutex::new(Some(worker)),
            writer: Mutex::new(Some(writer)),
            _lock_file: lock_file,
        }))
    }

    /// Wait until every transaction that holds a snapshot now has ended
    /// (Postgres's wait for old snapshots before dropping an index a
    /// running query may still read). `cancel` stops the wait.
    pub fn wait_for_current_snapshots(&self, cancel: &AtomicBool) -> Result<()> {
        let holders = self.shared.txns.snapshot_holders();
        crate::blocking::about_to_wait();
        while self.shared.txns.any_holds_snapshot(&holders) {
            if cancel.load(Ordering::Relaxed) {
                return Err(EngineError::Canceled);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    /// Start a transaction. Its xid is assigned at its first write.
    pub fn begin(self: &Arc<Self>, isolation: IsolationLevel) -> Transaction {
        Transaction::new(self.shared.clone(), isolation)
    }

    /// The catalog blob as of the last committed `Transaction::log_catalog`.
    pub fn catalog_blob(&self) -> Option<Vec<u8>> {
        self.shared.catalog.lock().1.clone()
    }

    /// Current value of a sequence (`value`, `is_called`), if ever set.
    pub fn sequence_get(&self, seq: u32) -> Option<(i64, bool)> {
        self.shared.sequences.lock().1.get(&seq).copied()
    }

    /// Set a sequence's state. Not transactional (like Postgres's nextval);
    /// WAL-logged, so durable once any later commit is flushed.
    pub fn sequence_set(&self, seq: u32, value: i64, is_called: bool) -> Result<()> {
        let mut s = self.shared.sequences.lock();
        let (_, end) = self.shared.wal.append(
            0,
            &WalRecord::Sequence {
                seq,
                value,
                is_called,
            },
        );
        s.0 = end;
        s.1.insert(seq, (value, is_called));
        Ok(())
    }

    /// Make every WAL record written so far durable (used before a sequence
    /// value is handed out in autocommit mode, and by tests).
    pub fn flush_wal(&self) -> Result<()> {
        let lsn = self.shared.wal.insert_lsn();
        self.shared.wal.flush(lsn)
    }

    /// Write all dirty pages and the catalog, then log a checkpoint.
    pub fn checkpoint(&self) -> Result<()> {
        checkpoint(&self.shared)
    }

    /// Remove row versions no snapshot can see any more, and the index
    /// entries pointing at them.
    pub fn vacuum(&self, rel: RelFileId) -> Result<VacuumStats> {
        vacuum(&self.shared, rel, false)
    }

    /// An index's physical statistics, with the entries whose heap tuples
    /// are dead to every transaction (those the next VACUUM removes)
    /// counted apart by the kinds that report them (hash: `dead_items`).
    /// The heap is read only if the kind asks.
    pub fn index_stats(&self, heap: RelFileId, idx: &IndexHandle) -> Result<IndexStats> {
        let found: std::cell::OnceCell<Result<DeadVersions>> = std::cell::OnceCell::new();
        let failed = std::cell::Cell::new(false);
        let stats = idx.stats_counting_dead(&|tid| match found
            .get_or_init(|| dead_versions(&self.shared, heap, self.shared.txns.oldest_xmin()))
        {
            Ok(d) => d.contains(tid),
            Err(_) => {
                failed.set(true);
                false
            }
        })?;
        if failed.get() {
            if let Some(Err(e)) = found.into_inner() {
                return Err(e);
            }
        }
        Ok(stats)
    }

    /// The settings the engine was opened with.
    pub fn config(&self) -> &EngineConfig {
        &self.shared.cfg
    }

    /// Activity counters of every relation.
    pub fn relation_stats(&self) -> &Arc<StatsRegistry> {
        &self.shared.stats
    }

    /// Buffer pool hits and reads per relation storage.
    pub fn buffer_io(&self) -> HashMap<RelFileId, (u64, u64)> {
        self.shared.pool.io_counts()
    }

    /// Zero the buffer I/O counts of some relations' storage, or of all.
    pub fn reset_buffer_io(&self, rels: Option<&[RelFileId]>) {
        self.shared.pool.reset_io_counts(rels)
    }

    /// The WAL insert buffer's (used, allocated, peak) bytes.
    pub fn wal_buffer_usage(&self) -> (u64, u64, u64) {
        self.shared.wal.buffer_usage()
    }

    /// The commit log's (bytes used, bytes allocated, transaction ids
    /// assigned so far): it is kept in memory whole, one byte per
    /// transaction id.
    pub fn commit_log_memory(&self) -> (u64, u64, u64) {
        let (used, allocated) = self.shared.txns.clog.memory();
        (used, allocated, self.shared.txns.next_xid())
    }

    /// Open (creating it if its storage is empty) the index stored in
    /// `index_rel` over the heap `heap_rel`. The engine keeps it registered so
    /// VACUUM of the heap also cleans it. Opening an open index returns the
    /// same handle.
    pub fn open_index(
        &self,
        heap_rel: RelFileId,
        index_rel: RelFileId,
        kind: IndexKind,
        options: IndexOptions,
    ) -> Result<IndexHandle> {
        // Opened under the map's lock: two sessions opening a new index at
        // once would otherwise both initialize its empty storage (and use
        // two handles with separate latches).
        // Every statement using an index opens it: the common case only
        // reads the map.
        if let Some((_, h)) = self.shared.indexes.read().get(&index_rel) {
            return Ok(h.clone());
        }
        let mut open = self.shared.indexes.write();
        if let Some((_, h)) = open.get(&index_rel) {
            return Ok(h.clone());
        }
        let handle: IndexHandle = match kind {
            IndexKind::BTree => {
                Arc::new(BTreeIndex::open(self.shared.clone(), index_rel, options)?)
            }
            IndexKind::Hash => Arc::new(crate::index::hash::HashIndex::open(
                self.shared.clone(),
                index_rel,
                options,
            )?),
            IndexKind::Brin => Arc::new(crate::index::brin::BrinIndex::open(
                self.shared.clone(),
                heap_rel,
                index_rel,
                options,
            )?),
        };
        open.insert(index_rel, (heap_rel, handle.clone()));
        Ok(handle)
    }

    /// Forget an open index (its storage is removed by the transaction that
    /// dropped it).
    pub fn close_index(&self, index_rel: RelFileId) {
        self.shared.indexes.write().remove(&index_rel);
    }

    /// Number of pages in a relation.
    pub fn relation_pages(&self, rel: RelFileId) -> Result<u32> {
        self.shared.pool.relation_size(rel)
    }

    /// Bytes open indexes hold outside the buffer pool now, and the most
    /// they ever held together (`memory_stats`' index structures).
    pub fn index_memory(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.shared.index_memory.load(Relaxed),
            self.shared.index_memory_peak.load(Relaxed),
        )
    }

    /// How many VACUUMs have freed tuple slots of heap `rel`: read before
    /// reading index entries, and compare before trusting them later (see
    /// `AccessMethod::kill`).
    pub fn vacuum_epoch(&self, rel: RelFileId) -> u64 {
        self.shared.vm.freeing_epoch(rel)
    }

    /// Pages of `rel` the visibility map marks all-visible.
    pub fn all_visible_pages(&self, rel: RelFileId) -> u32 {
        self.shared.vm.count(rel)
    }

    /// Rows modified in `rel` since the last call for it (resets the count).
    pub fn take_modifications(&self, rel: RelFileId) -> u64 {
        self.shared.modified.lock().remove(&rel).unwrap_or(0)
    }

    /// Rows modified in `rel` since the count was last taken.
    pub fn modifications(&self, rel: RelFileId) -> u64 {
        self.shared.modified.lock().get(&rel).copied().unwrap_or(0)
    }

    /// Pages of each relation resident in the buffer pool, and how many of
    /// them are dirty.
    pub fn buffer_residency(&self) -> HashMap<RelFileId, (u64, u64)> {
        self.shared.pool.residency().0
    }

    pub fn stats(&self) -> EngineStats {
        let c = &self.shared.pool.counters;
        let (_, dirty) = self.shared.pool.residency();
        EngineStats {
            buffer_hits: self.shared.pool.hits(),
            buffer_misses: c.misses.load(Ordering::Relaxed),
            buffer_evictions: c.evictions.load(Ordering::Relaxed),
            buffer_dirty: dirty,
            buffer_frames: self.shared.pool.frame_count() as u64,
            buffer_peak_resident: c.peak_resident.load(Ordering::Relaxed),
            wal_bytes: self.shared.wal.bytes_written.load(Ordering::Relaxed),
            wal_fsyncs: self.shared.wal.fsyncs.load(Ordering::Relaxed),
            checkpoints: self.shared.checkpoints.load(Ordering::Relaxed),
        }
    }

    /// WAL activity since the last reset and the reset's Unix time in
    /// microseconds (`pg_stat_wal`).
    pub fn wal_stats(&self) -> (crate::wal::WalStats, u64) {
        self.shared.wal.stats_since_reset()
    }

    /// `pg_stat_reset_shared('wal')`.
    pub fn reset_wal_stats(&self) {
        self.shared.wal.reset_stats()
    }

    /// Clean shutdown: stop the background worker and checkpoint.
    pub fn shutdown(&self) -> Result<()> {
        self.stop_worker();
        // The last checkpoint waits for deferred commits, which the log
        // writer finishes: stop it only afterwards.
        let res = checkpoint(&self.shared);
        self.stop_log_writer();
        res
    }

    /// Stop the background worker and wait for it (it finishes what it is
    /// doing first: a checkpoint, a vacuum).
    fn stop_worker(&self) {
        self.stop.store(true, Ordering::SeqCst);
        {
            let (m, cv) = &self.shared.wake;
            *m.lock() = true;
            cv.notify_all();
        }
        join_unless_current(self.worker.lock().take());
    }

    /// Stop the log writer once it has answered the commits waiting for
    /// it, and wait for it.
    fn stop_log_writer(&self) {
        self.shared.wal.stop_writer();
        join_unless_current(self.writer.lock().take());
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // No thread of this engine writes its pages, checkpoints or log once
        // it is gone: a test that reopens the directory after a simulated
        // crash must not race them.
        self.stop_worker();
        self.stop_log_writer();
    }
}

/// Join a thread of the engine, unless it is the one dropping the engine.
fn join_unless_current(h: Option<std::thread::JoinHandle<()>>) {
    if let Some(h) = h {
        if h.thread().id() != std::thread::current().id() {
            let _ = h.join();
        }
    }
}

fn checkpoint(shared: &Shared) -> Result<()> {
    let _only_one = shared.checkpoint_mutex.lock();
    let dir = &shared.cfg.data_dir;
    let fsync = shared.cfg.fsync;
    let (redo, catalog, seqs, tickets) = {
        let _c = shared.commit_lock.write();
        let s = shared.sequences.lock();
        let cat = shared.catalog.lock();
        let redo = shared.wal.begin_checkpoint();
        let tickets = shared.in_flight.lock().next;
        (redo, cat.clone(), s.clone(), tickets)
    };
    // A deferred commit whose record may lie before `redo` must have its
    // commit-log entry in the snapshot below (recovery will not replay its
    // record). Those that took a ticket later append after `redo`.
    shared.wait_in_flight(tickets);
    let next_xid = shared.txns.next_xid();
    shared.pool.flush_all()?;
    // The commit log may include commits after `redo`; replaying them again is
    // harmless.
    let segments = shared.txns.clog.take_dirty_segments();
    if let Err(e) = write_commit_log(dir, redo, &segments, fsync) {
        shared
            .txns
            .clog
            .mark_dirty(segments.iter().map(|(seg, _)| *seg));
        return Err(e);
    }
    if let (lsn, Some(blob)) = &catalog {
        write_lsn_file(&dir.join("catalog"), *lsn, blob, fsync)?;
    }
    write_lsn_file(
        &dir.join("sequences"),
        seqs.0,
        &encode_sequences(&seqs.1),
        fsync,
    )?;
    // After the redo point was fixed: every map change is made before its
    // page change is logged, so one this snapshot misses is replayed.
    write_lsn_file(&dir.join("vm"), redo, &shared.vm.encode(), fsync)?;
    // Counters as of now; on a crash, what was counted since is lost, never
    // what this checkpoint saved.
    write_lsn_file(
        &dir.join("stats"),
        0,
        &shared.stats.encode(&shared.pool.io_counts()),
        fsync,
    )?;
    let (ck, end) = shared
        .wal
        .append(0, &WalRecord::Checkpoint { redo, next_xid });
    shared.wal.flush(end)?;
    write_control(
        &dir.join("control"),
        &Control {
            redo,
            checkpoint: ck,
            next_xid,
        },
        fsync,
    )?;
    shared.wal.remove_before(redo)?;
    shared.last_checkpoint_lsn.store(end, Ordering::Relaxed);
    shared.checkpoints.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// The row versions of `rel` that are dead to every transaction (VACUUM's
/// test: inserted by an aborted transaction, or deleted by one that
/// committed before the oldest snapshot), by block; the first overflow page
/// of each dead external tuple; and the pages scanned and versions left.
struct DeadVersions {
    dead: HashMap<u32, Vec<u16>>,
    overflow_heads: Vec<u32>,
    pages_scanned: u64,
    remaining: u64,
    /// Blocks that were all-visible (nothing to remove or mark), and those
    /// of them with room for new rows (VACUUM's third pass skips them).
    all_visible: Vec<bool>,
    all_visible_free: Vec<u32>,
}

impl DeadVersions {
    fn contains(&self, tid: TupleId) -> bool {
        self.dead
            .get(&tid.page)
            .is_some_and(|s| s.contains(&tid.slot))
    }
}

fn dead_versions(shared: &Shared, rel: RelFileId, oldest: Xid) -> Result<DeadVersions> {
    let nblocks = shared.pool.relation_size(rel)?;
    let mut out = DeadVersions {
        dead: HashMap::new(),
        overflow_heads: Vec::new(),
        pages_scanned: 0,
        remaining: 0,
        all_visible: vec![false; nblocks as usize],
        all_visible_free: Vec::new(),
    };
    // A table larger than a quarter of the pool is read through a small
    // ring of frames, so a VACUUM does not push everything else out.
    let mut ring = shared.pool.bulk_ring_for(rel)?;
    for block in 0..nblocks {
        let page = shared.pool.fetch_bulk(rel, block, ring.as_mut())?;
        let g = page.read();
        let hp = HeapPage::new(&g[..]);
        if !hp.is_initialized() {
            continue;
        }
        if shared.vm.is_set(rel, block) {
            // Every tuple here is visible to every snapshot: none is dead,
            // so only count them (Postgres skips all-visible pages too).
            out.remaining += (0..hp.slot_count())
                .filter(|&slot| hp.tuple(slot).is_some())
                .count() as u64;
            out.all_visible[block as usize] = true;
            if hp.free_space() >= PAGE_SIZE / 5 {
                out.all_visible_free.push(block);
            }
            continue;
        }
        out.pages_scanned += 1;
        shared.txns.clog.with(|st| {
            for slot in 0..hp.slot_count() {
                let Some(t) = hp.tuple(slot) else { continue };
                let h = TupleHeader::read(t);
                let xmin_aborted = st(h.xmin) == XID_ABORTED;
                let deleted = h.xmax != 0
                    && h.infomask & TUPLE_LOCK_ONLY == 0
                    && st(h.xmax) == XID_COMMITTED
                    && h.xmax < oldest;
                if xmin_aborted || deleted {
                    out.dead.entry(block).or_default().push(slot);
                    if h.infomask & crate::page::TUPLE_EXTERNAL != 0
                        && t.len() >= TUPLE_HEADER_SIZE + 8
                    {
                        let first = u32::from_le_bytes(
                            t[TUPLE_HEADER_SIZE + 4..TUPLE_HEADER_SIZE + 8]
                                .try_into()
                                .expect("4"),
                        );
                        out.overflow_heads.push(first);
                    }
                } else {
                    out.remaining += 1;
                }
            }
        });
    }
    Ok(out)
}

fn vacuum(shared: &Shared, rel: RelFileId, auto: bool) -> Result<VacuumStats> {
    let _one_at_a_time = shared.vacuum_mutex.lock();
    let oldest = shared.txns.oldest_xmin();
    let nblocks = shared.pool.relation_size(rel)?;
    let mut stats = VacuumStats::default();
    // Pass 1: find dead versions. They stay dead, and their slots are not
    // reused until pass 3 frees them.
    let DeadVersions {
        dead,
        overflow_heads,
        pages_scanned,
        remaining,
        all_visible: was_all_visible,
        all_visible_free,
    } = dead_versions(shared, rel, oldest)?;
    stats.pages_scanned = pages_scanned;
    stats.tuples_remaining = remaining;
    // Pass 2: remove index entries pointing at dead versions, so no index
    // ever points at a slot that pass 3 frees for reuse.
    let indexes: Vec<IndexHandle> = shared
        .indexes
        .read()
        .values()
        .filter(|(h, _)| *h == rel)
        .map(|(_, i)| i.clone())
        .collect();
    for idx in &indexes {
        if !dead.is_empty() {
            let removed =
                idx.bulk_delete(&|tid| dead.get(&tid.page).is_some_and(|s| s.contains(&tid.slot)))?;
            if let Some(s) = shared.stats.for_storage(idx.rel()) {
                s.add(Counter::Deletes, removed);
            }
        }
        idx.vacuum_cleanup()?;
    }
    // Index scans that read entries before pass 2 may still hold them:
    // from now on they must not trust all-visible bits (see
    // `visibility_map`).
    if !dead.is_empty() {
        shared.vm.bump_freeing_epoch(rel);
    }
    // Pass 3: free the dead slots and compact the pages; mark the pages
    // whose remaining tuples every snapshot sees all-visible (the index
    // entries of the removed ones went in pass 2).
    // Pages pass 1 found all-visible have nothing to free or mark: only
    // their free space counts, noted then.
    let mut free_pages = all_visible_free;
    for block in 0..nblocks {
        if was_all_visible
            .get(block as usize)
            .copied()
            .unwrap_or(false)
            && !dead.contains_key(&block)
        {
            continue;
        }
        let page = shared.pool.fetch(rel, block)?;
        let mut g = page.write();
        let compact = dead.get(&block);
        if let Some(slots) = compact {
            stats.tuples_removed += slots.len() as u64;
            HeapPageMut::new(&mut g[..]).remove_and_compact(slots);
        }
        if crate::page::is_all_visible(&g[..]) {
            shared.vm.set(rel, block);
        }
        let newly_visible = HeapPage::new(&g[..]).is_initialized()
            && !crate::page::is_all_visible(&g[..])
            && shared
                .txns
                .clog
                .with(|st| all_visible(&HeapPage::new(&g[..]), oldest, st));
        if newly_visible {
            // Map bit and flag before the page change is logged (see
            // `visibility_map`).
            let flags = crate::page::page_flags(&g[..]);
            crate::page::set_page_flags(&mut g[..], flags | crate::page::PAGE_ALL_VISIBLE);
            shared.vm.set(rel, block);
            stats.pages_all_visible += 1;
        }
        if let Some(slots) = compact {
            // A small record (the page image only when this is the page's
            // first change since the checkpoint): imaging every pruned page
            // put megabytes in front of every commit waiting for its flush.
            let rec = WalRecord::HeapPrune {
                rel,
                block,
                slots: slots.iter().map(|&s| s as u32).collect(),
            };
            shared
                .wal
                .append_page_change(0, rel, block, &mut g[..], rec);
            page.mark_dirty();
        }
        if newly_visible {
            // Redo of a prune starts the page afresh (flags clear), so the
            // flag is logged after it, on its own.
            let flags = crate::page::page_flags(&g[..]);
            let rec = WalRecord::PagePatch {
                rel,
                block,
                patches: vec![(
                    crate::page::PAGE_FLAGS_OFFSET as u16,
                    flags.to_le_bytes().to_vec(),
                )],
            };
            shared
                .wal
                .append_page_change(0, rel, block, &mut g[..], rec);
            page.mark_dirty();
        }
        if HeapPage::new(&g[..]).is_initialized()
            && HeapPage::new(&g[..]).free_space() >= PAGE_SIZE / 5
        {
            free_pages.push(block);
        }
    }
    // The overflow pages of removed rows become empty heap pages, reused
    // by later inserts.
    for head in overflow_heads {
        let mut block = head;
        let mut steps = 0;
        while block != u32::MAX && block < nblocks && steps <= nblocks {
            steps += 1;
            let page = shared.pool.fetch(rel, block)?;
            let mut g = page.write();
            if crate::page::page_kind(&g[..]) != crate::page::PAGE_KIND_OVERFLOW {
                break;
            }
            let next = u32::from_le_bytes(g[24..28].try_into().expect("4"));
            HeapPageMut::new(&mut g[..]).init();
            shared.wal.append_page_image(0, rel, block, &mut g[..]);
            page.mark_dirty();
            free_pages.push(block);
            block = next;
        }
    }
    {
        let mut fsm = shared.fsm.lock();
        let e = fsm.entry(rel).or_default();
        e.free.extend(free_pages);
    }
    shared.dead.lock().remove(&rel);
    if let Some(s) = shared.stats.for_storage(rel) {
        note_vacuum(&s, &stats, auto);
    }
    Ok(stats)
}

/// Whether every tuple on the page is visible to every snapshot, running or
/// future: inserted by a transaction that committed before `oldest` (the
/// oldest xmin any snapshot may have) and not deleted or updated (a row
/// lock does not hide a tuple). `status` is the commit log.
fn all_visible(hp: &HeapPage<'_>, oldest: Xid, status: &dyn Fn(Xid) -> u8) -> bool {
    (0..hp.slot_count()).all(|slot| {
        let Some(t) = hp.tuple(slot) else {
            return true;
        };
        let h = TupleHeader::read(t);
        status(h.xmin) == XID_COMMITTED
            && h.xmin < oldest
            && (h.xmax == 0 || h.infomask & TUPLE_LOCK_ONLY != 0 || status(h.xmax) == XID_ABORTED)
    })
}

/// What a finished VACUUM tells the table's counters.
fn note_vacuum(s: &RelationStats, v: &VacuumStats, auto: bool) {
    s.set(Counter::LiveTup, v.tuples_remaining);
    s.set(Counter::DeadTup, 0);
    s.set(Counter::InsSinceVacuum, 0);
    if auto {
        s.touch(Counter::LastAutovacuum);
        s.add(Counter::AutovacuumCount, 1);
    } else {
        s.touch(Counter::LastVacuum);
        s.add(Counter::VacuumCount, 1);
    }
}

fn background_worker(shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    let mut last_checkpoint = Instant::now();
    let mut last_autovacuum = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        {
            let (m, cv) = &shared.wake;
            let mut woken = m.lock();
            if !*woken {
                cv.wait_for(&mut woken, Duration::from_millis(500));
            }
            *woken = false;
        }
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if shared.wal.wants_preallocation() {
            if let Err(e) = shared.wal.prepare_segment() {
                tracing::warn!("could not preallocate a WAL segment: {e}");
            }
        }
        let wal_since = shared
            .wal
            .insert_lsn()
            .saturating_sub(shared.last_checkpoint_lsn.load(Ordering::Relaxed));
        if last_checkpoint.elapsed() >= shared.cfg.checkpoint_interval
            || wal_since > shared.cfg.checkpoint_wal_bytes
        {
            if let Err(e) = checkpoint(&shared) {
                tracing::error!("checkpoint failed: {e}");
            }
            last_checkpoint = Instant::now();
        }
        if last_autovacuum.elapsed() >= Duration::from_secs(10) {
            last_autovacuum = Instant::now();
            // Postgres's trigger: more dead rows than 50 + 20% of the live
            // ones (autovacuum_vacuum_threshold, _scale_factor). A fixed
            // 1,000 had pgbench's million-row table vacuumed every 10 s.
            let mut candidates: Vec<RelFileId> = shared
                .dead
                .lock()
                .iter()
                .filter(|(&r, &n)| {
                    let live = shared
                        .stats
                        .for_storage(r)
                        .map_or(0, |s| s.get(Counter::LiveTup));
                    n >= 50 + live / 5
                })
                .map(|(&r, _)| r)
                .collect();
            // And, since Postgres 13, tables that mostly grew: more rows
            // inserted since their last VACUUM than 1,000 + 20% of the live
            // ones (autovacuum_vacuum_insert_threshold, _scale_factor), so
            // an insert-only table gets its pages marked all-visible (for
            // index-only scans) without ever having a dead row.
            candidates.extend(shared.stats.storages_where(|s| {
                let inserted = s.get(Counter::InsSinceVacuum);
                inserted > 0 && inserted >= 1000 + s.get(Counter::LiveTup) / 5
            }));
            candidates.sort_unstable();
            candidates.dedup();
            for rel in candidates {
                match vacuum(&shared, rel, true) {
                    Ok(s) => tracing::debug!(
                        "autovacuum of relation {rel}: removed {}",
                        s.tuples_removed
                    ),
                    Err(e) => tracing::warn!("autovacuum of relation {rel} failed: {e}"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deferred commit that appended its record before a checkpoint's
    /// redo point and has no commit-log entry yet holds the checkpoint up
    /// until it has one; the checkpoint's snapshot of the commit log then
    /// has it.
    #[test]
    fn a_checkpoint_waits_for_deferred_commits_before_its_redo_point() {
        let dir = std::env::temp_dir().join(format!("sargdb-ckpt-wait-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let engine = Engine::open(EngineConfig::new(&dir)).unwrap();
        let shared = engine.shared.clone();
        let ticket = shared.begin_in_flight();
        let (tx, rx) = std::sync::mpsc::channel();
        let e = engine.clone();
        let ckpt = std::thread::spawn(move || {
            e.checkpoint().unwrap();
            tx.send(()).unwrap();
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "the checkpoint did not wait for the commit in flight"
        );
        shared.end_in_flight(ticket);
        rx.recv_timeout(Duration::from_secs(10))
            .expect("the checkpoint kept waiting after the commit ended");
        ckpt.join().unwrap();
        // A commit that starts after the redo point does not hold one up.
        let _late = shared.begin_in_flight();
        let started = Instant::now();
        let redo_ticket = shared.in_flight.lock().next - 1;
        shared.wait_in_flight(redo_ticket);
        assert!(started.elapsed() < Duration::from_secs(1));
        drop(engine);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
