//! Expression evaluation with Postgres semantics: three-valued logic, strict
//! operators, LIKE with escapes, subqueries (cached when uncorrelated), and
//! the sequence functions (non-transactional, like Postgres's).

use std::cmp::Ordering;
use std::sync::Arc;

use sargdb_catalog::types::{self, compare, parse_text};
use sargdb_catalog::{DataType, SequenceDef, Value};

use super::{ExecContext, Row};
use crate::binder::bound::{BoundExpr, CmpOp, SeqFunc, Subquery, SubqueryKind};
use crate::error::{Result, SqlError};
use crate::functions;

/// Evaluate to a boolean for WHERE/ON/HAVING: NULL counts as false.
pub fn eval_pred(e: &BoundExpr, row: &[Value], ctx: &mut ExecContext) -> Result<bool> {
    Ok(truth(e, row, ctx)? == Some(true))
}

/// The three-valued truth of a boolean expression (None: NULL). AND, OR,
/// NOT, comparisons and IS [NOT] NULL are decided here without building a
/// `Value` per node, and comparisons read columns and literals in place
/// (no clone): this is the per-row work of every filter.
pub fn truth(e: &BoundExpr, row: &[Value], ctx: &mut ExecContext) -> Result<Option<bool>> {
    Ok(match e {
        BoundExpr::Cmp { op, l, r } => {
            let a = operand(l, row, ctx)?;
            let b = operand(r, row, ctx)?;
            if a.is_null() || b.is_null() {
                None
            } else {
                Some(cmp_holds(*op, compare(&a, &b)))
            }
        }
        BoundExpr::And(l, r) => {
            let a = truth(l, row, ctx)?;
            if a == Some(false) {
                return Ok(a);
            }
            match (a, truth(r, row, ctx)?) {
                (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            }
        }
        BoundExpr::Or(l, r) => {
            let a = truth(l, row, ctx)?;
            if a == Some(true) {
                return Ok(a);
            }
            match (a, truth(r, row, ctx)?) {
                (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            }
        }
        BoundExpr::Not(x) => truth(x, row, ctx)?.map(|b| !b),
        BoundExpr::IsNull(x, negated) => Some(operand(x, row, ctx)?.is_null() != *negated),
        _ => match eval(e, row, ctx)? {
            Value::Bool(b) => Some(b),
            _ => None,
        },
    })
}

/// An operand read in place when it is a column of the row or a literal,
/// computed otherwise.
#[inline]
fn operand<'a>(
    e: &'a BoundExpr,
    row: &'a [Value],
    ctx: &mut ExecContext,
) -> Result<std::borrow::Cow<'a, Value>> {
    use std::borrow::Cow;
    match e {
        BoundExpr::Literal(v, _) => Ok(Cow::Borrowed(v)),
        BoundExpr::Column(i, _) => row
            .get(*i)
            .map(Cow::Borrowed)
            .ok_or_else(|| SqlError::Internal(format!("column {i} out of range"))),
        _ => eval(e, row, ctx).map(Cow::Owned),
    }
}

/// Evaluate an expression on a row. The common per-row node kinds are
/// handled here; the rest in `eval_other`, kept out of line so this
/// function's frame stays small.
pub fn eval(e: &BoundExpr, row: &[Value], ctx: &mut ExecContext) -> Result<Value> {
    Ok(match e {
        BoundExpr::Literal(v, _) => v.clone(),
        BoundExpr::Column(i, _) => row
            .get(*i)
            .cloned()
            .ok_or_else(|| SqlError::Internal(format!("column {i} out of range")))?,
        BoundExpr::Arith { op, l, r, .. } => {
            let a = operand(l, row, ctx)?;
            let b = operand(r, row, ctx)?;
            if a.is_null() || b.is_null() {
                Value::Null
            } else {
                types::arith_in_zone(*op, &a, &b, &ctx.call.types)?
            }
        }
        BoundExpr::Cmp { .. }
        | BoundExpr::And(..)
        | BoundExpr::Or(..)
        | BoundExpr::Not(..)
        | BoundExpr::IsNull(..) => truth(e, row, ctx)?.map_or(Value::Null, Value::Bool),
        _ => eval_other(e, row, ctx)?,
    })
}

