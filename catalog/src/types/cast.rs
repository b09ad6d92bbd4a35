//! Casts between types with Postgres's rules: integer narrowing with range
//! errors, float -> int rounding half to even, numeric -> int rounding half
//! away from zero, numeric(p,s) rounding, char(n)/varchar(n) length rules
//! (explicit casts truncate, assignment errors), date/timestamp/timestamptz
//! conversions in the session zone, and text I/O for everything else.

use super::binary_io::value_type;
use super::datetime::{self, USECS_PER_DAY};
use super::text_io::{apply_char_limit, parse_text};
use super::{numeric, DataType, Interval, Numeric, Result, TypeContext, TypeError, Value};

fn int_range(ty: &DataType) -> (i64, i64, &'static str) {
    match ty {
        DataType::Int2 => (i16::MIN as i64, i16::MAX as i64, "smallint out of range"),
        DataType::Int4 => (i32::MIN as i64, i32::MAX as i64, "integer out of range"),
        _ => (i64::MIN, i64::MAX, "bigint out of range"),
    }
}

fn make_int(v: i64, ty: &DataType) -> Result<Value> {
    let (lo, hi, msg) = int_range(ty);
    if v < lo || v > hi {
        return Err(TypeError::NumericValueOutOfRange(msg.into()));
    }
    Ok(match ty {
        DataType::Int2 => Value::Int2(v as i16),
        DataType::Int4 => Value::Int4(v as i32),
        DataType::Oid
        | DataType::Regclass
        | DataType::Regtype
        | DataType::Regproc
        | DataType::Regprocedure
        | DataType::Regnamespace
        | DataType::Regrole => Value::Oid(v as u32),
        _ => Value::Int8(v),
    })
}

fn float_to_int(f: f64, ty: &DataType) -> Result<Value> {
    let (_, _, msg) = int_range(ty);
    let r = f.round_ties_even();
    // i64 bounds are not exactly representable; compare in f64 like Postgres.
    if r.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&r) {
        return Err(TypeError::NumericValueOutOfRange(msg.into()));
    }
    make_int(r as i64, ty)
}

fn with_typmod(n: Numeric, ty: &DataType) -> Result<Value> {
    match ty {
        DataType::Numeric(Some((p, s))) => Ok(Value::Numeric(numeric::apply_typmod(n, *p, *s)?)),
        _ => Ok(Value::Numeric(n)),
    }
}

fn cannot(v: &Value, to: &DataType) -> TypeError {
    TypeError::CannotCoerce {
        from: value_type(v).display_name(),
        to: to.display_name(),
    }
}

