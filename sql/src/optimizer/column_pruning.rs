//! Column pruning: work out, from the root down, which columns of each
//! table scan the rest of the plan reads, and record that on the scan
//! (`needed_columns`), so the executor decodes only those from each tuple
//! and leaves the others NULL. `count(*)` over a wide table then decodes
//! nothing, and a filter on one integer column never copies a text column.
//!
//! The rule is conservative: a node it does not understand, an expression
//! holding a subquery (whose outer references it cannot follow), and the
//! left side of a LATERAL join (read whole by the right side) keep every
//! column. It runs last, on the physical plan, and changes no row a query
//! returns: a pruned column is one nothing above the scan reads.

use crate::binder::bound::BoundExpr;
use crate::executor::width;
use crate::planner::plan::{KeyCond, Plan};

/// Record on every scan of `plan` the columns its output is read for.
pub fn prune_columns(mut plan: Plan) -> Plan {
    let w = width(&plan).unwrap_or(0);
    prune(&mut plan, vec![true; w]);
    plan
}

/// Mark in `mask` (offset by `shift`, which columns below it are dropped)
/// the columns `e` reads; an expression with a subquery marks them all.
fn mark(e: &BoundExpr, mask: &mut [bool], shift: usize) {
    let mut all = false;
    e.walk(&mut |x| match x {
        BoundExpr::Column(i, _) => {
            if let Some(m) = i.checked_sub(shift).and_then(|i| mask.get_mut(i)) {
                *m = true;
            }
        }
        BoundExpr::Subquery(_) => all = true,
        _ => {}
    });
    if all {
        mask.iter_mut().for_each(|m| *m = true);
    }
}

fn mark_all<'a>(es: impl IntoIterator<Item = &'a BoundExpr>, mask: &mut [bool], shift: usize) {
    for e in es {
        mark(e, mask, shift);
    }
}

/// Mark the columns of a join's condition (over the joined row) in the
/// masks of the two sides.
fn mark_joined(e: &BoundExpr, left: &mut [bool], right: &mut [bool]) {
    let lw = left.len();
    mark(e, left, 0);
    mark(e, right, lw);
    if left.iter().all(|&m| m) && contains_subquery(e) {
        right.iter_mut().for_each(|m| *m = true);
    }
}

fn contains_subquery(e: &BoundExpr) -> bool {
    let mut found = false;
    e.walk(&mut |x| found |= matches!(x, BoundExpr::Subquery(_)));
    found
}

/// A join's output mask cut into its two inputs' masks (a column past the
/// end of `needed` counts as needed).
fn split_sides(needed: &[bool], left: &Plan, right: &Plan) -> (Vec<bool>, Vec<bool>) {
    let lw = width(left).unwrap_or(0);
    let mut lm = needed[..lw.min(needed.len())].to_vec();
    lm.resize(lw, true);
    let mut rm = needed.get(lw..).unwrap_or(&[]).to_vec();
    rm.resize(width(right).unwrap_or(0), true);
    (lm, rm)
}

fn prune(plan: &mut Plan, needed: Vec<bool>) {
    let all = |p: &Plan| vec![true; width(p).unwrap_or(0)];
    match plan {
        Plan::Scan {
            table,
            filter,
            needed_columns,
            ..
        } => {
            let mut mask: Vec<bool> = needed.into_iter().take(table.columns.len()).collect();
            mask.resize(table.columns.len(), true);
            if let Some(f) = filter {
                mark(f, &mut mask, 0);
            }
            *needed_columns = (!mask.iter().all(|&m| m)).then_some(mask);
        }
        Plan::IndexScan(ip) => {
            let ncols = ip.table.columns.len();
            let mut mask: Vec<bool> = needed.into_iter().take(ncols).collect();
            mask.resize(ncols, true);
            // What the scan tests on each row: the filter without the
            // conditions the index answers exactly (the executor decodes
            // every column when it falls back to the whole filter). Key
            // values come from outside the row, but mark what they name.
            mark_all(ip.recheck.iter(), &mut mask, 0);
            mark_all(ip.eq.iter(), &mut mask, 0);
            match &ip.next {
                Some(KeyCond::Range { lower, upper }) => mark_all(
                    lower.iter().chain(upper.iter()).map(|(e, _)| e),
                    &mut mask,
                    0,
                ),
                Some(KeyCond::In(list)) => mark_all(list.iter(), &mut mask, 0),
                Some(KeyCond::Prefix(e)) => mark(e, &mut mask, 0),
                None => {}
            }
            std::sync::Arc::make_mut(ip).needed_columns =
                (!mask.iter().all(|&m| m)).then_some(mask);
        }
        Plan::Filter { input, predicate } => {
            let mut mask = needed;
            mark(predicate, &mut mask, 0);
            prune(input, mask);
        }
        Plan::Project { input, exprs } => {
            let mut mask = vec![false; width(input).unwrap_or(0)];
            mark_all(exprs.iter(), &mut mask, 0);
            prune(input, mask);
        }
        Plan::Aggregate {
            input,
            groups,
            aggs,
        } => {
            let mut mask = vec![false; width(input).unwrap_or(0)];
            mark_all(groups.iter(), &mut mask, 0);
            for a in aggs.iter() {
                mark_all(a.args.iter(), &mut mask, 0);
                mark_all(a.filter.iter(), &mut mask, 0);
                mark_all(a.order_by.iter().map(|k| &k.expr), &mut mask, 0);
            }
            prune(input, mask);
        }
        Plan::Sort { input, keys } => {
            let mut mask = needed;
            mark_all(keys.iter().map(|k| &k.expr), &mut mask, 0);
            prune(input, mask);
        }
        Plan::Limit {
            input,
            limit,
            offset,
        } => {
            let mut mask = needed;
            mark_all(limit.iter().chain(offset.iter()), &mut mask, 0);
            prune(input, mask);
        }
        Plan::Distinct {
            input,
            on: Some(keys),
        } => {
            let mut mask = needed;
            mark_all(keys.iter(), &mut mask, 0);
            prune(input, mask);
        }
        Plan::HashJoin {
            left,
            right,
            left_keys,
            right_keys,
            residual,
            ..
        } => {
            let (mut lm, mut rm) = split_sides(&needed, left, right);
            mark_all(left_keys.iter(), &mut lm, 0);
            mark_all(right_keys.iter(), &mut rm, 0);
            if let Some(r) = residual {
                mark_joined(r, &mut lm, &mut rm);
            }
            prune(left, lm);
            prune(right, rm);
        }
        Plan::NestedLoopJoin {
            left, right, on, ..
        }
        | Plan::Join {
            left, right, on, ..
        } => {
            let (mut lm, mut rm) = split_sides(&needed, left, right);
            if let Some(on) = on {
                mark_joined(on, &mut lm, &mut rm);
            }
            prune(left, lm);
            prune(right, rm);
        }
        Plan::LateralJoin {
            left, right, on, ..
        } => {
            let lw = width(left).unwrap_or(0);
            let (_, mut rm) = split_sides(&needed, left, right);
            if let Some(on) = on {
                mark(on, &mut rm, lw);
                if contains_subquery(on) {
                    rm.iter_mut().for_each(|m| *m = true);
                }
            }
            let la = all(left);
            prune(left, la);
            prune(right, rm);
        }
        // Everything else reads its inputs whole.
        other => {
            for c in other.children_mut() {
                let a = all(c);
                prune(c, a);
            }
        }
    }
}
