//! Built-in scalar functions with Postgres semantics (string, math, date/time,
//! conversion). The binder asks `resolve` for a call's result type and the
//! argument types to coerce to; the executor calls `call` with evaluated
//! arguments. Aggregates, COALESCE/NULLIF/GREATEST/LEAST and pg_typeof are
//! the binder's, not ours.

mod math;
mod md5;
mod regex;
pub(crate) mod string;
mod time;

use sargdb_catalog::types::{DataType, TypeContext, TypeError, Value};

/// A resolved function call: what to coerce each argument to, and the type of
/// the result.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionSignature {
    pub arg_types: Vec<DataType>,
    pub return_type: DataType,
    /// True when NULL in any argument gives NULL without calling the function.
    pub strict: bool,
    /// True for functions whose result changes within a transaction (random,
    /// clock_timestamp); now() is stable, not volatile.
    pub volatile: bool,
}

/// Per-call context: the session's type settings and the statement/transaction
/// timestamps that now() and friends return.
#[derive(Clone, Debug, Default)]
pub struct CallContext {
    pub types: TypeContext,
    /// Start of the current transaction, microseconds since 2000-01-01 UTC.
    pub transaction_timestamp: i64,
    /// Start of the current statement, same unit.
    pub statement_timestamp: i64,
}

fn sig(arg_types: Vec<DataType>, return_type: DataType) -> Option<FunctionSignature> {
    Some(FunctionSignature {
        arg_types,
        return_type,
        strict: true,
        volatile: false,
    })
}

fn non_strict(arg_types: Vec<DataType>, return_type: DataType) -> Option<FunctionSignature> {
    Some(FunctionSignature {
        arg_types,
        return_type,
        strict: false,
        volatile: false,
    })
}

fn volatile(arg_types: Vec<DataType>, return_type: DataType) -> Option<FunctionSignature> {
    Some(FunctionSignature {
        arg_types,
        return_type,
        strict: true,
        volatile: true,
    })
}

fn is_int(t: &DataType) -> bool {
    matches!(t, DataType::Int2 | DataType::Int4 | DataType::Int8)
}

/// Argument is acceptable where text is expected (implicitly or as a literal).
fn texty(t: &DataType) -> bool {
    t.is_string() || matches!(t, DataType::Unknown)
}

fn intish(t: &DataType) -> bool {
    is_int(t) || matches!(t, DataType::Unknown)
}

/// float8 vs numeric overloads: numeric only when the argument is numeric
/// (or an integer when `int_to_numeric`), float8 otherwise, like Postgres's
/// preference for float8 among implicit casts.
fn float_or_numeric(t: &DataType, int_to_numeric: bool) -> Option<DataType> {
    match t {
        DataType::Numeric(_) => Some(DataType::Numeric(None)),
        t if is_int(t) && int_to_numeric => Some(DataType::Numeric(None)),
        t if t.is_numeric() || matches!(t, DataType::Unknown) => Some(DataType::Float8),
        _ => None,
    }
}

/// The wider of two integer types.
fn wider_int(a: &DataType, b: &DataType) -> DataType {
    let rank = |t: &DataType| match t {
        DataType::Int2 => 2,
        DataType::Int8 => 8,
        _ => 4,
    };
    match rank(a).max(rank(b)) {
        2 => DataType::Int2,
        8 => DataType::Int8,
        _ => DataType::Int4,
    }
}

fn datetime_arg(t: &DataType) -> Option<DataType> {
    match t {
        DataType::Timestamp => Some(DataType::Timestamp),
        DataType::Timestamptz | DataType::Unknown | DataType::Date => Some(DataType::Timestamptz),
        DataType::Interval => Some(DataType::Interval),
        DataType::Time => Some(DataType::Time),
        _ => None,
    }
}

