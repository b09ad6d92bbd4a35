//! Arithmetic operators with Postgres's result types and errors: integer
//! overflow per type (22003), division by zero (22012), float overflow and
//! underflow, numeric scale rules, and date/time/interval arithmetic. Also
//! unary minus (`negate`) and `||` (`concat`).

use super::binary_io::value_type;
use super::datetime::{self, USECS_PER_DAY, USECS_PER_SEC};
use super::{numeric, ArithOp, Interval, Numeric, Result, TypeContext, TypeError, Value};
use bigdecimal::BigDecimal;

fn op_symbol(op: ArithOp) -> &'static str {
    match op {
        ArithOp::Add => "+",
        ArithOp::Sub => "-",
        ArithOp::Mul => "*",
        ArithOp::Div => "/",
        ArithOp::Mod => "%",
        ArithOp::Pow => "^",
    }
}

fn undefined(op: ArithOp, a: &Value, b: &Value) -> TypeError {
    TypeError::UndefinedOperator(format!(
        "{} {} {}",
        value_type(a).display_name(),
        op_symbol(op),
        value_type(b).display_name()
    ))
}

fn range_err(rank: u8) -> TypeError {
    TypeError::NumericValueOutOfRange(
        match rank {
            2 => "smallint out of range",
            4 => "integer out of range",
            _ => "bigint out of range",
        }
        .into(),
    )
}

fn int_of(v: &Value) -> Option<(i64, u8)> {
    match v {
        Value::Int2(i) => Some((*i as i64, 2)),
        Value::Int4(i) => Some((*i as i64, 4)),
        Value::Int8(i) => Some((*i, 8)),
        _ => None,
    }
}

fn make_int(v: i128, rank: u8) -> Result<Value> {
    match rank {
        2 => i16::try_from(v).map(Value::Int2).map_err(|_| range_err(2)),
        4 => i32::try_from(v).map(Value::Int4).map_err(|_| range_err(4)),
        _ => i64::try_from(v).map(Value::Int8).map_err(|_| range_err(8)),
    }
}

fn float_overflow() -> TypeError {
    TypeError::NumericValueOutOfRange("value out of range: overflow".into())
}

fn float_underflow() -> TypeError {
    TypeError::NumericValueOutOfRange("value out of range: underflow".into())
}

/// Postgres's `float8_pl` etc. with its overflow/underflow checks.
fn float_op(op: ArithOp, x: f64, y: f64, single: bool) -> Result<f64> {
    let r = match op {
        ArithOp::Add => x + y,
        ArithOp::Sub => x - y,
        ArithOp::Mul => x * y,
        ArithOp::Div => {
            if y == 0.0 && !y.is_nan() {
                return Err(TypeError::DivisionByZero);
            }
            x / y
        }
        ArithOp::Mod => {
            return Err(TypeError::UndefinedOperator(
                "double precision % double precision".into(),
            ))
        }
        ArithOp::Pow => return float_pow(x, y),
    };
    let (r_inf, r_zero) = if single {
        let f = r as f32;
        (f.is_infinite(), f == 0.0)
    } else {
        (r.is_infinite(), r == 0.0)
    };
    if r_inf && !x.is_infinite() && !y.is_infinite() {
        return Err(float_overflow());
    }
    if r_zero
        && matches!(op, ArithOp::Mul | ArithOp::Div)
        && x != 0.0
        && !y.is_infinite()
        && !(op == ArithOp::Mul && y == 0.0)
    {
        return Err(float_underflow());
    }
    Ok(r)
}

