//! Transactions: xids, snapshots, MVCC visibility, row locks, savepoints.

use crate::error::Result;
use crate::heap::{HeapScan, TupleId};
use crate::RelFileId;

pub type Xid = u64;

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

pub struct Transaction {}

impl Transaction {
    pub fn isolation(&self) -> IsolationLevel {
        todo!()
    }

    /// Change the isolation level; only before the first statement ran.
    pub fn set_isolation(&mut self, level: IsolationLevel) {
        let _ = level;
        todo!()
    }

    /// Begin a new statement: later scans see this transaction's earlier
    /// statements' writes but not the new statement's own; READ COMMITTED takes
    /// a fresh snapshot.
    pub fn start_command(&mut self) {
        todo!()
    }

    /// Insert a tuple; returns where it went.
    pub fn insert(&mut self, rel: RelFileId, tuple: &[u8]) -> Result<TupleId> {
        let _ = (rel, tuple);
        todo!()
    }

    /// Sequential scan of the versions visible to this statement.
    pub fn scan(&self, rel: RelFileId) -> Result<HeapScan> {
        let _ = rel;
        todo!()
    }

    /// The version at `tid` if visible to this statement.
    pub fn fetch(&self, rel: RelFileId, tid: TupleId) -> Result<Option<Vec<u8>>> {
        let _ = (rel, tid);
        todo!()
    }

    /// The newest committed-or-own version reached from `tid` along the update
    /// chain, for READ COMMITTED re-checks after `LockOutcome::Updated`.
    pub fn fetch_latest(&self, rel: RelFileId, tid: TupleId) -> Result<Option<(TupleId, Vec<u8>)>> {
        let _ = (rel, tid);
        todo!()
    }

    /// Delete the version at `tid` (waits for a concurrent writer of the row).
    pub fn delete(&mut self, rel: RelFileId, tid: TupleId) -> Result<LockOutcome> {
        let _ = (rel, tid);
        todo!()
    }

    /// Replace the version at `tid` by `tuple`; on `LockOutcome::Ok` also
    /// returns the new version's tid.
    pub fn update(
        &mut self,
        rel: RelFileId,
        tid: TupleId,
        tuple: &[u8],
    ) -> Result<(LockOutcome, Option<TupleId>)> {
        let _ = (rel, tid, tuple);
        todo!()
    }

    /// Scan that also returns versions whose inserter or deleter is still in
    /// progress, with that transaction's xid: what a uniqueness check needs
    /// (wait for that xid with `wait_for`, then check again).
    pub fn scan_dirty(&self, rel: RelFileId) -> Result<Vec<(TupleId, Vec<u8>, Option<Xid>)>> {
        let _ = rel;
        todo!()
    }

    /// Wait until transaction `xid` ends (deadlock-checked).
    pub fn wait_for(&mut self, xid: Xid) -> Result<()> {
        let _ = xid;
        todo!()
    }

    /// Serialize uniqueness checks on one relation: hold the guard while
    /// checking and inserting.
    pub fn unique_check_lock(&self, rel: RelFileId) -> parking_lot::ArcMutexGuard<parking_lot::RawMutex, ()> {
        let _ = rel;
        todo!()
    }

    /// SAVEPOINT: start a subtransaction (nested).
    pub fn savepoint(&mut self) {
        todo!()
    }
    /// ROLLBACK TO SAVEPOINT: undo the innermost `depth_from_top`-th level's
    /// work and keep it open (`depth` counts savepoints from the outermost, 1-based).
    pub fn rollback_to_savepoint(&mut self, depth: usize) -> Result<()> {
        let _ = depth;
        todo!()
    }
    /// RELEASE SAVEPOINT: merge levels `depth..` into their parent.
    pub fn release_savepoint(&mut self, depth: usize) {
        let _ = depth;
        todo!()
    }
    /// Number of open savepoints.
    pub fn savepoint_depth(&self) -> usize {
        todo!()
    }

    /// Record a new catalog blob; it becomes the committed catalog at commit.
    pub fn log_catalog(&mut self, blob: Vec<u8>) -> Result<()> {
        let _ = blob;
        todo!()
    }

    /// Storage to delete if this transaction commits (DROP TABLE, TRUNCATE).
    pub fn drop_relation_on_commit(&mut self, rel: RelFileId) {
        let _ = rel;
        todo!()
    }

    /// Storage to delete if this transaction aborts (CREATE TABLE, TRUNCATE).
    pub fn drop_relation_on_abort(&mut self, rel: RelFileId) {
        let _ = rel;
        todo!()
    }

    /// Commit; returns once the commit record is on disk.
    pub fn commit(self) -> Result<()> {
        todo!()
    }

    /// Abort: all this transaction's writes become invisible.
    pub fn rollback(self) {
        todo!()
    }

    /// Statement cancel flag checked during long scans and waits.
    pub fn set_cancel_flag(&mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) {
        let _ = flag;
        todo!()
    }
}