/// Resolve `name` (lower case, unqualified) for argument types `args`
/// (`DataType::Unknown` for untyped literals and NULL). None: no such function.
pub fn resolve(name: &str, args: &[DataType]) -> Option<FunctionSignature> {
    use DataType as T;
    // Catalog functions (pg_get_indexdef, format_type, ...) live with the
    // system relations; the executor evaluates them with the catalog at hand.
    if let Some(s) = crate::system::functions::resolve(name, args) {
        return Some(s);
    }
    let n = args.len();
    let a0 = args.first();
    let a1 = args.get(1);
    let all_text = |k: usize| n == k && args.iter().all(texty);
    match name {
        // ---- strings
        "length" | "char_length" | "character_length" | "octet_length" | "bit_length" if n == 1 => {
            match a0? {
                T::Bytea if name != "char_length" && name != "character_length" => {
                    sig(vec![T::Bytea], T::Int4)
                }
                // Postgres's bpcharoctetlen: char(n)'s padding counts (the
                // cast to text would strip it).
                T::Char(m) if name == "octet_length" => sig(vec![T::Char(*m)], T::Int4),
                t if texty(t) => sig(vec![T::Text], T::Int4),
                _ => None,
            }
        }
        "lower" | "upper" | "initcap" | "reverse" | "quote_ident" | "md5" if n == 1 => match a0? {
            T::Bytea if name == "md5" => sig(vec![T::Bytea], T::Text),
            t if texty(t) => sig(vec![T::Text], T::Text),
            _ => None,
        },
        "quote_literal" | "quote_nullable" if n == 1 => {
            let s = sig(vec![T::Text], T::Text)?;
            Some(FunctionSignature {
                strict: name == "quote_literal",
                ..s
            })
        }
        "substr" | "substring" if n == 2 || n == 3 => {
            let base = match a0? {
                T::Bytea => T::Bytea,
                t if texty(t) => T::Text,
                _ => return None,
            };
            if !args[1..].iter().all(intish) {
                return None;
            }
            let mut v = vec![base.clone(), T::Int4];
            if n == 3 {
                v.push(T::Int4);
            }
            sig(v, base)
        }
        "overlay"
            if (n == 3 || n == 4) && texty(a0?) && texty(a1?) && args[2..].iter().all(intish) =>
        {
            let mut v = vec![T::Text, T::Text, T::Int4];
            if n == 4 {
                v.push(T::Int4);
            }
            sig(v, T::Text)
        }
        "position" | "strpos" if all_text(2) => sig(vec![T::Text, T::Text], T::Int4),
        "replace" | "translate" if all_text(3) => sig(vec![T::Text; 3], T::Text),
        "trim" | "btrim" | "ltrim" | "rtrim" if (n == 1 || n == 2) && args.iter().all(texty) => {
            sig(vec![T::Text; n], T::Text)
        }
        "lpad" | "rpad" if (n == 2 || n == 3) && texty(a0?) && intish(a1?) => {
            let mut v = vec![T::Text, T::Int4];
            if n == 3 {
                if !texty(&args[2]) {
                    return None;
                }
                v.push(T::Text);
            }
            sig(v, T::Text)
        }
        "left" | "right" | "repeat" if n == 2 && texty(a0?) && intish(a1?) => {
            sig(vec![T::Text, T::Int4], T::Text)
        }
        "split_part" if n == 3 && texty(a0?) && texty(a1?) && intish(&args[2]) => {
            sig(vec![T::Text, T::Text, T::Int4], T::Text)
        }
        "regex_match" | "regex_imatch" | "regex_not_match" | "regex_not_imatch" if all_text(2) => {
            sig(vec![T::Text, T::Text], T::Bool)
        }
        "regexp_like" if (n == 2 || n == 3) && args.iter().all(texty) => {
            sig(vec![T::Text; n], T::Bool)
        }
        "regexp_replace" if (n == 3 || n == 4) && args.iter().all(texty) => {
            sig(vec![T::Text; n], T::Text)
        }
        "regexp_match" if (n == 2 || n == 3) && args.iter().all(texty) => {
            sig(vec![T::Text; n], T::Array(Box::new(T::Text)))
        }
        "byteacat" if n == 2 && args.iter().all(|t| matches!(t, T::Bytea | T::Unknown)) => {
            sig(vec![T::Bytea, T::Bytea], T::Bytea)
        }
        "starts_with" if all_text(2) => sig(vec![T::Text, T::Text], T::Bool),
        "concat" if n >= 1 => non_strict(args.iter().map(any_arg).collect(), T::Text),
        // concat_ws(sep, VARIADIC "any") needs a value after the separator.
        "concat_ws" | "format" if (n >= 2 || name == "format") && n >= 1 && texty(a0?) => {
            let mut v = vec![T::Text];
            v.extend(args[1..].iter().map(any_arg));
            non_strict(v, T::Text)
        }
        "chr" if n == 1 && intish(a0?) => sig(vec![T::Int4], T::Text),
        "ascii" if all_text(1) => sig(vec![T::Text], T::Int4),
        "to_hex" if n == 1 && intish(a0?) => {
            let t = if matches!(a0?, T::Int8) {
                T::Int8
            } else {
                T::Int4
            };
            sig(vec![t], T::Text)
        }
        // ---- math
        "abs" if n == 1 => {
            let t = match a0? {
                t @ (T::Int2 | T::Int4 | T::Int8 | T::Float4 | T::Float8) => t.clone(),
                T::Numeric(_) => T::Numeric(None),
                T::Unknown => T::Float8,
                _ => return None,
            };
            sig(vec![t.clone()], t)
        }
        "ceil" | "ceiling" | "floor" | "sign" if n == 1 => {
            let t = float_or_numeric(a0?, false)?;
            sig(vec![t.clone()], t)
        }
        "round" | "trunc" if n == 1 => {
            let t = float_or_numeric(a0?, false)?;
            sig(vec![t.clone()], t)
        }
        "round" | "trunc"
            if n == 2 && (a0?.is_numeric() || matches!(a0?, T::Unknown)) && intish(a1?) =>
        {
            if matches!(a0?, T::Float4 | T::Float8) {
                return None;
            }
            sig(vec![T::Numeric(None), T::Int4], T::Numeric(None))
        }
        "sqrt" | "exp" | "ln" | "log10" if n == 1 => {
            let t = float_or_numeric(a0?, false)?;
            sig(vec![t.clone()], t)
        }
        "log" if n == 1 => {
            let t = float_or_numeric(a0?, false)?;
            sig(vec![t.clone()], t)
        }
        "log"
            if n == 2
                && args
                    .iter()
                    .all(|t| t.is_numeric() || matches!(t, T::Unknown)) =>
        {
            sig(vec![T::Numeric(None), T::Numeric(None)], T::Numeric(None))
        }
        "cbrt" | "degrees" | "radians" | "sin" | "cos" | "tan" | "asin" | "acos" | "atan"
        | "cot"
            if n == 1 && (a0?.is_numeric() || matches!(a0?, T::Unknown)) =>
        {
            sig(vec![T::Float8], T::Float8)
        }
        "atan2"
            if n == 2
                && args
                    .iter()
                    .all(|t| t.is_numeric() || matches!(t, T::Unknown)) =>
        {
            sig(vec![T::Float8, T::Float8], T::Float8)
        }
        "power" | "pow"
            if n == 2
                && args
                    .iter()
                    .all(|t| t.is_numeric() || matches!(t, T::Unknown)) =>
        {
            let t = if args.iter().any(|t| matches!(t, T::Numeric(_))) {
                T::Numeric(None)
            } else {
                T::Float8
            };
            sig(vec![t.clone(), t.clone()], t)
        }
        "mod" | "gcd" | "lcm" if n == 2 => {
            if args.iter().all(intish)
                && !(name != "mod" && args.iter().any(|t| matches!(t, T::Int2)))
            {
                let t = wider_int(a0?, a1?);
                let t = if name != "mod" && matches!(t, T::Int2) {
                    T::Int4
                } else {
                    t
                };
                sig(vec![t.clone(), t.clone()], t)
            } else if args
                .iter()
                .all(|t| is_int(t) || matches!(t, T::Numeric(_) | T::Unknown))
            {
                sig(vec![T::Numeric(None), T::Numeric(None)], T::Numeric(None))
            } else {
                None
            }
        }
        "div"
            if n == 2
                && args
                    .iter()
                    .all(|t| is_int(t) || matches!(t, T::Numeric(_) | T::Unknown)) =>
        {
            sig(vec![T::Numeric(None), T::Numeric(None)], T::Numeric(None))
        }
        "factorial" if n == 1 && intish(a0?) => sig(vec![T::Int8], T::Numeric(None)),
        "scale" if n == 1 && (is_int(a0?) || matches!(a0?, T::Numeric(_) | T::Unknown)) => {
            sig(vec![T::Numeric(None)], T::Int4)
        }
        "width_bucket"
            if n == 4
                && args[..3]
                    .iter()
                    .all(|t| t.is_numeric() || matches!(t, T::Unknown))
                && intish(&args[3]) =>
        {
            let t = if args[..3].iter().any(|t| matches!(t, T::Float4 | T::Float8)) {
                T::Float8
            } else {
                T::Numeric(None)
            };
            sig(vec![t.clone(), t.clone(), t, T::Int4], T::Int4)
        }
        "pi" if n == 0 => sig(vec![], T::Float8),
        "random" if n == 0 => volatile(vec![], T::Float8),
        "gen_random_uuid" | "uuid_generate_v4" if n == 0 => volatile(vec![], T::Uuid),
        // ---- date/time
        "now" | "current_timestamp" | "transaction_timestamp" | "statement_timestamp" if n == 0 => {
            sig(vec![], T::Timestamptz)
        }
        "clock_timestamp" if n == 0 => volatile(vec![], T::Timestamptz),
        "localtimestamp" if n == 0 => sig(vec![], T::Timestamp),
        "current_date" if n == 0 => sig(vec![], T::Date),
        "localtime" | "current_time" if n == 0 => sig(vec![], T::Time),
        "timeofday" if n == 0 => volatile(vec![], T::Text),
        // `ts AT TIME ZONE zone` binds as timezone(zone, ts).
        "timezone" if n == 2 && texty(a0?) => match datetime_arg(a1?)? {
            T::Timestamptz => sig(vec![T::Text, T::Timestamptz], T::Timestamp),
            T::Timestamp => sig(vec![T::Text, T::Timestamp], T::Timestamptz),
            _ => None,
        },
        "date_trunc" if n == 2 && texty(a0?) => {
            let t = match a1? {
                T::Time => return None,
                t => datetime_arg(t)?,
            };
            sig(vec![T::Text, t.clone()], t)
        }
        "date_part" | "extract" if n == 2 && texty(a0?) => {
            let t = match a1? {
                T::Date => T::Date,
                t => datetime_arg(t)?,
            };
            let ret = if name == "extract" {
                T::Numeric(None)
            } else {
                T::Float8
            };
            sig(vec![T::Text, t], ret)
        }
        "age" if n == 1 || n == 2 => {
            let t = match a0? {
                T::Timestamp => T::Timestamp,
                T::Timestamptz | T::Date | T::Unknown => T::Timestamptz,
                _ => return None,
            };
            sig(vec![t; n], T::Interval)
        }
        "make_date" if n == 3 && args.iter().all(intish) => sig(vec![T::Int4; 3], T::Date),
        "make_time" if n == 3 && args[..2].iter().all(intish) => {
            sig(vec![T::Int4, T::Int4, T::Float8], T::Time)
        }
        "make_timestamp" | "make_timestamptz" if n == 6 && args[..5].iter().all(intish) => {
            let ret = if name == "make_timestamp" {
                T::Timestamp
            } else {
                T::Timestamptz
            };
            sig(
                vec![T::Int4, T::Int4, T::Int4, T::Int4, T::Int4, T::Float8],
                ret,
            )
        }
        "make_interval" if n <= 7 => {
            let mut v = vec![T::Int4; n.min(6)];
            if n == 7 {
                v.push(T::Float8);
            }
            sig(v, T::Interval)
        }
        "to_char" if n == 2 && texty(a1?) => {
            let t = match a0? {
                T::Timestamp => T::Timestamp,
                T::Timestamptz | T::Date | T::Unknown => T::Timestamptz,
                T::Interval => T::Interval,
                T::Int2 | T::Int4 => T::Int4,
                T::Int8 => T::Int8,
                T::Float4 | T::Float8 => T::Float8,
                T::Numeric(_) => T::Numeric(None),
                _ => return None,
            };
            sig(vec![t, T::Text], T::Text)
        }
        "to_date" if all_text(2) => sig(vec![T::Text, T::Text], T::Date),
        "to_timestamp" if n == 1 && (a0?.is_numeric() || matches!(a0?, T::Unknown)) => {
            sig(vec![T::Float8], T::Timestamptz)
        }
        "to_timestamp" if all_text(2) => sig(vec![T::Text, T::Text], T::Timestamptz),
        "to_number" if all_text(2) => sig(vec![T::Text, T::Text], T::Numeric(None)),
        "justify_days" | "justify_hours" | "justify_interval"
            if n == 1 && matches!(a0?, T::Interval | T::Unknown) =>
        {
            sig(vec![T::Interval], T::Interval)
        }
        "isfinite" if n == 1 => {
            let t = match a0? {
                T::Date => T::Date,
                T::Timestamp => T::Timestamp,
                T::Interval => T::Interval,
                T::Timestamptz | T::Unknown => T::Timestamptz,
                _ => return None,
            };
            sig(vec![t], T::Bool)
        }
        _ => None,
    }
}

