//! InsertExecutor / UpdateExecutor / DeleteExecutor (one `DmlExecutor` that
//! dispatches on the plan): constraint checks (NOT NULL, CHECK; uniqueness
//! through the unique indexes, see `index_maint`), index maintenance,
//! ON CONFLICT, READ COMMITTED re-checks of updated rows (EvalPlanQual), and
//! RETURNING rows. The number of rows affected goes to `ctx.affected`.

use std::collections::HashSet;
use std::sync::Arc;

use sargdb_catalog::types::encode_row;
use sargdb_catalog::{TableDef, Value};
use sargdb_engine::{BuildPageHasher, LockOutcome, TupleBatch, TupleId};

use super::expr::{eval, eval_pred};
use super::index_maint::{find_conflict, insert_entries, insert_entries_replacing, unique_error};
use super::scan::{decode, tid_value, value_tid};
use super::stats::note_dml;
use super::{build, ExecContext, Executor, Row};
use crate::binder::bound::BoundExpr;
use crate::binder::index::TableAccess;
use crate::error::{Result, SqlError};
use crate::planner::plan::{OnConflict, Plan};

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
            self.out = Some(execute(&self.plan, ctx)?.into_iter());
        }
        Ok(self.out.as_mut().and_then(|o| o.next()))
    }
}

/// Run an INSERT, UPDATE or DELETE plan and return its RETURNING rows
/// (`executor::run` calls this for a statement whose root is the DML,
/// reading the cached plan in place; an executor over a copy does it for a
/// DML nested in WITH).
pub fn execute(plan: &Plan, ctx: &mut ExecContext) -> Result<Vec<Row>> {
    Ok(match plan {
        Plan::Insert {
            access,
            table,
            input,
            on_conflict,
            returning,
            checks,
        } => run_insert(
            access,
            table,
            build(input)?,
            on_conflict.as_ref(),
            returning,
            checks,
            ctx,
        )?,
        Plan::Update {
            access,
            table,
            input,
            assignments,
            recheck,
            returning,
            checks,
        } => run_update(
            access,
            table,
            input,
            assignments,
            recheck.as_ref(),
            returning,
            checks,
            ctx,
        )?,
        Plan::Delete {
            table,
            input,
            recheck,
            returning,
        } => run_delete(table, input, recheck.as_ref(), returning, ctx)?,
        _ => return Err(SqlError::Internal("not a DML plan".into())),
    })
}

fn failing_row(table: &TableDef, row: &[Value], ctx: &ExecContext) -> String {
    let parts: Vec<String> = table
        .columns
        .iter()
        .zip(row.iter())
        .filter(|(c, _)| !c.dropped)
        .map(|(_, v)| {
            if v.is_null() {
                "null".to_string()
            } else {
                v.to_text(&ctx.call.types)
            }
        })
        .collect();
    format!("Failing row contains ({}).", parts.join(", "))
}