/// `dpow` with Postgres's errors (2201F reported as invalid parameter value).
pub fn float_pow(x: f64, y: f64) -> Result<f64> {
    if x == 0.0 && y < 0.0 {
        return Err(TypeError::InvalidArgumentForPower(
            "zero raised to a negative power is undefined".into(),
        ));
    }
    if x < 0.0 && y.is_finite() && y.floor() != y {
        return Err(TypeError::InvalidArgumentForPower(
            "a negative number raised to a non-integer power yields a complex result".into(),
        ));
    }
    if x.is_nan() {
        return Ok(if y == 0.0 { 1.0 } else { f64::NAN });
    }
    if y.is_nan() {
        return Ok(if x == 1.0 { 1.0 } else { f64::NAN });
    }
    let r = x.powf(y);
    if r.is_infinite() && x.is_finite() && y.is_finite() {
        return Err(float_overflow());
    }
    if r == 0.0 && x != 0.0 && y.is_finite() && x.is_finite() {
        return Err(float_underflow());
    }
    Ok(r)
}

fn to_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Float4(f) => Some(*f as f64),
        Value::Float8(f) => Some(*f),
        Value::Numeric(n) => Some(numeric::to_f64(n)),
        _ => int_of(v).map(|(i, _)| i as f64),
    }
}

fn to_numeric(v: &Value) -> Option<Numeric> {
    match v {
        Value::Numeric(n) => Some(n.clone()),
        _ => int_of(v).map(|(i, _)| numeric::from_i64(i)),
    }
}

fn numeric_op(op: ArithOp, a: &Numeric, b: &Numeric) -> Result<Numeric> {
    use Numeric::*;
    let (x, y) = match (a, b) {
        (Finite(x), Finite(y)) => (x, y),
        _ => return numeric_special(op, a, b),
    };
    Ok(Finite(match op {
        ArithOp::Add => numeric::add(x, y),
        ArithOp::Sub => numeric::add(x, &-y.clone()),
        ArithOp::Mul => numeric::mul(x, y),
        ArithOp::Div => numeric::div_to_scale(x, y, numeric::div_scale(x, y))?,
        ArithOp::Mod => numeric::rem(x, y)?,
        ArithOp::Pow => numeric::power(x, y)?,
    }))
}

/// NaN / Infinity rules of numeric arithmetic.
fn numeric_special(op: ArithOp, a: &Numeric, b: &Numeric) -> Result<Numeric> {
    use Numeric::*;
    let sign = |n: &Numeric| -> i32 {
        match n {
            PosInf => 1,
            NegInf => -1,
            Finite(d) => numeric::signum(d),
            NaN => 0,
        }
    };
    let inf = |s: i32| if s >= 0 { PosInf } else { NegInf };
    if matches!(a, NaN) || matches!(b, NaN) {
        if op == ArithOp::Div || op == ArithOp::Mod {
            if let Finite(d) = b {
                if d == &BigDecimal::from(0) && !matches!(a, NaN) {
                    return Err(TypeError::DivisionByZero);
                }
            }
        }
        return Ok(NaN);
    }
    let (ia, ib) = (!matches!(a, Finite(_)), !matches!(b, Finite(_)));
    Ok(match op {
        ArithOp::Add => {
            if ia && ib && sign(a) != sign(b) {
                NaN
            } else if ia {
                a.clone()
            } else {
                b.clone()
            }
        }
        ArithOp::Sub => {
            if ia && ib && sign(a) == sign(b) {
                NaN
            } else if ia {
                a.clone()
            } else {
                inf(-sign(b))
            }
        }
        ArithOp::Mul => {
            let s = sign(a) * sign(b);
            if s == 0 {
                NaN
            } else {
                inf(s)
            }
        }
        ArithOp::Div => {
            if ib && ia {
                NaN
            } else if ib {
                numeric::from_i64(0)
            } else if sign(b) == 0 {
                return Err(TypeError::DivisionByZero);
            } else {
                inf(sign(a) * sign(b))
            }
        }
        ArithOp::Mod => {
            if ia {
                if sign(b) == 0 {
                    return Err(TypeError::DivisionByZero);
                }
                NaN
            } else {
                a.clone()
            }
        }
        ArithOp::Pow => {
            let r = float_pow(numeric::to_f64(a), numeric::to_f64(b))?;
            numeric::from_f64(r, 15)
        }
    })
}

fn date_range() -> TypeError {
    TypeError::DatetimeFieldOverflow("date out of range".into())
}

fn interval_overflow() -> TypeError {
    TypeError::DatetimeFieldOverflow("interval out of range".into())
}

