//! HashJoinExecutor: builds a hash table on the right input's join keys and
//! probes it with each left row; NULL keys never match. Supports INNER, LEFT,
//! RIGHT and FULL joins plus a residual condition.

use std::collections::HashMap;

use sargdb_catalog::Value;

use super::expr::{eval, eval_pred};
use super::{BoxedExecutor, ExecContext, Executor, HashKey, Row};
use crate::binder::bound::BoundExpr;
use crate::error::Result;
use crate::planner::plan::JoinKind;

pub struct HashJoinExecutor {
    left: BoxedExecutor,
    right: BoxedExecutor,
    kind: JoinKind,
    left_keys: Vec<BoundExpr>,
    right_keys: Vec<BoundExpr>,
    residual: Option<BoundExpr>,
    left_width: usize,
    right_width: usize,
    built: bool,
    rights: Vec<Row>,
    table: HashMap<HashKey, Vec<usize>>,
    matched: Vec<bool>,
    pending: std::vec::IntoIter<Row>,
    unmatched_pos: Option<usize>,
    /// The build side's rows and keys, as query work memory.
    memory: crate::memory::WorkMemory,
}

impl HashJoinExecutor {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        left: BoxedExecutor,
        right: BoxedExecutor,
        kind: JoinKind,
        left_keys: Vec<BoundExpr>,
        right_keys: Vec<BoundExpr>,
        residual: Option<BoundExpr>,
        left_width: usize,
        right_width: usize,
    ) -> Self {
        HashJoinExecutor {
            left,
            right,
            kind,
            left_keys,
            right_keys,
            residual,
            left_width,
            right_width,
            built: false,
            rights: vec![],
            table: HashMap::new(),
            matched: vec![],
            pending: Vec::new().into_iter(),
            unmatched_pos: None,
            memory: Default::default(),
        }
    }
}

impl Executor for HashJoinExecutor {
    fn next(&mut self, ctx: &mut ExecContext) -> Result<Option<Row>> {
        if !self.built {
            self.built = true;
            while let Some(r) = self.right.next(ctx)? {
                ctx.check_cancel()?;
                let mut k = vec![];
                for e in &self.right_keys {
                    k.push(eval(e, &r, ctx)?);
                }
                let idx = self.rights.len();
                self.memory.add_row(&r)?;
                self.memory.add_row(&k)?;
                self.rights.push(r);
                if !k.iter().any(|v| v.is_null()) {
                    self.table.entry(HashKey(k)).or_default().push(idx);
                }
            }
            self.matched = vec![false; self.rights.len()];
        }
        loop {
            if let Some(r) = self.pending.next() {
                return Ok(Some(r));
            }
            ctx.check_cancel()?;
            if let Some(i) = self.unmatched_pos.as_mut() {
                while *i < self.rights.len() {
                    let k = *i;
                    *i += 1;
                    if !self.matched[k] {
                        let mut row = vec![Value::Null; self.left_width];
                        row.extend(self.rights[k].iter().cloned());
                        return Ok(Some(row));
                    }
                }
                return Ok(None);
            }
            let Some(l) = self.left.next(ctx)? else {
                if matches!(self.kind, JoinKind::Right | JoinKind::Full) {
                    self.unmatched_pos = Some(0);
                    continue;
                }
                return Ok(None);
            };
            let mut k = vec![];
            for e in &self.left_keys {
                k.push(eval(e, &l, ctx)?);
            }
            let mut out = vec![];
            if !k.iter().any(|v| v.is_null()) {
                if let Some(idxs) = self.table.get(&HashKey(k)).cloned() {
                    for i in idxs {
                        let mut row = l.clone();
                        row.extend(self.rights[i].iter().cloned());
                        let ok = match &self.residual {
                            Some(p) => eval_pred(p, &row, ctx)?,
                            None => true,
                        };
                        if ok {
                            self.matched[i] = true;
                            out.push(row);
                        }
                    }
                }
            }
            if out.is_empty() && matches!(self.kind, JoinKind::Left | JoinKind::Full) {
                let mut row = l;
                row.extend(std::iter::repeat_n(Value::Null, self.right_width));
                out.push(row);
            }
            self.pending = out.into_iter();
        }
    }
}
