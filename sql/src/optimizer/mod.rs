//! Rewrites, one rule per file: predicate pushdown, min()/max() through an
//! index, then access-path choice (sequential, index or bitmap scan by
//! cost). Index nested-loop joins are chosen with the join method
//! (`index_join`, called by the planner).

pub mod access_path;
pub mod index_join;
mod minmax;
mod predicate_pushdown;

pub use access_path::choose_access_paths;
pub use predicate_pushdown::push_down_predicates;

use crate::planner::plan::Plan;

/// Apply every rule.
pub fn optimize(plan: Plan) -> Plan {
    choose_access_paths(minmax::rewrite_min_max(push_down_predicates(plan)))
}