fn add_days(d: i32, n: i64) -> Result<Value> {
    if d == datetime::DATE_NEG_INF || d == datetime::DATE_POS_INF {
        return Ok(Value::Date(d));
    }
    let r = d as i64 + n;
    let r = i32::try_from(r).map_err(|_| date_range())?;
    if !datetime::is_valid_date(r) {
        return Err(date_range());
    }
    Ok(Value::Date(r))
}

fn neg_interval(iv: &Interval) -> Result<Interval> {
    Ok(Interval {
        months: iv.months.checked_neg().ok_or_else(interval_overflow)?,
        days: iv.days.checked_neg().ok_or_else(interval_overflow)?,
        micros: iv.micros.checked_neg().ok_or_else(interval_overflow)?,
    })
}

fn interval_add(a: &Interval, b: &Interval) -> Result<Interval> {
    Ok(Interval {
        months: a
            .months
            .checked_add(b.months)
            .ok_or_else(interval_overflow)?,
        days: a.days.checked_add(b.days).ok_or_else(interval_overflow)?,
        micros: a
            .micros
            .checked_add(b.micros)
            .ok_or_else(interval_overflow)?,
    })
}

fn tsround(x: f64) -> f64 {
    (x * 1e6).round_ties_even() / 1e6
}

/// `interval_mul`: fractional months and days cascade down.
pub fn interval_mul(iv: &Interval, factor: f64) -> Result<Interval> {
    if factor.is_nan() {
        return Err(interval_overflow());
    }
    let m = iv.months as f64 * factor;
    let d = iv.days as f64 * factor;
    if !(i32::MIN as f64..=i32::MAX as f64).contains(&m.trunc())
        || !(i32::MIN as f64..=i32::MAX as f64).contains(&d.trunc())
    {
        return Err(interval_overflow());
    }
    let months = m as i32;
    let mut days = d as i32;
    let month_remainder_days = tsround((m - months as f64) * 30.0);
    let mut sec_remainder =
        tsround((d - days as f64 + month_remainder_days - month_remainder_days.trunc()) * 86400.0);
    if sec_remainder.abs() >= 86400.0 {
        let whole = (sec_remainder / 86400.0).trunc();
        days += whole as i32;
        sec_remainder -= whole * 86400.0;
    }
    days += month_remainder_days as i32;
    let micros =
        (iv.micros as f64 * factor + sec_remainder * USECS_PER_SEC as f64).round_ties_even();
    if !micros.is_finite() || micros.abs() >= 9.2e18 {
        return Err(interval_overflow());
    }
    Ok(Interval {
        months,
        days,
        micros: micros as i64,
    })
}

fn interval_div(iv: &Interval, factor: f64) -> Result<Interval> {
    if factor == 0.0 {
        return Err(TypeError::DivisionByZero);
    }
    interval_mul(iv, 1.0 / factor)
}

fn ts_sub(a: i64, b: i64) -> Result<Value> {
    if a == i64::MIN || a == i64::MAX || b == i64::MIN || b == i64::MAX {
        return Err(TypeError::DatetimeFieldOverflow(
            "cannot subtract infinite timestamps".into(),
        ));
    }
    let d = a.checked_sub(b).ok_or_else(interval_overflow)?;
    Ok(Value::Interval(datetime::justify_hours(Interval {
        months: 0,
        days: 0,
        micros: d,
    })))
}

