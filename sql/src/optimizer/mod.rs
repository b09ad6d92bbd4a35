//! Rewrites, one rule per file: predicate pushdown, min()/max() through an
//! index, index nested-loop joins, then access-path choice (sequential,
//! index or bitmap scan by cost) for the remaining scans; column pruning
//! runs on the physical plan, after the join algorithms are chosen.

pub mod access_path;
mod column_pruning;
pub mod index_join;
mod minmax;
mod predicate_pushdown;

pub use access_path::choose_access_paths;
pub use column_pruning::prune_columns;
pub use predicate_pushdown::push_down_predicates;

use crate::planner::plan::Plan;

/// Apply every rule.
pub fn optimize(plan: Plan) -> Plan {
    let plan = minmax::rewrite_min_max(push_down_predicates(plan));
    choose_access_paths(index_join::choose_index_joins(plan))
}
