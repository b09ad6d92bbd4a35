//! HashAggregateExecutor: groups rows by key in a hash table and computes the
//! aggregates (with DISTINCT, FILTER and ORDER BY inside the call). Without GROUP BY it yields exactly
//! one row, even for empty input (count = 0, others NULL).
//!
//! When a new group does not fit in query work memory (`--memory-limit`),
//! the groups already held go on aggregating in memory and the rows of
//! every other group are written to one of 16 partition files by their
//! key's hash (`spill`). After the groups in memory are output and their
//! memory given back, each partition is aggregated the same way, and split
//! again if it overflows too. A single group whose state outgrows the
//! limit (array_agg of everything, say) cannot be split: that fails with
//! 53200.

use std::collections::{HashMap, HashSet};

use sargdb_catalog::types::{arith, cast, compare, ArithOp};
use sargdb_catalog::{DataType, Value};

use super::expr::{eval, eval_pred};
use super::sort::compare_keys;
use super::spill::{Partitions, SpillReader, MAX_LEVEL};
use super::{BoxedExecutor, ExecContext, Executor, HashKey, Row};
use crate::binder::bound::{AggCall, AggFunc, BoundExpr};
use crate::error::Result;

#[derive(Clone, Debug)]
struct AggState {
    count: i64,
    acc: Value,
    items: Vec<Value>,
    seen: Option<HashSet<HashKey>>,
    /// With ORDER BY: (sort key, args) of each input row, fed in order at the end.
    pending: Vec<(Vec<Value>, Vec<Value>)>,
}

pub struct HashAggregateExecutor {
    input: BoxedExecutor,
    groups: Vec<BoundExpr>,
    aggs: Vec<AggCall>,
    output: Option<std::vec::IntoIter<Row>>,
    /// Partitions spilled to disk and not aggregated yet, each with its
    /// spill level.
    spilled: Vec<(SpillReader, u32)>,
    /// The groups' keys and states, and what the aggregates keep per
    /// input row (DISTINCT's seen values, array_agg's items, string_agg's
    /// text, rows waiting for ORDER BY), as query work memory.
    memory: crate::memory::WorkMemory,
}

impl HashAggregateExecutor {
    pub fn new(input: BoxedExecutor, groups: Vec<BoundExpr>, aggs: Vec<AggCall>) -> Self {
        HashAggregateExecutor {
            input,
            groups,
            aggs,
            output: None,
            spilled: vec![],
            memory: Default::default(),
        }
    }
}

/// The states of one new group.
fn fresh_states(aggs: &[AggCall]) -> Vec<AggState> {
    aggs.iter()
        .map(|a| AggState {
            count: 0,
            acc: Value::Null,
            items: vec![],
            seen: a.distinct.then(HashSet::new),
            pending: vec![],
        })
        .collect()
}