fn check_row(
    table: &TableDef,
    row: &[Value],
    checks: &[(String, BoundExpr)],
    ctx: &mut ExecContext,
) -> Result<()> {
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

/// Insert already-computed source rows through an INSERT plan whose input is
/// `Project(Values)` (COPY FROM: the decoded rows stand in for the VALUES,
/// and the projection adds defaults and conversions as for any INSERT).
/// Insert rows already encoded as tuples (COPY's direct path, see
/// `copy::from::Direct`) into the table of an INSERT plan that would only
/// store them: no index, constraint check, ON CONFLICT or RETURNING.
pub fn insert_tuples(plan: &Plan, batch: &mut TupleBatch, ctx: &mut ExecContext) -> Result<()> {
    let Plan::Insert { table, .. } = plan else {
        return Err(SqlError::Internal(
            "insert_tuples: not an INSERT plan".into(),
        ));
    };
    ctx.check_cancel()?;
    ctx.txn
        .insert_many_with(table.storage, batch, ctx.copy_freeze)?;
    let n = batch.len() as u64;
    ctx.affected = n;
    note_dml(ctx, table.oid, n, 0, 0);
    Ok(())
}

/// Whether a projection passes its input columns through unchanged, in
/// order (COPY's INSERT of every column in table order).
pub(crate) fn is_identity(exprs: &[BoundExpr]) -> bool {
    exprs
        .iter()
        .enumerate()
        .all(|(k, e)| matches!(e, BoundExpr::Column(i, _) if *i == k))
}

pub fn insert_rows(plan: &Plan, rows: Vec<Row>, ctx: &mut ExecContext) -> Result<()> {
    let Plan::Insert {
        access,
        table,
        input,
        on_conflict,
        returning,
        checks,
    } = plan
    else {
        return Err(SqlError::Internal("insert_rows: not an INSERT plan".into()));
    };
    let Plan::Project {
        input: values,
        exprs,
    } = &**input
    else {
        return Err(SqlError::Internal(
            "insert_rows: unexpected INSERT input".into(),
        ));
    };
    if !matches!(**values, Plan::Values { .. }) {
        return Err(SqlError::Internal(
            "insert_rows: unexpected INSERT input".into(),
        ));
    }
    // COPY of every column in table order: the decoded rows already are
    // the table's rows (parsed as the columns' types), so the projection,
    // which would copy every value, is skipped.
    let identity = is_identity(exprs) && rows.iter().all(|r| r.len() == exprs.len());
    let rows = Box::new(super::misc::RowsExecutor::new(rows));
    let src: super::BoxedExecutor = if identity {
        rows
    } else {
        Box::new(super::misc::ProjectExecutor::new(rows, exprs.clone()))
    };
    run_insert(
        access,
        table,
        src,
        on_conflict.as_ref(),
        returning,
        checks,
        ctx,
    )?;
    Ok(())
}

/// Rows a plain INSERT collects before writing them to the heap at once.
const INSERT_BATCH: usize = 1000;

fn run_insert(
    access: &TableAccess,
    table: &Arc<TableDef>,
    mut src: super::BoxedExecutor,
    on_conflict: Option<&OnConflict>,
    returning: &[BoundExpr],
    checks: &[(String, BoundExpr)],
    ctx: &mut ExecContext,
) -> Result<Vec<Row>> {
    // Rows this statement changed; nested data-modifying WITH queries
    // finish first, so the outermost statement's count is the one left.
    let mut own = 0u64;
    let mut out = vec![];
    if on_conflict.is_none() && returning.is_empty() && access.indexes.is_empty() {
        // Nothing needs each row's tuple id: write the heap in batches.
        let mut batch = TupleBatch::new();
        while let Some(row) = src.next(ctx)? {
            ctx.check_cancel()?;
            check_row(table, &row, checks, ctx)?;
            batch.push_with(|out| encode_row(&row, out));
            if batch.len() == 1 {
                // Room for a whole batch of rows like the first.
                batch.reserve(INSERT_BATCH);
            }
            if batch.len() >= INSERT_BATCH {
                ctx.txn
                    .insert_many_with(table.storage, &mut batch, ctx.copy_freeze)?;
                own += batch.len() as u64;
                batch.clear();
            }
        }
        ctx.txn
            .insert_many_with(table.storage, &mut batch, ctx.copy_freeze)?;
        own += batch.len() as u64;
        ctx.affected = own;
        note_dml(ctx, table.oid, own, 0, 0);
        return Ok(out);
    }
    // Versions this statement wrote: ON CONFLICT DO UPDATE may not touch one twice.
    let mut touched: HashSet<TupleId, BuildPageHasher> = HashSet::default();
    let mut inserted = 0u64;
    while let Some(row) = src.next(ctx)? {
        ctx.check_cancel()?;
        check_row(table, &row, checks, ctx)?;
        let Some(oc) = on_conflict else {
            let tid = ctx.txn.insert(table.storage, &encode(&row))?;
            insert_entries(table, access, &row, tid, ctx, false)?;
            touched.insert(tid);
            own += 1;
            inserted += 1;
            if !returning.is_empty() {
                out.push(returning_row(returning, &row, ctx)?);
            }
            continue;
        };
        loop {
            let c = match find_conflict(table, access, &row, ctx)? {
                Ok(locks) => {
                    let tid = ctx.txn.insert(table.storage, &encode(&row))?;
                    insert_entries(table, access, &row, tid, ctx, true)?;
                    drop(locks);
                    touched.insert(tid);
                    own += 1;
                    inserted += 1;
                    if !returning.is_empty() {
                        out.push(returning_row(returning, &row, ctx)?);
                    }
                    break;
                }
                Err(c) => c,
            };
            let arbiter = |a: &[u32]| a.contains(&c.index.def.oid);
            match oc {
                OnConflict::DoNothing { arbiters } if arbiters.as_deref().is_none_or(arbiter) => {
                    break
                }
                OnConflict::DoUpdate {
                    arbiters,
                    assignments,
                    filter,
                } if arbiter(arbiters) => {
                    if touched.contains(&c.tid) {
                        return Err(SqlError::OnConflictTwice);
                    }
                    // Lock the conflicting row; if it changed meanwhile, look again.
                    match ctx.txn.lock_row(table.storage, c.tid)? {
                        LockOutcome::Ok | LockOutcome::SelfModified => {}
                        LockOutcome::Updated(_) | LockOutcome::Deleted => continue,
                    }
                    let Some((_, bytes)) = ctx.txn.fetch_latest(table.storage, c.tid)? else {
                        continue;
                    };
                    let existing = decode(table, &bytes, ctx)?;
                    let mut both = existing.clone();
                    both.extend(row.iter().cloned());
                    if let Some(f) = filter {
                        if !eval_pred(f, &both, ctx)? {
                            break;
                        }
                    }
                    let mut new = existing.clone();
                    for (col, e) in assignments {
                        new[*col] = eval(e, &both, ctx)?;
                    }
                    check_row(table, &new, checks, ctx)?;
                    let (outcome, newtid) = ctx.txn.update(table.storage, c.tid, &encode(&new))?;
                    if let (LockOutcome::Ok, Some(t)) = (outcome, newtid) {
                        insert_entries_replacing(table, access, &existing, &new, t, ctx)?;
                        touched.insert(t);
                        own += 1;
                        if !returning.is_empty() {
                            out.push(returning_row(returning, &new, ctx)?);
                        }
                    }
                    break;
                }
                _ => return Err(unique_error(&c.index, &c.vals, ctx)),
            }
        }
    }
    ctx.affected = own;
    note_dml(ctx, table.oid, inserted, own - inserted, 0);
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn run_update(
    access: &TableAccess,
    table: &Arc<TableDef>,
    input: &Plan,
    assignments: &[(usize, BoundExpr)],
    recheck: Option<&BoundExpr>,
    returning: &[BoundExpr],
    checks: &[(String, BoundExpr)],
    ctx: &mut ExecContext,
) -> Result<Vec<Row>> {
    // Rows this statement changed; nested data-modifying WITH queries
    // finish first, so the outermost statement's count is the one left.
    let mut own = 0u64;
    let n = table.columns.len();
    let mut src = build(input)?;
    let mut out = vec![];
    // Materialize first: the scan must not see this statement's new versions.
    let mut rows = vec![];
    while let Some(r) = src.next(ctx)? {
        ctx.check_cancel()?;
        rows.push(r);
    }
    let mut done: HashSet<TupleId, BuildPageHasher> = HashSet::default();
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
            // Write the new version first (waiting for a concurrent writer of
            // the row), then its index entries: the uniqueness check then sees
            // the old version as deleted by us.
            let (outcome, newtid) = ctx.txn.update(table.storage, tid, &encode(&new))?;
            match outcome {
                LockOutcome::Ok => {
                    if let Some(t) = newtid {
                        insert_entries_replacing(table, access, &row[..n], &new, t, ctx)?;
                    }
                    done.insert(tid);
                    own += 1;
                    if !returning.is_empty() {
                        let mut r = new.clone();
                        r.extend(row[n..].iter().cloned());
                        out.push(returning_row(returning, &r, ctx)?);
                    }
                    break;
                }
                LockOutcome::Updated(next) => match recheck_newer(table, next, &row, recheck, ctx)?
                {
                    Some((r2, t2)) => {
                        row = r2;
                        tid = t2;
                    }
                    None => break,
                },
                LockOutcome::Deleted | LockOutcome::SelfModified => break,
            }
        }
    }
    ctx.affected = own;
    note_dml(ctx, table.oid, 0, own, 0);
    Ok(out)
}

