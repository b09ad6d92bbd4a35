//! min()/max() through an index: `SELECT min(a), max(a) FROM t WHERE ...`
//! with no GROUP BY, where an ordered index leads with `a`, becomes one
//! single-row aggregate per call over `... WHERE a IS NOT NULL ORDER BY a
//! [DESC] LIMIT 1` (Postgres's rewrite, which it shows as InitPlans), joined
//! into one row. Access-path choice then reads the first (or last) index
//! entry instead of the whole table. The aggregate still runs over that one
//! row, so an empty table or filter gives NULL as before.

use sargdb_catalog::{DataType, Value};

use crate::binder::bound::{and_all, conjuncts, AggCall, AggFunc, BoundExpr};
use crate::binder::index::TableAccess;
use crate::planner::plan::{JoinKind, Plan, SortKey};

use super::access_path::capabilities_of;

/// Apply the rewrite wherever it fits.
pub fn rewrite_min_max(p: Plan) -> Plan {
    match p {
        Plan::Aggregate {
            input,
            groups,
            aggs,
        } if groups.is_empty() => match *input {
            Plan::Scan {
                table,
                alias,
                with_tid,
                filter,
                access,
                ..
            } if !with_tid && aggs.iter().all(|a| served(a, &access)) => {
                let per_agg: Vec<Plan> = aggs
                    .into_iter()
                    .map(|a| {
                        let col = a.args[0].clone();
                        let mut conj = vec![];
                        if let Some(f) = &filter {
                            conjuncts(f.clone(), &mut conj);
                        }
                        conj.push(BoundExpr::IsNull(Box::new(col.clone()), true));
                        let ty = col.ty();
                        let first = Plan::Limit {
                            input: Box::new(Plan::Sort {
                                input: Box::new(Plan::Project {
                                    input: Box::new(Plan::Scan {
                                        table: table.clone(),
                                        alias: alias.clone(),
                                        with_tid: false,
                                        filter: and_all(conj),
                                        access: access.clone(),
                                        needed_columns: None,
                                    }),
                                    exprs: vec![col],
                                }),
                                keys: vec![SortKey {
                                    expr: BoundExpr::Column(0, ty.clone()),
                                    desc: a.func == AggFunc::Max,
                                    nulls_first: a.func == AggFunc::Max,
                                }],
                            }),
                            limit: Some(BoundExpr::Literal(Value::Int8(1), DataType::Int8)),
                            offset: None,
                        };
                        Plan::Aggregate {
                            input: Box::new(first),
                            groups: vec![],
                            aggs: vec![AggCall {
                                args: vec![BoundExpr::Column(0, ty)],
                                ..a
                            }],
                        }
                    })
                    .collect();
                let mut it = per_agg.into_iter();
                let first = it.next().unwrap_or(Plan::OneRow);
                it.fold(first, |acc, p| Plan::NestedLoopJoin {
                    left: Box::new(acc),
                    right: Box::new(p),
                    kind: JoinKind::Cross,
                    on: None,
                })
            }
            other => Plan::Aggregate {
                input: Box::new(rewrite_min_max(other)),
                groups,
                aggs,
            },
        },
        other => other.map_children(&mut rewrite_min_max),
    }
}

/// A plain min/max of a column that an ordered, complete (not partial)
/// index has as its first key column.
fn served(a: &AggCall, access: &TableAccess) -> bool {
    if !matches!(a.func, AggFunc::Min | AggFunc::Max)
        || a.distinct
        || a.filter.is_some()
        || !a.order_by.is_empty()
        || a.args.len() != 1
    {
        return false;
    }
    let BoundExpr::Column(c, _) = a.args[0] else {
        return false;
    };
    access.indexes.iter().any(|ix| {
        ix.def.valid
            && ix.predicate.is_none()
            && ix.key_column(0) == Some(c)
            && capabilities_of(&ix.def.method).is_some_and(|cap| cap.ordered)
    })
}
