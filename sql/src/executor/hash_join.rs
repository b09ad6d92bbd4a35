//! HashJoinExecutor: builds a hash table on the right input's join keys and
//! probes it with each left row; NULL keys never match. Supports INNER, LEFT,
//! RIGHT and FULL joins plus a residual condition.
//!
//! When the build side does not fit in query work memory (`--memory-limit`),
//! both sides are split by the hash of their join key into 64 pairs of
//! partition files (`spill`), and the pairs are joined one at a time, each
//! with a table of its own build rows (and split again if that overflows
//! too). Rows with equal keys land in the same pair, so each pair joins
//! exactly as the whole would (NULL keys match nothing wherever they are);
//! the output then comes pair by pair.

use std::collections::HashMap;

use sargdb_catalog::Value;

use super::expr::{eval, eval_pred};
use super::spill::{Partitions, SpillReader, MAX_LEVEL};
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
    /// Partition pairs still to join, when the build side spilled.
    pairs: Vec<Pair>,
    /// The probe side of the pair being joined (None: the left input).
    probe_file: Option<SpillReader>,
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
            pairs: vec![],
            probe_file: None,
        }
    }
}

/// Partitions both sides are split into when the build side does not fit
/// in query work memory: a build side of up to about 64 times the limit
/// fits after one split (each row is then written and read once).
const PARTITIONS: usize = 64;

/// Where the rows of one side come from: its input, or a partition file.
enum Side<'a> {
    Input(&'a mut BoxedExecutor),
    File(&'a mut SpillReader),
}

impl Side<'_> {
    fn next(&mut self, ctx: &mut ExecContext) -> Result<Option<Row>> {
        match self {
            Side::Input(e) => e.next(ctx),
            Side::File(f) => f.next(),
        }
    }
}

/// One pair of partitions still to join: build side, probe side, level.
struct Pair {
    right: SpillReader,
    left: SpillReader,
    level: u32,
}

/// A row's join key.
fn eval_key(exprs: &[BoundExpr], row: &Row, ctx: &mut ExecContext) -> Result<Vec<Value>> {
    let mut k = Vec::with_capacity(exprs.len());
    for e in exprs {
        k.push(eval(e, row, ctx)?);
    }
    Ok(k)
}

impl HashJoinExecutor {
    /// Loads the build side from `right` into the hash table. If it does
    /// not fit in query work memory, the rows loaded so far, the rest of
    /// `right` and all of `left` are split into partition files by key
    /// (pushed onto `self.pairs`), the table is emptied and false returned.
    fn build(
        &mut self,
        ctx: &mut ExecContext,
        mut right: Side,
        left: Side,
        level: u32,
    ) -> Result<bool> {
        self.rights.clear();
        self.table.clear();
        self.matched.clear();
        self.memory.release_all();
        while let Some(r) = right.next(ctx)? {
            ctx.check_cancel()?;
            let k = eval_key(&self.right_keys, &r, ctx)?;
            let need = crate::memory::row_bytes(&r) + crate::memory::row_bytes(&k);
            if let Err(full) = self.memory.add(need) {
                if self.rights.is_empty() || level >= MAX_LEVEL {
                    return Err(full);
                }
                self.split(ctx, r, right, left, level)?;
                return Ok(false);
            }
            let idx = self.rights.len();
            self.rights.push(r);
            if !k.iter().any(|v| v.is_null()) {
                self.table.entry(HashKey(k)).or_default().push(idx);
            }
        }
        self.matched = vec![false; self.rights.len()];
        Ok(true)
    }

    /// The build side overflowed at row `first`: write both sides to
    /// partition files and queue the pairs.
    fn split(
        &mut self,
        ctx: &mut ExecContext,
        first: Row,
        mut right: Side,
        mut left: Side,
        level: u32,
    ) -> Result<()> {
        let right_keys = self.right_keys.clone();
        let left_keys = self.left_keys.clone();
        let mut rparts = Partitions::create(ctx, PARTITIONS, level)?;
        let mut lparts = Partitions::create(ctx, PARTITIONS, level)?;
        let held = std::mem::take(&mut self.rights);
        self.table.clear();
        for r in held.into_iter().chain(std::iter::once(first)) {
            rparts.write(&HashKey(eval_key(&right_keys, &r, ctx)?), &r)?;
        }
        self.memory.release_all();
        while let Some(r) = right.next(ctx)? {
            ctx.check_cancel()?;
            rparts.write(&HashKey(eval_key(&right_keys, &r, ctx)?), &r)?;
        }
        while let Some(l) = left.next(ctx)? {
            ctx.check_cancel()?;
            lparts.write(&HashKey(eval_key(&left_keys, &l, ctx)?), &l)?;
        }
        // A pair matters if it can produce a row: both sides for an inner
        // join, the outer side alone for an outer one. (NULL keys match
        // nothing; they only ever come out unmatched, whichever pair holds
        // them.)
        let keep_left = matches!(self.kind, JoinKind::Left | JoinKind::Full);
        let keep_right = matches!(self.kind, JoinKind::Right | JoinKind::Full);
        for (right, left) in rparts.finish()?.into_iter().zip(lparts.finish()?) {
            let (has_r, has_l) = (!right.is_empty(), !left.is_empty());
            if (has_r && has_l) || (has_l && keep_left) || (has_r && keep_right) {
                self.pairs.push(Pair {
                    right,
                    left,
                    level: level + 1,
                });
            }
        }
        Ok(())
    }

    /// Makes the next queued pair the one being joined: builds its table
    /// (splitting it further if it overflows too). False when none is left.
    fn next_pair(&mut self, ctx: &mut ExecContext) -> Result<bool> {
        while let Some(mut pair) = self.pairs.pop() {
            if self.build(
                ctx,
                Side::File(&mut pair.right),
                Side::File(&mut pair.left),
                pair.level,
            )? {
                self.probe_file = Some(pair.left);
                self.unmatched_pos = None;
                return Ok(true);
            }
        }
        Ok(false)
    }
}

impl Executor for HashJoinExecutor {
    fn next(&mut self, ctx: &mut ExecContext) -> Result<Option<Row>> {
        if !self.built {
            self.built = true;
            // The inputs are lent to the build (which may read both to the
            // end when it spills) and put back.
            let placeholder =
                || -> BoxedExecutor { Box::new(super::misc::RowsExecutor::new(vec![])) };
            let mut right = std::mem::replace(&mut self.right, placeholder());
            let mut left = std::mem::replace(&mut self.left, placeholder());
            let loaded = self.build(ctx, Side::Input(&mut right), Side::Input(&mut left), 0);
            self.right = right;
            self.left = left;
            if !loaded? && !self.next_pair(ctx)? {
                return Ok(None);
            }
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
                if self.next_pair(ctx)? {
                    continue;
                }
                return Ok(None);
            }
            let next_left = match self.probe_file.as_mut() {
                Some(f) => f.next()?,
                None => self.left.next(ctx)?,
            };
            let Some(l) = next_left else {
                if matches!(self.kind, JoinKind::Right | JoinKind::Full) {
                    self.unmatched_pos = Some(0);
                    continue;
                }
                if self.next_pair(ctx)? {
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
