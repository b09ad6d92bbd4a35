//! InsertExecutor / UpdateExecutor / DeleteExecutor (one `DmlExecutor` that
//! dispatches on the plan): constraint checks (NOT NULL, CHECK, uniqueness by
//! a dirty scan under the relation's unique-check lock until B+Trees exist),
//! ON CONFLICT, READ COMMITTED re-checks of updated rows (EvalPlanQual), and
//! RETURNING rows. The number of rows affected goes to `ctx.affected`.

use std::sync::Arc;

use sargdb_catalog::types::encode_row;
use sargdb_catalog::{ConstraintKind, TableDef, Value};
use sargdb_engine::{LockOutcome, TupleId};

use super::expr::{eval, eval_pred};
use super::scan::{decode, tid_value, value_tid};
use super::{build, ExecContext, Executor, HashKey, Row};
use crate::binder::bound::BoundExpr;
use crate::error::{Result, SqlError};
use crate::planner::plan::{OnConflict, Plan};

type UniqueGuard = parking_lot::ArcMutexGuard<parking_lot::RawMutex, ()>;

pub struct DmlExecutor {
    plan: Plan,
    out: Option<std::vec::IntoIter<Row>>,
}

impl DmlExecutor {
    pub fn new(plan: Plan) -> Result<Self> {
        Ok(DmlExecutor { plan, out: None })
    }
}

impl Executor for DmlExecutor {
    fn next(&mut self, ctx: &mut ExecContext) -> Result<Option<Row>> {
        if self.out.is_none() {
            let rows = match &self.plan {
                Plan::Insert { table, input, on_conflict, returning, checks } => {
                    run_insert(table, input, on_conflict.as_ref(), returning, checks, ctx)?
                }
                Plan::Update { table, input, assignments, recheck, returning, checks } => {
                    run_update(table, input, assignments, recheck.as_ref(), returning, checks, ctx)?
                }
                Plan::Delete { table, input, recheck, returning } => run_delete(table, input, recheck.as_ref(), returning, ctx)?,
                _ => return Err(SqlError::Internal("not a DML plan".into())),
            };
            self.out = Some(rows.into_iter());
        }
        Ok(self.out.as_mut().and_then(|o| o.next()))
    }
}

fn failing_row(table: &TableDef, row: &[Value], ctx: &ExecContext) -> String {
    let parts: Vec<String> = table
        .columns
        .iter()
        .zip(row.iter())
        .filter(|(c, _)| !c.dropped)
        .map(|(_, v)| if v.is_null() { "null".to_string() } else { v.to_text(&ctx.call.types) })
        .collect();
    format!("Failing row contains ({}).", parts.join(", "))
}

fn check_row(table: &TableDef, row: &[Value], checks: &[(String, BoundExpr)], ctx: &mut ExecContext) -> Result<()> {
    for (c, v) in table.columns.iter().zip(row.iter()) {
        if c.not_null && !c.dropped && v.is_null() {
            return Err(SqlError::NotNullViolation {
                column: c.name.clone(),
                table: table.name.clone(),
                detail: Some(failing_row(table, row, ctx)),
            });
        }
    }
    for (name, e) in checks {
        if eval(e, row, ctx)? == Value::Bool(false) {
            return Err(SqlError::CheckViolation {
                table: table.name.clone(),
                constraint: name.clone(),
                detail: Some(failing_row(table, row, ctx)),
            });
        }
    }
    Ok(())
}

struct Conflict {
    constraint: usize,
    tid: TupleId,
    row: Row,
}

fn key_of(row: &[Value], cols: &[usize]) -> Option<Vec<Value>> {
    let k: Vec<Value> = cols.iter().map(|c| row.get(*c).cloned().unwrap_or(Value::Null)).collect();
    if k.iter().any(|v| v.is_null()) {
        None
    } else {
        Some(k)
    }
}

