//! Predicate pushdown: a Filter's conjuncts move into the Scan below it, or
//! to the side of an inner/cross join whose columns they read, or become the
//! join condition; for a LEFT join, WHERE conditions on the left side and ON
//! conditions on the right side move down; for an inner LATERAL join, WHERE
//! conditions on the left side. Volatile predicates and
//! correlated subqueries stay put.

use crate::binder::bound::{and_all, conjuncts, BoundExpr};
use crate::executor::width;
use crate::planner::join_side;
use crate::planner::plan::{JoinKind, Plan};

fn filter(input: Plan, preds: Vec<BoundExpr>) -> Plan {
    match and_all(preds) {
        Some(p) => Plan::Filter {
            input: Box::new(input),
            predicate: p,
        },
        None => input,
    }
}

fn push(plan: Plan, preds: Vec<BoundExpr>) -> Plan {
    match plan {
        Plan::Scan {
            table,
            alias,
            with_tid,
            filter: f,
            access,
            ..
        } => {
            let mut all = vec![];
            if let Some(f) = f {
                conjuncts(f, &mut all);
            }
            all.extend(preds);
            Plan::Scan {
                table,
                alias,
                with_tid,
                filter: and_all(all),
                access,
                needed_columns: None,
            }
        }
        Plan::Filter { input, predicate } => {
            let mut all = vec![];
            conjuncts(predicate, &mut all);
            all.extend(preds);
            push(*input, all)
        }
        Plan::Join {
            left,
            right,
            kind,
            on,
        } if matches!(kind, JoinKind::Inner | JoinKind::Cross) => {
            let lw = width(&left).unwrap_or(usize::MAX);
            let mut lp = vec![];
            let mut rp = vec![];
            let mut keep = vec![];
            let mut all = preds;
            if let Some(o) = on {
                conjuncts(o, &mut all);
            }
            for p in all {
                match join_side(&p, lw) {
                    Some(true) => lp.push(p),
                    Some(false) => rp.push(p.map_columns(&|c| c - lw)),
                    None => keep.push(p),
                }
            }
            let left = push(*left, lp);
            let right = push(*right, rp);
            let kind = if keep.is_empty() {
                kind
            } else {
                JoinKind::Inner
            };
            Plan::Join {
                left: Box::new(left),
                right: Box::new(right),
                kind,
                on: and_all(keep),
            }
        }
        Plan::Join {
            left,
            right,
            kind: JoinKind::Left,
            on,
        } => {
            // WHERE conditions on the preserved (left) side filter its rows
            // before the join; ON conditions on the nullable (right) side
            // filter the rows it offers. Everything else stays where it is.
            let lw = width(&left).unwrap_or(usize::MAX);
            let side = |p: &BoundExpr| join_side(p, lw);
            let (lp, above): (Vec<_>, Vec<_>) =
                preds.into_iter().partition(|p| side(p) == Some(true));
            let mut rp = vec![];
            let mut keep_on = vec![];
            if let Some(o) = on {
                let mut parts = vec![];
                conjuncts(o, &mut parts);
                for c in parts {
                    if side(&c) == Some(false) {
                        rp.push(c.map_columns(&|i| i - lw));
                    } else {
                        keep_on.push(c);
                    }
                }
            }
            let join = Plan::Join {
                left: Box::new(push(*left, lp)),
                right: Box::new(push(*right, rp)),
                kind: JoinKind::Left,
                on: and_all(keep_on),
            };
            filter(join, above)
        }
        Plan::LateralJoin {
            left,
            right,
            kind,
            on,
        } if matches!(kind, JoinKind::Inner | JoinKind::Cross) => {
            // WHERE conditions on the left side filter its rows before the
            // right side runs for each of them (so a FROM function such as
            // pgstatindex(c.oid) sees only the rows Postgres would give it).
            let lw = width(&left).unwrap_or(usize::MAX);
            let (lp, above): (Vec<_>, Vec<_>) = preds
                .into_iter()
                .partition(|p| join_side(p, lw) == Some(true));
            let join = Plan::LateralJoin {
                left: Box::new(push(*left, lp)),
                right: Box::new(push_down_predicates(*right)),
                kind,
                on,
            };
            filter(join, above)
        }
        other => filter(rewrite_children(other), preds),
    }
}

fn rewrite_children(plan: Plan) -> Plan {
    plan.map_children(&mut push_down_predicates)
}

pub fn push_down_predicates(plan: Plan) -> Plan {
    match plan {
        Plan::Filter { input, predicate } => {
            let mut preds = vec![];
            conjuncts(predicate, &mut preds);
            push(*input, preds)
        }
        Plan::Join { .. } => push(plan, vec![]),
        other => rewrite_children(other),
    }
}
