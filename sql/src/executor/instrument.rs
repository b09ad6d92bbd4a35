//! EXPLAIN ANALYZE: per-plan-node counters collected while a statement runs.
//!
//! While instrumentation is on (for this thread), `build` wraps every
//! operator in an `Instrumented` that counts loops (how many times the node
//! was started), rows, time to the first row and in total, and buffer-pool
//! hits and reads, all inclusive of the node's children as in Postgres.
//! Nodes are identified by their plan node's address; a plan copied for
//! re-execution (a lateral join's inner side) has its copy's addresses
//! aliased to the original's.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Instant;

use super::{BoxedExecutor, ExecContext, Executor, OpCounts, Row, SortInfo};
use crate::error::Result;
use crate::planner::plan::Plan;

/// What one plan node did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NodeStats {
    pub loops: u64,
    pub rows: u64,
    /// Summed over loops: time until the first row of each loop.
    pub startup_ns: u64,
    pub total_ns: u64,
    pub hits: u64,
    pub reads: u64,
    /// The operator's own counters (rows removed, heap fetches), summed
    /// over loops.
    pub ops: OpCounts,
    /// A Sort's method and memory (its last loop's).
    pub sort: Option<SortInfo>,
}

#[derive(Default)]
struct State {
    stats: HashMap<usize, NodeStats>,
    aliases: HashMap<usize, usize>,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// Start collecting on this thread.
pub fn begin() {
    STATE.with(|s| *s.borrow_mut() = Some(State::default()));
}

/// Stop collecting; the counters by plan node address.
pub fn end() -> HashMap<usize, NodeStats> {
    STATE.with(|s| s.borrow_mut().take().map(|st| st.stats).unwrap_or_default())
}

pub fn active() -> bool {
    STATE.with(|s| s.borrow().is_some())
}

/// The key of a plan node (its address, or the original's for a copy).
pub fn key_of(plan: &Plan) -> usize {
    let addr = plan as *const Plan as usize;
    STATE.with(|s| {
        s.borrow()
            .as_ref()
            .and_then(|st| st.aliases.get(&addr).copied())
            .unwrap_or(addr)
    })
}

/// Record that `copy` (a clone of `original`) stands for it.
pub fn alias(original: &Plan, copy: &Plan) {
    if !active() {
        return;
    }
    let target = key_of(original);
    STATE.with(|s| {
        if let Some(st) = s.borrow_mut().as_mut() {
            st.aliases.insert(copy as *const Plan as usize, target);
        }
    });
    for (o, c) in original.children().into_iter().zip(copy.children()) {
        alias(o, c);
    }
}

fn update(key: usize, f: impl FnOnce(&mut NodeStats)) {
    STATE.with(|s| {
        if let Some(st) = s.borrow_mut().as_mut() {
            f(st.stats.entry(key).or_default());
        }
    });
}

/// An operator with its counters.
pub struct Instrumented {
    inner: BoxedExecutor,
    key: usize,
    started: bool,
    first_row: bool,
    /// Time spent in this node so far in this loop.
    elapsed_ns: u64,
    /// The operator's own counters when last read.
    ops_seen: OpCounts,
}

impl Instrumented {
    pub fn wrap(inner: BoxedExecutor, plan: &Plan) -> BoxedExecutor {
        Box::new(Instrumented {
            inner,
            key: key_of(plan),
            started: false,
            first_row: false,
            elapsed_ns: 0,
            ops_seen: OpCounts::default(),
        })
    }
}

impl Executor for Instrumented {
    fn next(&mut self, ctx: &mut ExecContext) -> Result<Option<Row>> {
        let (h0, r0) = sargdb_engine::buffer::thread_counters();
        let t0 = Instant::now();
        let r = self.inner.next(ctx);
        let dt = t0.elapsed().as_nanos() as u64;
        let (h1, r1) = sargdb_engine::buffer::thread_counters();
        self.elapsed_ns += dt;
        let first = !self.first_row && matches!(r, Ok(Some(_)));
        if first {
            self.first_row = true;
        }
        let start = !self.started;
        self.started = true;
        let elapsed = self.elapsed_ns;
        let produced = matches!(r, Ok(Some(_)));
        let ops = self.inner.counts();
        let ops_now = ops.saturating_sub(self.ops_seen);
        self.ops_seen = ops;
        let sort = self.inner.sort_info();
        update(self.key, |s| {
            s.ops.add(ops_now);
            if sort.is_some() {
                s.sort = sort;
            }
            if start {
                s.loops += 1;
            }
            if first {
                s.startup_ns += elapsed;
            }
            if produced {
                s.rows += 1;
            }
            s.total_ns += dt;
            s.hits += h1 - h0;
            s.reads += r1 - r0;
        });
        r
    }
}