/// Look for a committed (or own) row with the same key in any unique
/// constraint; waits for in-progress writers. Returns the guard to hold
/// until the new version is written.
fn find_conflict(table: &TableDef, row: &[Value], skip: Option<TupleId>, ctx: &mut ExecContext) -> Result<(Option<Conflict>, Option<UniqueGuard>)> {
    let uniques: Vec<(usize, &Vec<usize>)> = table
        .constraints
        .iter()
        .enumerate()
        .filter_map(|(i, c)| match &c.kind {
            ConstraintKind::PrimaryKey(k) | ConstraintKind::Unique(k) => Some((i, k)),
            _ => None,
        })
        .collect();
    if uniques.is_empty() {
        return Ok((None, None));
    }
    let keys: Vec<(usize, &Vec<usize>, Option<HashKey>)> = uniques.iter().map(|(i, k)| (*i, *k, key_of(row, k).map(HashKey))).collect();
    if keys.iter().all(|(_, _, k)| k.is_none()) {
        return Ok((None, None));
    }
    'retry: loop {
        ctx.check_cancel()?;
        let guard = ctx.txn.unique_check_lock(table.storage);
        let versions = ctx.txn.scan_dirty(table.storage)?;
        for (tid, bytes, xid) in versions {
            if Some(tid) == skip {
                continue;
            }
            let other = decode(table, &bytes, ctx)?;
            for (ci, cols, key) in &keys {
                let Some(key) = key else { continue };
                let Some(ok) = key_of(&other, cols) else { continue };
                if HashKey(ok) == *key {
                    if let Some(x) = xid {
                        drop(guard);
                        ctx.txn.wait_for(x)?;
                        continue 'retry;
                    }
                    return Ok((Some(Conflict { constraint: *ci, tid, row: other }), Some(guard)));
                }
            }
        }
        return Ok((None, Some(guard)));
    }
}

fn unique_error(table: &TableDef, c: &Conflict, ctx: &ExecContext) -> SqlError {
    let con = &table.constraints[c.constraint];
    let cols = match &con.kind {
        ConstraintKind::PrimaryKey(k) | ConstraintKind::Unique(k) => k.clone(),
        _ => vec![],
    };
    let names: Vec<String> = cols.iter().map(|i| table.columns[*i].name.clone()).collect();
    let vals: Vec<String> = cols.iter().map(|i| c.row[*i].to_text(&ctx.call.types)).collect();
    SqlError::UniqueViolation {
        constraint: con.name.clone(),
        detail: Some(format!("Key ({})=({}) already exists.", names.join(", "), vals.join(", "))),
    }
}

fn encode(row: &[Value]) -> Vec<u8> {
    let mut b = vec![];
    encode_row(row, &mut b);
    b
}

fn returning_row(returning: &[BoundExpr], row: &[Value], ctx: &mut ExecContext) -> Result<Row> {
    let mut out = Vec::with_capacity(returning.len());
    for e in returning {
        out.push(eval(e, row, ctx)?);
    }
    Ok(out)
}

fn run_insert(
    table: &Arc<TableDef>,
    input: &Plan,
    on_conflict: Option<&OnConflict>,
    returning: &[BoundExpr],
    checks: &[(String, BoundExpr)],
    ctx: &mut ExecContext,
) -> Result<Vec<Row>> {
    let mut src = build(input)?;
    let mut out = vec![];
    let mut touched: Vec<TupleId> = vec![];
    while let Some(row) = src.next(ctx)? {
        ctx.check_cancel()?;
        check_row(table, &row, checks, ctx)?;
        let (conflict, guard) = find_conflict(table, &row, None, ctx)?;
        if let Some(c) = conflict {
            match on_conflict {
                Some(OnConflict::DoNothing { constraint }) if constraint.is_none_or(|i| i == c.constraint) => continue,
                Some(OnConflict::DoUpdate { constraint, assignments, filter }) if *constraint == c.constraint => {
                    if touched.contains(&c.tid) {
                        return Err(SqlError::OnConflictTwice);
                    }
                    let mut both = c.row.clone();
                    both.extend(row.iter().cloned());
                    if let Some(f) = filter {
                        if !eval_pred(f, &both, ctx)? {
                            continue;
                        }
                    }
                    let mut new = c.row.clone();
                    for (col, e) in assignments {
                        new[*col] = eval(e, &both, ctx)?;
                    }
                    check_row(table, &new, checks, ctx)?;
                    drop(guard);
                    let (conflict2, guard2) = find_conflict(table, &new, Some(c.tid), ctx)?;
                    if let Some(c2) = conflict2 {
                        return Err(unique_error(table, &c2, ctx));
                    }
                    let (outcome, newtid) = ctx.txn.update(table.storage, c.tid, &encode(&new))?;
                    drop(guard2);
                    if outcome == LockOutcome::Ok {
                        if let Some(t) = newtid {
                            touched.push(t);
                        }
                        ctx.affected += 1;
                        if !returning.is_empty() {
                            out.push(returning_row(returning, &new, ctx)?);
                        }
                    }
                    continue;
                }
                _ => return Err(unique_error(table, &c, ctx)),
            }
        }
        let tid = ctx.txn.insert(table.storage, &encode(&row))?;
        drop(guard);
        touched.push(tid);
        ctx.affected += 1;
        if !returning.is_empty() {
            out.push(returning_row(returning, &row, ctx)?);
        }
    }
    Ok(out)
}

