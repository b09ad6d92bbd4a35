//! Index maintenance for INSERT and UPDATE, and uniqueness through indexes.
//!
//! Every new row version gets an entry in every index of its table (partial
//! indexes only when the row satisfies the predicate). Entries are never
//! removed by DML: VACUUM removes those whose version died.
//!
//! Uniqueness: before the entry of a new version goes into a unique index,
//! the index is probed for the same key under the index's unique lock; each
//! version found is asked whether it still counts (`Transaction::unique_status`):
//! a live one is a 23505, one whose writer is still running is waited for
//! (with the lock released) and the probe starts again; after a dead one
//! the index is read again (an UPDATE that kept the key may have added its
//! new version's entry meanwhile, see `probe`). Versions this
//! transaction deleted or updated away do not count, so an UPDATE that keeps
//! its key does not conflict with itself. NULLs never conflict.

use std::sync::Arc;

use sargdb_catalog::types::key::encode_exact_hint;
use sargdb_catalog::types::{encode_key_value, encode_row};
use sargdb_catalog::{TableDef, Value};
use sargdb_engine::index::MAX_KEY_SIZE;
use sargdb_engine::stats::{Counter, Latency};
use sargdb_engine::{
    EngineError, IndexHandle, IndexKind, IndexOptions, ScanKey, TupleId, UniqueStatus, Xid,
};

use super::expr::{eval, eval_pred};
use super::stats::timed;
use super::ExecContext;
use crate::binder::bound::BoundExpr;
use crate::binder::index::{BoundIndex, TableAccess};
use crate::error::{Result, SqlError};

/// The engine's handle for an index (opened on first use).
pub fn handle(ctx: &ExecContext, table: &TableDef, ix: &BoundIndex) -> Result<IndexHandle> {
    let kind = IndexKind::from_name(&ix.def.method).ok_or_else(|| {
        SqlError::FeatureNotSupported(format!("access method \"{}\"", ix.def.method))
    })?;
    Ok(ctx
        .engine
        .open_index(table.storage, ix.def.storage, kind, index_options(&ix.def))?)
}

/// The engine's options for an index definition (`WITH (...)`).
pub fn index_options(def: &sargdb_catalog::IndexDef) -> IndexOptions {
    let d = IndexOptions::default();
    IndexOptions {
        fillfactor: def.fillfactor,
        pages_per_range: def.pages_per_range.unwrap_or(d.pages_per_range),
        autosummarize: def.autosummarize.unwrap_or(d.autosummarize),
        columns: def.columns.len().min(u16::MAX as usize) as u16,
    }
}

/// The stored key of `row` in `ix` and the key values, or None when the row
/// is outside a partial index. The stored key is the encoded key columns,
/// then the tail: a hint per key copy (`IndexDef::key_copies`), then the
/// INCLUDE columns in the row encoding.
pub fn index_key(
    ix: &BoundIndex,
    row: &[Value],
    ctx: &mut ExecContext,
) -> Result<Option<(Vec<u8>, Vec<Value>)>> {
    Ok(index_entry_key(ix, row, ctx)?.map(|k| (k.stored, k.vals)))
}

/// A row's entry key in one index.
pub struct EntryKey {
    /// What the index stores: key columns, then the INCLUDE tail.
    pub stored: Vec<u8>,
    /// Length of the key columns' part of `stored` (what uniqueness and
    /// equality compare).
    pub key_len: usize,
    pub vals: Vec<Value>,
}

impl EntryKey {
    /// The scan that finds every entry with this entry's key columns.
    pub fn equal_keys(&self) -> ScanKey {
        if self.key_len == self.stored.len() {
            ScanKey::Eq(self.stored.clone())
        } else {
            // Key encodings are prefix-free: a prefix scan of the key part
            // finds exactly the entries with equal key columns.
            ScanKey::Prefix(self.stored[..self.key_len].to_vec())
        }
    }
    pub fn key_part(&self) -> &[u8] {
        &self.stored[..self.key_len]
    }
}

