//! The planner: logical plan -> optimizer rules -> physical plan. Physical
//! choices today are the join algorithm (hash join for equi-joins, nested
//! loop otherwise); access-path choice (index scans) hooks in at `Scan`.
//! `explain` renders the result like Postgres's EXPLAIN.

pub mod explain;
pub mod plan;

use crate::binder::bound::{and_all, conjuncts, BoundExpr, CmpOp};
use crate::executor::width;
use plan::{JoinKind, Plan};

/// Optimize and choose physical operators.
pub fn plan(logical: Plan) -> Plan {
    crate::optimizer::prune_columns(physical(crate::optimizer::optimize(logical)))
}

fn physical(p: Plan) -> Plan {
    let b = |p: Box<Plan>| Box::new(physical(*p));
    match p {
        Plan::Join {
            left,
            right,
            kind,
            on,
        } => {
            let left = b(left);
            let right = b(right);
            let lw = width(&left).unwrap_or(0);
            let Some(on) = on else {
                return Plan::NestedLoopJoin {
                    left,
                    right,
                    kind,
                    on: None,
                };
            };
            let (lk, rk, rest) = split_equi(on, lw);
            if lk.is_empty() || kind == JoinKind::Cross {
                let mut all = rest;
                for (l, r) in lk.iter().zip(&rk) {
                    all.push(equi_cond(l, r, lw));
                }
                return Plan::NestedLoopJoin {
                    left,
                    right,
                    kind,
                    on: and_all(all),
                };
            }
            Plan::HashJoin {
                left,
                right,
                kind,
                left_keys: lk,
                right_keys: rk,
                residual: and_all(rest),
            }
        }
        other => other.map_children(&mut physical),
    }
}

/// The equi-join keys of a join condition: (left keys over the left row,
/// right keys over the right row, the other conjuncts over the joined row).
/// `lw` is the left row's width.
pub(crate) fn split_equi(
    on: BoundExpr,
    lw: usize,
) -> (Vec<BoundExpr>, Vec<BoundExpr>, Vec<BoundExpr>) {
    let mut parts = vec![];
    conjuncts(on, &mut parts);
    let mut lk = vec![];
    let mut rk = vec![];
    let mut rest = vec![];
    for p in parts {
        if let BoundExpr::Cmp {
            op: CmpOp::Eq,
            l,
            r,
        } = &p
        {
            let side = |e: &BoundExpr| join_side(e, lw);
            match (side(l), side(r)) {
                (Some(true), Some(false)) => {
                    lk.push((**l).clone());
                    rk.push(r.map_columns(&|c| c - lw));
                    continue;
                }
                (Some(false), Some(true)) => {
                    lk.push((**r).clone());
                    rk.push(l.map_columns(&|c| c - lw));
                    continue;
                }
                _ => {}
            }
        }
        rest.push(p);
    }
    (lk, rk, rest)
}

/// Which side of a join an expression reads: Some(true) the left row only
/// (columns below `lw`), Some(false) the right only; None if both, neither,
/// volatile, or a correlated subquery.
pub(crate) fn join_side(e: &BoundExpr, lw: usize) -> Option<bool> {
    let cols = e.columns_used()?;
    if cols.is_empty() || e.is_volatile() {
        None
    } else if cols.iter().all(|c| *c < lw) {
        Some(true)
    } else if cols.iter().all(|c| *c >= lw) {
        Some(false)
    } else {
        None
    }
}

/// `l = r` over the joined row, from a left key and a right key over the
/// right row (the inverse of `split_equi`).
pub(crate) fn equi_cond(l: &BoundExpr, r: &BoundExpr, lw: usize) -> BoundExpr {
    BoundExpr::Cmp {
        op: CmpOp::Eq,
        l: Box::new(l.clone()),
        r: Box::new(r.map_columns(&|c| c + lw)),
    }
}