/// `arith` in a session time zone: timestamptz plus or minus an interval
/// adds the months and days in local time and keeps the wall-clock time across
/// a DST change (Postgres's `timestamptz_pl_interval`); everything else is
/// `arith`.
pub fn arith_in_zone(op: ArithOp, a: &Value, b: &Value, ctx: &TypeContext) -> Result<Value> {
    let (ts, iv) = match (op, a, b) {
        (ArithOp::Add | ArithOp::Sub, Value::Timestamptz(ts), Value::Interval(iv)) => (*ts, *iv),
        (ArithOp::Add, Value::Interval(iv), Value::Timestamptz(ts)) => (*ts, *iv),
        _ => return arith(op, a, b),
    };
    let iv = if op == ArithOp::Sub {
        neg_interval(&iv)?
    } else {
        iv
    };
    let mut t = ts;
    if iv.months != 0 {
        let local = ctx.to_local(t);
        let part = Interval {
            months: iv.months,
            ..Interval::default()
        };
        t = ctx.to_utc(datetime::timestamp_add_interval(local, &part)?);
    }
    if iv.days != 0 {
        let local = ctx.to_local(t);
        let part = Interval {
            days: iv.days,
            ..Interval::default()
        };
        t = ctx.to_utc(datetime::timestamp_add_interval(local, &part)?);
    }
    let part = Interval {
        micros: iv.micros,
        ..Interval::default()
    };
    Ok(Value::Timestamptz(datetime::timestamp_add_interval(
        t, &part,
    )?))
}

