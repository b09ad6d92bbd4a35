//! Transactions: xids, the commit log, snapshots, MVCC visibility, row locks,
//! savepoints (subtransactions) and deadlock detection.
//!
//! A transaction gets an xid only at its first write; read-only transactions
//! never touch the WAL. Each savepoint level gets its own subxid (allocated
//! lazily too), so ROLLBACK TO SAVEPOINT just marks that level's xids aborted
//! in the commit log. Visibility follows Postgres: a version is visible if its
//! inserter committed before the snapshot (or is this transaction, in an
//! earlier command) and its deleter did not.
//!
//! Invariant: a transaction's commit is set in the commit log only after its
//! commit record is durable, and it leaves the active set only after that, so a
//! snapshot never sees a commit that a crash could undo. The commit path holds
//! `commit_lock` (shared) across append, flush and commit-log update; a
//! checkpoint takes it exclusively to fix its redo point.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, RwLock};

use crate::buffer::BuildPageHasher;
use crate::engine::Shared;
use crate::error::{EngineError, Result};
use crate::heap::{self, HeapScan, TupleBatch, TupleId};
use crate::page::{
    HeapPageMut, TupleHeader, TUPLE_COMBO_CID, TUPLE_EXTERNAL, TUPLE_HEADER_SIZE, TUPLE_LOCK_ONLY,
    TUPLE_UPDATED,
};
use crate::wal::WalRecord;
use crate::RelFileId;

pub type Xid = u64;

/// Xid that is always committed (rows written at bootstrap).
pub const FROZEN_XID: Xid = 1;
pub const FIRST_NORMAL_XID: Xid = 2;

pub const XID_IN_PROGRESS: u8 = 0;
pub const XID_COMMITTED: u8 = 1;
pub const XID_ABORTED: u8 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IsolationLevel {
    ReadCommitted,
    RepeatableRead,
    /// Accepted and run as REPEATABLE READ (snapshot isolation).
    Serializable,
}

/// Result of trying to delete, update or lock a row version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockOutcome {
    /// Done.
    Ok,
    /// A concurrent transaction committed a newer version at this tid (READ
    /// COMMITTED: re-check the WHERE clause against it and retry there).
    Updated(TupleId),
    /// A concurrent transaction committed a delete of the row: skip it.
    Deleted,
    /// This transaction already changed the row in the current command.
    SelfModified,
}

/// Whether an existing version blocks a new equal key in a unique index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UniqueStatus {
    /// Committed (or ours) and not deleted: a duplicate (23505).
    Live,
    /// Its inserter or deleter is still running: wait for it, then re-check.
    InProgress(Xid),
    /// Gone for every future transaction: no conflict.
    Dead,
    /// Gone for every transaction, running or future (see `Fetched::Dead`):
    /// no conflict, and its index entries may be removed now.
    DeadToAll,
}

/// What `Transaction::fetch_checked` found at a tuple id.
/// (`fetch_checked_with`: what its callback made of the row bytes.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fetched<T = Vec<u8>> {
    /// The row bytes of the version this statement sees.
    Visible(T),
    /// Not visible to this statement (or no tuple there).
    Invisible,
    /// No transaction, running or future, can ever see this version: it was
    /// inserted by an aborted transaction, or deleted (or updated) by one that
    /// committed before every running snapshot. Index entries pointing at it
    /// may be removed right away (VACUUM frees the tuple itself later).
    Dead,
}

/// A transaction's own live xids (top level and subtransactions). Almost
/// always one or two, and looked up on every visibility check, so a vector
/// beats a (SipHash) hash set here.
#[derive(Clone, Debug, Default)]
pub struct XidSet(Vec<Xid>);

impl XidSet {
    pub fn contains(&self, x: &Xid) -> bool {
        self.0.contains(x)
    }
    fn extend(&mut self, xs: impl IntoIterator<Item = Xid>) {
        self.0.extend(xs)
    }
    fn remove(&mut self, x: &Xid) {
        self.0.retain(|y| y != x)
    }
}

/// What a snapshot considers still running.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub xmin: Xid,
    pub xmax: Xid,
    /// Sorted xids (top-level and sub) active when the snapshot was taken.
    pub active: Vec<Xid>,
}

impl Snapshot {
    fn in_progress(&self, xid: Xid) -> bool {
        xid >= self.xmax || (xid >= self.xmin && self.active.binary_search(&xid).is_ok())
    }
}

/// Everything a visibility check needs, cheap to clone into a scan.
#[derive(Clone, Debug)]
pub struct VisibilityContext {
    pub snapshot: Snapshot,
    pub cid: u32,
    /// This transaction's live (not rolled back) xids.
    pub mine: Arc<XidSet>,
    /// This transaction's combo command ids.
    pub combos: Arc<ComboCids>,
}

/// A transaction's combo command ids: the (cmin, cmax) pairs of rows it
/// inserted and then deleted, whose header has room for one command id
/// (`page::TUPLE_COMBO_CID`). Shared with the visibility contexts the
/// transaction hands out, since a cursor opened earlier may meet a row
/// deleted later. Lives as long as the transaction: nobody else reads the
/// ids, and after it ends nobody needs them.
#[derive(Debug, Default)]
pub struct ComboCids {
    inner: RwLock<ComboTable>,
}

#[derive(Debug, Default)]
struct ComboTable {
    pairs: Vec<(u32, u32)>,
    ids: HashMap<(u32, u32), u32>,
}

impl ComboCids {
    /// The id of (cmin, cmax), created if new.
    fn id(&self, cmin: u32, cmax: u32) -> u32 {
        if let Some(&id) = self.inner.read().ids.get(&(cmin, cmax)) {
            return id;
        }
        let mut t = self.inner.write();
        if let Some(&id) = t.ids.get(&(cmin, cmax)) {
            return id;
        }
        let id = t.pairs.len() as u32;
        t.pairs.push((cmin, cmax));
        t.ids.insert((cmin, cmax), id);
        id
    }

    /// (cmin, cmax) of combo id `id`. An unknown id (never expected: only
    /// the transaction that made it asks) reads as a command that has not
    /// happened yet, which hides the row from that transaction rather than
    /// showing it.
    fn pair(&self, id: u32) -> (u32, u32) {
        self.inner
            .read()
            .pairs
            .get(id as usize)
            .copied()
            .unwrap_or((u32::MAX, u32::MAX))
    }

    /// cmin of a header whose xmin is the asking transaction's.
    fn cmin(&self, h: &TupleHeader) -> u32 {
        if h.infomask & TUPLE_COMBO_CID != 0 {
            self.pair(h.cid).0
        } else {
            h.cid
        }
    }

    /// cmax of a header whose (non-lock) xmax is the asking transaction's.
    fn cmax(&self, h: &TupleHeader) -> u32 {
        if h.infomask & TUPLE_COMBO_CID != 0 {
            self.pair(h.cid).1
        } else {
            h.cid
        }
    }
}

/// Transaction ids per commit-log segment: the commit log is written at
/// checkpoints one segment file at a time (`xact/<segment, 8 hex digits>`),
/// and only the segments changed since the last checkpoint, so what a
/// checkpoint writes grows with the transactions since the last one, not
/// with all there ever were.
pub const CLOG_SEGMENT_XIDS: usize = 1 << 16;

/// The commit log: a status per xid (2 bits in memory, four to a byte;
/// one byte each in the `xact/` files), kept in memory whole and written
/// to `xact/` at checkpoints (see `CLOG_SEGMENT_XIDS`).
pub struct CommitLog {
    status: RwLock<ClogState>,
}

struct ClogState {
    /// Xid `x`'s status is bits `2 * (x % 4)..` of byte `x / 4`; ids past
    /// the end are in progress (`XID_IN_PROGRESS` is 0).
    packed: Vec<u8>,
    /// Segments changed since they were last taken for a checkpoint.
    dirty: BTreeSet<u32>,
}

/// Statuses per byte of `ClogState::packed`.
const CLOG_PER_BYTE: usize = 4;

fn segment_of(xid: usize) -> u32 {
    (xid / CLOG_SEGMENT_XIDS) as u32
}