/// Feed one row's argument values to an aggregate (the values are taken).
/// Returns the bytes the state keeps for it (0 for the aggregates whose
/// state does not grow with their input).
fn accumulate(
    a: &AggCall,
    st: &mut AggState,
    args: &mut [Value],
    ctx: &ExecContext,
) -> Result<u64> {
    if a.func == AggFunc::CountStar {
        st.count += 1;
        return Ok(0);
    }
    if args.first().is_none_or(|v| v.is_null()) && a.func != AggFunc::ArrayAgg {
        return Ok(0);
    }
    let mut kept = 0;
    if let Some(seen) = st.seen.as_mut() {
        if !seen.insert(HashKey(args.to_vec())) {
            return Ok(0);
        }
        kept += crate::memory::row_bytes(args);
    }
    let v = args
        .first_mut()
        .map_or(Value::Null, |v| std::mem::replace(v, Value::Null));
    st.count += 1;
    match a.func {
        AggFunc::CountStar | AggFunc::Count => {}
        AggFunc::Sum | AggFunc::Avg => {
            let target = match (&a.func, &a.ty) {
                (AggFunc::Avg, DataType::Float8) => DataType::Float8,
                (AggFunc::Avg, DataType::Interval) => DataType::Interval,
                (AggFunc::Avg, _) => DataType::Numeric(None),
                (_, t) => t.clone(),
            };
            let v = if matches!(target, DataType::Interval) {
                v
            } else {
                cast(v, &target, false, &ctx.call.types)?
            };
            st.acc = if st.acc.is_null() {
                v
            } else {
                arith(ArithOp::Add, &st.acc, &v)?
            };
        }
        AggFunc::Min | AggFunc::Max => {
            let better = st.acc.is_null() || {
                let o = compare(&v, &st.acc);
                if a.func == AggFunc::Min {
                    o.is_lt()
                } else {
                    o.is_gt()
                }
            };
            if better {
                st.acc = v;
            }
        }
        AggFunc::BoolAnd => {
            st.acc = match (&st.acc, &v) {
                (Value::Null, x) => x.clone(),
                (Value::Bool(x), Value::Bool(y)) => Value::Bool(*x && *y),
                (x, _) => x.clone(),
            }
        }
        AggFunc::BoolOr => {
            st.acc = match (&st.acc, &v) {
                (Value::Null, x) => x.clone(),
                (Value::Bool(x), Value::Bool(y)) => Value::Bool(*x || *y),
                (x, _) => x.clone(),
            }
        }
        AggFunc::StringAgg => {
            // Appended in place: rebuilding the accumulated string for every
            // row would make string_agg quadratic.
            let sep = args.get(1).unwrap_or(&Value::Null);
            match (&mut st.acc, v) {
                (acc @ Value::Null, x) => *acc = x,
                (Value::Text(acc), Value::Text(x)) => {
                    if let Value::Text(s) = sep {
                        acc.push_str(s);
                        kept += s.len() as u64;
                    }
                    acc.push_str(&x);
                    kept += x.len() as u64;
                }
                (Value::Bytea(acc), Value::Bytea(x)) => {
                    if let Value::Bytea(s) = sep {
                        acc.extend_from_slice(s);
                        kept += s.len() as u64;
                    }
                    kept += x.len() as u64;
                    acc.extend(x);
                }
                _ => {}
            }
        }
        AggFunc::ArrayAgg => {
            kept += crate::memory::value_bytes(&v);
            st.items.push(v);
        }
    }
    Ok(kept)
}

fn finish(a: &AggCall, mut st: AggState, ctx: &ExecContext) -> Result<Value> {
    if !a.order_by.is_empty() {
        let mut pending = std::mem::take(&mut st.pending);
        pending.sort_by(|x, y| compare_keys(&x.0, &y.0, &a.order_by));
        for (_, mut args) in pending {
            accumulate(a, &mut st, &mut args, ctx)?;
        }
    }
    Ok(match a.func {
        AggFunc::CountStar | AggFunc::Count => Value::Int8(st.count),
        AggFunc::Avg => {
            if st.count == 0 {
                Value::Null
            } else {
                match &st.acc {
                    Value::Interval(_) | Value::Float8(_) => {
                        let n = Value::Float8(st.count as f64);
                        arith(ArithOp::Div, &st.acc, &n)?
                    }
                    _ => {
                        let n = cast(
                            Value::Int8(st.count),
                            &DataType::Numeric(None),
                            false,
                            &ctx.call.types,
                        )?;
                        arith(ArithOp::Div, &st.acc, &n)?
                    }
                }
            }
        }
        AggFunc::ArrayAgg => {
            if st.items.is_empty() {
                Value::Null
            } else {
                Value::Array(st.items)
            }
        }
        _ => st.acc,
    })
}

/// What one pass over some input needs from the executor.
struct Pass<'a> {
    groups: &'a [BoundExpr],
    aggs: &'a [AggCall],
    memory: &'a mut crate::memory::WorkMemory,
    level: u32,
}

/// Partition files a pass spills into.
const PARTITIONS: usize = 16;