/// READ COMMITTED after a concurrent update (Postgres's EvalPlanQual): the
/// newest version reached from `next`, as a scan row (table columns, tid,
/// then the rest of `row`), if it still satisfies the statement's `recheck`
/// condition. None: the row is gone or no longer qualifies; skip it.
fn recheck_newer(
    table: &TableDef,
    next: TupleId,
    row: &[Value],
    recheck: Option<&BoundExpr>,
    ctx: &mut ExecContext,
) -> Result<Option<(Row, TupleId)>> {
    let n = table.columns.len();
    let Some((t2, bytes)) = ctx.txn.fetch_latest(table.storage, next)? else {
        return Ok(None);
    };
    let mut r2 = decode(table, &bytes, ctx)?;
    r2.push(tid_value(t2));
    r2.extend(row[n + 1..].iter().cloned());
    let ok = match recheck {
        Some(p) => eval_pred(p, &r2, ctx)?,
        None => true,
    };
    Ok(ok.then_some((r2, t2)))
}

fn run_delete(
    table: &Arc<TableDef>,
    input: &Plan,
    recheck: Option<&BoundExpr>,
    returning: &[BoundExpr],
    ctx: &mut ExecContext,
) -> Result<Vec<Row>> {
    // Rows this statement changed; nested data-modifying WITH queries
    // finish first, so the outermost statement's count is the one left.
    let mut own = 0u64;
    let n = table.columns.len();
    let mut src = build(input)?;
    let mut rows = vec![];
    while let Some(r) = src.next(ctx)? {
        ctx.check_cancel()?;
        rows.push(r);
    }
    let mut out = vec![];
    let mut done: HashSet<TupleId, BuildPageHasher> = HashSet::default();
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
                    done.insert(tid);
                    own += 1;
                    if !returning.is_empty() {
                        out.push(returning_row(returning, &row, ctx)?);
                    }
                    break;
                }
                LockOutcome::Updated(next) => match recheck_newer(table, next, &row, recheck, ctx)?
                {
                    Some((r2, t2)) => {
                        row = r2;
                        tid = t2;
                    }
                    None => break,
                },
                LockOutcome::Deleted | LockOutcome::SelfModified => break,
            }
        }
    }
    ctx.affected = own;
    note_dml(ctx, table.oid, 0, 0, own);
    Ok(out)
}