#[inline(never)]
fn eval_other(e: &BoundExpr, row: &[Value], ctx: &mut ExecContext) -> Result<Value> {
    Ok(match e {
        BoundExpr::Literal(..)
        | BoundExpr::Column(..)
        | BoundExpr::Arith { .. }
        | BoundExpr::Cmp { .. }
        | BoundExpr::And(..)
        | BoundExpr::Or(..)
        | BoundExpr::Not(..)
        | BoundExpr::IsNull(..) => eval(e, row, ctx)?,
        BoundExpr::Outer { depth, idx, .. } => {
            let n = ctx.outer.len();
            if *depth > n {
                return Err(SqlError::Internal(
                    "outer reference without outer row".into(),
                ));
            }
            ctx.outer[n - depth]
                .get(*idx)
                .cloned()
                .unwrap_or(Value::Null)
        }
        BoundExpr::Param(i, ty) => {
            let v = ctx.params.get(*i).cloned().ok_or_else(|| {
                SqlError::ProtocolViolation(format!("there is no parameter ${}", i + 1))
            })?;
            match (&v, ty) {
                (Value::Null, _) | (_, DataType::Unknown) => v,
                (Value::Text(s), t) if !t.is_string() => parse_text(s, t, &ctx.call.types)?,
                _ => v,
            }
        }
        BoundExpr::Neg(x, _) => {
            let v = eval(x, row, ctx)?;
            if v.is_null() {
                v
            } else {
                types::negate(&v)?
            }
        }
        BoundExpr::Concat(l, r) => {
            let a = eval(l, row, ctx)?;
            let b = eval(r, row, ctx)?;
            match (a, b) {
                (Value::Null, _) | (_, Value::Null) => Value::Null,
                (a, b) => Value::Text(format!(
                    "{}{}",
                    a.to_text(&ctx.call.types),
                    b.to_text(&ctx.call.types)
                )),
            }
        }
        BoundExpr::IsDistinct { l, r, negated } => {
            let a = eval(l, row, ctx)?;
            let b = eval(r, row, ctx)?;
            let distinct = match (a.is_null(), b.is_null()) {
                (true, true) => false,
                (false, false) => compare(&a, &b) != Ordering::Equal,
                _ => true,
            };
            Value::Bool(distinct != *negated)
        }
        BoundExpr::IsBool { e, value, negated } => {
            let v = eval(e, row, ctx)?;
            let is = match (value, &v) {
                (None, Value::Null) => true,
                (None, _) => false,
                (Some(want), Value::Bool(b)) => want == b,
                (Some(_), _) => false,
            };
            Value::Bool(is != *negated)
        }
        BoundExpr::Cast { e, ty, explicit } => {
            let v = eval(e, row, ctx)?;
            if v.is_null() {
                v
            } else {
                sargdb_catalog::types::cast_from(v, &e.ty(), ty, *explicit, &ctx.call.types)?
            }
        }
        BoundExpr::Func {
            name, args, strict, ..
        } => {
            let mut vals = Vec::with_capacity(args.len());
            for a in args {
                vals.push(eval(a, row, ctx)?);
            }
            if *strict && vals.iter().any(|v| v.is_null()) {
                Value::Null
            } else if crate::system::functions::is_catalog_function(name, vals.len()) {
                // Needs the statement's catalog snapshot (and sizes, the engine).
                crate::system::functions::call(name, &vals, ctx)?
            } else {
                functions::call(name, &vals, &ctx.call)?
            }
        }
        BoundExpr::Case { whens, else_, .. } => {
            for (c, r) in whens {
                if eval_pred(c, row, ctx)? {
                    return eval(r, row, ctx);
                }
            }
            eval(else_, row, ctx)?
        }
        BoundExpr::Coalesce(args, _) => {
            for a in args {
                let v = eval(a, row, ctx)?;
                if !v.is_null() {
                    return Ok(v);
                }
            }
            Value::Null
        }
        BoundExpr::NullIf(l, r, _) => {
            let a = eval(l, row, ctx)?;
            let b = eval(r, row, ctx)?;
            if !a.is_null() && !b.is_null() && compare(&a, &b) == Ordering::Equal {
                Value::Null
            } else {
                a
            }
        }
        BoundExpr::MinMax { args, greatest, .. } => {
            let mut best = Value::Null;
            for a in args {
                let v = eval(a, row, ctx)?;
                if v.is_null() {
                    continue;
                }
                let better = best.is_null() || {
                    let o = compare(&v, &best);
                    if *greatest {
                        o == Ordering::Greater
                    } else {
                        o == Ordering::Less
                    }
                };
                if better {
                    best = v;
                }
            }
            best
        }
        BoundExpr::Like {
            e,
            pattern,
            escape,
            negated,
            ci,
        } => {
            let v = eval(e, row, ctx)?;
            let p = eval(pattern, row, ctx)?;
            let esc = match escape {
                Some(x) => match eval(x, row, ctx)? {
                    Value::Null => return Ok(Value::Null),
                    Value::Text(s) => {
                        let mut it = s.chars();
                        match (it.next(), it.next()) {
                            (None, _) => None,
                            (Some(c), None) => Some(c),
                            _ => {
                                return Err(SqlError::Type(
                                    types::TypeError::InvalidParameterValue(
                                        "invalid escape string".into(),
                                    ),
                                ))
                            }
                        }
                    }
                    _ => Some('\\'),
                },
                None => Some('\\'),
            };
            match (v, p) {
                (Value::Text(s), Value::Text(p)) => {
                    let m = if *ci {
                        like(&s.to_lowercase(), &p.to_lowercase(), esc)?
                    } else {
                        like(&s, &p, esc)?
                    };
                    Value::Bool(m != *negated)
                }
                _ => Value::Null,
            }
        }
        BoundExpr::InList { e, list, negated } => {
            let v = eval(e, row, ctx)?;
            if v.is_null() {
                return Ok(Value::Null);
            }
            let mut saw_null = false;
            for item in list {
                let x = eval(item, row, ctx)?;
                if x.is_null() {
                    saw_null = true;
                } else if compare(&v, &x) == Ordering::Equal {
                    return Ok(Value::Bool(!*negated));
                }
            }
            if saw_null {
                Value::Null
            } else {
                Value::Bool(*negated)
            }
        }
        BoundExpr::Subquery(s) => eval_subquery(s, row, ctx)?,
        BoundExpr::Seq { func, args, .. } => {
            let mut vals = vec![];
            for a in args {
                vals.push(eval(a, row, ctx)?);
            }
            eval_seq(*func, &vals, ctx)?
        }
        BoundExpr::Array(items, _) => {
            let mut vals = vec![];
            for a in items {
                vals.push(eval(a, row, ctx)?);
            }
            Value::Array(vals)
        }
    })
}

