//! Table locks, held until the end of the transaction that took them.
//!
//! Two modes, as much of Postgres's lock table as sargdb needs today:
//! `Shared` (INSERT/UPDATE/DELETE: Postgres's ROW EXCLUSIVE, compatible with
//! itself) and `Exclusive` (DDL that rewrites or reads a table as a whole —
//! CREATE INDEX, REINDEX, ALTER TABLE, TRUNCATE, DROP: conflicts with every
//! other session's lock on the table). Reads take no lock: MVCC snapshots
//! keep them consistent. DDL as a whole is also serialized by an exclusive
//! lock on the pseudo-table `DDL_LOCK`.
//!
//! A DML statement takes its lock before binding, so it always plans against
//! the catalog the lock holder committed (a new index is maintained by every
//! write that starts after it exists).
//!
//! Waits are checked for deadlocks (a cycle in the waits-for graph between
//! sessions fails the waiter with 40P01) and for cancellation.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex, MutexGuard};
use sargdb_engine::BuildPageHasher;

use crate::error::{Result, SqlError};

/// Pseudo-table whose exclusive lock serializes all DDL.
pub const DDL_LOCK: u32 = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    Shared,
    Exclusive,
}

#[derive(Default)]
struct TableLock {
    shared: HashSet<u64, BuildPageHasher>,
    exclusive: Option<u64>,
}

impl TableLock {
    fn compatible(&self, session: u64, mode: LockMode) -> bool {
        let others_excl = self.exclusive.is_some_and(|s| s != session);
        match mode {
            LockMode::Shared => !others_excl,
            LockMode::Exclusive => !others_excl && self.shared.iter().all(|&s| s == session),
        }
    }
    fn holders_except(&self, session: u64) -> Vec<u64> {
        self.shared
            .iter()
            .copied()
            .chain(self.exclusive)
            .filter(|&s| s != session)
            .collect()
    }
    fn is_empty(&self) -> bool {
        self.shared.is_empty() && self.exclusive.is_none()
    }
}

#[derive(Default)]
struct State {
    tables: HashMap<u32, TableLock, BuildPageHasher>,
    /// session -> table it is waiting for
    waiting: HashMap<u64, u32, BuildPageHasher>,
    /// session -> how many times it has released its locks (ended a
    /// transaction), so a waiter can tell "released since" from "still held".
    released: HashMap<u64, u64, BuildPageHasher>,
}

#[derive(Default)]
pub struct LockManager {
    state: Mutex<State>,
    released: Condvar,
}

impl LockManager {
    /// Take `mode` on `table` for `session`, waiting for conflicting holders.
    pub fn lock(
        &self,
        table: u32,
        session: u64,
        mode: LockMode,
        cancel: &AtomicBool,
        what: &str,
    ) -> Result<()> {
        let mut st = self.state.lock();
        // Announced at the first wait (not under the lock): the scheduler
        // serves this thread's other connections elsewhere meanwhile.
        let mut announced = false;
        loop {
            let entry = st.tables.entry(table).or_default();
            if entry.compatible(session, mode) {
                match mode {
                    LockMode::Shared => {
                        entry.shared.insert(session);
                    }
                    LockMode::Exclusive => entry.exclusive = Some(session),
                }
                st.waiting.remove(&session);
                return Ok(());
            }
            st.waiting.insert(session, table);
            if Self::in_cycle(&st, session) {
                st.waiting.remove(&session);
                return Err(SqlError::Engine(sargdb_engine::EngineError::DeadlockDetected {
                    detail: format!("Process {session} waits for a lock on {what}, held by a process that waits for it."),
                }));
            }
            if cancel.load(Ordering::Relaxed) {
                st.waiting.remove(&session);
                return Err(SqlError::QueryCanceled);
            }
            if !announced {
                announced = true;
                MutexGuard::unlocked(&mut st, sargdb_engine::blocking::about_to_wait);
                continue;
            }
            self.released.wait_for(&mut st, Duration::from_millis(50));
        }
    }

    /// Whether following "waits for a table held by" edges from `start`
    /// leads back to it.
    fn in_cycle(st: &State, start: u64) -> bool {
        let mut stack = vec![start];
        let mut seen = HashSet::new();
        while let Some(s) = stack.pop() {
            let Some(t) = st.waiting.get(&s) else {
                continue;
            };
            let Some(lock) = st.tables.get(t) else {
                continue;
            };
            for h in lock.holders_except(s) {
                if h == start {
                    return true;
                }
                if seen.insert(h) {
                    stack.push(h);
                }
            }
        }
        false
    }

    /// Wait until every session other than `session` that holds a lock on
    /// `table` now has released it (CREATE INDEX CONCURRENTLY's wait for
    /// writers that may have planned without the new index).
    pub fn wait_for_holders(&self, table: u32, session: u64, cancel: &AtomicBool) -> Result<()> {
        let mut st = self.state.lock();
        // Each holder's release count now; done once every one has moved on.
        let holders: Vec<(u64, u64)> = st
            .tables
            .get(&table)
            .map(|l| l.holders_except(session))
            .unwrap_or_default()
            .into_iter()
            .map(|s| (s, st.released.get(&s).copied().unwrap_or(0)))
            .collect();
        MutexGuard::unlocked(&mut st, sargdb_engine::blocking::about_to_wait);
        loop {
            if holders
                .iter()
                .all(|(s, g)| st.released.get(s).copied().unwrap_or(0) > *g)
            {
                return Ok(());
            }
            if cancel.load(Ordering::Relaxed) {
                return Err(SqlError::QueryCanceled);
            }
            self.released.wait_for(&mut st, Duration::from_millis(50));
        }
    }

    /// Drop every lock `session` holds (end of its transaction).
    pub fn release_all(&self, session: u64) {
        let mut st = self.state.lock();
        st.waiting.remove(&session);
        *st.released.entry(session).or_insert(0) += 1;
        st.tables.retain(|_, l| {
            l.shared.remove(&session);
            if l.exclusive == Some(session) {
                l.exclusive = None;
            }
            !l.is_empty()
        });
        drop(st);
        self.released.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn shared_locks_coexist_exclusive_waits_and_deadlocks_are_found() {
        let m = Arc::new(LockManager::default());
        let no = AtomicBool::new(false);
        m.lock(1, 10, LockMode::Shared, &no, "t").unwrap();
        m.lock(1, 11, LockMode::Shared, &no, "t").unwrap();
        m.lock(2, 11, LockMode::Shared, &no, "u").unwrap();
        // 10 wants table 2 exclusively: waits for 11 (in a thread).
        let m2 = m.clone();
        let h = std::thread::spawn(move || {
            m2.lock(2, 10, LockMode::Exclusive, &AtomicBool::new(false), "u")
        });
        std::thread::sleep(Duration::from_millis(100));
        // 11 wants table 1 exclusively: waits for 10 -> cycle.
        let r = m.lock(1, 11, LockMode::Exclusive, &no, "t");
        assert!(matches!(
            r,
            Err(SqlError::Engine(
                sargdb_engine::EngineError::DeadlockDetected { .. }
            ))
        ));
        m.release_all(11);
        assert!(h.join().unwrap().is_ok());
        m.release_all(10);
        m.lock(1, 12, LockMode::Exclusive, &no, "t").unwrap();
    }
}