/// Cast `v` to `to`. `explicit` is true for CAST/`::` (varchar(n) truncates,
/// numeric rounds) and false for assignment (too long is error 22001).
pub fn cast(v: Value, to: &DataType, explicit: bool, ctx: &TypeContext) -> Result<Value> {
    use DataType as T;
    use Value as V;
    if v.is_null() || matches!(to, T::Unknown) {
        return Ok(v);
    }
    // Anything to a string type: its output function (booleans spell out).
    if to.is_string() {
        let s = match v {
            V::Text(s) | V::Json(s) | V::Jsonb(s) => s,
            V::Bool(b) => (if b { "true" } else { "false" }).to_string(),
            other => other.to_text(ctx),
        };
        return Ok(V::Text(apply_char_limit(s, to, explicit)?));
    }
    match (v, to) {
        // Strings (and untyped literals) read with the input function.
        (V::Text(s), T::Json) => {
            if super::json::parse(&s).is_none() {
                return Err(TypeError::InvalidTextRepresentation {
                    type_name: "json".into(),
                    value: s,
                });
            }
            Ok(V::Json(s))
        }
        (V::Text(s), _) => parse_text(&s, to, ctx),
        (V::Json(s), T::Jsonb) | (V::Jsonb(s), T::Jsonb) => Ok(V::Jsonb(
            super::json::normalize(&s).ok_or(TypeError::InvalidTextRepresentation {
                type_name: "json".into(),
                value: s,
            })?,
        )),
        (V::Json(s), T::Json) | (V::Jsonb(s), T::Json) => Ok(V::Json(s)),
        (v @ (V::Int2(_) | V::Int4(_) | V::Int8(_) | V::Oid(_)), _) => {
            let i = match v {
                V::Int2(i) => i as i64,
                V::Int4(i) => i as i64,
                V::Int8(i) => i,
                V::Oid(i) => i as i64,
                _ => 0,
            };
            match to {
                T::Int2 | T::Int4 | T::Int8 => make_int(i, to),
                T::Oid
                | T::Regclass
                | T::Regtype
                | T::Regproc
                | T::Regprocedure
                | T::Regnamespace
                | T::Regrole => {
                    if !(0..=u32::MAX as i64).contains(&i) && !matches!(v, V::Int4(_)) {
                        return Err(TypeError::NumericValueOutOfRange("OID out of range".into()));
                    }
                    Ok(V::Oid(i as u32))
                }
                T::Float4 => Ok(V::Float4(i as f32)),
                T::Float8 => Ok(V::Float8(i as f64)),
                T::Numeric(_) => with_typmod(numeric::from_i64(i), to),
                T::Bool if matches!(v, V::Int4(_)) => Ok(V::Bool(i != 0)),
                _ => Err(cannot(&v, to)),
            }
        }
        (V::Float4(f), T::Float4) => Ok(V::Float4(f)),
        (V::Float4(f), T::Float8) => Ok(V::Float8(f as f64)),
        (V::Float8(f), T::Float8) => Ok(V::Float8(f)),
        (V::Float8(f), T::Float4) => {
            let r = f as f32;
            if r.is_infinite() && f.is_finite() {
                return Err(TypeError::NumericValueOutOfRange(
                    "value out of range: overflow".into(),
                ));
            }
            if r == 0.0 && f != 0.0 {
                return Err(TypeError::NumericValueOutOfRange(
                    "value out of range: underflow".into(),
                ));
            }
            Ok(V::Float4(r))
        }
        (V::Float4(f), T::Int2 | T::Int4 | T::Int8) => float_to_int(f as f64, to),
        (V::Float8(f), T::Int2 | T::Int4 | T::Int8) => float_to_int(f, to),
        (V::Float4(f), T::Numeric(_)) => with_typmod(numeric::from_f64(f as f64, 6), to),
        (V::Float8(f), T::Numeric(_)) => with_typmod(numeric::from_f64(f, 15), to),
        (V::Numeric(n), T::Numeric(_)) => with_typmod(n, to),
        (V::Numeric(n), T::Float8) => Ok(V::Float8(numeric::to_f64(&n))),
        (V::Numeric(n), T::Float4) => Ok(V::Float4(numeric::to_f64(&n) as f32)),
        (V::Numeric(n), T::Int2 | T::Int4 | T::Int8) => match &n {
            Numeric::NaN => Err(TypeError::NumericValueOutOfRange(format!(
                "cannot convert NaN to {}",
                to.display_name()
            ))),
            Numeric::PosInf | Numeric::NegInf => Err(TypeError::NumericValueOutOfRange(format!(
                "cannot convert infinity to {}",
                to.display_name()
            ))),
            Numeric::Finite(_) => match numeric::to_i64_round(&n) {
                Some(i) => make_int(i, to),
                None => Err(TypeError::NumericValueOutOfRange(int_range(to).2.into())),
            },
        },
        (V::Bool(b), T::Bool) => Ok(V::Bool(b)),
        (V::Bool(b), T::Int4) => Ok(V::Int4(b as i32)),
        (V::Bytea(b), T::Bytea) => Ok(V::Bytea(b)),
        (V::Uuid(u), T::Uuid) => Ok(V::Uuid(u)),
        (V::Date(d), T::Date) => Ok(V::Date(d)),
        (V::Date(d), T::Timestamp) => Ok(V::Timestamp(datetime::date_to_timestamp(d)?)),
        (V::Date(d), T::Timestamptz) => {
            let ts = datetime::date_to_timestamp(d)?;
            Ok(V::Timestamptz(to_utc(ts, ctx)))
        }
        (V::Timestamp(t), T::Timestamp) => Ok(V::Timestamp(t)),
        (V::Timestamp(t), T::Date) => Ok(V::Date(datetime::timestamp_to_date(t))),
        (V::Timestamp(t), T::Timestamptz) => Ok(V::Timestamptz(to_utc(t, ctx))),
        (V::Timestamp(t), T::Time) => Ok(V::Time(t.rem_euclid(USECS_PER_DAY))),
        (V::Timestamptz(t), T::Timestamptz) => Ok(V::Timestamptz(t)),
        (V::Timestamptz(t), T::Timestamp) => Ok(V::Timestamp(to_local(t, ctx))),
        (V::Timestamptz(t), T::Date) => Ok(V::Date(datetime::timestamp_to_date(to_local(t, ctx)))),
        (V::Timestamptz(t), T::Time) => Ok(V::Time(to_local(t, ctx).rem_euclid(USECS_PER_DAY))),
        (V::Time(t), T::Time) => Ok(V::Time(t)),
        (V::Time(t), T::Interval) => Ok(V::Interval(Interval {
            months: 0,
            days: 0,
            micros: t,
        })),
        (V::Interval(iv), T::Interval) => Ok(V::Interval(iv)),
        (V::Interval(iv), T::Time) => Ok(V::Time(iv.micros.rem_euclid(USECS_PER_DAY))),
        (V::Array(items), T::Int2Vector | T::OidVector) => {
            let elem = to.vector_element().unwrap_or(T::Int2);
            let mut out = Vec::with_capacity(items.len());
            for it in items {
                out.push(cast(it, &elem, explicit, ctx)?);
            }
            Ok(V::Array(out))
        }
        (V::Array(items), T::Array(elem)) => {
            let mut out = Vec::with_capacity(items.len());
            for it in items {
                out.push(cast(it, elem, explicit, ctx)?);
            }
            Ok(V::Array(out))
        }
        (v, _) => Err(cannot(&v, to)),
    }
}

