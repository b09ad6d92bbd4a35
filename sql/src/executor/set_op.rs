//! SetOpExecutor (UNION / INTERSECT / EXCEPT [ALL], by hashing whole rows)
//! and RecursiveUnionExecutor (WITH RECURSIVE: iterate the recursive term on
//! the rows the previous round produced until none are new).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{build, BoxedExecutor, ExecContext, Executor, HashKey, Row};
use crate::error::Result;
use crate::memory::WorkMemory;
use crate::planner::plan::{Plan, SetOpKind};

pub struct SetOpExecutor {
    left: BoxedExecutor,
    right: BoxedExecutor,
    op: SetOpKind,
    all: bool,
    out: Option<std::vec::IntoIter<Row>>,
    /// Both sides' rows and the sets built over them.
    memory: WorkMemory,
}

impl SetOpExecutor {
    pub fn new(left: BoxedExecutor, right: BoxedExecutor, op: SetOpKind, all: bool) -> Self {
        SetOpExecutor {
            left,
            right,
            op,
            all,
            out: None,
            memory: WorkMemory::default(),
        }
    }
}

/// All rows of `ex`, counted as query work memory if `memory` is given
/// (which fails the query with 53200 past `--memory-limit`: set operations
/// do not spill).
fn drain(
    ex: &mut BoxedExecutor,
    ctx: &mut ExecContext,
    mut memory: Option<&mut WorkMemory>,
) -> Result<Vec<Row>> {
    let mut v = vec![];
    while let Some(r) = ex.next(ctx)? {
        ctx.check_cancel()?;
        if let Some(m) = memory.as_deref_mut() {
            m.add_row(&r)?;
        }
        v.push(r);
    }
    Ok(v)
}

impl Executor for SetOpExecutor {
    fn next(&mut self, ctx: &mut ExecContext) -> Result<Option<Row>> {
        if self.op == SetOpKind::Union && self.all {
            // Streaming: left then right.
            if let Some(r) = self.left.next(ctx)? {
                return Ok(Some(r));
            }
            return self.right.next(ctx);
        }
        if self.out.is_none() {
            let l = drain(&mut self.left, ctx, Some(&mut self.memory))?;
            let r = drain(&mut self.right, ctx, Some(&mut self.memory))?;
            let mut out = vec![];
            // Without ALL each row comes out once: `seen` holds a copy of
            // each row that came out.
            let mut seen = HashSet::new();
            if self.op == SetOpKind::Union {
                for row in l.into_iter().chain(r) {
                    let k = HashKey(row.clone());
                    if !seen.contains(&k) {
                        self.memory.add_row(&row)?;
                        seen.insert(k);
                        out.push(row);
                    }
                }
            } else {
                // Right rows by value, with how many are left to match
                // (their bytes are counted by `drain`).
                let mut counts: HashMap<HashKey, usize> = HashMap::new();
                for row in r {
                    *counts.entry(HashKey(row)).or_default() += 1;
                }
                for row in l {
                    let k = HashKey(row.clone());
                    // With ALL, each right row matches one left row.
                    let in_right = match counts.get_mut(&k) {
                        Some(c) if *c > 0 => {
                            if self.all {
                                *c -= 1;
                            }
                            true
                        }
                        _ => false,
                    };
                    if in_right != (self.op == SetOpKind::Intersect) {
                        continue;
                    }
                    if !self.all {
                        if seen.contains(&k) {
                            continue;
                        }
                        self.memory.add_row(&k.0)?;
                        seen.insert(k);
                    }
                    out.push(row);
                }
            }
            self.out = Some(out.into_iter());
        }
        Ok(self.out.as_mut().and_then(|o| o.next()))
    }
}

pub struct RecursiveUnionExecutor {
    init: BoxedExecutor,
    recursive: Plan,
    all: bool,
    id: usize,
    out: Option<std::vec::IntoIter<Row>>,
    /// The rows produced and the set of those seen.
    memory: WorkMemory,
}

impl RecursiveUnionExecutor {
    pub fn new(init: BoxedExecutor, recursive: Plan, all: bool, id: usize) -> Self {
        RecursiveUnionExecutor {
            init,
            recursive,
            all,
            id,
            out: None,
            memory: WorkMemory::default(),
        }
    }
}

impl Executor for RecursiveUnionExecutor {
    fn next(&mut self, ctx: &mut ExecContext) -> Result<Option<Row>> {
        if self.out.is_none() {
            let mut seen = HashSet::new();
            let mut result = vec![];
            let mut work = vec![];
            // Counted: each new row's copies in the result and the seen
            // set (a round's work rows go when the next round starts).
            for r in drain(&mut self.init, ctx, None)? {
                if self.all || seen.insert(HashKey(r.clone())) {
                    self.memory.add_row(&r)?;
                    if !self.all {
                        self.memory.add_row(&r)?;
                    }
                    result.push(r.clone());
                    work.push(r);
                }
            }
            while !work.is_empty() {
                ctx.check_cancel()?;
                ctx.worktables
                    .insert(self.id, Arc::new(std::mem::take(&mut work)));
                let mut ex = build(&self.recursive)?;
                for r in drain(&mut ex, ctx, None)? {
                    if self.all || seen.insert(HashKey(r.clone())) {
                        self.memory.add_row(&r)?;
                        if !self.all {
                            self.memory.add_row(&r)?;
                        }
                        result.push(r.clone());
                        work.push(r);
                    }
                }
            }
            ctx.worktables.remove(&self.id);
            self.out = Some(result.into_iter());
        }
        Ok(self.out.as_mut().and_then(|o| o.next()))
    }
}
