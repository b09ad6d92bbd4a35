//! Plan trees. The binder produces a logical tree (`Join`, `Aggregate`, ...);
//! the planner rewrites it in place into the physical choices the executor
//! runs (`HashJoin` for equi-joins, `NestedLoopJoin` otherwise; access paths
//! will be chosen at `Scan` when indexes exist). One enum keeps both because
//! the two differ only at those nodes.

use std::sync::Arc;

use sargdb_catalog::{DataType, TableDef};

use crate::binder::bound::{AggCall, BoundExpr};
use crate::binder::index::{BoundIndex, TableAccess};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    Inner,
    Left,
    Right,
    Full,
    Cross,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOpKind {
    Union,
    Intersect,
    Except,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SortKey {
    pub expr: BoundExpr,
    pub desc: bool,
    pub nulls_first: bool,
}

/// What INSERT does on a unique conflict.
#[derive(Clone, Debug, PartialEq)]
pub enum OnConflict {
    /// The arbiter indexes (oids) whose conflicts are skipped (None = a
    /// conflict in any unique index).
    DoNothing { arbiters: Option<Vec<u32>> },
    /// Assignments are bound over (existing row ++ excluded row); a
    /// conflict in an arbiter index (oids) updates the existing row.
    DoUpdate {
        arbiters: Vec<u32>,
        assignments: Vec<(usize, BoundExpr)>,
        filter: Option<BoundExpr>,
    },
}

impl OnConflict {
    fn exprs_mut(&mut self) -> Vec<&mut BoundExpr> {
        match self {
            OnConflict::DoNothing { .. } => vec![],
            OnConflict::DoUpdate {
                assignments,
                filter,
                ..
            } => {
                let mut v: Vec<&mut BoundExpr> = assignments.iter_mut().map(|(_, e)| e).collect();
                v.extend(filter.iter_mut());
                v
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// One row, no columns (SELECT without FROM).
    OneRow,
    /// Sequential scan yielding physical rows (dropped columns as NULL); with
    /// `with_tid` a trailing Int8 column carries the tuple id.
    Scan {
        table: Arc<TableDef>,
        alias: String,
        with_tid: bool,
        filter: Option<BoundExpr>,
        access: Arc<TableAccess>,
        /// The columns anything above reads (None = all); the others are
        /// not decoded and read as NULL (see optimizer::column_pruning).
        needed_columns: Option<Vec<bool>>,
    },
    /// Rows of a table found through an index (physical rows like `Scan`).
    /// Shared with the executors built from it (a cached plan runs many times).
    IndexScan(std::sync::Arc<IndexScanPlan>),
    Values {
        rows: Vec<Vec<BoundExpr>>,
        types: Vec<DataType>,
    },
    /// generate_series(start, stop [, step]) as a table function.
    GenerateSeries {
        args: Vec<BoundExpr>,
        ty: DataType,
    },
    Filter {
        input: Box<Plan>,
        predicate: BoundExpr,
    },
    Project {
        input: Box<Plan>,
        exprs: Vec<BoundExpr>,
    },
    /// Logical join; the planner replaces it with a physical one.
    Join {
        left: Box<Plan>,
        right: Box<Plan>,
        kind: JoinKind,
        on: Option<BoundExpr>,
    },
    /// Nested loop whose right side runs again for every left row, with the
    /// left row as its innermost outer row (`BoundExpr::Outer` depth 1):
    /// LATERAL subqueries, and index nested-loop joins.
    LateralJoin {
        left: Box<Plan>,
        right: Box<Plan>,
        kind: JoinKind,
        on: Option<BoundExpr>,
    },
    NestedLoopJoin {
        left: Box<Plan>,
        right: Box<Plan>,
        kind: JoinKind,
        on: Option<BoundExpr>,
    },
    /// Equi-join: `left_keys[i] = right_keys[i]` (right keys are bound over the
    /// right input alone), plus a residual condition over the joined row.
    HashJoin {
        left: Box<Plan>,
        right: Box<Plan>,
        kind: JoinKind,
        left_keys: Vec<BoundExpr>,
        right_keys: Vec<BoundExpr>,
        residual: Option<BoundExpr>,
    },
    /// Output: group values then aggregate values.
    Aggregate {
        input: Box<Plan>,
        groups: Vec<BoundExpr>,
        aggs: Vec<AggCall>,
    },
    Sort {
        input: Box<Plan>,
        keys: Vec<SortKey>,
    },
    Limit {
        input: Box<Plan>,
        limit: Option<BoundExpr>,
        offset: Option<BoundExpr>,
    },
    /// DISTINCT (on = None) or DISTINCT ON (keys): keeps the first row per key.
    Distinct {
        input: Box<Plan>,
        on: Option<Vec<BoundExpr>>,
    },
    SetOp {
        left: Box<Plan>,
        right: Box<Plan>,
        op: SetOpKind,
        all: bool,
    },
    /// WITH RECURSIVE: `recursive` reads the working table through `WorkTable`.
    RecursiveUnion {
        init: Box<Plan>,
        recursive: Box<Plan>,
        all: bool,
        id: usize,
    },
    WorkTable {
        id: usize,
        types: Vec<DataType>,
    },
    /// `input` yields whole physical rows (defaults already filled in).
    Insert {
        access: Arc<TableAccess>,
        table: Arc<TableDef>,
        input: Box<Plan>,
        on_conflict: Option<OnConflict>,
        returning: Vec<BoundExpr>,
        checks: Vec<(String, BoundExpr)>,
    },
    /// `input` yields the table's live columns, the tid, then FROM columns.
    Update {
        access: Arc<TableAccess>,
        table: Arc<TableDef>,
        input: Box<Plan>,
        assignments: Vec<(usize, BoundExpr)>,
        recheck: Option<BoundExpr>,
        returning: Vec<BoundExpr>,
        checks: Vec<(String, BoundExpr)>,
    },
    Delete {
        table: Arc<TableDef>,
        input: Box<Plan>,
        recheck: Option<BoundExpr>,
        returning: Vec<BoundExpr>,
    },
}

impl Plan {
    /// Record the current size of every table the plan reads or writes, for
    /// the cost model (`size` maps a storage id to its page count and how
    /// many of those pages are all-visible).
    pub fn annotate_sizes(&mut self, size: &dyn Fn(u32) -> (u32, u32)) {
        match self {
            Plan::Scan { table, access, .. }
            | Plan::Insert { table, access, .. }
            | Plan::Update { table, access, .. } => {
                let (pages, all_visible) = size(table.storage);
                let a = Arc::make_mut(access);
                a.pages = pages;
                a.all_visible = all_visible.min(pages);
            }
            _ => {}
        }
        for c in self.children_mut() {
            c.annotate_sizes(size);
        }
    }

    /// Every expression this node holds (not its children's).
    pub fn exprs_mut(&mut self) -> Vec<&mut BoundExpr> {
        fn opt(e: &mut Option<BoundExpr>) -> Vec<&mut BoundExpr> {
            e.iter_mut().collect()
        }
        match self {
            Plan::OneRow | Plan::WorkTable { .. } | Plan::SetOp { .. } => vec![],
            Plan::RecursiveUnion { .. } => vec![],
            Plan::Scan { filter, .. } => opt(filter),
            Plan::IndexScan(ip) => {
                let ip = std::sync::Arc::make_mut(ip);
                let mut v: Vec<&mut BoundExpr> = ip.eq.iter_mut().collect();
                match &mut ip.next {
                    Some(KeyCond::Range { lower, upper }) => {
                        v.extend(lower.iter_mut().map(|(e, _)| e));
                        v.extend(upper.iter_mut().map(|(e, _)| e));
                    }
                    Some(KeyCond::In(list)) => v.extend(list.iter_mut()),
                    Some(KeyCond::Prefix(e)) => v.push(e),
                    None => {}
                }
                v.extend(ip.filter.iter_mut());
                v.extend(ip.index_cond.iter_mut());
                v.extend(ip.recheck.iter_mut());
                v
            }
            Plan::Values { rows, .. } => rows.iter_mut().flatten().collect(),
            Plan::GenerateSeries { args, .. } => args.iter_mut().collect(),
            Plan::Filter { predicate, .. } => vec![predicate],
            Plan::Project { exprs, .. } => exprs.iter_mut().collect(),
            Plan::Join { on, .. }
            | Plan::LateralJoin { on, .. }
            | Plan::NestedLoopJoin { on, .. } => opt(on),
            Plan::HashJoin {
                left_keys,
                right_keys,
                residual,
                ..
            } => {
                let mut v: Vec<&mut BoundExpr> = left_keys.iter_mut().collect();
                v.extend(right_keys.iter_mut());
                v.extend(residual.iter_mut());
                v
            }
            Plan::Aggregate { groups, aggs, .. } => {
                let mut v: Vec<&mut BoundExpr> = groups.iter_mut().collect();
                for a in aggs {
                    v.extend(a.args.iter_mut());
                    v.extend(a.filter.iter_mut());
                    v.extend(a.order_by.iter_mut().map(|k| &mut k.expr));
                }
                v
            }
            Plan::Sort { keys, .. } => keys.iter_mut().map(|k| &mut k.expr).collect(),
            Plan::Limit { limit, offset, .. } => {
                let mut v = opt(limit);
                v.extend(offset.iter_mut());
                v
            }
            Plan::Distinct { on, .. } => on.iter_mut().flatten().collect(),
            Plan::Insert {
                returning,
                checks,
                on_conflict,
                ..
            } => {
                let mut v: Vec<&mut BoundExpr> = returning.iter_mut().collect();
                v.extend(checks.iter_mut().map(|(_, e)| e));
                if let Some(oc) = on_conflict {
                    v.extend(oc.exprs_mut());
                }
                v
            }
            Plan::Update {
                assignments,
                recheck,
                returning,
                checks,
                ..
            } => {
                let mut v: Vec<&mut BoundExpr> = assignments.iter_mut().map(|(_, e)| e).collect();
                v.extend(recheck.iter_mut());
                v.extend(returning.iter_mut());
                v.extend(checks.iter_mut().map(|(_, e)| e));
                v
            }
            Plan::Delete {
                recheck, returning, ..
            } => {
                let mut v = opt(recheck);
                v.extend(returning.iter_mut());
                v
            }
        }
    }

    /// Apply `f` to the plan of every subquery in this tree's expressions
    /// (not inside those subquery plans: `f` decides about them).
    pub fn map_subquery_plans(&mut self, f: &dyn Fn(Plan) -> Plan) {
        for e in self.exprs_mut() {
            e.walk_mut(&mut |x| {
                if let BoundExpr::Subquery(s) = x {
                    let p = Arc::make_mut(&mut s.plan);
                    *p = f(std::mem::replace(p, Plan::OneRow));
                }
            });
        }
        for c in self.children_mut() {
            c.map_subquery_plans(f);
        }
    }

    /// This node with `f` applied to each child (leaves come back as they
    /// are): the one place that knows how to rebuild every kind of node,
    /// for rewrites that only care about a few of them.
    pub fn map_children(mut self, f: &mut impl FnMut(Plan) -> Plan) -> Plan {
        for c in self.children_mut() {
            let child = std::mem::replace(c, Plan::OneRow);
            *c = f(child);
        }
        self
    }

    pub fn children_mut(&mut self) -> Vec<&mut Plan> {
        match self {
            Plan::OneRow
            | Plan::Scan { .. }
            | Plan::IndexScan(_)
            | Plan::Values { .. }
            | Plan::GenerateSeries { .. }
            | Plan::WorkTable { .. } => vec![],
            Plan::Filter { input, .. }
            | Plan::Project { input, .. }
            | Plan::Aggregate { input, .. }
            | Plan::Sort { input, .. }
            | Plan::Limit { input, .. }
            | Plan::Distinct { input, .. }
            | Plan::Insert { input, .. }
            | Plan::Update { input, .. }
            | Plan::Delete { input, .. } => vec![input],
            Plan::Join { left, right, .. }
            | Plan::NestedLoopJoin { left, right, .. }
            | Plan::LateralJoin { left, right, .. }
            | Plan::HashJoin { left, right, .. }
            | Plan::SetOp { left, right, .. } => vec![left, right],
            Plan::RecursiveUnion {
                init, recursive, ..
            } => vec![init, recursive],
        }
    }

    pub fn children(&self) -> Vec<&Plan> {
        match self {
            Plan::OneRow
            | Plan::Scan { .. }
            | Plan::IndexScan(_)
            | Plan::Values { .. }
            | Plan::GenerateSeries { .. }
            | Plan::WorkTable { .. } => vec![],
            Plan::Filter { input, .. }
            | Plan::Project { input, .. }
            | Plan::Aggregate { input, .. }
            | Plan::Sort { input, .. }
            | Plan::Limit { input, .. }
            | Plan::Distinct { input, .. }
            | Plan::Insert { input, .. }
            | Plan::Update { input, .. }
            | Plan::Delete { input, .. } => vec![input],
            Plan::Join { left, right, .. }
            | Plan::NestedLoopJoin { left, right, .. }
            | Plan::LateralJoin { left, right, .. }
            | Plan::HashJoin { left, right, .. }
            | Plan::SetOp { left, right, .. } => vec![left, right],
            Plan::RecursiveUnion {
                init, recursive, ..
            } => vec![init, recursive],
        }
    }
}

/// The condition on the key column after the equality prefix.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyCond {
    /// `col > a`, `col <= b`, BETWEEN: bound expression and inclusiveness.
    Range {
        lower: Option<(BoundExpr, bool)>,
        upper: Option<(BoundExpr, bool)>,
    },
    /// `col IN (...)`: one probe per value.
    In(Vec<BoundExpr>),
    /// `col LIKE 'p%'`: the text prefix.
    Prefix(BoundExpr),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexScanMode {
    /// Fetch rows in index order.
    Plain,
    /// Index order, values from the index entries (every column the query
    /// reads is a key or INCLUDE column); the heap is visited only for
    /// entries on pages the visibility map does not mark all-visible.
    IndexOnly,
    /// Collect the matching tids, sort them by page, then fetch (Postgres's
    /// bitmap heap scan): better when many rows match.
    Bitmap,
}

/// An index scan: equality on leading key columns, an optional condition on
/// the next one, in index order (or reversed).
#[derive(Clone, Debug, PartialEq)]
pub struct IndexScanPlan {
    pub table: Arc<TableDef>,
    pub alias: String,
    pub with_tid: bool,
    pub index: Arc<BoundIndex>,
    /// Values for the leading key columns (`=`), in key order.
    pub eq: Vec<BoundExpr>,
    /// True where the condition is `IS NULL` rather than `=`.
    pub eq_null: Vec<bool>,
    pub next: Option<KeyCond>,
    pub backward: bool,
    pub mode: IndexScanMode,
    /// The whole original filter.
    pub filter: Option<BoundExpr>,
    /// The conjuncts the index serves (EXPLAIN's Index Cond).
    pub index_cond: Vec<BoundExpr>,
    /// What the scan tests on each row it returns: `filter` without the
    /// conjuncts of `index_cond` the index answers exactly (an exact
    /// kind, a plain key column, a bound of the column's own type: see
    /// `access_path::answered_exactly`). None: nothing is left to test.
    /// The executor falls back to the whole `filter` (and decodes every
    /// column) when it could not apply a bound as planned.
    pub recheck: Option<BoundExpr>,
    pub est_rows: f64,
    pub est_cost: f64,
    /// As for `Plan::Scan`: the columns decoded from fetched rows.
    pub needed_columns: Option<Vec<bool>>,
    /// Lossy scans of one key column of a `column_keys` index (`index`):
    /// the conditions on its other constrained key columns; the scan reads
    /// only the pages every column's conditions leave (Postgres's BRIN
    /// intersects all of them).
    pub more_columns: Vec<ColumnScan>,
}

/// The conditions on one key column of a `column_keys` index.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnScan {
    /// The index as this column alone (`BoundIndex::for_column`).
    pub index: Arc<BoundIndex>,
    pub eq: Vec<BoundExpr>,
    pub eq_null: Vec<bool>,
    pub next: Option<KeyCond>,
}
