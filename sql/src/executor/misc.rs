//! Small operators: ValuesExecutor (also the one empty row of a FROM-less
//! SELECT), GenerateSeriesExecutor, FilterExecutor, ProjectExecutor,
//! LimitExecutor, DistinctExecutor, WorkTableExecutor.

use std::collections::HashSet;
use std::sync::Arc;

use sargdb_catalog::types::{arith, compare, ArithOp};
use sargdb_catalog::{TypeError, Value};

use super::expr::{eval, eval_pred};
use super::spill::{Partitions, SpillReader, MAX_LEVEL};
use super::{BoxedExecutor, ExecContext, Executor, HashKey, Row};
use crate::binder::bound::BoundExpr;
use crate::error::{Result, SqlError};

pub struct ValuesExecutor {
    rows: Vec<Vec<BoundExpr>>,
    pos: usize,
}

impl ValuesExecutor {
    pub fn new(rows: Vec<Vec<BoundExpr>>) -> Self {
        ValuesExecutor { rows, pos: 0 }
    }
    pub fn one_row() -> Self {
        ValuesExecutor {
            rows: vec![vec![]],
            pos: 0,
        }
    }
}

impl Executor for ValuesExecutor {
    fn next(&mut self, ctx: &mut ExecContext) -> Result<Option<Row>> {
        let Some(r) = self.rows.get(self.pos) else {
            return Ok(None);
        };
        self.pos += 1;
        let mut out = Vec::with_capacity(r.len());
        for e in r {
            out.push(eval(e, &[], ctx)?);
        }
        Ok(Some(out))
    }
}

pub struct GenerateSeriesExecutor {
    args: Vec<BoundExpr>,
    state: Option<(Value, Value, Value, bool)>,
    done: bool,
}

impl GenerateSeriesExecutor {
    pub fn new(args: Vec<BoundExpr>) -> Self {
        GenerateSeriesExecutor {
            args,
            state: None,
            done: false,
        }
    }
}

impl Executor for GenerateSeriesExecutor {
    fn next(&mut self, ctx: &mut ExecContext) -> Result<Option<Row>> {
        ctx.check_cancel()?;
        if self.done {
            return Ok(None);
        }
        if self.state.is_none() {
            let start = eval(&self.args[0], &[], ctx)?;
            let stop = eval(&self.args[1], &[], ctx)?;
            let step = match self.args.get(2) {
                Some(e) => eval(e, &[], ctx)?,
                None => match &start {
                    Value::Int8(_) => Value::Int8(1),
                    Value::Numeric(_) => arith(ArithOp::Sub, &Value::Int4(2), &Value::Int4(1))
                        .map(|_| Value::Int4(1))?,
                    _ => Value::Int4(1),
                },
            };
            if start.is_null() || stop.is_null() || step.is_null() {
                self.done = true;
                return Ok(None);
            }
            let step = match (&start, step) {
                (Value::Numeric(_), Value::Int4(i)) => sargdb_catalog::types::cast(
                    Value::Int4(i),
                    &sargdb_catalog::DataType::Numeric(None),
                    false,
                    &ctx.call.types,
                )?,
                (_, s) => s,
            };
            let zero_step = match &step {
                Value::Int4(0) | Value::Int8(0) => true,
                Value::Interval(iv) => iv.months == 0 && iv.days == 0 && iv.micros == 0,
                Value::Numeric(_) => {
                    compare(
                        &step,
                        &sargdb_catalog::types::cast(
                            Value::Int4(0),
                            &sargdb_catalog::DataType::Numeric(None),
                            false,
                            &ctx.call.types,
                        )?,
                    ) == std::cmp::Ordering::Equal
                }
                _ => false,
            };
            if zero_step {
                return Err(SqlError::Type(TypeError::InvalidParameterValue(
                    "step size cannot equal zero".into(),
                )));
            }
            // Direction: compare start+step with start.
            let probe =
                sargdb_catalog::types::arith_in_zone(ArithOp::Add, &start, &step, &ctx.call.types)?;
            let up = compare(&probe, &start) != std::cmp::Ordering::Less;
            self.state = Some((start, stop, step, up));
        }
        let Some((cur, stop, step, up)) = self.state.as_mut() else {
            return Ok(None);
        };
        let o = compare(cur, stop);
        if (*up && o == std::cmp::Ordering::Greater) || (!*up && o == std::cmp::Ordering::Less) {
            self.done = true;
            return Ok(None);
        }
        let out = cur.clone();
        match sargdb_catalog::types::arith_in_zone(ArithOp::Add, cur, step, &ctx.call.types) {
            Ok(n) => *cur = n,
            Err(_) => self.done = true,
        }
        Ok(Some(vec![out]))
    }
}

