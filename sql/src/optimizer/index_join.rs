//! Index nested-loop joins: an equi-join whose inner (right) side is a table
//! with a usable index on the join key becomes a `Plan::LateralJoin` whose
//! inner side is an index scan keyed by the outer row (`BoundExpr::Outer`
//! depth 1), when probing the index once per outer row costs less than
//! reading the whole inner table into a hash join. The inner scan still
//! rechecks its whole filter, so the choice never changes results.

use crate::binder::bound::{and_all, conjuncts, BoundExpr, CmpOp};
use crate::planner::plan::{JoinKind, Plan};

use super::access_path::{choose_access_paths, table_size};

/// Turn joins into index nested loops where that is cheaper (run after
/// predicate pushdown, before access paths are chosen for the rest).
pub fn choose_index_joins(p: Plan) -> Plan {
    match p {
        Plan::Join {
            left,
            right,
            kind,
            on: Some(on),
        } if matches!(kind, JoinKind::Inner | JoinKind::Left) => {
            let left = choose_index_joins(*left);
            let right = choose_index_joins(*right);
            let lw = crate::executor::width(&left).unwrap_or(0);
            let (lk, rk, rest) = crate::planner::split_equi(on.clone(), lw);
            if !lk.is_empty() {
                if let Some(nl) = index_nested_loop(&left, &right, kind, &lk, &rk, &rest) {
                    return nl;
                }
            }
            Plan::Join {
                left: Box::new(left),
                right: Box::new(right),
                kind,
                on: Some(on),
            }
        }
        other => other.map_children(&mut choose_index_joins),
    }
}

/// Postgres's cost constants (see `access_path`).
const SEQ_PAGE: f64 = 1.0;
const CPU_TUPLE: f64 = 0.01;
const CPU_OPERATOR: f64 = 0.0025;

/// A rough row estimate of a plan (for choosing the join method only).
pub fn estimate_rows(p: &Plan) -> f64 {
    match p {
        Plan::OneRow => 1.0,
        Plan::Values { rows, .. } => rows.len() as f64,
        Plan::GenerateSeries { .. } => 1000.0,
        Plan::Scan {
            table,
            access,
            filter,
            ..
        } => {
            let (rows, _) = table_size(table, access);
            let mut conj = vec![];
            if let Some(f) = filter {
                conjuncts(f.clone(), &mut conj);
            }
            let sel: f64 = conj
                .iter()
                .map(|c| match c {
                    BoundExpr::Cmp { op: CmpOp::Eq, .. } => 0.005,
                    _ => 1.0 / 3.0,
                })
                .product();
            (rows * sel).max(1.0)
        }
        Plan::IndexScan(ip) => ip.est_rows.max(1.0),
        Plan::Filter { input, .. } => (estimate_rows(input) / 3.0).max(1.0),
        Plan::Project { input, .. } | Plan::Sort { input, .. } | Plan::Distinct { input, .. } => {
            estimate_rows(input)
        }
        Plan::Limit { input, limit, .. } => {
            let n = estimate_rows(input);
            match limit {
                Some(BoundExpr::Literal(v, _)) => v
                    .to_text(&Default::default())
                    .parse::<f64>()
                    .map(|l| l.min(n))
                    .unwrap_or(n),
                _ => n,
            }
        }
        Plan::Aggregate { input, groups, .. } => {
            if groups.is_empty() {
                1.0
            } else {
                (estimate_rows(input) / 10.0).max(1.0)
            }
        }
        Plan::Join { left, right, .. }
        | Plan::NestedLoopJoin { left, right, .. }
        | Plan::LateralJoin { left, right, .. }
        | Plan::HashJoin { left, right, .. } => {
            let (l, r) = (estimate_rows(left), estimate_rows(right));
            l.max(r).max(l * r * 0.005)
        }
        Plan::SetOp { left, right, .. } => estimate_rows(left) + estimate_rows(right),
        _ => 1000.0,
    }
}