/// Arithmetic on two non-NULL values with Postgres's result types and errors
/// (integer overflow 22003, division by zero 22012, numeric scale rules,
/// date/time/interval arithmetic).
pub fn arith(op: ArithOp, a: &Value, b: &Value) -> Result<Value> {
    use Value::*;
    if let (Some((x, ra)), Some((y, rb))) = (int_of(a), int_of(b)) {
        let rank = ra.max(rb);
        let (x, y) = (x as i128, y as i128);
        return match op {
            ArithOp::Add => make_int(x + y, rank),
            ArithOp::Sub => make_int(x - y, rank),
            ArithOp::Mul => make_int(x * y, rank),
            ArithOp::Div => {
                if y == 0 {
                    return Err(TypeError::DivisionByZero);
                }
                make_int(x / y, rank)
            }
            ArithOp::Mod => {
                if y == 0 {
                    return Err(TypeError::DivisionByZero);
                }
                make_int(x % y, rank)
            }
            ArithOp::Pow => Ok(Float8(float_pow(x as f64, y as f64)?)),
        };
    }
    match (a, b) {
        (Float4(x), Float4(y)) => {
            if op == ArithOp::Mod {
                return Err(undefined(op, a, b));
            }
            if op == ArithOp::Pow {
                return Ok(Float8(float_pow(*x as f64, *y as f64)?));
            }
            let r = float_op(op, *x as f64, *y as f64, true)?;
            Ok(Float4(r as f32))
        }
        (
            Float4(_) | Float8(_),
            Float4(_) | Float8(_) | Int2(_) | Int4(_) | Int8(_) | Numeric(_),
        )
        | (Int2(_) | Int4(_) | Int8(_) | Numeric(_), Float4(_) | Float8(_)) => {
            if op == ArithOp::Mod {
                return Err(undefined(op, a, b));
            }
            let (x, y) = (to_f64(a).unwrap_or(f64::NAN), to_f64(b).unwrap_or(f64::NAN));
            Ok(Float8(float_op(op, x, y, false)?))
        }
        (Numeric(_), Numeric(_) | Int2(_) | Int4(_) | Int8(_))
        | (Int2(_) | Int4(_) | Int8(_), Numeric(_)) => {
            let (Some(x), Some(y)) = (to_numeric(a), to_numeric(b)) else {
                return Err(undefined(op, a, b));
            };
            Ok(Numeric(numeric_op(op, &x, &y)?))
        }
        (Date(d), Int2(_) | Int4(_) | Int8(_)) => {
            let n = int_of(b).map_or(0, |(i, _)| i);
            match op {
                ArithOp::Add => add_days(*d, n),
                ArithOp::Sub => add_days(*d, -n),
                _ => Err(undefined(op, a, b)),
            }
        }
        (Int2(_) | Int4(_) | Int8(_), Date(d)) if op == ArithOp::Add => {
            add_days(*d, int_of(a).map_or(0, |(i, _)| i))
        }
        (Date(x), Date(y)) if op == ArithOp::Sub => {
            if [*x, *y]
                .iter()
                .any(|d| *d == datetime::DATE_NEG_INF || *d == datetime::DATE_POS_INF)
            {
                return Err(TypeError::DatetimeFieldOverflow(
                    "cannot subtract infinite dates".into(),
                ));
            }
            Ok(Int4(x - y))
        }
        (Date(d), Interval(iv)) => {
            let ts = datetime::date_to_timestamp(*d)?;
            let iv = match op {
                ArithOp::Add => *iv,
                ArithOp::Sub => neg_interval(iv)?,
                _ => return Err(undefined(op, a, b)),
            };
            Ok(Timestamp(datetime::timestamp_add_interval(ts, &iv)?))
        }
        (Interval(iv), Date(d)) if op == ArithOp::Add => {
            let ts = datetime::date_to_timestamp(*d)?;
            Ok(Timestamp(datetime::timestamp_add_interval(ts, iv)?))
        }
        (Date(d), Time(t)) | (Time(t), Date(d)) if op == ArithOp::Add => {
            let ts = datetime::date_to_timestamp(*d)?;
            Ok(Timestamp(ts.saturating_add(*t)))
        }
        (Timestamp(ts), Interval(iv)) | (Timestamptz(ts), Interval(iv)) => {
            let iv = match op {
                ArithOp::Add => *iv,
                ArithOp::Sub => neg_interval(iv)?,
                _ => return Err(undefined(op, a, b)),
            };
            let r = datetime::timestamp_add_interval(*ts, &iv)?;
            Ok(if matches!(a, Timestamp(_)) {
                Timestamp(r)
            } else {
                Timestamptz(r)
            })
        }
        (Interval(iv), Timestamp(ts)) | (Interval(iv), Timestamptz(ts)) if op == ArithOp::Add => {
            let r = datetime::timestamp_add_interval(*ts, iv)?;
            Ok(if matches!(b, Timestamp(_)) {
                Timestamp(r)
            } else {
                Timestamptz(r)
            })
        }
        (Timestamp(x), Timestamp(y)) | (Timestamptz(x), Timestamptz(y)) if op == ArithOp::Sub => {
            ts_sub(*x, *y)
        }
        (Timestamp(x), Date(d)) | (Timestamptz(x), Date(d)) if op == ArithOp::Sub => {
            ts_sub(*x, datetime::date_to_timestamp(*d)?)
        }
        (Date(d), Timestamp(y)) | (Date(d), Timestamptz(y)) if op == ArithOp::Sub => {
            ts_sub(datetime::date_to_timestamp(*d)?, *y)
        }
        (Time(t), Interval(iv)) => {
            let m = match op {
                ArithOp::Add => iv.micros,
                ArithOp::Sub => iv.micros.wrapping_neg(),
                _ => return Err(undefined(op, a, b)),
            };
            Ok(Time((t + m % USECS_PER_DAY).rem_euclid(USECS_PER_DAY)))
        }
        (Interval(iv), Time(t)) if op == ArithOp::Add => Ok(Time(
            (t + iv.micros % USECS_PER_DAY).rem_euclid(USECS_PER_DAY),
        )),
        (Time(x), Time(y)) if op == ArithOp::Sub => Ok(Interval(super::Interval {
            months: 0,
            days: 0,
            micros: x - y,
        })),
        (Interval(x), Interval(y)) => match op {
            ArithOp::Add => Ok(Interval(interval_add(x, y)?)),
            ArithOp::Sub => Ok(Interval(interval_add(x, &neg_interval(y)?)?)),
            _ => Err(undefined(op, a, b)),
        },
        (Interval(iv), Int2(_) | Int4(_) | Int8(_) | Float4(_) | Float8(_) | Numeric(_)) => {
            let f = to_f64(b).unwrap_or(f64::NAN);
            match op {
                ArithOp::Mul => Ok(Interval(interval_mul(iv, f)?)),
                ArithOp::Div => Ok(Interval(interval_div(iv, f)?)),
                _ => Err(undefined(op, a, b)),
            }
        }
        (Int2(_) | Int4(_) | Int8(_) | Float4(_) | Float8(_) | Numeric(_), Interval(iv))
            if op == ArithOp::Mul =>
        {
            Ok(Interval(interval_mul(iv, to_f64(a).unwrap_or(f64::NAN))?))
        }
        _ => Err(undefined(op, a, b)),
    }
}

