//! `verify_index(regclass)`: an integrity check of one index against its
//! table, like Postgres's amcheck. Returns the problems found as text (an
//! empty array for a healthy index):
//! - the access method's own structural check (B+Tree: key order within and
//!   across pages, separators against children, the leaf chain);
//! - every index entry points at a tuple that exists, and the tuple's key
//!   (recomputed from the row) is the entry's key;
//! - every row version that is live or still in progress has its entry.
//!
//! A lossy index (BRIN) has no entries: instead every row version must be
//! reachable, i.e. a scan for its key returns its page (`covers`).

use std::collections::HashSet;

use sargdb_catalog::Value;
use sargdb_engine::{ScanKey, TupleId};

use super::index_maint::{handle, index_key};
use super::scan::decode;
use super::ExecContext;
use crate::binder::Binder;
use crate::error::{Result, SqlError};

pub fn verify_index(name: &Value, ctx: &mut ExecContext) -> Result<Value> {
    let name = match name {
        Value::Text(n) => n.clone(),
        // An oid ('name'::regclass).
        Value::Oid(o) => match ctx.catalog.indexes.get(o) {
            Some(ix) => format!("{}.{}", ix.schema, ix.name),
            None => o.to_string(),
        },
        _ => {
            return Err(SqlError::Internal(
                "verify_index expects an index name".into(),
            ))
        }
    };
    let name = &name;
    let parts: Vec<String> = name
        .split('.')
        .map(|p| p.trim_matches('"').to_string())
        .collect();
    let def = match parts.as_slice() {
        [n] => ctx.catalog.resolve_index(ctx.search_path, n),
        [s, n] => ctx.catalog.index_in(s, n),
        _ => None,
    }
    .cloned()
    .ok_or_else(|| SqlError::UndefinedTable {
        name: name.clone(),
        position: None,
    })?;
    let table = ctx
        .catalog
        .tables
        .get(&def.table)
        .cloned()
        .ok_or_else(|| SqlError::Internal("indexed table vanished".into()))?;
    let tctx = ctx.call.types.clone();
    let ix =
        Binder::new(ctx.catalog, ctx.search_path, &tctx, "", vec![]).bind_index(&table, &def)?;
    let h = handle(ctx, &table, &ix)?;
    let mut problems: Vec<String> = h.verify()?;
    if h.capabilities().lossy_pages {
        for (tid, bytes, _) in ctx.txn.scan_dirty(table.storage)? {
            ctx.check_cancel()?;
            let row = decode(&table, &bytes, ctx)?;
            if let Some((k, _)) = index_key(&ix, &row, ctx)? {
                if !h.covers(&k, tid)? {
                    problems.push(format!(
                        "tuple ({},{}) is outside its range's summary",
                        tid.page, tid.slot
                    ));
                }
            }
        }
        problems.truncate(1000);
        return Ok(Value::Array(
            problems.into_iter().map(Value::Text).collect(),
        ));
    }
    let mut entries: HashSet<(Vec<u8>, TupleId)> = HashSet::new();
    for e in h.scan(&ScanKey::All, false)? {
        ctx.check_cancel()?;
        let e = e?;
        match ctx.txn.fetch_any(table.storage, e.tid)? {
            None => problems.push(format!(
                "entry points to missing tuple ({},{})",
                e.tid.page, e.tid.slot
            )),
            Some(bytes) => {
                let row = decode(&table, &bytes, ctx)?;
                match index_key(&ix, &row, ctx)? {
                    Some((k, _)) if k == e.key => {}
                    _ => problems.push(format!(
                        "entry for tuple ({},{}) does not match the tuple's key",
                        e.tid.page, e.tid.slot
                    )),
                }
            }
        }
        entries.insert((e.key, e.tid));
    }
    for (tid, bytes, _) in ctx.txn.scan_dirty(table.storage)? {
        ctx.check_cancel()?;
        let row = decode(&table, &bytes, ctx)?;
        if let Some((k, _)) = index_key(&ix, &row, ctx)? {
            if !entries.contains(&(k, tid)) {
                problems.push(format!(
                    "tuple ({},{}) has no index entry",
                    tid.page, tid.slot
                ));
            }
        }
    }
    problems.truncate(1000);
    Ok(Value::Array(
        problems.into_iter().map(Value::Text).collect(),
    ))
}
