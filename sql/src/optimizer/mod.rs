//! Logical rewrites, one rule per file. For now: predicate pushdown. Index
//! choice will be a rule here that turns a `Scan` with a sargable filter into
//! an index scan.

mod predicate_pushdown;

pub use predicate_pushdown::push_down_predicates;

use crate::planner::plan::Plan;

/// Apply every rule.
pub fn optimize(plan: Plan) -> Plan {
    push_down_predicates(plan)
}