impl ClogState {
    /// Xids with a place in `packed`.
    fn len(&self) -> usize {
        self.packed.len() * CLOG_PER_BYTE
    }
    #[inline]
    fn get(&self, x: usize) -> u8 {
        match self.packed.get(x / CLOG_PER_BYTE) {
            Some(b) => (b >> (2 * (x % CLOG_PER_BYTE))) & 3,
            None => XID_IN_PROGRESS,
        }
    }
    fn put(&mut self, x: usize, status: u8) {
        debug_assert!(status <= 3);
        let i = x / CLOG_PER_BYTE;
        if i >= self.packed.len() {
            let n = (i + 1).max(self.packed.len() * 2).max(256);
            self.packed.resize(n, 0);
        }
        let shift = 2 * (x % CLOG_PER_BYTE);
        self.packed[i] = (self.packed[i] & !(3 << shift)) | ((status & 3) << shift);
        self.dirty.insert(segment_of(x));
    }
}

impl CommitLog {
    /// A commit log holding `bytes` (one status per xid, as written in
    /// `xact/`); nothing is dirty.
    pub fn new(bytes: Vec<u8>) -> CommitLog {
        let packed = bytes
            .chunks(CLOG_PER_BYTE)
            .map(|c| {
                c.iter()
                    .enumerate()
                    .fold(0u8, |acc, (k, &st)| acc | ((st & 3) << (2 * k)))
            })
            .collect();
        CommitLog {
            status: RwLock::new(ClogState {
                packed,
                dirty: BTreeSet::new(),
            }),
        }
    }
    pub fn get(&self, xid: Xid) -> u8 {
        if xid == FROZEN_XID {
            return XID_COMMITTED;
        }
        self.status.read().get(xid as usize)
    }
    pub fn set(&self, xids: &[Xid], status: u8) {
        let mut s = self.status.write();
        for &x in xids {
            s.put(x as usize, status);
        }
    }
    /// Every segment holding a status counts as changed (the log was read
    /// from the single-file format, which the next checkpoint replaces).
    pub fn mark_all_dirty(&self) {
        let mut s = self.status.write();
        let n = s.len().div_ceil(CLOG_SEGMENT_XIDS) as u32;
        s.dirty.extend(0..n);
    }
    /// The segments changed since the last call, each with a copy of its
    /// statuses, one byte each (the last one as long as the log), and no
    /// longer counted as changed: a checkpoint that fails to write them
    /// gives them back (`mark_dirty`).
    pub fn take_dirty_segments(&self) -> Vec<(u32, Vec<u8>)> {
        let mut s = self.status.write();
        let dirty = std::mem::take(&mut s.dirty);
        let len = s.len();
        dirty
            .into_iter()
            .map(|seg| {
                let start = (seg as usize * CLOG_SEGMENT_XIDS).min(len);
                let end = (start + CLOG_SEGMENT_XIDS).min(len);
                (seg, (start..end).map(|x| s.get(x)).collect())
            })
            .collect()
    }
    /// (bytes of statuses, bytes allocated): a quarter byte per
    /// transaction id since the first (and room for the next ones, filled
    /// as "in progress"), none ever given back.
    pub fn memory(&self) -> (u64, u64) {
        let s = self.status.read();
        (s.packed.len() as u64, s.packed.capacity() as u64)
    }
    /// Count these segments as changed again.
    pub fn mark_dirty(&self, segments: impl IntoIterator<Item = u32>) {
        self.status.write().dirty.extend(segments);
    }
    /// Run `f` with the status table read-locked (one lock per page scanned).
    pub fn with<R>(&self, f: impl FnOnce(&dyn Fn(Xid) -> u8) -> R) -> R {
        let s = self.status.read();
        let get = |x: Xid| {
            if x == FROZEN_XID {
                XID_COMMITTED
            } else {
                s.get(x as usize)
            }
        };
        f(&get)
    }
    /// After recovery: every xid below `next` that never finished aborted.
    pub fn abort_unfinished(&self, next: Xid) {
        let mut s = self.status.write();
        for x in FIRST_NORMAL_XID as usize..next as usize {
            if s.get(x) == XID_IN_PROGRESS {
                s.put(x, XID_ABORTED);
            }
        }
    }
}

struct TxnState {
    next_xid: Xid,
    active: BTreeSet<Xid>,
    /// subxid -> top-level xid, for active subtransactions.
    top_of: HashMap<Xid, Xid, BuildPageHasher>,
    /// top-level xid -> the xid it waits for.
    waits_for: HashMap<Xid, Xid, BuildPageHasher>,
    /// transaction serial -> xmin of its current snapshot.
    snapshots: HashMap<u64, Xid, BuildPageHasher>,
    next_serial: u64,
}

/// Shared transaction bookkeeping.
pub struct TxnManager {
    state: Mutex<TxnState>,
    /// Signalled when a transaction ends, one condition variable per
    /// `ENDED_SLOTS`-th of the xid space: a waiter sleeps on its target's
    /// slot, so a commit wakes the sessions waiting for it (and the rare
    /// waiter whose target shares the slot), not every waiting session.
    ended: Vec<Condvar>,
    pub clog: CommitLog,
}

/// How many condition variables `TxnManager::ended` spreads waiters over.
const ENDED_SLOTS: usize = 64;

impl TxnManager {
    pub fn new(next_xid: Xid, clog: CommitLog) -> TxnManager {
        TxnManager {
            state: Mutex::new(TxnState {
                next_xid: next_xid.max(FIRST_NORMAL_XID),
                active: BTreeSet::new(),
                top_of: HashMap::default(),
                waits_for: HashMap::default(),
                snapshots: HashMap::default(),
                next_serial: 1,
            }),
            ended: (0..ENDED_SLOTS).map(|_| Condvar::new()).collect(),
            clog,
        }
    }

    pub fn next_xid(&self) -> Xid {
        self.state.lock().next_xid
    }

    fn alloc(&self, top: Option<Xid>) -> Xid {
        let mut st = self.state.lock();
        let x = st.next_xid;
        st.next_xid += 1;
        st.active.insert(x);
        if let Some(t) = top {
            st.top_of.insert(x, t);
        }
        x
    }

    fn serial(&self) -> u64 {
        let mut st = self.state.lock();
        st.next_serial += 1;
        st.next_serial
    }

    fn take_snapshot(&self, serial: u64) -> Snapshot {
        let mut st = self.state.lock();
        let xmax = st.next_xid;
        let xmin = st.active.iter().next().copied().unwrap_or(xmax);
        let active: Vec<Xid> = st.active.iter().copied().collect();
        st.snapshots.insert(serial, xmin);
        Snapshot { xmin, xmax, active }
    }

    fn end(&self, serial: u64, xids: &[Xid]) {
        let mut st = self.state.lock();
        st.snapshots.remove(&serial);
        for x in xids {
            st.active.remove(x);
            st.top_of.remove(x);
        }
        drop(st);
        self.notify_ended(xids);
    }

    /// The condition variable a waiter for `xid` sleeps on.
    fn ended_slot(&self, xid: Xid) -> &Condvar {
        &self.ended[xid as usize % ENDED_SLOTS]
    }

    /// Wake the waiters for each of `xids` (they just ended).
    fn notify_ended(&self, xids: &[Xid]) {
        for &x in xids {
            self.ended_slot(x).notify_all();
        }
    }

    /// The transactions holding a snapshot now (their serials).
    pub fn snapshot_holders(&self) -> Vec<u64> {
        self.state.lock().snapshots.keys().copied().collect()
    }

    /// Whether any of `serials` still holds a snapshot.
    pub fn any_holds_snapshot(&self, serials: &[u64]) -> bool {
        let st = self.state.lock();
        serials.iter().any(|s| st.snapshots.contains_key(s))
    }

    /// Oldest xid any current or future snapshot may still consider running.
    pub fn oldest_xmin(&self) -> Xid {
        let st = self.state.lock();
        let mut m = st.next_xid;
        if let Some(&a) = st.active.iter().next() {
            m = m.min(a);
        }
        for &x in st.snapshots.values() {
            m = m.min(x);
        }
        m
    }

    pub fn is_active(&self, xid: Xid) -> bool {
        self.state.lock().active.contains(&xid)
    }
}