/// `index_key` with the key part's length.
pub fn index_entry_key(
    ix: &BoundIndex,
    row: &[Value],
    ctx: &mut ExecContext,
) -> Result<Option<EntryKey>> {
    if let Some(p) = &ix.predicate {
        if !eval_pred(p, row, ctx)? {
            return Ok(None);
        }
    }
    let mut vals = Vec::with_capacity(ix.keys.len());
    for e in &ix.keys {
        vals.push(eval(e, row, ctx)?);
    }
    Ok(Some(entry_key(ix, row, vals)?))
}

/// The entry key of `row` whose key values are `vals`: the encoded key
/// columns (framed one by one for a kind with `column_keys`), then a
/// covering index's INCLUDE tail.
fn entry_key(ix: &BoundIndex, row: &[Value], vals: Vec<Value>) -> Result<EntryKey> {
    let mut stored = Vec::with_capacity(vals.len() * 9);
    let key_len = write_entry_key(ix, |i| vals.get(i), row, &mut stored)?;
    Ok(EntryKey {
        stored,
        key_len,
        vals,
    })
}

/// Append the entry key whose i-th key value is `val(i)` (see `entry_key`)
/// to `out`; the length of its key part.
fn write_entry_key<'v>(
    ix: &BoundIndex,
    val: impl Fn(usize) -> Option<&'v Value>,
    row: &[Value],
    out: &mut Vec<u8>,
) -> Result<usize> {
    let n = ix.key_types.len();
    let start = out.len();
    for (i, (ty, kc)) in ix.key_types.iter().zip(&ix.key_cols).enumerate() {
        let v = val(i)
            .ok_or_else(|| SqlError::Internal(format!("index key has fewer than {n} values")))?;
        if ix.column_keys && n > 1 {
            // One key per column, framed (`frame_column_keys`): the kind
            // summarizes each apart.
            let at = out.len();
            out.extend_from_slice(&[0, 0]);
            encode_key_value(v, ty, *kc, out)?;
            let len = (out.len() - at - 2).min(u16::MAX as usize) as u16;
            out[at..at + 2].copy_from_slice(&len.to_le_bytes());
        } else {
            encode_key_value(v, ty, *kc, out)?;
        }
    }
    let key_len = out.len() - start;
    for &c in &ix.def.key_copies {
        let ty = ix
            .key_index_of(c)
            .and_then(|i| ix.key_types.get(i))
            .ok_or_else(|| SqlError::Internal("key copy is not a key column".into()))?;
        encode_exact_hint(row.get(c).unwrap_or(&Value::Null), ty, out);
    }
    if !ix.def.include.is_empty() {
        let inc: Vec<Value> = ix
            .def
            .include
            .iter()
            .map(|&c| row.get(c).cloned().unwrap_or(Value::Null))
            .collect();
        encode_row(&inc, out);
    }
    if out.len() - start > MAX_KEY_SIZE {
        return Err(SqlError::Engine(EngineError::IndexKeyTooLarge {
            size: out.len() - start,
            max: MAX_KEY_SIZE,
        }));
    }
    Ok(key_len)
}

/// `index_key` for an index whose keys are all plain columns and which has
/// no predicate (no executor needed: usable from a build thread).
pub fn plain_index_key(ix: &BoundIndex, row: &[Value]) -> Result<Option<EntryKey>> {
    check_plain(ix)?;
    let vals = (0..ix.keys.len())
        .map(|i| plain_key_value(ix, row, i).cloned().unwrap_or(Value::Null))
        .collect();
    Ok(Some(entry_key(ix, row, vals)?))
}

/// `plain_index_key`'s stored key written into `out` (cleared first), with
/// no allocation once `out` is large enough: the bulk build's per-row path.
/// Returns the length of the key columns' part.
pub fn plain_key_into(ix: &BoundIndex, row: &[Value], out: &mut Vec<u8>) -> Result<usize> {
    check_plain(ix)?;
    out.clear();
    write_entry_key(ix, |i| plain_key_value(ix, row, i), row, out)
}

/// The table column of a one-column, plain-column index without INCLUDE
/// columns, whose stored key is that column's value alone (`value_key_into`).
pub fn single_key_column(ix: &BoundIndex) -> Option<usize> {
    match ix.keys.as_slice() {
        [BoundExpr::Column(c, _)] if !ix.def.has_tail() && ix.predicate.is_none() => Some(*c),
        _ => None,
    }
}