/// A row-independent expression worth evaluating once: no columns, not
/// volatile, no subquery, not already a literal.
pub fn foldable(e: &BoundExpr) -> bool {
    if matches!(e, BoundExpr::Literal(..)) || e.is_volatile() {
        return false;
    }
    if !matches!(e.columns_used(), Some(c) if c.is_empty()) {
        return false;
    }
    let mut sub = false;
    e.walk(&mut |x| sub |= matches!(x, BoundExpr::Subquery(_)));
    !sub
}

/// Whether `e` holds a row-independent part that `fold_constants` would
/// evaluate (a parameter, constant arithmetic, a cast of a constant).
pub fn has_foldable(e: &BoundExpr) -> bool {
    let mut any = false;
    e.walk(&mut |x| any |= !any && foldable(x));
    any
}

/// `e` with each largest row-independent part evaluated once, as
/// Postgres's planner folds constants and parameters for a custom plan, so
/// a filter does not redo them for every row (`ts >= timestamp '...' + $1
/// * interval '1 s'`). A part whose evaluation fails stays as it was: its
/// error then comes exactly when, and if, a row's evaluation reaches it.
pub fn fold_constants(e: &BoundExpr, ctx: &mut ExecContext) -> BoundExpr {
    let mut out = e.clone();
    // Parents are visited before their children: the largest foldable
    // part is replaced whole.
    out.walk_mut(&mut |x| {
        if foldable(x) {
            if let Ok(v) = eval(x, &[], ctx) {
                *x = BoundExpr::Literal(v, x.ty());
            }
        }
    });
    out
}

pub fn cmp_holds(op: CmpOp, o: Ordering) -> bool {
    match op {
        CmpOp::Eq => o == Ordering::Equal,
        CmpOp::NotEq => o != Ordering::Equal,
        CmpOp::Lt => o == Ordering::Less,
        CmpOp::LtEq => o != Ordering::Greater,
        CmpOp::Gt => o == Ordering::Greater,
        CmpOp::GtEq => o != Ordering::Less,
    }
}