/// Unary minus with Postgres's overflow errors.
pub fn negate(v: &Value) -> Result<Value> {
    use Value::*;
    Ok(match v {
        Null => Null,
        Int2(i) => Int2(i.checked_neg().ok_or_else(|| range_err(2))?),
        Int4(i) => Int4(i.checked_neg().ok_or_else(|| range_err(4))?),
        Int8(i) => Int8(i.checked_neg().ok_or_else(|| range_err(8))?),
        Float4(f) => Float4(-f),
        Float8(f) => Float8(-f),
        Numeric(n) => Numeric(match n {
            super::Numeric::Finite(d) => super::Numeric::Finite(-d.clone()),
            super::Numeric::PosInf => super::Numeric::NegInf,
            super::Numeric::NegInf => super::Numeric::PosInf,
            super::Numeric::NaN => super::Numeric::NaN,
        }),
        Interval(iv) => Interval(neg_interval(iv)?),
        other => {
            return Err(TypeError::UndefinedOperator(format!(
                "- {}",
                value_type(other).display_name()
            )))
        }
    })
}

/// `||`: text concatenation (a non-text operand is converted with its
/// output function), bytea concatenation, and array concatenation /
/// append / prepend. NULL operands give NULL, except that an array
/// concatenated with NULL gives the array (Postgres's `array_cat`).
pub fn concat(a: &Value, b: &Value) -> Result<Value> {
    use Value::*;
    let ctx = TypeContext::default();
    Ok(match (a, b) {
        (Array(x), Array(y)) => Array(x.iter().chain(y.iter()).cloned().collect()),
        (Array(x), Null) => Array(x.clone()),
        (Null, Array(y)) => Array(y.clone()),
        (Array(x), e) => {
            let mut v = x.clone();
            v.push(e.clone());
            Array(v)
        }
        (e, Array(y)) => {
            let mut v = Vec::with_capacity(y.len() + 1);
            v.push(e.clone());
            v.extend(y.iter().cloned());
            Array(v)
        }
        (Null, _) | (_, Null) => Null,
        (Bytea(x), Bytea(y)) => {
            let mut v = x.clone();
            v.extend_from_slice(y);
            Bytea(v)
        }
        (Text(_), _) | (_, Text(_)) => {
            let mut s = a.to_text(&ctx);
            b.write_text(&ctx, &mut s);
            Text(s)
        }
        _ => {
            return Err(TypeError::UndefinedOperator(format!(
                "{} || {}",
                value_type(a).display_name(),
                value_type(b).display_name()
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{parse_text, DataType};

    fn num(s: &str) -> Value {
        parse_text(s, &DataType::Numeric(None), &TypeContext::default()).unwrap()
    }
    fn text(v: &Value) -> String {
        v.to_text(&TypeContext::default())
    }

    #[test]
    fn integers() {
        assert_eq!(
            arith(ArithOp::Add, &Value::Int2(1), &Value::Int2(2)),
            Ok(Value::Int2(3))
        );
        assert_eq!(
            arith(ArithOp::Add, &Value::Int2(1), &Value::Int8(2)),
            Ok(Value::Int8(3))
        );
        assert_eq!(
            arith(ArithOp::Div, &Value::Int4(7), &Value::Int4(-2)),
            Ok(Value::Int4(-3))
        );
        assert_eq!(
            arith(ArithOp::Mod, &Value::Int4(-7), &Value::Int4(2)),
            Ok(Value::Int4(-1))
        );
        assert_eq!(
            arith(ArithOp::Add, &Value::Int4(i32::MAX), &Value::Int4(1))
                .unwrap_err()
                .to_string(),
            "integer out of range"
        );
        assert_eq!(
            arith(ArithOp::Div, &Value::Int4(1), &Value::Int4(0)),
            Err(TypeError::DivisionByZero)
        );
        assert!(arith(ArithOp::Mul, &Value::Int2(300), &Value::Int2(300)).is_err());
        assert_eq!(
            arith(ArithOp::Div, &Value::Int8(i64::MIN), &Value::Int8(-1))
                .unwrap_err()
                .to_string(),
            "bigint out of range"
        );
        assert_eq!(
            arith(ArithOp::Pow, &Value::Int4(2), &Value::Int4(10)),
            Ok(Value::Float8(1024.0))
        );
    }

    #[test]
    fn numerics() {
        assert_eq!(
            text(&arith(ArithOp::Div, &Value::Int4(1), &num("3")).unwrap()),
            "0.33333333333333333333"
        );
        assert_eq!(
            text(&arith(ArithOp::Mul, &num("1.5"), &num("2.25")).unwrap()),
            "3.375"
        );
        assert_eq!(
            text(&arith(ArithOp::Add, &num("1.5"), &num("2.25")).unwrap()),
            "3.75"
        );
        assert_eq!(
            text(&arith(ArithOp::Mod, &num("10.5"), &num("3")).unwrap()),
            "1.5"
        );
        assert_eq!(
            arith(ArithOp::Div, &num("1"), &num("0")),
            Err(TypeError::DivisionByZero)
        );
    }

    #[test]
    fn floats() {
        assert_eq!(
            arith(ArithOp::Mul, &Value::Float8(1e300), &Value::Float8(1e300))
                .unwrap_err()
                .to_string(),
            "value out of range: overflow"
        );
        assert_eq!(
            arith(ArithOp::Div, &Value::Float8(1.0), &Value::Float8(0.0)),
            Err(TypeError::DivisionByZero)
        );
        assert_eq!(
            arith(ArithOp::Add, &Value::Float8(0.1), &Value::Int4(1)),
            Ok(Value::Float8(1.1))
        );
    }

    #[test]
    fn datetimes() {
        let c = TypeContext::default();
        let d = parse_text("2024-01-31", &DataType::Date, &c).unwrap();
        let mon = parse_text("1 mon", &DataType::Interval, &c).unwrap();
        assert_eq!(
            text(&arith(ArithOp::Add, &d, &mon).unwrap()),
            "2024-02-29 00:00:00"
        );
        assert_eq!(
            text(&arith(ArithOp::Add, &d, &Value::Int4(1)).unwrap()),
            "2024-02-01"
        );
        let d2 = parse_text("2024-01-01", &DataType::Date, &c).unwrap();
        assert_eq!(arith(ArithOp::Sub, &d, &d2), Ok(Value::Int4(30)));
        let t1 = parse_text("2024-01-02 03:00", &DataType::Timestamp, &c).unwrap();
        let t2 = parse_text("2024-01-01 00:00", &DataType::Timestamp, &c).unwrap();
        assert_eq!(
            text(&arith(ArithOp::Sub, &t1, &t2).unwrap()),
            "1 day 03:00:00"
        );
        let h = parse_text("1 day 1 hour", &DataType::Interval, &c).unwrap();
        assert_eq!(
            text(&arith(ArithOp::Mul, &h, &Value::Float8(1.5)).unwrap()),
            "1 day 13:30:00"
        );
        let m = parse_text("1 mon", &DataType::Interval, &c).unwrap();
        assert_eq!(
            text(&arith(ArithOp::Div, &m, &Value::Int4(4)).unwrap()),
            "7 days 12:00:00"
        );
    }

    #[test]
    fn negation_and_concat() {
        assert!(negate(&Value::Int4(i32::MIN)).is_err());
        assert_eq!(negate(&Value::Int2(5)), Ok(Value::Int2(-5)));
        assert_eq!(
            concat(&Value::Text("a".into()), &Value::Int4(1)),
            Ok(Value::Text("a1".into()))
        );
        assert_eq!(
            concat(&Value::Array(vec![Value::Int4(1)]), &Value::Int4(2)),
            Ok(Value::Array(vec![Value::Int4(1), Value::Int4(2)]))
        );
    }
}