impl Pass<'_> {
    /// Aggregates the rows `next_row` yields into the output rows of their
    /// groups. When a new group does not fit in query work memory (and
    /// some group does), the rows of groups not in memory go to partition
    /// files from then on; those are pushed onto `spilled`, each to be
    /// aggregated by a pass of its own.
    fn run(
        &mut self,
        ctx: &mut ExecContext,
        next_row: &mut dyn FnMut(&mut ExecContext, &mut Row) -> Result<bool>,
        spilled: &mut Vec<(SpillReader, u32)>,
    ) -> Result<Vec<Row>> {
        // Groups in the order they first appear, and where each is.
        let mut groups: Vec<(HashKey, Vec<AggState>)> = vec![];
        let mut index: HashMap<HashKey, usize> = HashMap::new();
        let mut partitions: Option<Partitions> = None;
        let mut args: Vec<Value> = vec![];
        // One row buffer for every input row (`next_into`).
        let mut r: Row = vec![];
        while next_row(ctx, &mut r)? {
            ctx.check_cancel()?;
            let slot = if self.groups.is_empty() {
                if groups.is_empty() {
                    groups.push((HashKey(vec![]), fresh_states(self.aggs)));
                }
                0
            } else {
                let mut key = Vec::with_capacity(self.groups.len());
                for g in self.groups {
                    key.push(eval(g, &r, ctx)?);
                }
                let key = HashKey(key);
                match index.get(&key) {
                    Some(&i) => i,
                    None => {
                        if let Some(parts) = partitions.as_mut() {
                            parts.write(&key, &r)?;
                            continue;
                        }
                        // The key twice (table and list), the table's slot
                        // and the group's states.
                        let need = 2 * crate::memory::row_bytes(&key.0)
                            + std::mem::size_of::<usize>() as u64
                            + (self.aggs.len() * std::mem::size_of::<AggState>()) as u64;
                        if let Err(full) = self.memory.add(need) {
                            if groups.is_empty() || self.level >= MAX_LEVEL {
                                return Err(full);
                            }
                            let mut parts = Partitions::create(ctx, PARTITIONS, self.level)?;
                            parts.write(&key, &r)?;
                            partitions = Some(parts);
                            continue;
                        }
                        index.insert(key.clone(), groups.len());
                        groups.push((key, fresh_states(self.aggs)));
                        groups.len() - 1
                    }
                }
            };
            let states = &mut groups[slot].1;
            for (i, a) in self.aggs.iter().enumerate() {
                if let Some(f) = &a.filter {
                    if !eval_pred(f, &r, ctx)? {
                        continue;
                    }
                }
                args.clear();
                for x in &a.args {
                    args.push(eval(x, &r, ctx)?);
                }
                if a.order_by.is_empty() {
                    let kept = accumulate(a, &mut states[i], &mut args, ctx)?;
                    if kept > 0 {
                        self.memory.add(kept)?;
                    }
                } else {
                    let mut k = Vec::with_capacity(a.order_by.len());
                    for o in &a.order_by {
                        k.push(eval(&o.expr, &r, ctx)?);
                    }
                    self.memory
                        .add(crate::memory::row_bytes(&k) + crate::memory::row_bytes(&args))?;
                    states[i].pending.push((k, std::mem::take(&mut args)));
                }
            }
        }
        if self.groups.is_empty() && groups.is_empty() {
            groups.push((HashKey(vec![]), fresh_states(self.aggs)));
        }
        drop(index);
        let mut out = vec![];
        for (k, states) in groups {
            let mut row = k.0;
            for (a, st) in self.aggs.iter().zip(states) {
                row.push(finish(a, st, ctx)?);
            }
            out.push(row);
        }
        if let Some(parts) = partitions {
            parts.queue_into(spilled)?;
        }
        Ok(out)
    }
}

impl Executor for HashAggregateExecutor {
    fn next(&mut self, ctx: &mut ExecContext) -> Result<Option<Row>> {
        loop {
            if let Some(out) = self.output.as_mut() {
                if let Some(row) = out.next() {
                    return Ok(Some(row));
                }
                // This pass's groups are out: aggregate the next spilled
                // partition, with their memory given back first.
                let Some((mut part, level)) = self.spilled.pop() else {
                    return Ok(None);
                };
                self.memory.release_all();
                let mut pass = Pass {
                    groups: &self.groups,
                    aggs: &self.aggs,
                    memory: &mut self.memory,
                    level,
                };
                let out = pass.run(
                    ctx,
                    &mut |_, r| match part.next()? {
                        Some(v) => {
                            *r = v;
                            Ok(true)
                        }
                        None => Ok(false),
                    },
                    &mut self.spilled,
                )?;
                self.output = Some(out.into_iter());
                continue;
            }
            // Only count(*) without GROUP BY: no value of any row is read.
            let counts_only = self.groups.is_empty()
                && self.aggs.iter().all(|a| {
                    a.func == AggFunc::CountStar
                        && a.filter.is_none()
                        && !a.distinct
                        && a.order_by.is_empty()
                });
            if counts_only {
                let mut n = 0i64;
                while self.input.next_unread(ctx)? {
                    ctx.check_cancel()?;
                    n += 1;
                }
                let row = self.aggs.iter().map(|_| Value::Int8(n)).collect();
                self.output = Some(vec![row].into_iter());
                continue;
            }
            let input = &mut self.input;
            let mut pass = Pass {
                groups: &self.groups,
                aggs: &self.aggs,
                memory: &mut self.memory,
                level: 0,
            };
            let out = pass.run(
                ctx,
                &mut |ctx, r| input.next_into(ctx, r),
                &mut self.spilled,
            )?;
            self.output = Some(out.into_iter());
        }
    }
}