/// The outer-row form of a left join key: the same expression with each
/// column of the left row read as `Outer` depth 1 by the inner side. None
/// for a constant, a volatile expression, or one that already reads outer
/// rows or runs subqueries (their depths would shift).
fn as_outer(e: &BoundExpr) -> Option<BoundExpr> {
    if e.is_volatile() || has_outer_or_subquery(e) || e.columns_used()?.is_empty() {
        return None;
    }
    let mut o = e.clone();
    o.walk_mut(&mut |x| {
        if let BoundExpr::Column(i, ty) = x {
            *x = BoundExpr::Outer {
                depth: 1,
                idx: *i,
                ty: ty.clone(),
            };
        }
    });
    Some(o)
}

/// Whether an expression reads outer rows or runs subqueries (the inner
/// side gains an outer row, so such depths would shift: not rewritten).
fn has_outer_or_subquery(e: &BoundExpr) -> bool {
    let mut found = false;
    e.walk(&mut |x| {
        if matches!(x, BoundExpr::Outer { .. } | BoundExpr::Subquery(_)) {
            found = true;
        }
    });
    found
}

/// An index nested-loop join for `left JOIN right ON lk = rk AND rest`, if
/// the right side is a table scan with a usable index on its keys and that
/// is cheaper than a hash join. `rk` are over the right row, `rest` over the
/// joined row.
fn index_nested_loop(
    left: &Plan,
    right: &Plan,
    kind: JoinKind,
    lk: &[BoundExpr],
    rk: &[BoundExpr],
    rest: &[BoundExpr],
) -> Option<Plan> {
    if !matches!(kind, JoinKind::Inner | JoinKind::Left) {
        return None;
    }
    let Plan::Scan {
        table,
        alias,
        with_tid,
        filter,
        access,
        ..
    } = right
    else {
        return None;
    };
    if access.indexes.is_empty() || filter.as_ref().is_some_and(has_outer_or_subquery) {
        return None;
    }
    let mut conds = vec![];
    let mut used = vec![false; lk.len()];
    for (i, (l, r)) in lk.iter().zip(rk).enumerate() {
        if !matches!(r, BoundExpr::Column(..)) {
            continue;
        }
        if let Some(o) = as_outer(l) {
            conds.push(BoundExpr::Cmp {
                op: CmpOp::Eq,
                l: Box::new(r.clone()),
                r: Box::new(o),
            });
            used[i] = true;
        }
    }
    if conds.is_empty() {
        return None;
    }
    let mut inner_filter = vec![];
    if let Some(f) = filter {
        conjuncts(f.clone(), &mut inner_filter);
    }
    inner_filter.extend(conds);
    // Join conditions on the inner row alone filter the inner rows (for a
    // LEFT join too: an inner row that fails them matches nothing).
    let lw = crate::executor::width(left).ok()?;
    let mut rest_kept = vec![];
    for c in rest {
        let inner_only =
            crate::planner::join_side(c, lw) == Some(false) && !has_outer_or_subquery(c);
        if inner_only {
            inner_filter.push(c.map_columns(&|i| i - lw));
        } else {
            rest_kept.push(c.clone());
        }
    }
    let probe = choose_access_paths(Plan::Scan {
        table: table.clone(),
        alias: alias.clone(),
        with_tid: *with_tid,
        filter: and_all(inner_filter),
        access: access.clone(),
        needed_columns: None,
    });
    let Plan::IndexScan(ip) = &probe else {
        return None;
    };
    let outer_rows = estimate_rows(left);
    let nested = outer_rows * ip.est_cost;
    let (rows, pages) = table_size(table, access);
    let hash = pages * SEQ_PAGE + rows * (CPU_TUPLE + CPU_OPERATOR) + outer_rows * CPU_OPERATOR;
    if nested >= hash {
        return None;
    }
    // Join keys the index probe does not enforce stay in the join condition.
    let mut on: Vec<BoundExpr> = rest_kept;
    for (i, (l, r)) in lk.iter().zip(rk).enumerate() {
        if !used[i] {
            on.push(crate::planner::equi_cond(l, r, lw));
        }
    }
    Some(Plan::LateralJoin {
        left: Box::new(left.clone()),
        right: Box::new(probe),
        kind,
        on: and_all(on),
    })
}