/// The stored key of a `single_key_column` index for the column value `v`,
/// written into `out` (cleared first).
pub fn value_key_into(ix: &BoundIndex, v: &Value, out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    write_entry_key(ix, |i| (i == 0).then_some(v), &[], out)?;
    Ok(())
}

fn check_plain(ix: &BoundIndex) -> Result<()> {
    if ix.keys.iter().all(|e| matches!(e, BoundExpr::Column(..))) {
        Ok(())
    } else {
        Err(SqlError::Internal(
            "plain_index_key: an expression key".into(),
        ))
    }
}

/// The i-th key value of a plain-column index for `row`.
fn plain_key_value<'r>(ix: &BoundIndex, row: &'r [Value], i: usize) -> Option<&'r Value> {
    static NULL: Value = Value::Null;
    match ix.keys.get(i) {
        Some(BoundExpr::Column(c, _)) => Some(row.get(*c).unwrap_or(&NULL)),
        _ => None,
    }
}

/// 23505 with Postgres's detail: `Key (email)=(a@b.c) already exists.`
pub fn unique_error(ix: &BoundIndex, vals: &[Value], ctx: &ExecContext) -> SqlError {
    let v: Vec<String> = vals
        .iter()
        .map(|v| {
            if v.is_null() {
                "null".into()
            } else {
                v.to_text(&ctx.call.types)
            }
        })
        .collect();
    SqlError::UniqueViolation {
        constraint: ix.def.name.clone(),
        detail: Some(format!(
            "Key ({})=({}) already exists.",
            ix.key_names.join(", "),
            v.join(", ")
        )),
    }
}

/// What a probe of a unique index found.
pub enum Probe {
    /// No version with this key counts.
    Clear,
    /// A live version with this key.
    Live(TupleId),
    /// A version whose writer is still running: wait for it, then probe again.
    Wait(Xid),
}

/// Probe a unique index for entries `key` finds (`EntryKey::equal_keys`),
/// ignoring `skip`. The caller holds the index's unique lock.
///
/// The index is read before the versions its entries point at, so a
/// version can die between the two: an UPDATE that keeps the key adds its
/// new version's entry without the unique lock (`insert_entries_replacing`)
/// and may commit in between. Its new entry then went into the index before
/// the old version was seen dead, so whenever a version is found dead the
/// index is read again, for entries not checked yet, until a reading finds
/// no dead version. (Without this a probe passed over a key that a
/// committed UPDATE had just carried to a new version, and inserted it a
/// second time.)
pub fn probe(
    table: &TableDef,
    h: &IndexHandle,
    key: &ScanKey,
    skip: Option<TupleId>,
    ctx: &mut ExecContext,
) -> Result<Probe> {
    #[cfg(test)]
    let mut hook = tests::PROBE_HOOK.with(|c| c.borrow_mut().take());
    let mut dead = Vec::new();
    let mut checked = std::collections::HashSet::new();
    let epoch = ctx.txn.vacuum_epoch(table.storage);
    let found = 'reading: loop {
        let mut saw_dead = false;
        for e in h.scan(key, false)? {
            let e = e?;
            if Some(e.tid) == skip || !checked.insert(e.tid) {
                continue;
            }
            #[cfg(test)]
            if let Some(f) = hook.take() {
                f();
            }
            match ctx.txn.unique_status(table.storage, e.tid)? {
                UniqueStatus::Live => break 'reading Probe::Live(e.tid),
                UniqueStatus::InProgress(x) => break 'reading Probe::Wait(x),
                UniqueStatus::Dead => saw_dead = true,
                // Nobody can see it any more: drop its entry now, so the
                // next probe of this key does not visit it again.
                UniqueStatus::DeadToAll => {
                    saw_dead = true;
                    dead.push(e);
                }
            }
        }
        if !saw_dead {
            break Probe::Clear;
        }
    };
    if !dead.is_empty() {
        let engine = ctx.engine;
        let removed = h.kill(&dead, &|| engine.vacuum_epoch(table.storage) == epoch)?;
        if let Some(s) = ctx.engine.relation_stats().for_storage(h.rel()) {
            s.add(Counter::Deletes, removed);
        }
    }
    Ok(found)
}