fn subquery_rows(
    s: &Subquery,
    row: &[Value],
    ctx: &mut ExecContext,
    first_only: bool,
) -> Result<Arc<Vec<Row>>> {
    let key = Arc::as_ptr(&s.plan) as usize;
    if !s.correlated {
        if let Some(r) = ctx.subquery_cache.get(&key) {
            return Ok(r.clone());
        }
    }
    ctx.outer.push(row.to_vec());
    let r = (|| -> Result<Vec<Row>> {
        let mut ex = super::build(&s.plan)?;
        let mut out = vec![];
        while let Some(r) = ex.next(ctx)? {
            out.push(r);
            if first_only || (matches!(s.kind, SubqueryKind::Scalar) && out.len() > 1) {
                break;
            }
        }
        Ok(out)
    })();
    ctx.outer.pop();
    let rows = Arc::new(r?);
    if !s.correlated && !first_only {
        ctx.subquery_cache.insert(key, rows.clone());
    }
    Ok(rows)
}

fn eval_subquery(s: &Subquery, row: &[Value], ctx: &mut ExecContext) -> Result<Value> {
    match &s.kind {
        SubqueryKind::Exists => {
            let rows = subquery_rows(s, row, ctx, true)?;
            Ok(Value::Bool(!rows.is_empty()))
        }
        SubqueryKind::Scalar => {
            let rows = subquery_rows(s, row, ctx, false)?;
            match rows.len() {
                0 => Ok(Value::Null),
                1 => Ok(rows[0].first().cloned().unwrap_or(Value::Null)),
                _ => Err(SqlError::CardinalityViolation(
                    "more than one row returned by a subquery used as an expression".into(),
                )),
            }
        }
        SubqueryKind::In { expr, negated } => {
            let v = eval(expr, row, ctx)?;
            let rows = subquery_rows(s, row, ctx, false)?;
            if rows.is_empty() {
                return Ok(Value::Bool(*negated));
            }
            if v.is_null() {
                return Ok(Value::Null);
            }
            let mut saw_null = false;
            for r in rows.iter() {
                let x = r.first().cloned().unwrap_or(Value::Null);
                if x.is_null() {
                    saw_null = true;
                } else if compare(&v, &x) == Ordering::Equal {
                    return Ok(Value::Bool(!*negated));
                }
            }
            Ok(if saw_null {
                Value::Null
            } else {
                Value::Bool(*negated)
            })
        }
        SubqueryKind::Quantified { expr, op, all } => {
            // ANY: true if some comparison holds; ALL: false if one fails;
            // otherwise NULL when a comparison was NULL.
            let v = eval(expr, row, ctx)?;
            let rows = subquery_rows(s, row, ctx, false)?;
            let mut saw_null = false;
            for r in rows.iter() {
                let x = r.first().cloned().unwrap_or(Value::Null);
                if x.is_null() || v.is_null() {
                    saw_null = true;
                    continue;
                }
                let holds = cmp_holds(*op, compare(&v, &x));
                if holds != *all {
                    return Ok(Value::Bool(holds));
                }
            }
            Ok(if saw_null {
                Value::Null
            } else {
                Value::Bool(*all)
            })
        }
    }
}