pub struct FilterExecutor {
    pub input: BoxedExecutor,
    pub predicate: BoundExpr,
}

impl Executor for FilterExecutor {
    fn next(&mut self, ctx: &mut ExecContext) -> Result<Option<Row>> {
        while let Some(r) = self.input.next(ctx)? {
            ctx.check_cancel()?;
            if eval_pred(&self.predicate, &r, ctx)? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    fn next_into(&mut self, ctx: &mut ExecContext, row: &mut Row) -> Result<bool> {
        while self.input.next_into(ctx, row)? {
            ctx.check_cancel()?;
            if eval_pred(&self.predicate, row, ctx)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

pub struct ProjectExecutor {
    input: BoxedExecutor,
    exprs: Vec<BoundExpr>,
    /// Per expression: the input column it is, when it is a plain column
    /// that no other expression reads (moved out of the input row rather
    /// than copied).
    moves: Vec<Option<usize>>,
    /// The output values while they are computed; then moved into the
    /// input row's allocation, which becomes the output row (no allocation
    /// per row).
    scratch: Vec<Value>,
    /// `next_into`: the input row, kept from one row to the next.
    input_row: Row,
    /// Every output is an input column or a constant: producing no row
    /// skips nothing that could fail or have an effect.
    plain: bool,
}

impl ProjectExecutor {
    pub fn new(input: BoxedExecutor, exprs: Vec<BoundExpr>) -> Self {
        // How often each input column is read (built for every execution
        // of a cached plan: a plain vector, not a hash map).
        let mut reads: Vec<u32> = Vec::new();
        let mut opaque = false;
        for e in &exprs {
            e.walk(&mut |x| match x {
                BoundExpr::Column(i, _) => {
                    if reads.len() <= *i {
                        reads.resize(*i + 1, 0);
                    }
                    reads[*i] += 1;
                }
                BoundExpr::Subquery(_) => opaque = true,
                _ => {}
            });
        }
        let moves = exprs
            .iter()
            .map(|e| match e {
                BoundExpr::Column(i, _) if !opaque && reads.get(*i) == Some(&1) => Some(*i),
                _ => None,
            })
            .collect();
        ProjectExecutor {
            input,
            scratch: Vec::with_capacity(exprs.len()),
            input_row: Vec::new(),
            plain: exprs
                .iter()
                .all(|e| matches!(e, BoundExpr::Column(..) | BoundExpr::Literal(..))),
            exprs,
            moves,
        }
    }
}

/// One projection doing the work of `outer` over `inner` (a subquery's
/// output list over the list that also carried its sort keys), when both
/// are made of plain columns and constants only: then nothing either would
/// evaluate is lost (no function, sequence or subquery runs fewer times)
/// and each output is the inner column or constant it names. None when
/// they cannot be merged that way.
pub fn compose_projections(outer: &[BoundExpr], inner: &[BoundExpr]) -> Option<Vec<BoundExpr>> {
    let plain = |e: &BoundExpr| matches!(e, BoundExpr::Column(..) | BoundExpr::Literal(..));
    if !inner.iter().all(plain) {
        return None;
    }
    outer
        .iter()
        .map(|e| match e {
            BoundExpr::Column(i, _) => inner.get(*i).cloned(),
            BoundExpr::Literal(..) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

impl ProjectExecutor {
    /// The output values of input row `r` into `out` (cleared first);
    /// plain columns read once are moved out of `r`.
    fn project(
        exprs: &[BoundExpr],
        moves: &[Option<usize>],
        r: &mut Row,
        out: &mut Row,
        ctx: &mut ExecContext,
    ) -> Result<()> {
        out.clear();
        // Computed expressions first, while every input value is in place.
        for (e, m) in exprs.iter().zip(moves) {
            out.push(match (m, e) {
                (Some(_), _) | (None, BoundExpr::Literal(Value::Null, _)) => Value::Null,
                (None, BoundExpr::Literal(v, _)) => v.clone(),
                (None, e) => eval(e, r, ctx)?,
            });
        }
        for (o, m) in out.iter_mut().zip(moves) {
            if let Some(i) = m {
                if let Some(v) = r.get_mut(*i) {
                    *o = std::mem::replace(v, Value::Null);
                }
            }
        }
        Ok(())
    }
}

impl Executor for ProjectExecutor {
    fn next_into(&mut self, ctx: &mut ExecContext, row: &mut Row) -> Result<bool> {
        if !self.input.next_into(ctx, &mut self.input_row)? {
            return Ok(false);
        }
        Self::project(&self.exprs, &self.moves, &mut self.input_row, row, ctx)?;
        Ok(true)
    }

    fn next_unread(&mut self, ctx: &mut ExecContext) -> Result<bool> {
        if self.plain {
            return self.input.next_unread(ctx);
        }
        let mut out = std::mem::take(&mut self.scratch);
        let more = self.next_into(ctx, &mut out)?;
        self.scratch = out;
        Ok(more)
    }

    fn next(&mut self, ctx: &mut ExecContext) -> Result<Option<Row>> {
        let Some(mut r) = self.input.next(ctx)? else {
            return Ok(None);
        };
        let out = &mut self.scratch;
        Self::project(&self.exprs, &self.moves, &mut r, out, ctx)?;
        // A row much wider than the output would pin its memory in every
        // row an operator above buffers (a sort, a hash table): copy out.
        if r.capacity() > 2 * out.len() + 2 {
            return Ok(Some(std::mem::replace(
                out,
                Vec::with_capacity(self.exprs.len()),
            )));
        }
        r.clear();
        r.append(out);
        Ok(Some(r))
    }
}

/// Rows computed elsewhere (COPY FROM's decoded data), handed out in order.
pub struct RowsExecutor {
    rows: std::vec::IntoIter<Row>,
}

impl RowsExecutor {
    pub fn new(rows: Vec<Row>) -> Self {
        RowsExecutor {
            rows: rows.into_iter(),
        }
    }
}

impl Executor for RowsExecutor {
    fn next(&mut self, _ctx: &mut ExecContext) -> Result<Option<Row>> {
        Ok(self.rows.next())
    }
}

pub struct LimitExecutor {
    input: BoxedExecutor,
    limit_expr: Option<BoundExpr>,
    offset_expr: Option<BoundExpr>,
    started: bool,
    remaining: Option<i64>,
}

impl LimitExecutor {
    pub fn new(input: BoxedExecutor, limit: Option<BoundExpr>, offset: Option<BoundExpr>) -> Self {
        LimitExecutor {
            input,
            limit_expr: limit,
            offset_expr: offset,
            started: false,
            remaining: None,
        }
    }
}

/// The rows a LIMIT reads from its input when its counts are constants:
/// LIMIT + OFFSET. None without a LIMIT or with a computed count.
pub fn constant_bound(limit: &Option<BoundExpr>, offset: &Option<BoundExpr>) -> Option<usize> {
    fn constant(e: &BoundExpr) -> Option<u64> {
        match e {
            BoundExpr::Literal(Value::Int8(n), _) => u64::try_from(*n).ok(),
            BoundExpr::Literal(Value::Int4(n), _) => u64::try_from(*n).ok(),
            _ => None,
        }
    }
    let l = constant(limit.as_ref()?)?;
    let o = match offset {
        None => 0,
        Some(e) => constant(e)?,
    };
    usize::try_from(l.checked_add(o)?).ok()
}

fn count_value(e: &Option<BoundExpr>, ctx: &mut ExecContext, what: &str) -> Result<Option<i64>> {
    let Some(e) = e else { return Ok(None) };
    match eval(e, &[], ctx)? {
        Value::Null => Ok(None),
        Value::Int8(n) if n < 0 => Err(SqlError::InvalidRowCount(format!(
            "{what} must not be negative"
        ))),
        Value::Int8(n) => Ok(Some(n)),
        other => Err(SqlError::Internal(format!("{what} value {other:?}"))),
    }
}

impl LimitExecutor {
    /// Whether another row may be read from the input (the first call
    /// evaluates the counts and skips the OFFSET rows).
    fn admit(&mut self, ctx: &mut ExecContext) -> Result<bool> {
        if !self.started {
            self.started = true;
            self.remaining = count_value(&self.limit_expr, ctx, "LIMIT")?;
            let skip = count_value(&self.offset_expr, ctx, "OFFSET")?.unwrap_or(0);
            if self.remaining == Some(0) {
                return Ok(false);
            }
            for _ in 0..skip {
                ctx.check_cancel()?;
                if self.input.next(ctx)?.is_none() {
                    self.remaining = Some(0);
                    return Ok(false);
                }
            }
        }
        if let Some(n) = self.remaining.as_mut() {
            if *n <= 0 {
                return Ok(false);
            }
            *n -= 1;
        }
        Ok(true)
    }
}

impl Executor for LimitExecutor {
    fn next(&mut self, ctx: &mut ExecContext) -> Result<Option<Row>> {
        if !self.admit(ctx)? {
            return Ok(None);
        }
        self.input.next(ctx)
    }

    fn next_into(&mut self, ctx: &mut ExecContext, row: &mut Row) -> Result<bool> {
        if !self.admit(ctx)? {
            return Ok(false);
        }
        self.input.next_into(ctx, row)
    }

    fn next_unread(&mut self, ctx: &mut ExecContext) -> Result<bool> {
        if !self.admit(ctx)? {
            return Ok(false);
        }
        self.input.next_unread(ctx)
    }
}

/// DISTINCT and DISTINCT ON: each row whose key was not seen yet, as it
/// arrives. The keys seen are query work memory. When a new key does not
/// fit, the keys already seen go on filtering, and every row with a key not
/// seen goes to one of 16 partition files by the key's hash (`spill`);
/// once the input is done each partition is filtered the same way, with
/// the memory given back first (and split again if it overflows too).
/// Rows of one key stay in input order within a partition, so DISTINCT ON
/// still keeps the first of each.
/// Partition files a DISTINCT pass spills into.
const DISTINCT_PARTITIONS: usize = 16;

pub struct DistinctExecutor {
    input: BoxedExecutor,
    on: Option<Vec<BoundExpr>>,
    seen: HashSet<HashKey>,
    memory: crate::memory::WorkMemory,
    /// The input is read to its end: rows come from `current`.
    input_done: bool,
    /// The spill level of the rows being read (0: the input).
    level: u32,
    /// This pass's partition files, once it spilled.
    partitions: Option<Partitions>,
    /// Partitions still to filter, each with its level.
    spilled: Vec<(SpillReader, u32)>,
    current: Option<SpillReader>,
}

impl DistinctExecutor {
    pub fn new(input: BoxedExecutor, on: Option<Vec<BoundExpr>>) -> Self {
        DistinctExecutor {
            input,
            on,
            seen: HashSet::new(),
            memory: Default::default(),
            input_done: false,
            level: 0,
            partitions: None,
            spilled: vec![],
            current: None,
        }
    }
}

impl Executor for DistinctExecutor {
    fn next(&mut self, ctx: &mut ExecContext) -> Result<Option<Row>> {
        loop {
            let next = match self.current.as_mut() {
                Some(f) => f.next()?,
                None if self.input_done => None,
                None => self.input.next(ctx)?,
            };
            let Some(r) = next else {
                // This pass is over: queue its partitions, go to the next.
                self.input_done = true;
                if let Some(parts) = self.partitions.take() {
                    parts.queue_into(&mut self.spilled)?;
                }
                let Some((f, level)) = self.spilled.pop() else {
                    self.current = None;
                    return Ok(None);
                };
                self.seen.clear();
                self.memory.release_all();
                self.level = level;
                self.current = Some(f);
                continue;
            };
            ctx.check_cancel()?;
            let key = match &self.on {
                None => HashKey(r.clone()),
                Some(keys) => {
                    let mut k = vec![];
                    for e in keys {
                        k.push(eval(e, &r, ctx)?);
                    }
                    HashKey(k)
                }
            };
            if self.seen.contains(&key) {
                continue;
            }
            if let Some(parts) = self.partitions.as_mut() {
                parts.write(&key, &r)?;
                continue;
            }
            if let Err(full) = self.memory.add(crate::memory::row_bytes(&key.0)) {
                if self.seen.is_empty() || self.level >= MAX_LEVEL {
                    return Err(full);
                }
                let mut parts = Partitions::create(ctx, DISTINCT_PARTITIONS, self.level)?;
                parts.write(&key, &r)?;
                self.partitions = Some(parts);
                continue;
            }
            self.seen.insert(key);
            return Ok(Some(r));
        }
    }
}

pub struct WorkTableExecutor {
    pub id: usize,
    pub rows: Option<Arc<Vec<Row>>>,
    pub pos: usize,
}

impl Executor for WorkTableExecutor {
    fn next(&mut self, ctx: &mut ExecContext) -> Result<Option<Row>> {
        if self.rows.is_none() {
            self.rows = Some(ctx.worktables.get(&self.id).cloned().unwrap_or_default());
        }
        let rows = self.rows.as_ref().map(|r| r.as_slice()).unwrap_or(&[]);
        let r = rows.get(self.pos).cloned();
        self.pos += 1;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::compose_projections;
    use crate::binder::bound::BoundExpr;
    use sargdb_catalog::{DataType, Value};

    fn col(i: usize) -> BoundExpr {
        BoundExpr::Column(i, DataType::Int4)
    }
    fn null() -> BoundExpr {
        BoundExpr::Literal(Value::Null, DataType::Int4)
    }

    #[test]
    fn columns_and_constants_compose() {
        // outer [$1 of inner, NULL, $0 of inner] over inner [k, NULL]
        let got = compose_projections(&[col(1), null(), col(0)], &[col(3), null()]);
        assert_eq!(got, Some(vec![null(), null(), col(3)]));
    }

    #[test]
    fn computed_expressions_do_not_compose() {
        let sum = BoundExpr::Arith {
            op: sargdb_catalog::types::ArithOp::Add,
            l: Box::new(col(0)),
            r: Box::new(col(1)),
            ty: DataType::Int4,
        };
        // An inner computation (it might be dropped) or an outer one.
        assert_eq!(compose_projections(&[col(0)], &[col(0), sum.clone()]), None);
        assert_eq!(compose_projections(&[sum], &[col(0), col(1)]), None);
        // An outer column the inner list does not have.
        assert_eq!(compose_projections(&[col(2)], &[col(0)]), None);
    }
}