fn is_unique_checked(ix: &BoundIndex, vals: &[Value]) -> bool {
    ix.def.unique && !vals.iter().any(|v| v.is_null())
}

/// Add the entries of a new row version at `tid` to every index of the
/// table, checking unique indexes (see the module comment). With
/// `prechecked`, the caller already probed every unique index while holding
/// all their unique locks, and still holds them.
pub fn insert_entries(
    table: &TableDef,
    access: &TableAccess,
    row: &[Value],
    tid: TupleId,
    ctx: &mut ExecContext,
    prechecked: bool,
) -> Result<()> {
    insert_entries_inner(table, access, row, None, tid, ctx, prechecked)
}

/// `insert_entries` for the new version of an UPDATE, `old` being the
/// version it replaces (which this transaction has just marked deleted):
/// a unique index whose key columns the update left alone needs no
/// probe. The old version held that key alone among live versions, and
/// any other inserter of it meets the old version (deleted by a
/// transaction still in progress, so it waits) or the new one: a probe
/// that finds the old version dead reads the index again (`probe`).
pub fn insert_entries_replacing(
    table: &TableDef,
    access: &TableAccess,
    old: &[Value],
    row: &[Value],
    tid: TupleId,
    ctx: &mut ExecContext,
) -> Result<()> {
    insert_entries_inner(table, access, row, Some(old), tid, ctx, false)
}

fn insert_entries_inner(
    table: &TableDef,
    access: &TableAccess,
    row: &[Value],
    old: Option<&[Value]>,
    tid: TupleId,
    ctx: &mut ExecContext,
    prechecked: bool,
) -> Result<()> {
    for ix in &access.indexes {
        let Some(ek) = index_entry_key(ix, row, ctx)? else {
            continue;
        };
        let (key, vals) = (&ek.stored, &ek.vals);
        let h = handle(ctx, table, ix)?;
        let stats = ix.stats.get(ctx, ix.def.oid).clone();
        if sargdb_engine::stats::tracking() {
            stats.add(Counter::Inserts, 1);
        }
        let mut unchanged_key = || -> Result<bool> {
            let Some(old) = old else { return Ok(false) };
            Ok(index_entry_key(ix, old, ctx)?
                .is_some_and(|o| o.stored[..o.key_len] == ek.stored[..ek.key_len]))
        };
        if prechecked || !is_unique_checked(ix, vals) || unchanged_key()? {
            timed(&stats, Latency::Insert, || h.insert(key, tid))?;
            continue;
        }
        let equal = ek.equal_keys();
        loop {
            ctx.check_cancel()?;
            let guard = h.unique_lock();
            match probe(table, &h, &equal, Some(tid), ctx)? {
                Probe::Clear => {
                    timed(&stats, Latency::Insert, || h.insert(key, tid))?;
                    drop(guard);
                    break;
                }
                Probe::Live(_) => return Err(unique_error(ix, vals, ctx)),
                Probe::Wait(x) => {
                    drop(guard);
                    ctx.txn.wait_for(x)?;
                }
            }
        }
    }
    Ok(())
}

/// A live version that conflicts with a row about to be inserted.
pub struct Conflict {
    pub index: Arc<BoundIndex>,
    pub tid: TupleId,
    pub vals: Vec<Value>,
}

/// Held unique locks of a table's unique indexes (taken in oid order).
pub struct UniqueLocks {
    _guards: Vec<parking_lot::ArcMutexGuard<parking_lot::RawMutex, ()>>,
}