struct Level {
    /// This level's own xid and those of released inner levels.
    xids: Vec<Xid>,
    drop_on_commit: Vec<RelFileId>,
    drop_on_abort: Vec<RelFileId>,
    catalog: Option<Vec<u8>>,
}

impl Level {
    fn new() -> Level {
        Level {
            xids: Vec::new(),
            drop_on_commit: Vec::new(),
            drop_on_abort: Vec::new(),
            catalog: None,
        }
    }
}

/// How `Transaction::commit_deferred` went.
#[must_use]
pub enum CommitStart {
    /// Committed, or failed, on the calling thread; the callback is dropped.
    Done(Result<()>),
    /// The callback is called (or already was) with the outcome.
    Deferred,
}

pub struct Transaction {
    shared: Arc<Shared>,
    serial: u64,
    isolation: IsolationLevel,
    snapshot: Option<Snapshot>,
    cid: u32,
    levels: Vec<Level>,
    mine: Arc<XidSet>,
    combos: Arc<ComboCids>,
    cancel: Option<Arc<AtomicBool>>,
    ended: bool,
    /// `TxnManager::oldest_xmin` as last computed for this command (0: not
    /// yet). It only grows, so a stale value is merely conservative.
    horizon: std::sync::atomic::AtomicU64,
    /// Relations created in this transaction that bulk inserts filled
    /// without WAL: written out and fsynced before the commit record.
    unlogged: Vec<RelFileId>,
    /// Their filled pages being written out while the load goes on.
    write_behind: Vec<WriteBehind>,
}

/// Pages a bulk load into its own storage has filled (`heap::insert_many`
/// reports them), written out and fsynced on a helper thread while the
/// load goes on, so that the commit, which still writes whatever is dirty
/// and fsyncs the relation itself, finds most of it on disk already. A
/// head start only: nothing depends on the helper having finished.
struct WriteBehind {
    rel: RelFileId,
    pending: Vec<u32>,
    running: Option<std::thread::JoinHandle<()>>,
}

/// Filled pages handed to a write-behind thread at a time (4 MB).
const WRITE_BEHIND_PAGES: usize = 512;

impl WriteBehind {
    /// Start writing the pending pages unless a write is still running.
    fn kick(&mut self, shared: &Arc<Shared>) {
        if self.pending.len() < WRITE_BEHIND_PAGES
            || self.running.as_ref().is_some_and(|h| !h.is_finished())
        {
            return;
        }
        if let Some(h) = self.running.take() {
            let _ = h.join();
        }
        let mut blocks = std::mem::take(&mut self.pending);
        blocks.sort_unstable();
        let (shared, rel) = (Arc::clone(shared), self.rel);
        let spawned = std::thread::Builder::new()
            .name("bulk-write".into())
            .spawn(move || {
                let res = shared
                    .pool
                    .write_blocks(rel, &blocks)
                    .and_then(|()| shared.storage.sync_relation_data(rel));
                if let Err(e) = res {
                    // The commit writes and fsyncs everything again and
                    // reports its own error.
                    tracing::debug!("bulk write-behind of relation {rel}: {e}");
                }
            });
        self.running = spawned.ok();
    }

    fn join(&mut self) {
        self.pending.clear();
        if let Some(h) = self.running.take() {
            let _ = h.join();
        }
    }
}

impl Transaction {
    pub(crate) fn new(shared: Arc<Shared>, isolation: IsolationLevel) -> Transaction {
        let serial = shared.txns.serial();
        Transaction {
            shared,
            serial,
            isolation,
            snapshot: None,
            cid: 0,
            levels: vec![Level::new()],
            mine: Arc::new(XidSet::default()),
            combos: Arc::new(ComboCids::default()),
            cancel: None,
            ended: false,
            horizon: std::sync::atomic::AtomicU64::new(0),
            unlogged: Vec::new(),
            write_behind: Vec::new(),
        }
    }

    /// Wait for the write-behind threads (before relations go away or the
    /// commit's own flush).
    fn join_write_behind(&mut self) {
        for w in &mut self.write_behind {
            w.join();
        }
        self.write_behind.clear();
    }

    pub fn isolation(&self) -> IsolationLevel {
        self.isolation
    }

    /// Change the isolation level; only before the first statement ran.
    pub fn set_isolation(&mut self, level: IsolationLevel) {
        self.isolation = level;
    }

    /// The top-level xid, if this transaction has written anything.
    pub fn xid(&self) -> Option<Xid> {
        self.levels[0].xids.first().copied()
    }

    /// Begin a new statement: later scans see this transaction's earlier
    /// statements' writes but not the new statement's own; READ COMMITTED takes
    /// a fresh snapshot.
    pub fn start_command(&mut self) {
        self.cid += 1;
        *self.horizon.get_mut() = 0;
        if self.snapshot.is_none() || self.isolation == IsolationLevel::ReadCommitted {
            self.snapshot = Some(self.shared.txns.take_snapshot(self.serial));
        }
    }

    fn ensure_snapshot(&mut self) {
        if self.snapshot.is_none() {
            self.start_command();
        }
    }

    pub(crate) fn visibility(&self) -> VisibilityContext {
        let snapshot = match &self.snapshot {
            Some(s) => s.clone(),
            None => self.shared.txns.take_snapshot(self.serial),
        };
        VisibilityContext {
            snapshot,
            cid: self.cid.max(1),
            mine: self.mine.clone(),
            combos: self.combos.clone(),
        }
    }

    /// The xid writes of the current savepoint level are stamped with,
    /// assigning xids to every level that lacks one.
    fn write_xid(&mut self) -> Xid {
        self.ensure_snapshot();
        let mut top = self.levels[0].xids.first().copied();
        let mut added = Vec::new();
        for i in 0..self.levels.len() {
            if self.levels[i].xids.is_empty() {
                let x = self.shared.txns.alloc(top);
                if top.is_none() {
                    top = Some(x);
                }
                self.levels[i].xids.push(x);
                added.push(x);
            }
        }
        if !added.is_empty() {
            let m = Arc::make_mut(&mut self.mine);
            m.extend(added);
        }
        self.levels
            .last()
            .and_then(|l| l.xids.first().copied())
            .expect("level has an xid")
    }

    fn check_cancel(&self) -> Result<()> {
        if let Some(c) = &self.cancel {
            if c.load(Ordering::Relaxed) {
                return Err(EngineError::Canceled);
            }
        }
        Ok(())
    }

    /// The MVCC header of a version `xid` inserts in this command.
    fn new_header(&self, xid: Xid) -> TupleHeader {
        TupleHeader {
            xmin: xid,
            xmax: 0,
            cid: self.cid,
            ctid_page: 0,
            ctid_slot: 0,
            infomask: 0,
        }
    }

    /// A new version of `data` inserted by `xid` in this command: the MVCC
    /// header, then the data.
    fn new_tuple(&self, xid: Xid, data: &[u8]) -> Vec<u8> {
        let mut full = vec![0u8; TUPLE_HEADER_SIZE + data.len()];
        self.new_header(xid).write(&mut full);
        full[TUPLE_HEADER_SIZE..].copy_from_slice(data);
        full
    }

    /// Insert a tuple; returns where it went.
    pub fn insert(&mut self, rel: RelFileId, tuple: &[u8]) -> Result<TupleId> {
        let xid = self.write_xid();
        let mut full = self.new_tuple(xid, tuple);
        let tid = heap::insert(&self.shared, xid, rel, &mut full)?;
        self.shared.note_modified(rel);
        Ok(tid)
    }

    /// Insert many tuples at once (COPY, INSERT ... SELECT into a table
    /// without indexes): see `heap::insert_many`.
    pub fn insert_many(&mut self, rel: RelFileId, batch: &mut TupleBatch) -> Result<Vec<TupleId>> {
        self.insert_many_with(rel, batch, false)
    }

    /// Whether `rel`'s storage was created by this transaction (CREATE
    /// TABLE, TRUNCATE, a new index): nobody else can see it before the
    /// commit, and it is removed if the transaction aborts.
    pub fn created_here(&self, rel: RelFileId) -> bool {
        self.levels.iter().any(|l| l.drop_on_abort.contains(&rel))
    }