/// Cast knowing the source type: `char(n)` loses its trailing blanks when
/// it becomes text or varchar (`rtrim` in `bpchar_text`), then `cast`.
pub fn cast_from(
    v: Value,
    from: &DataType,
    to: &DataType,
    explicit: bool,
    ctx: &TypeContext,
) -> Result<Value> {
    // An int2vector / oidvector prints as blank-separated numbers.
    if from.vector_element().is_some() && to.is_string() {
        let s = super::text_io::format_as(&v, from, ctx);
        return cast(Value::Text(s), to, explicit, ctx);
    }
    if let (DataType::Char(_), Value::Text(s)) = (from, &v) {
        if matches!(to, DataType::Text | DataType::Varchar(_) | DataType::Name) {
            let t = s.trim_end_matches(' ').to_string();
            return cast(Value::Text(t), to, explicit, ctx);
        }
    }
    cast(v, to, explicit, ctx)
}

fn to_utc(ts: i64, ctx: &TypeContext) -> i64 {
    ctx.to_utc(ts)
}

fn to_local(ts: i64, ctx: &TypeContext) -> i64 {
    ctx.to_local(ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c() -> TypeContext {
        TypeContext::default()
    }
    fn txt(v: &Value) -> String {
        v.to_text(&c())
    }

    #[test]
    fn integers_and_floats() {
        assert_eq!(
            cast(Value::Int4(70000), &DataType::Int2, true, &c())
                .unwrap_err()
                .to_string(),
            "smallint out of range"
        );
        assert_eq!(
            cast(Value::Float8(2.5), &DataType::Int4, true, &c()),
            Ok(Value::Int4(2))
        );
        assert_eq!(
            cast(Value::Float8(3.5), &DataType::Int4, true, &c()),
            Ok(Value::Int4(4))
        );
        assert_eq!(
            cast(Value::Float8(-2.5), &DataType::Int4, true, &c()),
            Ok(Value::Int4(-2))
        );
        let n = parse_text("2.5", &DataType::Numeric(None), &c()).unwrap();
        assert_eq!(
            cast(n.clone(), &DataType::Int4, true, &c()),
            Ok(Value::Int4(3))
        );
        let n = parse_text("-2.5", &DataType::Numeric(None), &c()).unwrap();
        assert_eq!(cast(n, &DataType::Int4, true, &c()), Ok(Value::Int4(-3)));
        assert_eq!(
            cast(Value::Int8(1 << 40), &DataType::Int4, true, &c())
                .unwrap_err()
                .to_string(),
            "integer out of range"
        );
        let n = cast(Value::Float8(0.1), &DataType::Numeric(None), true, &c()).unwrap();
        assert_eq!(txt(&n), "0.1");
        let n = cast(
            Value::Float8(1.0 / 3.0),
            &DataType::Numeric(Some((10, 4))),
            true,
            &c(),
        )
        .unwrap();
        assert_eq!(txt(&n), "0.3333");
        assert_eq!(
            cast(Value::Bool(true), &DataType::Int4, true, &c()),
            Ok(Value::Int4(1))
        );
        assert_eq!(
            cast(Value::Bool(true), &DataType::Text, true, &c()),
            Ok(Value::Text("true".into()))
        );
    }

    #[test]
    fn strings() {
        let v = Value::Text("abcdef".into());
        assert_eq!(
            cast(v.clone(), &DataType::Varchar(Some(3)), true, &c()),
            Ok(Value::Text("abc".into()))
        );
        assert_eq!(
            cast(v, &DataType::Varchar(Some(3)), false, &c())
                .unwrap_err()
                .to_string(),
            "value too long for type character varying(3)"
        );
        assert_eq!(
            cast(Value::Text("42".into()), &DataType::Int4, true, &c()),
            Ok(Value::Int4(42))
        );
        assert_eq!(
            cast_from(
                Value::Text("ab  ".into()),
                &DataType::Char(Some(4)),
                &DataType::Text,
                true,
                &c()
            ),
            Ok(Value::Text("ab".into()))
        );
        assert_eq!(
            cast(Value::Int4(5), &DataType::Char(Some(3)), true, &c()),
            Ok(Value::Text("5  ".into()))
        );
    }

    #[test]
    fn datetimes() {
        let ctx = TypeContext::new(std::sync::Arc::new(crate::types::TimeZone::fixed(
            "+02", 7200, "+02",
        )));
        let d = parse_text("2024-01-05", &DataType::Date, &ctx).unwrap();
        let tz = cast(d.clone(), &DataType::Timestamptz, true, &ctx).unwrap();
        assert_eq!(tz.to_text(&ctx), "2024-01-05 00:00:00+02");
        assert_eq!(tz.to_text(&c()), "2024-01-04 22:00:00+00");
        assert_eq!(cast(tz, &DataType::Date, true, &ctx), Ok(d.clone()));
        let ts = cast(d, &DataType::Timestamp, true, &ctx).unwrap();
        assert_eq!(txt(&ts), "2024-01-05 00:00:00");
    }
}