/// For INSERT ... ON CONFLICT: lock every unique index of the table, then
/// look for a live version conflicting with `row` in any of them. On
/// `Ok(Ok(locks))` nothing conflicts and the caller inserts while holding
/// the locks (`insert_entries(.., prechecked = true)`).
pub fn find_conflict(
    table: &TableDef,
    access: &TableAccess,
    row: &[Value],
    ctx: &mut ExecContext,
) -> Result<std::result::Result<UniqueLocks, Conflict>> {
    let mut uniques: Vec<(Arc<BoundIndex>, IndexHandle, ScanKey, Vec<Value>)> = vec![];
    for ix in access.indexes.iter().filter(|i| i.def.unique) {
        if let Some(ek) = index_entry_key(ix, row, ctx)? {
            if is_unique_checked(ix, &ek.vals) {
                let h = handle(ctx, table, ix)?;
                uniques.push((ix.clone(), h, ek.equal_keys(), ek.vals));
            }
        }
    }
    uniques.sort_by_key(|u| u.0.def.oid);
    'retry: loop {
        ctx.check_cancel()?;
        let guards: Vec<_> = uniques.iter().map(|u| u.1.unique_lock()).collect();
        for (ix, h, key, vals) in &uniques {
            match probe(table, h, key, None, ctx)? {
                Probe::Clear => {}
                Probe::Live(tid) => {
                    return Ok(Err(Conflict {
                        index: ix.clone(),
                        tid,
                        vals: vals.clone(),
                    }))
                }
                Probe::Wait(x) => {
                    drop(guards);
                    ctx.txn.wait_for(x)?;
                    continue 'retry;
                }
            }
        }
        return Ok(Ok(UniqueLocks { _guards: guards }));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::sync::Arc;

    use sargdb_engine::EngineConfig;

    use crate::session::{Database, DatabaseConfig, Session, StatementResult};
    use crate::SqlError;

    thread_local! {
        /// Run once inside the next `probe`, after it has read an entry
        /// of the index and before it looks at that entry's version.
        pub(crate) static PROBE_HOOK: RefCell<Option<Box<dyn FnOnce()>>> =
            const { RefCell::new(None) };
    }

    fn open(name: &str) -> Arc<Database> {
        let dir =
            std::env::temp_dir().join(format!("sargdb-sql-probe-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut cfg = EngineConfig::new(&dir);
        cfg.fsync = false;
        Database::open(DatabaseConfig { engine: cfg }).expect("open")
    }

    fn run(s: &mut Session, sql: &str) -> Result<Vec<Vec<String>>, SqlError> {
        let tctx = s.type_context();
        match s.simple_query(sql).pop().expect("one result")? {
            StatementResult::Rows { rows, .. } => Ok(rows
                .into_iter()
                .map(|r| r.into_iter().map(|v| v.to_text(&tctx)).collect())
                .collect()),
            _ => Ok(vec![]),
        }
    }

    /// Between the probe's reading of the index and its look at the row,
    /// another session updates the row (keeping its key) and commits: the
    /// probe must still find the row's new version.
    fn with_update_inside_probe(
        name: &str,
        stmt: &str,
    ) -> (Result<(), SqlError>, Vec<Vec<String>>) {
        let db = open(name);
        let mut a = Session::new(db.clone(), "sargdb", "sargdb");
        run(&mut a, "CREATE TABLE t (k int PRIMARY KEY, v int)").unwrap();
        run(&mut a, "INSERT INTO t VALUES (1, 0)").unwrap();
        let b = Rc::new(RefCell::new(Session::new(db.clone(), "sargdb", "sargdb")));
        let b2 = Rc::clone(&b);
        PROBE_HOOK.with(|h| {
            *h.borrow_mut() = Some(Box::new(move || {
                run(&mut b2.borrow_mut(), "UPDATE t SET v = v + 1 WHERE k = 1").unwrap();
            }))
        });
        let res = run(&mut a, stmt).map(|_| ());
        assert!(
            PROBE_HOOK.with(|h| h.borrow().is_none()),
            "the probe did not run the update"
        );
        let rows = run(&mut a, "SELECT k, v FROM t ORDER BY v").unwrap();
        (res, rows)
    }

    #[test]
    fn on_conflict_finds_a_version_updated_during_its_probe() {
        let (res, rows) = with_update_inside_probe(
            "upsert",
            "INSERT INTO t VALUES (1, 0) ON CONFLICT (k) DO UPDATE SET v = t.v + 1",
        );
        res.unwrap();
        assert_eq!(rows, vec![vec!["1".to_string(), "2".to_string()]]);
    }

    #[test]
    fn insert_conflicts_with_a_version_updated_during_its_probe() {
        let (res, rows) = with_update_inside_probe("insert", "INSERT INTO t VALUES (1, 0)");
        match res {
            Err(SqlError::UniqueViolation { .. }) => {}
            other => panic!("expected a unique violation, got {other:?}"),
        }
        assert_eq!(rows, vec![vec!["1".to_string(), "1".to_string()]]);
    }
}
