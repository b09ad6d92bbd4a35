//! NestedLoopJoinExecutor: materializes the right input once and joins every
//! left row against it; handles INNER, LEFT, RIGHT, FULL and CROSS joins with
//! an arbitrary condition.

use sargdb_catalog::Value;

use super::expr::eval_pred;
use super::{BoxedExecutor, ExecContext, Executor, Row};
use crate::binder::bound::BoundExpr;
use crate::error::Result;
use crate::planner::plan::{JoinKind, Plan};

pub struct NestedLoopJoinExecutor {
    left: BoxedExecutor,
    right: BoxedExecutor,
    kind: JoinKind,
    on: Option<BoundExpr>,
    right_width: usize,
    left_width: usize,
    right_rows: Option<Vec<Row>>,
    right_matched: Vec<bool>,
    current: Option<Row>,
    pos: usize,
    current_matched: bool,
    emitting_unmatched_right: Option<usize>,
}

impl NestedLoopJoinExecutor {
    pub fn new(
        left: BoxedExecutor,
        right: BoxedExecutor,
        kind: JoinKind,
        on: Option<BoundExpr>,
        right_width: usize,
        left_width: usize,
    ) -> Self {
        NestedLoopJoinExecutor {
            left,
            right,
            kind,
            on,
            right_width,
            left_width,
            right_rows: None,
            right_matched: vec![],
            current: None,
            pos: 0,
            current_matched: false,
            emitting_unmatched_right: None,
        }
    }
}

impl Executor for NestedLoopJoinExecutor {
    fn next(&mut self, ctx: &mut ExecContext) -> Result<Option<Row>> {
        if self.right_rows.is_none() {
            let mut rows = vec![];
            while let Some(r) = self.right.next(ctx)? {
                ctx.check_cancel()?;
                rows.push(r);
            }
            self.right_matched = vec![false; rows.len()];
            self.right_rows = Some(rows);
        }
        let rights = self.right_rows.take().unwrap_or_default();
        let r = self.step(ctx, &rights);
        self.right_rows = Some(rights);
        r
    }
}

impl NestedLoopJoinExecutor {
    fn step(&mut self, ctx: &mut ExecContext, rights: &[Row]) -> Result<Option<Row>> {
        loop {
            ctx.check_cancel()?;
            if let Some(i) = self.emitting_unmatched_right.as_mut() {
                while *i < rights.len() {
                    let k = *i;
                    *i += 1;
                    if !self.right_matched[k] {
                        let mut row = vec![Value::Null; self.left_width];
                        row.extend(rights[k].iter().cloned());
                        return Ok(Some(row));
                    }
                }
                return Ok(None);
            }
            if self.current.is_none() {
                match self.left.next(ctx)? {
                    Some(l) => {
                        self.current = Some(l);
                        self.pos = 0;
                        self.current_matched = false;
                    }
                    None => {
                        if matches!(self.kind, JoinKind::Right | JoinKind::Full) {
                            self.emitting_unmatched_right = Some(0);
                            continue;
                        }
                        return Ok(None);
                    }
                }
            }
            let left = self.current.clone().unwrap_or_default();
            while self.pos < rights.len() {
                let k = self.pos;
                self.pos += 1;
                let mut row = left.clone();
                row.extend(rights[k].iter().cloned());
                let ok = match &self.on {
                    Some(p) => eval_pred(p, &row, ctx)?,
                    None => true,
                };
                if ok {
                    self.current_matched = true;
                    self.right_matched[k] = true;
                    return Ok(Some(row));
                }
            }
            self.current = None;
            if !self.current_matched && matches!(self.kind, JoinKind::Left | JoinKind::Full) {
                let mut row = left;
                row.extend(std::iter::repeat_n(Value::Null, self.right_width));
                return Ok(Some(row));
            }
        }
    }
}

/// LATERAL / parameterized nested loop: for every left row the right plan
/// runs again, with the left row pushed as the innermost outer row (what
/// `BoundExpr::Outer` depth 1 reads). Only INNER, CROSS and LEFT kinds reach
/// here (the binder rejects RIGHT and FULL with a lateral reference).
pub struct LateralJoinExecutor {
    left: BoxedExecutor,
    right_plan: Box<Plan>,
    kind: JoinKind,
    on: Option<BoundExpr>,
    right_width: usize,
    /// The current left row and the right side running for it.
    current: Option<(Row, BoxedExecutor)>,
    current_matched: bool,
}

impl LateralJoinExecutor {
    pub fn new(
        left: BoxedExecutor,
        right_plan: Box<Plan>,
        kind: JoinKind,
        on: Option<BoundExpr>,
        right_width: usize,
    ) -> Self {
        LateralJoinExecutor {
            left,
            right_plan,
            kind,
            on,
            right_width,
            current: None,
            current_matched: false,
        }
    }
}

impl Executor for LateralJoinExecutor {
    fn next(&mut self, ctx: &mut ExecContext) -> Result<Option<Row>> {
        loop {
            ctx.check_cancel()?;
            if self.current.is_none() {
                let Some(l) = self.left.next(ctx)? else {
                    return Ok(None);
                };
                self.current = Some((l, super::build(&self.right_plan)?));
                self.current_matched = false;
            }
            let Some((left, right)) = self.current.as_mut() else {
                continue;
            };
            // The left row is the right side's outer row while it runs.
            ctx.outer.push(std::mem::take(left));
            let r = right.next(ctx);
            *left = ctx.outer.pop().unwrap_or_default();
            match r? {
                Some(rrow) => {
                    let mut row = left.clone();
                    row.extend(rrow);
                    let ok = match &self.on {
                        Some(p) => eval_pred(p, &row, ctx)?,
                        None => true,
                    };
                    if ok {
                        self.current_matched = true;
                        return Ok(Some(row));
                    }
                }
                None => {
                    let left = self.current.take().map(|(l, _)| l).unwrap_or_default();
                    if !self.current_matched && self.kind == JoinKind::Left {
                        let mut row = left;
                        row.extend(std::iter::repeat_n(Value::Null, self.right_width));
                        return Ok(Some(row));
                    }
                }
            }
        }
    }
}
