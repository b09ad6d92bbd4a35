//! The executor: pull-based operators over `Vec<Value>` rows, one per file.
//! `build` turns a physical plan into a tree of operators; every operator
//! checks the session's cancel flag in its loops (57014).

mod aggregate;
mod dml;
pub mod expr;
mod hash_join;
pub mod index_maint;
mod index_scan;
pub mod instrument;
mod misc;
mod nested_loop_join;
mod scan;
pub(crate) use dml::is_identity;
pub use dml::{insert_rows, insert_tuples};
pub use scan::decode as decode_row_of;
pub use scan::{decode_masked, decode_masked_in, decode_masked_into};
mod set_op;
mod sort;
mod spill;
pub use spill::remove_spill_files;
pub mod stats;
pub(crate) mod verify;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use sargdb_catalog::types::{compare, hash_value};
use sargdb_catalog::{Catalog, Value};
use sargdb_engine::{Engine, Transaction};

use crate::error::{Result, SqlError};
use crate::functions::CallContext;
use crate::planner::plan::Plan;

pub type Row = Vec<Value>;

/// Everything an operator needs while it runs: the transaction, the
/// statement's parameters, outer rows of correlated subqueries.
pub struct ExecContext<'a> {
    pub txn: &'a mut Transaction,
    pub engine: &'a Arc<Engine>,
    pub catalog: &'a Catalog,
    pub search_path: &'a [String],
    pub params: &'a [Value],
    pub outer: Vec<Row>,
    pub cancel: &'a AtomicBool,
    pub call: CallContext,
    /// Session's last nextval per sequence (currval).
    pub currval: &'a mut HashMap<u32, i64>,
    /// Makes nextval's read-increment-write atomic across sessions.
    pub seq_lock: &'a Mutex<()>,
    /// Results of uncorrelated subqueries, by plan address.
    pub subquery_cache: HashMap<usize, Arc<Vec<Row>>>,
    /// Rows of recursive CTE work tables.
    pub worktables: HashMap<usize, Arc<Vec<Row>>>,
    /// Rows inserted, updated or deleted by the statement (for its tag).
    pub affected: u64,
    /// nextval/setval changed a sequence: its WAL record must be flushed
    /// before the value reaches the client, even if nothing else commits.
    pub sequence_advanced: bool,
    /// COPY FREEZE: bulk inserts flag their new pages all-visible (see
    /// `Transaction::insert_many_with`).
    pub copy_freeze: bool,
}

impl ExecContext<'_> {
    pub fn check_cancel(&self) -> Result<()> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(SqlError::QueryCanceled);
        }
        Ok(())
    }
}

/// A pull-based operator.
pub trait Executor {
    fn next(&mut self, ctx: &mut ExecContext) -> Result<Option<Row>>;
    /// `next` into the caller's `row` (its old values replaced); false at
    /// the end. An operator on a hot path overrides it to fill `row` in
    /// place, so a row's allocation is reused from one row to the next
    /// instead of being allocated below and freed above.
    fn next_into(&mut self, ctx: &mut ExecContext, row: &mut Row) -> Result<bool> {
        match self.next(ctx)? {
            Some(r) => {
                *row = r;
                Ok(true)
            }
            None => Ok(false),
        }
    }
    /// Move past the next row for a consumer that reads none of its
    /// values (`count(*)`); false at the end. An operator may skip
    /// building the row, never the work that decides whether there is one
    /// (filters, visibility, a computation that can fail).
    fn next_unread(&mut self, ctx: &mut ExecContext) -> Result<bool> {
        Ok(self.next(ctx)?.is_some())
    }
    /// The operator's own running counters that EXPLAIN ANALYZE prints
    /// under its node (`Rows Removed by ...`, `Heap Fetches`).
    fn counts(&self) -> OpCounts {
        OpCounts::default()
    }
    /// A Sort's method and memory once it has sorted (EXPLAIN ANALYZE).
    fn sort_info(&self) -> Option<SortInfo> {
        None
    }
}

/// What a Sort did, for EXPLAIN ANALYZE's `Sort Method:` line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SortInfo {
    /// True when the sort was bounded and dropped rows on the way
    /// (Postgres's `top-N heapsort`), false for a full in-memory sort
    /// (`quicksort`).
    pub top_n: bool,
    /// The most bytes the sort held at once: its rows, their sort keys and
    /// the array of them.
    pub peak_bytes: u64,
    /// Bytes written to temporary files when the sort spilled (0: it did
    /// not).
    pub disk_bytes: u64,
}

