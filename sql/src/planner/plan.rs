//! Plan trees. The binder produces a logical tree (`Join`, `Aggregate`, ...);
//! the planner rewrites it in place into the physical choices the executor
//! runs (`HashJoin` for equi-joins, `NestedLoopJoin` otherwise; access paths
//! will be chosen at `Scan` when indexes exist). One enum keeps both because
//! the two differ only at those nodes.

use std::sync::Arc;

use sargdb_catalog::{DataType, TableDef};

use crate::binder::bound::{AggCall, BoundExpr};

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
    /// Constraint index to check (None = any unique constraint).
    DoNothing { constraint: Option<usize> },
    /// Assignments are bound over (existing row ++ excluded row).
    DoUpdate {
        constraint: usize,
        assignments: Vec<(usize, BoundExpr)>,
        filter: Option<BoundExpr>,
    },
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
    },
    Values { rows: Vec<Vec<BoundExpr>>, types: Vec<DataType> },
    /// generate_series(start, stop [, step]) as a table function.
    GenerateSeries { args: Vec<BoundExpr>, ty: DataType },
    Filter { input: Box<Plan>, predicate: BoundExpr },
    Project { input: Box<Plan>, exprs: Vec<BoundExpr> },
    /// Logical join; the planner replaces it with a physical one.
    Join { left: Box<Plan>, right: Box<Plan>, kind: JoinKind, on: Option<BoundExpr> },
    NestedLoopJoin { left: Box<Plan>, right: Box<Plan>, kind: JoinKind, on: Option<BoundExpr> },
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
    Aggregate { input: Box<Plan>, groups: Vec<BoundExpr>, aggs: Vec<AggCall> },
    Sort { input: Box<Plan>, keys: Vec<SortKey> },
    Limit { input: Box<Plan>, limit: Option<BoundExpr>, offset: Option<BoundExpr> },
    /// DISTINCT (on = None) or DISTINCT ON (keys): keeps the first row per key.
    Distinct { input: Box<Plan>, on: Option<Vec<BoundExpr>> },
    SetOp { left: Box<Plan>, right: Box<Plan>, op: SetOpKind, all: bool },
    /// WITH RECURSIVE: `recursive` reads the working table through `WorkTable`.
    RecursiveUnion { init: Box<Plan>, recursive: Box<Plan>, all: bool, id: usize },
    WorkTable { id: usize, types: Vec<DataType> },
    /// `input` yields whole physical rows (defaults already filled in).
    Insert {
        table: Arc<TableDef>,
        input: Box<Plan>,
        on_conflict: Option<OnConflict>,
        returning: Vec<BoundExpr>,
        checks: Vec<(String, BoundExpr)>,
    },
    /// `input` yields the table's live columns, the tid, then FROM columns.
    Update {
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
    pub fn children(&self) -> Vec<&Plan> {
        match self {
            Plan::OneRow
            | Plan::Scan { .. }
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
            | Plan::HashJoin { left, right, .. }
            | Plan::SetOp { left, right, .. } => vec![left, right],
            Plan::RecursiveUnion { init, recursive, .. } => vec![init, recursive],
        }
    }
}