/// Arguments of `concat`/`format` keep their types; literals become text.
fn any_arg(t: &DataType) -> DataType {
    match t {
        DataType::Unknown => DataType::Text,
        t => t.clone(),
    }
}

/// Call a resolved function on already-coerced arguments.
pub fn call(name: &str, args: &[Value], ctx: &CallContext) -> Result<Value, TypeError> {
    if let Some(v) = string::call(name, args, ctx)? {
        return Ok(v);
    }
    if let Some(v) = math::call(name, args)? {
        return Ok(v);
    }
    if let Some(v) = time::call(name, args, ctx)? {
        return Ok(v);
    }
    if let Some(v) = regex::call(name, args)? {
        return Ok(v);
    }
    if name == "byteacat" {
        return match (args.first(), args.get(1)) {
            (Some(Value::Bytea(a)), Some(Value::Bytea(b))) => {
                let mut v = a.clone();
                v.extend_from_slice(b);
                Ok(Value::Bytea(v))
            }
            _ => Err(bad_arg(0)),
        };
    }
    Err(TypeError::UndefinedOperator(format!(
        "function {name} is not implemented"
    )))
}

/// Shared accessors for already-coerced arguments.
pub(crate) fn arg_text(args: &[Value], i: usize) -> Result<&str, TypeError> {
    match args.get(i) {
        Some(Value::Text(s)) | Some(Value::Json(s)) | Some(Value::Jsonb(s)) => Ok(s),
        _ => Err(bad_arg(i)),
    }
}

