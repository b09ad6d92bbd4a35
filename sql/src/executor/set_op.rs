//! SetOpExecutor (UNION / INTERSECT / EXCEPT [ALL], by hashing whole rows)
//! and RecursiveUnionExecutor (WITH RECURSIVE: iterate the recursive term on
//! the rows the previous round produced until none are new).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{build, BoxedExecutor, ExecContext, Executor, HashKey, Row};
use crate::error::Result;
use crate::planner::plan::{Plan, SetOpKind};

pub struct SetOpExecutor {
    left: BoxedExecutor,
    right: BoxedExecutor,
    op: SetOpKind,
    all: bool,
    out: Option<std::vec::IntoIter<Row>>,
}

impl SetOpExecutor {
    pub fn new(left: BoxedExecutor, right: BoxedExecutor, op: SetOpKind, all: bool) -> Self {
        SetOpExecutor {
            left,
            right,
            op,
            all,
            out: None,
        }
    }
}

fn drain(ex: &mut BoxedExecutor, ctx: &mut ExecContext) -> Result<Vec<Row>> {
    let mut v = vec![];
    while let Some(r) = ex.next(ctx)? {
        ctx.check_cancel()?;
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
            let l = drain(&mut self.left, ctx)?;
            let r = drain(&mut self.right, ctx)?;
            let mut out = vec![];
            match self.op {
                SetOpKind::Union => {
                    let mut seen = HashSet::new();
                    for row in l.into_iter().chain(r) {
                        if seen.insert(HashKey(row.clone())) {
                            out.push(row);
                        }
                    }
                }
                SetOpKind::Intersect | SetOpKind::Except => {
                    let mut counts: HashMap<HashKey, usize> = HashMap::new();
                    for row in r {
                        *counts.entry(HashKey(row)).or_default() += 1;
                    }
                    let mut emitted = HashSet::new();
                    for row in l {
                        let k = HashKey(row.clone());
                        let c = counts.get(&k).copied().unwrap_or(0);
                        let keep = match (self.op, self.all) {
                            (SetOpKind::Intersect, true) => {
                                if c > 0 {
                                    counts.insert(k, c - 1);
                                    true
                                } else {
                                    false
                                }
                            }
                            (SetOpKind::Intersect, false) => c > 0 && emitted.insert(k),
                            (_, true) => {
                                if c > 0 {
                                    counts.insert(k, c - 1);
                                    false
                                } else {
                                    true
                                }
                            }
                            (_, false) => c == 0 && emitted.insert(k),
                        };
                        if keep {
                            out.push(row);
                        }
                    }
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
}

impl RecursiveUnionExecutor {
    pub fn new(init: BoxedExecutor, recursive: Plan, all: bool, id: usize) -> Self {
        RecursiveUnionExecutor {
            init,
            recursive,
            all,
            id,
            out: None,
        }
    }
}

impl Executor for RecursiveUnionExecutor {
    fn next(&mut self, ctx: &mut ExecContext) -> Result<Option<Row>> {
        if self.out.is_none() {
            let mut seen = HashSet::new();
            let mut result = vec![];
            let mut work = vec![];
            for r in drain(&mut self.init, ctx)? {
                if self.all || seen.insert(HashKey(r.clone())) {
                    result.push(r.clone());
                    work.push(r);
                }
            }
            while !work.is_empty() {
                ctx.check_cancel()?;
                ctx.worktables
                    .insert(self.id, Arc::new(std::mem::take(&mut work)));
                let mut ex = build(&self.recursive)?;
                for r in drain(&mut ex, ctx)? {
                    if self.all || seen.insert(HashKey(r.clone())) {
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