/// Running totals an operator reports for EXPLAIN ANALYZE.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OpCounts {
    /// Rows a lossy index handed back that the recheck rejected
    /// (`Rows Removed by Index Recheck`).
    pub removed_by_recheck: u64,
    /// Rows the node's filter rejected (`Rows Removed by Filter`).
    pub removed_by_filter: u64,
    /// Index-only scans: entries whose heap tuple was visited because its
    /// page is not all-visible (`Heap Fetches`).
    pub heap_fetches: u64,
}

impl OpCounts {
    fn saturating_sub(self, o: OpCounts) -> OpCounts {
        OpCounts {
            removed_by_recheck: self.removed_by_recheck.saturating_sub(o.removed_by_recheck),
            removed_by_filter: self.removed_by_filter.saturating_sub(o.removed_by_filter),
            heap_fetches: self.heap_fetches.saturating_sub(o.heap_fetches),
        }
    }
    fn add(&mut self, o: OpCounts) {
        self.removed_by_recheck += o.removed_by_recheck;
        self.removed_by_filter += o.removed_by_filter;
        self.heap_fetches += o.heap_fetches;
    }
}

pub type BoxedExecutor = Box<dyn Executor>;

/// Build the operator tree for a physical plan (each operator instrumented
/// when EXPLAIN ANALYZE is collecting on this thread).
pub fn build(plan: &Plan) -> Result<BoxedExecutor> {
    build_bounded(plan, None)
}

/// `build` for a node of which at most `bound` rows will be read (a LIMIT
/// above it with constant counts): a Sort keeps only that many (Postgres's
/// ExecSetTupleBound, which passes through projections likewise).
fn build_bounded(plan: &Plan, bound: Option<usize>) -> Result<BoxedExecutor> {
    let ex = build_node(plan, bound)?;
    Ok(if instrument::active() {
        instrument::Instrumented::wrap(ex, plan)
    } else {
        ex
    })
}

fn build_node(plan: &Plan, bound: Option<usize>) -> Result<BoxedExecutor> {
    Ok(match plan {
        Plan::OneRow => Box::new(misc::ValuesExecutor::one_row()),
        Plan::Scan {
            table,
            with_tid,
            filter,
            needed_columns,
            ..
        } => Box::new(scan::SeqScanExecutor::new(
            table.clone(),
            *with_tid,
            filter.clone(),
            needed_columns.clone(),
        )),
        Plan::IndexScan(p) => Box::new(index_scan::IndexScanExecutor::new(p.clone())),
        Plan::Values { rows, .. } => Box::new(misc::ValuesExecutor::new(rows.clone())),
        Plan::GenerateSeries { args, .. } => {
            Box::new(misc::GenerateSeriesExecutor::new(args.clone()))
        }
        Plan::Filter { input, predicate } => Box::new(misc::FilterExecutor {
            input: build(input)?,
            predicate: predicate.clone(),
        }),
        Plan::Project { input, exprs } => {
            // A projection of a projection runs as one when they compose
            // (a subquery in FROM under ORDER BY ... LIMIT plans as two):
            // each operator costs a call, a row's values and their drops.
            // Not under EXPLAIN ANALYZE, which times every plan node.
            let (mut input, mut exprs) = (&**input, exprs.clone());
            while let Plan::Project {
                input: inner,
                exprs: inner_exprs,
            } = input
            {
                if instrument::active() {
                    break;
                }
                match misc::compose_projections(&exprs, inner_exprs) {
                    Some(composed) => (input, exprs) = (&**inner, composed),
                    None => break,
                }
            }
            Box::new(misc::ProjectExecutor::new(
                build_bounded(input, bound)?,
                exprs,
            ))
        }
        Plan::Join {
            left,
            right,
            kind,
            on,
        }
        | Plan::NestedLoopJoin {
            left,
            right,
            kind,
            on,
        } => Box::new(nested_loop_join::NestedLoopJoinExecutor::new(
            build(left)?,
            build(right)?,
            *kind,
            on.clone(),
            right_width(right)?,
            left_width(left)?,
        )),
        Plan::LateralJoin {
            left,
            right,
            kind,
            on,
        } => Box::new(nested_loop_join::LateralJoinExecutor::new(
            build(left)?,
            {
                // Boxed before aliasing: the copy's nodes keep their addresses.
                let copy = Box::new((**right).clone());
                instrument::alias(right, &copy);
                copy
            },
            *kind,
            on.clone(),
            right_width(right)?,
        )),
        Plan::HashJoin {
            left,
            right,
            kind,
            left_keys,
            right_keys,
            residual,
        } => Box::new(hash_join::HashJoinExecutor::new(
            build(left)?,
            build(right)?,
            *kind,
            left_keys.clone(),
            right_keys.clone(),
            residual.clone(),
            left_width(left)?,
            right_width(right)?,
        )),
        Plan::Aggregate {
            input,
            groups,
            aggs,
        } => Box::new(aggregate::HashAggregateExecutor::new(
            build(input)?,
            groups.clone(),
            aggs.clone(),
        )),
        Plan::Sort { input, keys } => {
            Box::new(sort::SortExecutor::new(build(input)?, keys.clone(), bound))
        }
        Plan::Limit {
            input,
            limit,
            offset,
        } => Box::new(misc::LimitExecutor::new(
            build_bounded(input, misc::constant_bound(limit, offset))?,
            limit.clone(),
            offset.clone(),
        )),
        Plan::Distinct { input, on } => {
            Box::new(misc::DistinctExecutor::new(build(input)?, on.clone()))
        }
        Plan::SetOp {
            left,
            right,
            op,
            all,
        } => Box::new(set_op::SetOpExecutor::new(
            build(left)?,
            build(right)?,
            *op,
            *all,
        )),
        Plan::RecursiveUnion {
            init,
            recursive,
            all,
            id,
        } => Box::new(set_op::RecursiveUnionExecutor::new(
            build(init)?,
            (**recursive).clone(),
            *all,
            *id,
        )),
        Plan::WorkTable { id, .. } => Box::new(misc::WorkTableExecutor {
            id: *id,
            rows: None,
            pos: 0,
        }),
        Plan::Insert { .. } | Plan::Update { .. } | Plan::Delete { .. } => {
            // The copy's children are boxed, so their addresses survive the
            // move into the executor (EXPLAIN ANALYZE finds them by alias).
            let copy = plan.clone();
            instrument::alias(plan, &copy);
            Box::new(dml::DmlExecutor::new(copy)?)
        }
    })
}

