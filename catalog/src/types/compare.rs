//! Ordering and hashing of values. `compare` is the one total order used by
//! ORDER BY, comparison operators, DISTINCT and GROUP BY; `hash_value` agrees
//! with its equality so hash joins and hash aggregates group the same rows.

use super::{datetime, numeric, Numeric, Value};
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

/// Floats the Postgres way: NaN equals NaN and sorts above everything.
pub fn cmp_f64(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Int2(i) => Some(*i as i64),
        Value::Int4(i) => Some(*i as i64),
        Value::Int8(i) => Some(*i),
        Value::Oid(i) => Some(*i as i64),
        _ => None,
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Float4(f) => Some(*f as f64),
        Value::Float8(f) => Some(*f),
        Value::Numeric(n) => Some(numeric::to_f64(n)),
        _ => as_i64(v).map(|i| i as f64),
    }
}

fn as_numeric(v: &Value) -> Option<Numeric> {
    match v {
        Value::Numeric(n) => Some(n.clone()),
        _ => as_i64(v).map(numeric::from_i64),
    }
}

fn as_ts(v: &Value) -> Option<i64> {
    match v {
        Value::Timestamp(t) | Value::Timestamptz(t) => Some(*t),
        Value::Date(d) => Some(datetime::date_to_timestamp(*d).unwrap_or(if *d < 0 {
            i64::MIN
        } else {
            i64::MAX
        })),
        _ => None,
    }
}

fn rank(v: &Value) -> u8 {
    match v {
        Value::Bool(_) => 0,
        Value::Int2(_) | Value::Int4(_) | Value::Int8(_) | Value::Oid(_) => 1,
        Value::Float4(_) | Value::Float8(_) | Value::Numeric(_) => 1,
        Value::Text(_) | Value::Json(_) | Value::Jsonb(_) => 2,
        Value::Bytea(_) => 3,
        Value::Date(_) | Value::Timestamp(_) | Value::Timestamptz(_) => 4,
        Value::Time(_) => 5,
        Value::Interval(_) => 6,
        Value::Uuid(_) => 7,
        Value::Array(_) => 8,
        Value::Null => 9,
    }
}

