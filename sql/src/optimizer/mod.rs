//! Rewrites, one rule per file: predicate pushdown, then access-path choice
//! (sequential, index or bitmap scan by cost).

pub mod access_path;
pub mod index_join;
mod predicate_pushdown;

pub use access_path::choose_access_paths;
pub use predicate_pushdown::push_down_predicates;

use crate::planner::plan::Plan;

/// Apply every rule.
pub fn optimize(plan: Plan) -> Plan {
    choose_access_paths(push_down_predicates(plan))
}