/// Number of columns a plan produces.
pub fn width(plan: &Plan) -> Result<usize> {
    Ok(match plan {
        Plan::OneRow => 0,
        Plan::Scan {
            table, with_tid, ..
        } => table.columns.len() + usize::from(*with_tid),
        Plan::IndexScan(p) => p.table.columns.len() + usize::from(p.with_tid),
        Plan::Values { types, .. } => types.len(),
        Plan::GenerateSeries { .. } => 1,
        Plan::Filter { input, .. }
        | Plan::Sort { input, .. }
        | Plan::Limit { input, .. }
        | Plan::Distinct { input, .. } => width(input)?,
        Plan::Project { exprs, .. } => exprs.len(),
        Plan::Join { left, right, .. }
        | Plan::NestedLoopJoin { left, right, .. }
        | Plan::LateralJoin { left, right, .. }
        | Plan::HashJoin { left, right, .. } => width(left)? + width(right)?,
        Plan::Aggregate { groups, aggs, .. } => groups.len() + aggs.len(),
        Plan::SetOp { left, .. } => width(left)?,
        Plan::RecursiveUnion { init, .. } => width(init)?,
        Plan::WorkTable { types, .. } => types.len(),
        Plan::Insert { returning, .. }
        | Plan::Update { returning, .. }
        | Plan::Delete { returning, .. } => returning.len(),
    })
}

fn left_width(p: &Plan) -> Result<usize> {
    width(p)
}
fn right_width(p: &Plan) -> Result<usize> {
    width(p)
}

/// Run a plan to completion.
pub fn run(plan: &Plan, ctx: &mut ExecContext) -> Result<Vec<Row>> {
    // A DML at the root runs straight from the plan: its executor would
    // first copy the whole plan (see `build_node`), which EXPLAIN ANALYZE
    // needs and nothing else does.
    if matches!(
        plan,
        Plan::Insert { .. } | Plan::Update { .. } | Plan::Delete { .. }
    ) && !instrument::active()
    {
        return dml::execute(plan, ctx);
    }
    let mut ex = build(plan)?;
    let mut out = vec![];
    while let Some(r) = ex.next(ctx)? {
        out.push(r);
    }
    Ok(out)
}

/// A row used as a hash key: equal under `compare`, NULLs equal to each
/// other (grouping, DISTINCT and set operations treat NULLs as equal).
#[derive(Clone, Debug)]
pub struct HashKey(pub Vec<Value>);

impl PartialEq for HashKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(other.0.iter())
                .all(|(a, b)| match (a.is_null(), b.is_null()) {
                    (true, true) => true,
                    (false, false) => compare(a, b) == std::cmp::Ordering::Equal,
                    _ => false,
                })
    }
}
impl Eq for HashKey {}
impl Hash for HashKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for v in &self.0 {
            hash_value(v, state);
        }
    }
}