    /// Before a bulk build into index storage `rel`: if this transaction
    /// created the storage, the build leaves the pages it fills without
    /// WAL (pages already logged, like the meta page of the empty tree,
    /// are logged as usual), and the relation is written and fsynced before
    /// the commit record, as for bulk heap inserts (`insert_many_with`).
    /// Returns whether it is so; `end_unlogged_build` must follow the build.
    pub fn begin_unlogged_build(&mut self, rel: RelFileId) -> bool {
        if !self.created_here(rel) {
            return false;
        }
        if !self.unlogged.contains(&rel) {
            self.unlogged.push(rel);
        }
        self.shared.set_unlogged_build(rel, true);
        true
    }

    pub fn end_unlogged_build(&mut self, rel: RelFileId) {
        self.shared.set_unlogged_build(rel, false);
    }

    /// Whether `rel`'s storage was created in the current subtransaction
    /// (the condition of COPY FREEZE).
    pub fn created_in_subtransaction(&self, rel: RelFileId) -> bool {
        self.levels
            .last()
            .is_some_and(|l| l.drop_on_abort.contains(&rel))
    }

    /// `insert_many`. Into storage this transaction created, pages the
    /// insert formats (and pages never WAL-logged) are filled without WAL,
    /// as Postgres does at wal_level=minimal: the relation is written and
    /// fsynced before the commit record instead, and a crash before the
    /// commit loses nothing anybody could see. With `freeze` (COPY FREEZE,
    /// which the caller allows only into storage created in the current
    /// subtransaction) those pages are also flagged all-visible, so the
    /// rows are visible to every snapshot, as Postgres documents for COPY
    /// FREEZE, and VACUUM and index-only scans need not visit them.
    pub fn insert_many_with(
        &mut self,
        rel: RelFileId,
        batch: &mut TupleBatch,
        freeze: bool,
    ) -> Result<Vec<TupleId>> {
        if batch.is_empty() {
            return Ok(vec![]);
        }
        let xid = self.write_xid();
        batch.set_headers(&self.new_header(xid));
        let skip_wal = self.created_here(rel);
        let mode = heap::BulkMode {
            skip_wal,
            freeze: freeze && skip_wal,
        };
        if skip_wal && !self.unlogged.contains(&rel) {
            self.unlogged.push(rel);
        }
        let mut filled = Vec::new();
        let tids = heap::insert_many(&self.shared, xid, rel, batch, mode, &mut filled)?;
        if !filled.is_empty() {
            let i = match self.write_behind.iter().position(|w| w.rel == rel) {
                Some(i) => i,
                None => {
                    self.write_behind.push(WriteBehind {
                        rel,
                        pending: Vec::new(),
                        running: None,
                    });
                    self.write_behind.len() - 1
                }
            };
            let w = &mut self.write_behind[i];
            w.pending.extend(filled);
            w.kick(&self.shared);
        }
        self.shared.note_modified_n(rel, tids.len() as u64);
        Ok(tids)
    }

    /// ANALYZE's sample of `rel`: up to `n` versions visible to this
    /// statement, in physical order, and how many are visible (see
    /// `heap::sample`).
    pub fn sample(&self, rel: RelFileId, n: usize) -> Result<(Vec<Vec<u8>>, u64)> {
        heap::sample(
            &self.shared,
            rel,
            n,
            &self.visibility(),
            self.cancel.as_deref(),
        )
    }

    /// Sequential scan of the versions visible to this statement.
    pub fn scan(&self, rel: RelFileId) -> Result<HeapScan> {
        let nblocks = self.shared.pool.relation_size(rel)?;
        HeapScan::new(
            self.shared.clone(),
            rel,
            nblocks,
            self.visibility(),
            self.cancel.clone(),
        )
        .with_bulk_ring()
    }

    /// Scan of the versions visible to this statement on the blocks in
    /// `blocks` (clipped to the relation's size).
    pub fn scan_blocks(&self, rel: RelFileId, blocks: std::ops::Range<u32>) -> Result<HeapScan> {
        let nblocks = self.shared.pool.relation_size(rel)?;
        Ok(HeapScan::over_blocks(
            self.shared.clone(),
            rel,
            blocks.start.min(nblocks)..blocks.end.min(nblocks),
            self.visibility(),
            self.cancel.clone(),
        ))
    }

    /// The version at `tid` if visible to this statement.
    pub fn fetch(&self, rel: RelFileId, tid: TupleId) -> Result<Option<Vec<u8>>> {
        // The statement's own snapshot, by reference: no clone per row.
        let owned;
        let snapshot = match &self.snapshot {
            Some(s) => s,
            None => {
                owned = self.shared.txns.take_snapshot(self.serial);
                &owned
            }
        };
        let cid = self.cid.max(1);
        let found = heap::with_tuple(&self.shared, rel, tid, |t| {
            let h = TupleHeader::read(t);
            let visible = self
                .shared
                .txns
                .clog
                .with(|st| visible_to(&h, snapshot, cid, &self.mine, &self.combos, st));
            visible.then(|| (h.infomask, t[TUPLE_HEADER_SIZE..].to_vec()))
        })?
        .flatten();
        match found {
            Some((infomask, data)) => Ok(Some(heap::row_of(&self.shared, rel, infomask, data)?)),
            None => Ok(None),
        }
    }

    /// Whether the visibility map says every tuple on page `block` of `rel`
    /// is visible to every snapshot.
    pub fn page_all_visible(&self, rel: RelFileId, block: u32) -> bool {
        self.shared.vm.is_set(rel, block)
    }

    /// For index-only scans: read before reading index entries, then pass
    /// to `entry_all_visible`.
    pub fn vacuum_epoch(&self, rel: RelFileId) -> u64 {
        self.shared.vm.freeing_epoch(rel)
    }

    /// Whether an index entry pointing into page `block` of `rel`, read
    /// after `epoch` was taken, may be trusted without visiting the heap:
    /// the page is all-visible and no VACUUM has freed slots since (see
    /// `visibility_map`).
    pub fn entry_all_visible(&self, rel: RelFileId, block: u32, epoch: u64) -> bool {
        self.shared.vm.is_set_since(rel, block, epoch)
    }

    /// Oldest xid a running or future snapshot may consider in progress.
    fn horizon(&self) -> Xid {
        use std::sync::atomic::Ordering::Relaxed;
        match self.horizon.load(Relaxed) {
            0 => {
                let h = self.shared.txns.oldest_xmin();
                self.horizon.store(h, Relaxed);
                h
            }
            h => h,
        }
    }

    /// Whether no transaction, running or future, can see version `h` (see
    /// `Fetched::Dead`). `status` is the commit log.
    fn dead_to_all(&self, h: &TupleHeader, status: &dyn Fn(Xid) -> u8) -> bool {
        if self.mine.contains(&h.xmin) {
            return false;
        }
        if status(h.xmin) == XID_ABORTED {
            return true;
        }
        h.xmax != 0
            && h.infomask & TUPLE_LOCK_ONLY == 0
            && !self.mine.contains(&h.xmax)
            && status(h.xmax) == XID_COMMITTED
            && h.xmax < self.horizon()
    }

    /// Like `fetch`, but tells an invisible version that nobody can ever see
    /// again (`Fetched::Dead`) from one that is merely invisible to us.
    pub fn fetch_checked(&self, rel: RelFileId, tid: TupleId) -> Result<Fetched> {
        self.fetch_checked_with(rel, tid, |b| b.to_vec())
    }