/// Total order used by ORDER BY, comparisons, DISTINCT and GROUP BY for two
/// non-NULL values of the same type (after the binder has coerced them).
/// Floats follow Postgres: NaN is equal to NaN and greater than everything.
/// Mixed numeric types compare by value; NULL sorts last.
pub fn compare(a: &Value, b: &Value) -> Ordering {
    use Value::*;
    match (a, b) {
        (Null, Null) => Ordering::Equal,
        (Null, _) => Ordering::Greater,
        (_, Null) => Ordering::Less,
        (Bool(x), Bool(y)) => x.cmp(y),
        (Text(x) | Json(x) | Jsonb(x), Text(y) | Json(y) | Jsonb(y)) => {
            x.as_bytes().cmp(y.as_bytes())
        }
        (Bytea(x), Bytea(y)) => x.cmp(y),
        (Numeric(x), Numeric(y)) => numeric::cmp(x, y),
        (Float4(_) | Float8(_), _) | (_, Float4(_) | Float8(_)) => match (as_f64(a), as_f64(b)) {
            (Some(x), Some(y)) => cmp_f64(x, y),
            _ => rank(a).cmp(&rank(b)),
        },
        (Numeric(_), _) | (_, Numeric(_)) => match (as_numeric(a), as_numeric(b)) {
            (Some(x), Some(y)) => numeric::cmp(&x, &y),
            _ => rank(a).cmp(&rank(b)),
        },
        (Date(x), Date(y)) => x.cmp(y),
        (Time(x), Time(y)) => x.cmp(y),
        (Interval(x), Interval(y)) => datetime::interval_span(x).cmp(&datetime::interval_span(y)),
        (Uuid(x), Uuid(y)) => x.cmp(y),
        (Array(x), Array(y)) => {
            for (p, q) in x.iter().zip(y.iter()) {
                let o = compare(p, q);
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        _ => {
            if let (Some(x), Some(y)) = (as_i64(a), as_i64(b)) {
                return x.cmp(&y);
            }
            if let (Some(x), Some(y)) = (as_ts(a), as_ts(b)) {
                return x.cmp(&y);
            }
            rank(a).cmp(&rank(b))
        }
    }
}

/// Hash consistent with `compare` equality within one type: `1.0` and `1.00`
/// hash alike, `-0.0` and `0.0` alike, all NaNs alike, intervals by span.
pub fn hash_value<H: Hasher>(v: &Value, state: &mut H) {
    match v {
        Value::Null => 0u8.hash(state),
        Value::Bool(b) => b.hash(state),
        Value::Int2(i) => (*i as i64).hash(state),
        Value::Int4(i) => (*i as i64).hash(state),
        Value::Int8(i) => i.hash(state),
        Value::Oid(i) => (*i as i64).hash(state),
        Value::Float4(f) => hash_f64(*f as f64, state),
        Value::Float8(f) => hash_f64(*f, state),
        Value::Numeric(n) => match n {
            Numeric::Finite(d) => numeric::normalize(d).hash(state),
            other => std::mem::discriminant(other).hash(state),
        },
        Value::Text(s) | Value::Json(s) | Value::Jsonb(s) => s.as_bytes().hash(state),
        Value::Bytea(b) => b.hash(state),
        Value::Date(d) => d.hash(state),
        Value::Time(t) | Value::Timestamp(t) | Value::Timestamptz(t) => t.hash(state),
        Value::Interval(iv) => datetime::interval_span(iv).hash(state),
        Value::Uuid(u) => u.hash(state),
        Value::Array(items) => {
            items.len().hash(state);
            for it in items {
                hash_value(it, state);
            }
        }
    }
}

fn hash_f64<H: Hasher>(f: f64, state: &mut H) {
    if f.is_nan() {
        u64::MAX.hash(state)
    } else if f == 0.0 {
        0u64.hash(state)
    } else {
        f.to_bits().hash(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{parse_text, DataType, Interval, TypeContext};
    use std::collections::hash_map::DefaultHasher;

    fn h(v: &Value) -> u64 {
        let mut s = DefaultHasher::new();
        hash_value(v, &mut s);
        s.finish()
    }

    #[test]
    fn floats_nan_last() {
        assert_eq!(
            compare(&Value::Float8(f64::NAN), &Value::Float8(f64::INFINITY)),
            Ordering::Greater
        );
        assert_eq!(
            compare(&Value::Float8(f64::NAN), &Value::Float8(f64::NAN)),
            Ordering::Equal
        );
        assert_eq!(
            compare(&Value::Float8(-0.0), &Value::Float8(0.0)),
            Ordering::Equal
        );
        assert_eq!(h(&Value::Float8(-0.0)), h(&Value::Float8(0.0)));
    }

    #[test]
    fn numeric_and_text() {
        let c = TypeContext::default();
        let a = parse_text("1.0", &DataType::Numeric(None), &c).unwrap();
        let b = parse_text("1.00", &DataType::Numeric(None), &c).unwrap();
        assert_eq!(compare(&a, &b), Ordering::Equal);
        assert_eq!(h(&a), h(&b));
        assert_eq!(
            compare(&Value::Text("B".into()), &Value::Text("a".into())),
            Ordering::Less
        );
        assert_eq!(compare(&Value::Int4(2), &Value::Int8(10)), Ordering::Less);
        assert_eq!(compare(&Value::Int4(2), &a), Ordering::Greater);
    }

    #[test]
    fn intervals_by_span() {
        let m = Value::Interval(Interval {
            months: 1,
            days: 0,
            micros: 0,
        });
        let d = Value::Interval(Interval {
            months: 0,
            days: 30,
            micros: 0,
        });
        assert_eq!(compare(&m, &d), Ordering::Equal);
        assert_eq!(h(&m), h(&d));
    }
}