pub(crate) fn arg_i64(args: &[Value], i: usize) -> Result<i64, TypeError> {
    match args.get(i) {
        Some(Value::Int2(v)) => Ok(*v as i64),
        Some(Value::Int4(v)) => Ok(*v as i64),
        Some(Value::Int8(v)) => Ok(*v),
        _ => Err(bad_arg(i)),
    }
}

pub(crate) fn arg_f64(args: &[Value], i: usize) -> Result<f64, TypeError> {
    match args.get(i) {
        Some(Value::Float8(v)) => Ok(*v),
        Some(Value::Float4(v)) => Ok(*v as f64),
        Some(Value::Numeric(n)) => Ok(sargdb_catalog::types::numeric::to_f64(n)),
        Some(v) => arg_i64(std::slice::from_ref(v), 0)
            .map(|i| i as f64)
            .map_err(|_| bad_arg(i)),
        None => Err(bad_arg(i)),
    }
}

pub(crate) fn bad_arg(i: usize) -> TypeError {
    TypeError::InvalidParameterValue(format!(
        "function argument {} has an unexpected type",
        i + 1
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, args: &[Value]) -> Value {
        call(name, args, &CallContext::default()).unwrap()
    }
    fn t(s: &str) -> Value {
        Value::Text(s.into())
    }
    fn num(s: &str) -> Value {
        sargdb_catalog::types::parse_text(s, &DataType::Numeric(None), &TypeContext::default())
            .unwrap()
    }
    fn show(v: &Value) -> String {
        v.to_text(&TypeContext::default())
    }

    #[test]
    fn resolution_matches_postgres_types() {
        use DataType as T;
        assert_eq!(
            resolve("round", &[T::Numeric(None)]).unwrap().return_type,
            T::Numeric(None)
        );
        assert_eq!(
            resolve("round", &[T::Numeric(None), T::Int4])
                .unwrap()
                .return_type,
            T::Numeric(None)
        );
        assert_eq!(resolve("round", &[T::Int4]).unwrap().return_type, T::Float8);
        assert_eq!(
            resolve("length", &[T::Unknown]).unwrap().return_type,
            T::Int4
        );
        assert_eq!(resolve("abs", &[T::Int4]).unwrap().return_type, T::Int4);
        assert_eq!(resolve("sqrt", &[T::Int4]).unwrap().return_type, T::Float8);
        assert_eq!(
            resolve("substr", &[T::Unknown, T::Int4, T::Int4])
                .unwrap()
                .return_type,
            T::Text
        );
        assert_eq!(
            resolve("mod", &[T::Int8, T::Int4]).unwrap().return_type,
            T::Int8
        );
        assert_eq!(
            resolve("power", &[T::Numeric(None), T::Int4])
                .unwrap()
                .return_type,
            T::Numeric(None)
        );
        assert_eq!(
            resolve("extract", &[T::Text, T::Timestamp])
                .unwrap()
                .return_type,
            T::Numeric(None)
        );
        assert!(resolve("round", &[T::Float8, T::Int4]).is_none());
        assert!(resolve("no_such_function", &[]).is_none());
        assert!(resolve("random", &[]).unwrap().volatile);
        assert!(!resolve("now", &[]).unwrap().volatile);
        assert!(!resolve("concat", &[T::Text, T::Int4]).unwrap().strict);
    }

    #[test]
    fn string_functions() {
        assert_eq!(run("length", &[t("héllo")]), Value::Int4(5));
        assert_eq!(run("octet_length", &[t("héllo")]), Value::Int4(6));
        assert_eq!(
            run("substr", &[t("hello"), Value::Int4(2), Value::Int4(3)]),
            t("ell")
        );
        assert_eq!(
            run("substr", &[t("hello"), Value::Int4(0), Value::Int4(2)]),
            t("h")
        );
        assert_eq!(
            run("initcap", &[t("hello wORLD foo_bar")]),
            t("Hello World Foo_Bar")
        );
        assert_eq!(run("lpad", &[t("hi"), Value::Int4(5), t("xy")]), t("xyxhi"));
        assert_eq!(run("rpad", &[t("hello"), Value::Int4(3)]), t("hel"));
        assert_eq!(run("left", &[t("hello"), Value::Int4(-2)]), t("hel"));
        assert_eq!(run("right", &[t("hello"), Value::Int4(2)]), t("lo"));
        assert_eq!(
            run("split_part", &[t("a,b,c"), t(","), Value::Int4(2)]),
            t("b")
        );
        assert_eq!(
            run("split_part", &[t("a,b,c"), t(","), Value::Int4(-1)]),
            t("c")
        );
        assert_eq!(run("btrim", &[t("xxhixx"), t("x")]), t("hi"));
        assert_eq!(
            run("concat", &[t("a"), Value::Null, Value::Int4(1)]),
            t("a1")
        );
        assert_eq!(
            run("concat_ws", &[t(","), t("a"), Value::Null, t("b")]),
            t("a,b")
        );
        assert_eq!(
            run("md5", &[t("abc")]),
            t("900150983cd24fb0d6963f7d28e17f72")
        );
        assert_eq!(run("to_hex", &[Value::Int4(255)]), t("ff"));
        assert_eq!(run("to_hex", &[Value::Int4(-1)]), t("ffffffff"));
        assert_eq!(
            run("format", &[t("%s-%I-%L"), t("a"), t("B c"), t("it's")]),
            t("a-\"B c\"-'it''s'")
        );
        assert_eq!(run("quote_ident", &[t("abc")]), t("abc"));
        assert_eq!(run("strpos", &[t("hello"), t("ll")]), Value::Int4(3));
        assert_eq!(run("replace", &[t("abcabc"), t("b"), t("X")]), t("aXcaXc"));
        assert_eq!(run("reverse", &[t("abc")]), t("cba"));
        assert!(call(
            "repeat",
            &[t("a"), Value::Int4(-1)],
            &CallContext::default()
        )
        .is_ok());
        assert!(call(
            "substr",
            &[t("a"), Value::Int4(1), Value::Int4(-1)],
            &CallContext::default()
        )
        .is_err());
    }

    #[test]
    fn math_functions() {
        assert_eq!(show(&run("round", &[num("2.5")])), "3");
        assert_eq!(show(&run("round", &[num("-2.5")])), "-3");
        assert_eq!(show(&run("round", &[num("2.567"), Value::Int4(2)])), "2.57");
        assert_eq!(show(&run("round", &[Value::Float8(2.5)])), "2");
        assert_eq!(show(&run("trunc", &[num("2.567"), Value::Int4(2)])), "2.56");
        assert_eq!(run("abs", &[Value::Int4(-3)]), Value::Int4(3));
        assert!(call("abs", &[Value::Int4(i32::MIN)], &CallContext::default()).is_err());
        assert_eq!(
            show(&run("sqrt", &[Value::Float8(2.0)])),
            "1.4142135623730951"
        );
        assert_eq!(show(&run("sqrt", &[num("2.0")])), "1.414213562373095");
        assert_eq!(show(&run("sqrt", &[num("100")])), "10.000000000000000");
        assert_eq!(show(&run("ln", &[num("2.0")])), "0.6931471805599453");
        assert_eq!(show(&run("exp", &[num("1.0")])), "2.7182818284590452");
        assert_eq!(show(&run("log", &[num("100.0")])), "2.0000000000000000");
        assert_eq!(
            show(&run("power", &[num("2"), num("10")])),
            "1024.0000000000000000"
        );
        assert_eq!(show(&run("ceil", &[num("-2.5")])), "-2");
        assert_eq!(show(&run("floor", &[num("-2.5")])), "-3");
        assert_eq!(
            run("mod", &[Value::Int4(-7), Value::Int4(3)]),
            Value::Int4(-1)
        );
        assert_eq!(show(&run("div", &[num("7"), num("2")])), "3");
        assert_eq!(
            run("gcd", &[Value::Int4(12), Value::Int4(18)]),
            Value::Int4(6)
        );
        assert_eq!(show(&run("sign", &[num("-2.5")])), "-1");
        assert!(call("sqrt", &[Value::Float8(-1.0)], &CallContext::default()).is_err());
        assert!(call("ln", &[num("0")], &CallContext::default()).is_err());
    }

    #[test]
    fn time_functions() {
        let c = TypeContext::default();
        let ts = |s: &str| sargdb_catalog::types::parse_text(s, &DataType::Timestamp, &c).unwrap();
        let x = ts("2024-01-05 14:05:06.789");
        assert_eq!(
            run(
                "to_char",
                &[
                    x.clone(),
                    t("YYYY-MM-DD HH24:MI:SS.MS Mon Day DY dy HH12 AM")
                ]
            ),
            t("2024-01-05 14:05:06.789 Jan Friday    FRI fri 02 PM")
        );
        assert_eq!(
            run("to_char", &[x.clone(), t("FMMonth FMDD, YYYY")]),
            t("January 5, 2024")
        );
        assert_eq!(
            show(&run("date_trunc", &[t("month"), x.clone()])),
            "2024-01-01 00:00:00"
        );
        assert_eq!(
            show(&run("date_trunc", &[t("week"), x.clone()])),
            "2024-01-01 00:00:00"
        );
        assert_eq!(
            run("date_part", &[t("second"), x.clone()]),
            Value::Float8(6.789)
        );
        assert_eq!(show(&run("extract", &[t("second"), x.clone()])), "6.789000");
        assert_eq!(
            show(&run("extract", &[t("epoch"), ts("2024-01-05 10:00:00")])),
            "1704448800.000000"
        );
        assert_eq!(show(&run("extract", &[t("dow"), x.clone()])), "5");
        assert_eq!(show(&run("extract", &[t("doy"), x.clone()])), "5");
        assert_eq!(show(&run("extract", &[t("week"), x.clone()])), "1");
        assert_eq!(show(&run("extract", &[t("quarter"), x.clone()])), "1");
        assert_eq!(
            show(&run(
                "age",
                &[ts("2024-03-15 00:00:00"), ts("2023-01-20 00:00:00")]
            )),
            "1 year 1 mon 26 days"
        );
        assert_eq!(
            show(&run(
                "make_date",
                &[Value::Int4(2024), Value::Int4(2), Value::Int4(29)]
            )),
            "2024-02-29"
        );
        assert!(call(
            "make_date",
            &[Value::Int4(2023), Value::Int4(2), Value::Int4(29)],
            &CallContext::default()
        )
        .is_err());
        assert_eq!(
            show(&run("to_timestamp", &[Value::Float8(0.0)])),
            "1970-01-01 00:00:00+00"
        );
        assert_eq!(
            show(&run("to_date", &[t("05 Jan 2024"), t("DD Mon YYYY")])),
            "2024-01-05"
        );
        assert_eq!(
            run("to_char", &[num("1234.5"), t("9999.99")]),
            t(" 1234.50")
        );
        assert_eq!(run("to_char", &[Value::Int4(42), t("FM0000")]), t("0042"));
    }
}