fn run_update(
    table: &Arc<TableDef>,
    input: &Plan,
    assignments: &[(usize, BoundExpr)],
    recheck: Option<&BoundExpr>,
    returning: &[BoundExpr],
    checks: &[(String, BoundExpr)],
    ctx: &mut ExecContext,
) -> Result<Vec<Row>> {
    let n = table.columns.len();
    let mut src = build(input)?;
    let mut out = vec![];
    // Materialize first: the scan must not see this statement's new versions.
    let mut rows = vec![];
    while let Some(r) = src.next(ctx)? {
        ctx.check_cancel()?;
        rows.push(r);
    }
    let mut done: Vec<TupleId> = vec![];
    for mut row in rows {
        let Some(mut tid) = row.get(n).and_then(value_tid) else {
            return Err(SqlError::Internal("update row without tid".into()));
        };
        if done.contains(&tid) {
            continue; // UPDATE ... FROM joining a row twice updates it once.
        }
        loop {
            let mut new: Row = row[..n].to_vec();
            for (col, e) in assignments {
                new[*col] = eval(e, &row, ctx)?;
            }
            check_row(table, &new, checks, ctx)?;
            let (conflict, guard) = find_conflict(table, &new, Some(tid), ctx)?;
            if let Some(c) = conflict {
                return Err(unique_error(table, &c, ctx));
            }
            let (outcome, _newtid) = ctx.txn.update(table.storage, tid, &encode(&new))?;
            drop(guard);
            match outcome {
                LockOutcome::Ok => {
                    done.push(tid);
                    ctx.affected += 1;
                    if !returning.is_empty() {
                        let mut r = new.clone();
                        r.extend(row[n..].iter().cloned());
                        out.push(returning_row(returning, &r, ctx)?);
                    }
                    break;
                }
                LockOutcome::Updated(next) => {
                    let Some((t2, bytes)) = ctx.txn.fetch_latest(table.storage, next)? else { break };
                    let mut r2 = decode(table, &bytes, ctx)?;
                    r2.push(tid_value(t2));
                    r2.extend(row[n + 1..].iter().cloned());
                    let ok = match recheck {
                        Some(p) => eval_pred(p, &r2, ctx)?,
                        None => true,
                    };
                    if !ok {
                        break;
                    }
                    row = r2;
                    tid = t2;
                }
                LockOutcome::Deleted | LockOutcome::SelfModified => break,
            }
        }
    }
    Ok(out)
}

fn run_delete(table: &Arc<TableDef>, input: &Plan, recheck: Option<&BoundExpr>, returning: &[BoundExpr], ctx: &mut ExecContext) -> Result<Vec<Row>> {
    let n = table.columns.len();
    let mut src = build(input)?;
    let mut rows = vec![];
    while let Some(r) = src.next(ctx)? {
        ctx.check_cancel()?;
        rows.push(r);
    }
    let mut out = vec![];
    let mut done: Vec<TupleId> = vec![];
    for mut row in rows {
        let Some(mut tid) = row.get(n).and_then(value_tid) else {
            return Err(SqlError::Internal("delete row without tid".into()));
        };
        if done.contains(&tid) {
            continue;
        }
        loop {
            match ctx.txn.delete(table.storage, tid)? {
                LockOutcome::Ok => {
                    done.push(tid);
                    ctx.affected += 1;
                    if !returning.is_empty() {
                        out.push(returning_row(returning, &row, ctx)?);
                    }
                    break;
                }
                LockOutcome::Updated(next) => {
                    let Some((t2, bytes)) = ctx.txn.fetch_latest(table.storage, next)? else { break };
                    let mut r2 = decode(table, &bytes, ctx)?;
                    r2.push(tid_value(t2));
                    r2.extend(row[n + 1..].iter().cloned());
                    let ok = match recheck {
                        Some(p) => eval_pred(p, &r2, ctx)?,
                        None => true,
                    };
                    if !ok {
                        break;
                    }
                    row = r2;
                    tid = t2;
                }
                LockOutcome::Deleted | LockOutcome::SelfModified => break,
            }
        }
    }
    Ok(out)
}