    /// `fetch_checked` without copying the row: `f` reads the visible
    /// version's bytes where they lie on the page (under its read latch, so
    /// `f` must not touch the buffer pool); a version stored out of line is
    /// reassembled first. An index scan decodes each fetched row this way.
    pub fn fetch_checked_with<R>(
        &self,
        rel: RelFileId,
        tid: TupleId,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<Fetched<R>> {
        let owned;
        let snapshot = match &self.snapshot {
            Some(s) => s,
            None => {
                owned = self.shared.txns.take_snapshot(self.serial);
                &owned
            }
        };
        let cid = self.cid.max(1);
        let mut f = Some(f);
        let found = heap::with_tuple(&self.shared, rel, tid, |t| {
            let h = TupleHeader::read(t);
            let seen = self.shared.txns.clog.with(|st| {
                if visible_to(&h, snapshot, cid, &self.mine, &self.combos, st) {
                    Some(true)
                } else if self.dead_to_all(&h, st) {
                    Some(false)
                } else {
                    None
                }
            });
            let data = &t[TUPLE_HEADER_SIZE..];
            match seen {
                Some(true) if h.infomask & crate::page::TUPLE_EXTERNAL == 0 => {
                    Fetched::Visible(f.take().map(|f| Ok(f(data))))
                }
                // Out of line: reassembled below, after the latch is gone.
                Some(true) => Fetched::Visible(Some(Err((h.infomask, data.to_vec())))),
                Some(false) => Fetched::Dead,
                None => Fetched::Invisible,
            }
        })?;
        Ok(match found {
            Some(Fetched::Visible(Some(Ok(r)))) => Fetched::Visible(r),
            Some(Fetched::Visible(Some(Err((infomask, data))))) => {
                let bytes = heap::row_of(&self.shared, rel, infomask, data)?;
                match f.take() {
                    Some(f) => Fetched::Visible(f(&bytes)),
                    None => Fetched::Invisible,
                }
            }
            Some(Fetched::Dead) => Fetched::Dead,
            _ => Fetched::Invisible,
        })
    }

    /// The row bytes at `tid` whatever their visibility (integrity checks:
    /// an index entry must point at a tuple that exists).
    pub fn fetch_any(&self, rel: RelFileId, tid: TupleId) -> Result<Option<Vec<u8>>> {
        match heap::with_tuple(&self.shared, rel, tid, |t| {
            (
                TupleHeader::read(t).infomask,
                t[TUPLE_HEADER_SIZE..].to_vec(),
            )
        })? {
            Some((infomask, data)) => Ok(Some(heap::row_of(&self.shared, rel, infomask, data)?)),
            None => Ok(None),
        }
    }

    /// The newest committed-or-own version reached from `tid` along the update
    /// chain, for READ COMMITTED re-checks after `LockOutcome::Updated`.
    pub fn fetch_latest(&self, rel: RelFileId, tid: TupleId) -> Result<Option<(TupleId, Vec<u8>)>> {
        let mut cur = tid;
        let mut prev_xmax: Option<Xid> = None;
        for _ in 0..10_000 {
            let step = heap::with_tuple(&self.shared, rel, cur, |t| {
                let h = TupleHeader::read(t);
                (h, t[TUPLE_HEADER_SIZE..].to_vec())
            })?;
            let Some((h, data)) = step else {
                return Ok(None);
            };
            if let Some(px) = prev_xmax {
                if h.xmin != px {
                    return Ok(None);
                }
            }
            let clog = &self.shared.txns.clog;
            if !self.mine.contains(&h.xmin) && clog.get(h.xmin) == XID_ABORTED {
                return Ok(None);
            }
            if h.xmax != 0
                && h.infomask & TUPLE_LOCK_ONLY == 0
                && !self.mine.contains(&h.xmax)
                && clog.get(h.xmax) == XID_COMMITTED
            {
                let next = TupleId {
                    page: h.ctid_page,
                    slot: h.ctid_slot,
                };
                if h.infomask & TUPLE_UPDATED != 0 && next != cur {
                    prev_xmax = Some(h.xmax);
                    cur = next;
                    continue;
                }
                return Ok(None);
            }
            return Ok(Some((
                cur,
                heap::row_of(&self.shared, rel, h.infomask, data)?,
            )));
        }
        Err(EngineError::CorruptPage {
            rel,
            block: tid.page,
            reason: "update chain too long".into(),
        })
    }

    /// Set xmax on the version at `tid` (delete, update or row lock),
    /// waiting for a concurrent writer of the row.
    fn lock_version(&mut self, rel: RelFileId, tid: TupleId, infomask: u16) -> Result<LockOutcome> {
        let my = self.write_xid();
        loop {
            self.check_cancel()?;
            enum Step {
                Done(LockOutcome),
                Wait(Xid),
            }
            let step = {
                let page = self.shared.pool.fetch(rel, tid.page)?;
                let mut g = page.write();
                let mut hp = HeapPageMut::new(&mut g[..]);
                let Some(t) = hp.tuple_mut(tid.slot) else {
                    return Ok(LockOutcome::Deleted);
                };
                let mut h = TupleHeader::read(t);
                let clog = &self.shared.txns.clog;
                let xmax_status = if h.xmax == 0 {
                    XID_ABORTED
                } else {
                    clog.get(h.xmax)
                };
                let lock_only = h.infomask & TUPLE_LOCK_ONLY != 0;
                let step = if h.xmax != 0 && self.mine.contains(&h.xmax) {
                    if lock_only {
                        None
                    } else {
                        Some(Step::Done(LockOutcome::SelfModified))
                    }
                } else if h.xmax == 0
                    || xmax_status == XID_ABORTED
                    || (lock_only && xmax_status == XID_COMMITTED)
                {
                    None
                } else if xmax_status == XID_IN_PROGRESS {
                    Some(Step::Wait(h.xmax))
                } else if self.isolation != IsolationLevel::ReadCommitted {
                    return Err(EngineError::SerializationFailure);
                } else {
                    let next = TupleId {
                        page: h.ctid_page,
                        slot: h.ctid_slot,
                    };
                    if h.infomask & TUPLE_UPDATED != 0 && next != tid {
                        Some(Step::Done(LockOutcome::Updated(next)))
                    } else {
                        Some(Step::Done(LockOutcome::Deleted))
                    }
                };
                match step {
                    Some(s) => s,
                    None => {
                        crate::heap::clear_all_visible(&self.shared, rel, tid.page, &mut g[..]);
                        let mut hp = HeapPageMut::new(&mut g[..]);
                        let t = hp.tuple_mut(tid.slot).expect("slot checked above");
                        let mut infomask = infomask | (h.infomask & TUPLE_EXTERNAL);
                        if infomask & TUPLE_LOCK_ONLY != 0 {
                            // A row lock needs no command id: the field
                            // keeps the insert's (or its combo id).
                            infomask |= h.infomask & TUPLE_COMBO_CID;
                        } else if self.mine.contains(&h.xmin) {
                            // Deleting a row this transaction inserted:
                            // both command ids stay needed.
                            let cmin = self.combos.cmin(&h);
                            h.cid = self.combos.id(cmin, self.cid);
                            infomask |= TUPLE_COMBO_CID;
                        } else {
                            h.cid = self.cid;
                        }
                        h.xmax = my;
                        h.infomask = infomask;
                        h.ctid_page = tid.page;
                        h.ctid_slot = tid.slot;
                        h.write(t);
                        let rec = WalRecord::HeapSetXmax {
                            rel,
                            block: tid.page,
                            slot: tid.slot,
                            xmax: my,
                            cmax: h.cid,
                            infomask,
                        };
                        self.shared
                            .wal
                            .append_page_change(my, rel, tid.page, &mut g[..], rec);
                        page.mark_dirty();
                        Step::Done(LockOutcome::Ok)
                    }
                }
            };
            match step {
                Step::Done(o) => return Ok(o),
                Step::Wait(x) => self.wait_for(x)?,
            }
        }
    }

    /// Delete the version at `tid` (waits for a concurrent writer of the row).
    pub fn delete(&mut self, rel: RelFileId, tid: TupleId) -> Result<LockOutcome> {
        let o = self.lock_version(rel, tid, 0)?;
        if o == LockOutcome::Ok {
            self.shared.note_dead(rel);
            self.shared.note_modified(rel);
        }
        Ok(o)
    }

    /// Lock the row at `tid` against concurrent updates until commit
    /// (SELECT FOR UPDATE, ON CONFLICT DO UPDATE).
    pub fn lock_row(&mut self, rel: RelFileId, tid: TupleId) -> Result<LockOutcome> {
        self.lock_version(rel, tid, TUPLE_LOCK_ONLY)
    }

    /// Replace the version at `tid` by `tuple`; on `LockOutcome::Ok` also
    /// returns the new version's tid.
    pub fn update(
        &mut self,
        rel: RelFileId,
        tid: TupleId,
        tuple: &[u8],
    ) -> Result<(LockOutcome, Option<TupleId>)> {
        let o = self.lock_version(rel, tid, TUPLE_UPDATED)?;
        if o != LockOutcome::Ok {
            return Ok((o, None));
        }
        let new_tid = self.insert(rel, tuple)?;
        let my = self.write_xid();
        let page = self.shared.pool.fetch(rel, tid.page)?;
        let mut g = page.write();
        crate::heap::clear_all_visible(&self.shared, rel, tid.page, &mut g[..]);
        {
            let mut hp = HeapPageMut::new(&mut g[..]);
            if let Some(t) = hp.tuple_mut(tid.slot) {
                let mut h = TupleHeader::read(t);
                h.ctid_page = new_tid.page;
                h.ctid_slot = new_tid.slot;
                h.write(t);
            }
        }
        let rec = WalRecord::HeapSetCtid {
            rel,
            block: tid.page,
            slot: tid.slot,
            ctid_block: new_tid.page,
            ctid_slot: new_tid.slot,
        };
        self.shared
            .wal
            .append_page_change(my, rel, tid.page, &mut g[..], rec);
        page.mark_dirty();
        self.shared.note_dead(rel);
        Ok((LockOutcome::Ok, Some(new_tid)))
    }

    /// Scan that also returns versions whose inserter or deleter is still in
    /// progress, with that transaction's xid: what a uniqueness check needs
    /// (wait for that xid with `wait_for`, then check again).
    pub fn scan_dirty(&self, rel: RelFileId) -> Result<Vec<(TupleId, Vec<u8>, Option<Xid>)>> {
        let mut scan = self.dirty_scan(rel)?;
        let mut out = Vec::new();
        while let Some(item) = scan.next(self) {
            let (tid, data, wait) = item?;
            out.push((tid, data.into_owned(), wait));
        }
        Ok(out)
    }

    /// `scan_dirty` as a stream (see `DirtyScan`).
    pub fn dirty_scan(&self, rel: RelFileId) -> Result<DirtyScan> {
        let n = self.shared.pool.relation_size(rel)?;
        Ok(self.dirty_scan_blocks(rel, 0..n))
    }

    /// `dirty_scan` over some blocks only (a parallel build gives each
    /// thread its own range).
    /// Reads a large relation through a bulk-read ring (`BulkRing`).
    pub fn dirty_scan_blocks(&self, rel: RelFileId, blocks: std::ops::Range<u32>) -> DirtyScan {
        DirtyScan {
            rel,
            next_block: blocks.start,
            nblocks: blocks.end,
            arena: Vec::new(),
            items: Vec::new(),
            pos: 0,
            // No ring if the size is unknown: the scan's first read reports
            // the error.
            ring: self.shared.pool.bulk_ring_for(rel).ok().flatten(),
        }
    }

    /// Number of pages in a relation.
    pub fn relation_pages(&self, rel: RelFileId) -> Result<u32> {
        self.shared.pool.relation_size(rel)
    }

    /// Copy the versions of `block` that `scan_dirty` returns into `scan`.
    fn fill_dirty(&self, scan: &mut DirtyScan, block: u32) -> Result<()> {
        scan.arena.clear();
        scan.items.clear();
        scan.pos = 0;
        let (arena, items) = (&mut scan.arena, &mut scan.items);
        self.visit_dirty_page(
            scan.rel,
            block,
            scan.ring.as_mut(),
            |tid, infomask, data, wait| {
                let start = arena.len();
                arena.extend_from_slice(data);
                items.push((tid, infomask, start, arena.len(), wait));
                Ok::<(), EngineError>(())
            },
        )
    }

    /// `dirty_scan_blocks` without copying the rows: `f` gets each version's
    /// row bytes in place, while the page is read-latched (so it must not
    /// use the buffer pool itself); rows stored out of line are
    /// reassembled once the latch is released. For the heap pass of an
    /// index build, which needs nothing of a row after handing its key on.
    pub fn dirty_visit_blocks<E: From<EngineError>>(
        &self,
        rel: RelFileId,
        blocks: std::ops::Range<u32>,
        mut f: impl FnMut(TupleId, &[u8]) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let mut ring = self.shared.pool.bulk_ring_for(rel)?;
        let mut external = vec![];
        for block in blocks {
            self.check_cancel()?;
            self.visit_dirty_page(rel, block, ring.as_mut(), |tid, infomask, data, _| {
                if infomask & TUPLE_EXTERNAL == 0 {
                    f(tid, data)
                } else {
                    external.push((tid, infomask, data.to_vec()));
                    Ok(())
                }
            })?;
            for (tid, infomask, data) in external.drain(..) {
                let whole = heap::row_of(&self.shared, rel, infomask, data)?;
                f(tid, &whole)?;
            }
        }
        Ok(())
    }

    /// The versions of `block` that `scan_dirty` returns, each handed to `f`
    /// (tid, infomask, bytes after the tuple header, the xid to wait for)
    /// under the page's read latch; the first error stops the visit.
    fn visit_dirty_page<E: From<EngineError>>(
        &self,
        rel: RelFileId,
        block: u32,
        ring: Option<&mut crate::buffer::BulkRing>,
        mut f: impl FnMut(TupleId, u16, &[u8], Option<Xid>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let page = self.shared.pool.fetch_bulk(rel, block, ring)?;
        let g = page.read();
        let hp = crate::page::HeapPage::new(&g[..]);
        if crate::page::is_all_visible(&g[..]) {
            // Every version here is visible to every snapshot (the flag is
            // cleared before any change to the page): none to skip or wait
            // for, so no commit-log lookups (a bulk-loaded table's index
            // build spent an eighth of its time on them).
            for slot in 0..hp.slot_count() {
                let Some(t) = hp.tuple(slot) else { continue };
                let infomask = TupleHeader::read(t).infomask;
                f(
                    TupleId { page: block, slot },
                    infomask,
                    &t[TUPLE_HEADER_SIZE..],
                    None,
                )?;
            }
            return Ok(());
        }
        self.shared.txns.clog.with(|st| {
            for slot in 0..hp.slot_count() {
                let Some(t) = hp.tuple(slot) else { continue };
                let h = TupleHeader::read(t);
                let mut wait = None;
                if self.mine.contains(&h.xmin) {
                    // inserted by us
                } else {
                    match st(h.xmin) {
                        XID_ABORTED => continue,
                        XID_IN_PROGRESS => wait = Some(h.xmin),
                        _ => {}
                    }
                }
                if h.xmax != 0 && h.infomask & TUPLE_LOCK_ONLY == 0 {
                    if self.mine.contains(&h.xmax) {
                        continue;
                    }
                    match st(h.xmax) {
                        XID_COMMITTED => continue,
                        XID_IN_PROGRESS => wait = wait.or(Some(h.xmax)),
                        _ => {}
                    }
                }
                f(
                    TupleId { page: block, slot },
                    h.infomask,
                    &t[TUPLE_HEADER_SIZE..],
                    wait,
                )?;
            }
            Ok(())
        })
    }

    /// For a uniqueness check through an index: may the version at `tid`
    /// still conflict with a new entry of the same key?
    pub fn unique_status(&self, rel: RelFileId, tid: TupleId) -> Result<UniqueStatus> {
        let r = heap::with_tuple(&self.shared, rel, tid, TupleHeader::read)?;
        let Some(h) = r else {
            return Ok(UniqueStatus::Dead);
        };
        let clog = &self.shared.txns.clog;
        if clog.with(|st| self.dead_to_all(&h, st)) {
            return Ok(UniqueStatus::DeadToAll);
        }
        let mut wait = None;
        if !self.mine.contains(&h.xmin) {
            match clog.get(h.xmin) {
                XID_ABORTED => return Ok(UniqueStatus::Dead),
                XID_IN_PROGRESS => wait = Some(h.xmin),
                _ => {}
            }
        }
        if h.xmax != 0 && h.infomask & TUPLE_LOCK_ONLY == 0 {
            if self.mine.contains(&h.xmax) {
                return Ok(UniqueStatus::Dead);
            }
            match clog.get(h.xmax) {
                XID_COMMITTED => return Ok(UniqueStatus::Dead),
                XID_IN_PROGRESS => wait = wait.or(Some(h.xmax)),
                _ => {}
            }
        }
        Ok(match wait {
            Some(x) => UniqueStatus::InProgress(x),
            None => UniqueStatus::Live,
        })
    }

    /// Wait until transaction `xid` ends (deadlock-checked).
    pub fn wait_for(&mut self, xid: Xid) -> Result<()> {
        let me = self.write_xid();
        let me = self.levels[0].xids.first().copied().unwrap_or(me);
        let txns = &self.shared.txns;
        crate::blocking::about_to_wait();
        let mut st = txns.state.lock();
        // Deadlock check: follow the waits-for chain from the target.
        let mut cur = st.top_of.get(&xid).copied().unwrap_or(xid);
        let mut steps = 0;
        loop {
            if cur == me {
                return Err(EngineError::DeadlockDetected {
                    detail: format!("Process waiting for transaction {xid} is part of a cycle back to transaction {me}."),
                });
            }
            match st.waits_for.get(&cur) {
                Some(&n) => cur = st.top_of.get(&n).copied().unwrap_or(n),
                None => break,
            }
            steps += 1;
            if steps > 10_000 {
                break;
            }
        }
        st.waits_for.insert(me, xid);
        let res = loop {
            if !st.active.contains(&xid) {
                break Ok(());
            }
            if let Some(c) = &self.cancel {
                if c.load(Ordering::Relaxed) {
                    break Err(EngineError::Canceled);
                }
            }
            txns.ended_slot(xid)
                .wait_for(&mut st, Duration::from_millis(50));
        };
        st.waits_for.remove(&me);
        res
    }

    /// Serialize uniqueness checks on one relation: hold the guard while
    /// checking and inserting.
    pub fn unique_check_lock(
        &self,
        rel: RelFileId,
    ) -> parking_lot::ArcMutexGuard<parking_lot::RawMutex, ()> {
        let m = self
            .shared
            .unique_locks
            .lock()
            .entry(rel)
            .or_insert_with(|| Arc::new(Mutex::new(())))
            .clone();
        m.lock_arc()
    }

    /// SAVEPOINT: start a subtransaction (nested).
    pub fn savepoint(&mut self) {
        self.levels.push(Level::new());
    }

    /// ROLLBACK TO SAVEPOINT: undo the work of savepoint level `depth`
    /// (1 = outermost savepoint) and every level inside it, and keep the
    /// savepoint open.
    pub fn rollback_to_savepoint(&mut self, depth: usize) -> Result<()> {
        if depth == 0 || depth >= self.levels.len() {
            return Ok(());
        }
        self.join_write_behind();
        let aborted = self.levels.split_off(depth);
        let xids: Vec<Xid> = aborted
            .iter()
            .flat_map(|l| l.xids.iter().copied())
            .collect();
        let drops: Vec<RelFileId> = aborted
            .iter()
            .flat_map(|l| l.drop_on_abort.iter().copied())
            .collect();
        self.abort_xids(&xids, &drops);
        self.levels.push(Level::new());
        Ok(())
    }

    /// RELEASE SAVEPOINT: merge levels `depth..` into their parent.
    pub fn release_savepoint(&mut self, depth: usize) {
        if depth == 0 || depth >= self.levels.len() {
            return;
        }
        let inner = self.levels.split_off(depth);
        let parent = self.levels.last_mut().expect("top level");
        for l in inner {
            parent.xids.extend(l.xids);
            parent.drop_on_commit.extend(l.drop_on_commit);
            parent.drop_on_abort.extend(l.drop_on_abort);
            if l.catalog.is_some() {
                parent.catalog = l.catalog;
            }
        }
    }

    /// Number of open savepoints.
    pub fn savepoint_depth(&self) -> usize {
        self.levels.len() - 1
    }

    /// Record a new catalog blob; it becomes the committed catalog at commit.
    pub fn log_catalog(&mut self, blob: Vec<u8>) -> Result<()> {
        self.write_xid();
        self.levels.last_mut().expect("level").catalog = Some(blob);
        Ok(())
    }

    /// Storage to delete if this transaction commits (DROP TABLE, TRUNCATE).
    pub fn drop_relation_on_commit(&mut self, rel: RelFileId) {
        self.write_xid();
        self.levels
            .last_mut()
            .expect("level")
            .drop_on_commit
            .push(rel);
    }

    /// Storage to delete if this transaction aborts (CREATE TABLE, TRUNCATE).
    /// `rel` is new storage: a file left under its id by a transaction that
    /// crashed before committing (ids come from the catalog, which only a
    /// commit advances), or pages a reader of a dropped relation with the
    /// same id left in the buffer pool, are discarded first, so the storage
    /// starts empty.
    pub fn drop_relation_on_abort(&mut self, rel: RelFileId) {
        self.shared.remove_relation(rel);
        self.write_xid();
        self.levels
            .last_mut()
            .expect("level")
            .drop_on_abort
            .push(rel);
    }

    fn abort_xids(&mut self, xids: &[Xid], drops: &[RelFileId]) {
        if !xids.is_empty() {
            let top = self
                .levels
                .first()
                .and_then(|l| l.xids.first().copied())
                .unwrap_or(xids[0]);
            let rec = WalRecord::Abort {
                subxids: xids.to_vec(),
                drop_rels: drops.to_vec(),
            };
            self.shared.wal.append(top, &rec);
            self.shared.txns.clog.set(xids, XID_ABORTED);
            let m = Arc::make_mut(&mut self.mine);
            for x in xids {
                m.remove(x);
            }
            let mut st = self.shared.txns.state.lock();
            for x in xids {
                st.active.remove(x);
                st.top_of.remove(x);
            }
            drop(st);
            self.shared.txns.notify_ended(xids);
        }
        for &r in drops {
            self.shared.remove_relation(r);
        }
    }

    /// Every xid of this transaction, the top-level one first.
    fn all_xids(&self) -> Vec<Xid> {
        self.levels
            .iter()
            .flat_map(|l| l.xids.iter().copied())
            .collect()
    }

    /// Commit; returns once the commit record is on disk.
    pub fn commit(mut self) -> Result<()> {
        if let Err(e) = self.sync_unlogged() {
            self.rollback_inner();
            return Err(e);
        }
        self.ended = true;
        let all = self.all_xids();
        if all.is_empty() {
            self.shared.txns.end(self.serial, &[]);
            return Ok(());
        }
        let top = all[0];
        let drops: Vec<RelFileId> = self
            .levels
            .iter()
            .flat_map(|l| l.drop_on_commit.iter().copied())
            .collect();
        let catalog = self.levels.iter().rev().find_map(|l| l.catalog.clone());
        let rec = WalRecord::Commit {
            subxids: all[1..].to_vec(),
            drop_rels: drops.clone(),
            catalog: catalog.clone(),
        };
        let res = {
            let _c = self.shared.commit_lock.read();
            // Only catalog changes serialize on the catalog mutex (so the
            // blob of the later commit wins); holding it for every commit
            // would give each its own fsync and defeat group commit.
            let mut cat = catalog.as_ref().map(|_| self.shared.catalog.lock());
            let (_, end) = self.shared.wal.append(top, &rec);
            let res = self.shared.wal.flush(end);
            if res.is_ok() {
                self.shared.txns.clog.set(&all, XID_COMMITTED);
                if let (Some(c), Some(cat)) = (catalog, cat.as_mut()) {
                    **cat = (end, Some(c));
                }
            } else {
                self.shared.txns.clog.set(&all, XID_ABORTED);
            }
            res
        };
        self.shared.txns.end(self.serial, &all);
        if res.is_ok() {
            for r in drops {
                self.shared.remove_relation(r);
            }
        } else {
            let drops: Vec<RelFileId> = self
                .levels
                .iter()
                .flat_map(|l| l.drop_on_abort.iter().copied())
                .collect();
            for r in drops {
                self.shared.remove_relation(r);
            }
        }
        self.shared.maybe_request_checkpoint();
        res
    }

    /// Commit without holding the calling thread while the commit record
    /// is flushed: `then` is called once the transaction is committed,
    /// durable and visible to others, or failed (rolled back) — on the log
    /// writer thread, or on this thread before this returns if the record
    /// was durable at once (the writer stopped, or another flush covered
    /// it). Until then the transaction is still running for everyone else:
    /// its row locks hold, and its changes stay invisible.
    ///
    /// Commits that change the catalog, drop relations or bulk-loaded
    /// relations without WAL commit as `commit` does, on this thread
    /// (`CommitStart::Done`), and `then` is not called.
    pub fn commit_deferred(mut self, then: Box<dyn FnOnce(Result<()>) + Send>) -> CommitStart {
        let plain = self.unlogged.is_empty()
            && self.write_behind.is_empty()
            && self
                .levels
                .iter()
                .all(|l| l.catalog.is_none() && l.drop_on_commit.is_empty());
        let all = self.all_xids();
        if !plain || all.is_empty() {
            return CommitStart::Done(self.commit());
        }
        self.ended = true;
        let shared = self.shared.clone();
        let serial = self.serial;
        let rec = WalRecord::Commit {
            subxids: all[1..].to_vec(),
            drop_rels: vec![],
            catalog: None,
        };
        let ticket = shared.begin_in_flight();
        let (_, end) = shared.wal.append(all[0], &rec);
        let finish = {
            let shared = shared.clone();
            move |res: Result<()>| {
                let state = if res.is_ok() {
                    XID_COMMITTED
                } else {
                    XID_ABORTED
                };
                shared.txns.clog.set(&all, state);
                shared.end_in_flight(ticket);
                shared.txns.end(serial, &all);
                shared.maybe_request_checkpoint();
                then(res);
            }
        };
        if let Err(finish) = shared.wal.flush_then(end, Box::new(finish)) {
            let res = shared.wal.flush(end);
            finish(res);
        }
        CommitStart::Deferred
    }

    /// Write out and fsync the relations bulk inserts filled without WAL
    /// (see `insert_many_with`), unless this transaction drops them again
    /// or a rolled-back subtransaction already removed them.
    fn sync_unlogged(&mut self) -> Result<()> {
        self.join_write_behind();
        let rels = std::mem::take(&mut self.unlogged);
        for rel in rels {
            let dropped = self.levels.iter().any(|l| l.drop_on_commit.contains(&rel));
            if dropped || !self.created_here(rel) {
                continue;
            }
            self.shared.pool.flush_relation(rel)?;
            self.shared.storage.sync_relation(rel)?;
        }
        Ok(())
    }

    /// Abort: all this transaction's writes become invisible.
    pub fn rollback(mut self) {
        self.rollback_inner();
    }

    fn rollback_inner(&mut self) {
        if self.ended {
            return;
        }
        self.join_write_behind();
        self.ended = true;
        let all = self.all_xids();
        let drops: Vec<RelFileId> = self
            .levels
            .iter()
            .flat_map(|l| l.drop_on_abort.iter().copied())
            .collect();
        self.abort_xids(&all, &drops);
        self.shared.txns.end(self.serial, &all);
    }

    /// Statement cancel flag checked during long scans and waits.
    pub fn set_cancel_flag(&mut self, flag: Arc<AtomicBool>) {
        self.cancel = Some(flag);
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        self.rollback_inner();
    }
}

/// Postgres's MVCC visibility rule for one tuple header.
pub fn is_visible(h: &TupleHeader, vis: &VisibilityContext, status: &dyn Fn(Xid) -> u8) -> bool {
    visible_to(h, &vis.snapshot, vis.cid, &vis.mine, &vis.combos, status)
}

/// The rule itself: is the version `h` visible to `snapshot` at command `cid`
/// of the transaction whose live xids are `mine`?
fn visible_to(
    h: &TupleHeader,
    snapshot: &Snapshot,
    cid: u32,
    mine: &XidSet,
    combos: &ComboCids,
    status: &dyn Fn(Xid) -> u8,
) -> bool {
    if mine.contains(&h.xmin) {
        if combos.cmin(h) >= cid {
            return false;
        }
    } else if status(h.xmin) != XID_COMMITTED || snapshot.in_progress(h.xmin) {
        return false;
    }
    if h.xmax == 0 || h.infomask & TUPLE_LOCK_ONLY != 0 {
        return true;
    }
    if mine.contains(&h.xmax) {
        return combos.cmax(h) >= cid;
    }
    match status(h.xmax) {
        XID_COMMITTED => snapshot.in_progress(h.xmax),
        _ => true,
    }
}

/// A stream over the versions `Transaction::scan_dirty` returns, a page at a
/// time: each page's versions are copied once into `arena`, so neither the
/// page latch nor the commit log is held while the caller works on a tuple,
/// and no tuple is allocated on its own. The transaction is passed to each
/// `next` (not held), so the caller may use it in between.
pub struct DirtyScan {
    rel: RelFileId,
    next_block: u32,
    nblocks: u32,
    arena: Vec<u8>,
    items: Vec<(TupleId, u16, usize, usize, Option<Xid>)>,
    pos: usize,
    ring: Option<crate::buffer::BulkRing>,
}

impl DirtyScan {
    pub fn next(
        &mut self,
        txn: &Transaction,
    ) -> Option<Result<(TupleId, Cow<'_, [u8]>, Option<Xid>)>> {
        while self.pos >= self.items.len() {
            if self.next_block >= self.nblocks {
                return None;
            }
            if let Err(e) = txn.check_cancel() {
                self.next_block = self.nblocks;
                return Some(Err(e));
            }
            let block = self.next_block;
            self.next_block += 1;
            if let Err(e) = txn.fill_dirty(self, block) {
                self.next_block = self.nblocks;
                return Some(Err(e));
            }
        }
        let (tid, infomask, start, end, wait) = self.items[self.pos];
        self.pos += 1;
        let data = &self.arena[start..end];
        if infomask & TUPLE_EXTERNAL == 0 {
            return Some(Ok((tid, Cow::Borrowed(data), wait)));
        }
        Some(
            heap::row_of(&txn.shared, self.rel, infomask, data.to_vec())
                .map(|whole| (tid, Cow::Owned(whole), wait)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commit_log_packs_four_statuses_a_byte_and_writes_one_each() {
        // As read from xact/: one byte per xid, a length not a multiple of 4.
        let on_disk: Vec<u8> = (0..1003u32).map(|i| (i % 3) as u8).collect();
        let log = CommitLog::new(on_disk.clone());
        for (x, &st) in on_disk.iter().enumerate() {
            assert_eq!(log.get(x as Xid), if x == 1 { XID_COMMITTED } else { st });
        }
        assert_eq!(log.get(5_000_000), XID_IN_PROGRESS);
        assert_eq!(log.memory().0, 251);
        // Setting one status leaves its three neighbours in the byte alone.
        log.set(&[501], XID_ABORTED);
        log.set(&[502], XID_COMMITTED);
        log.set(&[502], XID_IN_PROGRESS);
        let mut want = on_disk.clone();
        want[501] = XID_ABORTED;
        want[502] = XID_IN_PROGRESS;
        for x in 496..508 {
            assert_eq!(log.get(x as Xid), want[x], "xid {x}");
        }
        // A far xid grows the log; the statuses between read in progress.
        log.set(&[200_000], XID_COMMITTED);
        assert_eq!(log.get(200_000), XID_COMMITTED);
        assert_eq!(log.get(199_999), XID_IN_PROGRESS);
        assert!(log.memory().1 < 200_000 / 2, "{:?}", log.memory());
        // Checkpoints get one byte per xid back, segment by segment.
        let segs = log.take_dirty_segments();
        assert_eq!(segs.iter().map(|s| s.0).collect::<Vec<_>>(), vec![0, 3]);
        assert_eq!(&segs[0].1[..1003], &want[..]);
        assert_eq!(segs[0].1.len(), CLOG_SEGMENT_XIDS);
        assert!(segs[0].1[1003..].iter().all(|&b| b == XID_IN_PROGRESS));
        let last = &segs[1].1;
        assert_eq!(last[200_000 - 3 * CLOG_SEGMENT_XIDS], XID_COMMITTED);
        assert_eq!(last.len() % CLOG_PER_BYTE, 0);
        assert!(log.take_dirty_segments().is_empty());
        // Recovery aborts what never finished, below the next xid only.
        log.abort_unfinished(1010);
        assert_eq!(log.get(502), XID_ABORTED);
        assert_eq!(log.get(1009), XID_ABORTED);
        assert_eq!(log.get(1010), XID_IN_PROGRESS);
        assert_eq!(log.get(501), XID_ABORTED);
        assert_eq!(log.get(500), want[500]);
    }
}