/// SQL LIKE: `%` any string, `_` any character, `esc` quotes the next one.
pub fn like(s: &str, p: &str, esc: Option<char>) -> Result<bool> {
    #[derive(Clone, Copy, PartialEq)]
    enum Tok {
        Any,
        One,
        Lit(char),
    }
    let mut toks = vec![];
    let mut it = p.chars();
    while let Some(c) = it.next() {
        if Some(c) == esc {
            match it.next() {
                Some(n) => toks.push(Tok::Lit(n)),
                None => {
                    return Err(SqlError::Type(types::TypeError::InvalidParameterValue(
                        "LIKE pattern must not end with escape character".into(),
                    )))
                }
            }
        } else if c == '%' {
            if toks.last() != Some(&Tok::Any) {
                toks.push(Tok::Any);
            }
        } else if c == '_' {
            toks.push(Tok::One);
        } else {
            toks.push(Tok::Lit(c));
        }
    }
    let s: Vec<char> = s.chars().collect();
    // Greedy matching with backtracking to the last %.
    let (mut si, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if ti < toks.len() {
            match toks[ti] {
                Tok::Any => {
                    star = Some((ti, si));
                    ti += 1;
                    continue;
                }
                Tok::One => {
                    si += 1;
                    ti += 1;
                    continue;
                }
                Tok::Lit(c) if c == s[si] => {
                    si += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((st, ss)) => {
                ti = st + 1;
                si = ss + 1;
                star = Some((st, ss + 1));
            }
            None => return Ok(false),
        }
    }
    while ti < toks.len() && toks[ti] == Tok::Any {
        ti += 1;
    }
    Ok(ti == toks.len())
}

fn lookup_sequence(name: &str, ctx: &ExecContext) -> Result<SequenceDef> {
    let parts: Vec<String> = name
        .split('.')
        .map(|p| {
            if p.starts_with('"') && p.ends_with('"') && p.len() >= 2 {
                p[1..p.len() - 1].to_string()
            } else {
                p.to_lowercase()
            }
        })
        .collect();
    let found = match parts.as_slice() {
        // An oid: 'name'::regclass was resolved when the call was bound.
        [n] if n.bytes().all(|b| b.is_ascii_digit()) => n
            .parse::<u32>()
            .ok()
            .and_then(|o| ctx.catalog.sequences.get(&o)),
        [n] => ctx.catalog.resolve_sequence(ctx.search_path, n),
        [s, n] => ctx.catalog.sequence_in(s, n),
        _ => None,
    };
    found.cloned().ok_or_else(|| SqlError::UndefinedTable {
        name: name.to_string(),
        position: None,
    })
}

fn eval_seq(func: SeqFunc, vals: &[Value], ctx: &mut ExecContext) -> Result<Value> {
    let name = match vals.first() {
        Some(Value::Text(s)) => s.clone(),
        Some(Value::Null) | None => return Ok(Value::Null),
        Some(other) => other.to_text(&ctx.call.types),
    };
    let seq = lookup_sequence(&name, ctx)?;
    match func {
        SeqFunc::Nextval => {
            let _g = ctx.seq_lock.lock();
            let (value, called) = ctx
                .engine
                .sequence_get(seq.oid)
                .unwrap_or((seq.start, false));
            let next = if !called {
                value
            } else {
                match value.checked_add(seq.increment) {
                    Some(n) if n <= seq.max && n >= seq.min => n,
                    _ if seq.cycle => {
                        if seq.increment > 0 {
                            seq.min
                        } else {
                            seq.max
                        }
                    }
                    _ => {
                        return Err(SqlError::SequenceLimit(format!(
                            "nextval: reached {} value of sequence \"{}\" ({})",
                            if seq.increment > 0 {
                                "maximum"
                            } else {
                                "minimum"
                            },
                            seq.name,
                            if seq.increment > 0 { seq.max } else { seq.min }
                        )))
                    }
                }
            };
            ctx.engine.sequence_set(seq.oid, next, true)?;
            ctx.sequence_advanced = true;
            ctx.currval.insert(seq.oid, next);
            Ok(Value::Int8(next))
        }
        SeqFunc::Currval => match ctx.currval.get(&seq.oid) {
            Some(v) => Ok(Value::Int8(*v)),
            None => Err(SqlError::ObjectNotInPrerequisiteState(format!(
                "currval of sequence \"{}\" is not yet defined in this session",
                seq.name
            ))),
        },
        SeqFunc::Setval => {
            let v = match vals.get(1) {
                Some(Value::Int8(v)) => *v,
                _ => return Ok(Value::Null),
            };
            let called = !matches!(vals.get(2), Some(Value::Bool(false)));
            if v < seq.min || v > seq.max {
                return Err(SqlError::SequenceLimit(format!(
                    "setval: value {v} is out of bounds for sequence \"{}\" ({}..{})",
                    seq.name, seq.min, seq.max
                )));
            }
            let _g = ctx.seq_lock.lock();
            ctx.engine.sequence_set(seq.oid, v, called)?;
            ctx.sequence_advanced = true;
            if called {
                ctx.currval.insert(seq.oid, v);
            }
            Ok(Value::Int8(v))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_patterns() {
        assert!(like("hello", "h%o", Some('\\')).unwrap());
        assert!(like("hello", "_ello", Some('\\')).unwrap());
        assert!(!like("hello", "h_o", Some('\\')).unwrap());
        assert!(like("50%", "50\\%", Some('\\')).unwrap());
        assert!(!like("500", "50\\%", Some('\\')).unwrap());
        assert!(like("a_b", "a#_b", Some('#')).unwrap());
        assert!(like("", "%", Some('\\')).unwrap());
        assert!(like("abcabc", "%abc", Some('\\')).unwrap());
    }
}
