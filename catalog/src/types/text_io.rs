//! Text I/O: `Value::to_text` prints what Postgres's output functions print
//! (psql's view of a value) and `parse_text` accepts what the input functions
//! accept, with Postgres's error messages. Type modifiers are applied as an
//! assignment would (numeric scale, char padding, varchar length).

use super::{datetime, json, numeric, DataType, Result, TypeContext, TypeError, Value};
use std::fmt::Write;

impl Value {
    /// Postgres's text output for this value (the form psql prints).
    pub fn to_text(&self, ctx: &TypeContext) -> String {
        let mut out = String::new();
        self.write_text(ctx, &mut out);
        out
    }

    /// Append the text output to `out`.
    pub fn write_text(&self, ctx: &TypeContext, out: &mut String) {
        match self {
            Value::Null => {}
            Value::Bool(b) => out.push(if *b { 't' } else { 'f' }),
            Value::Int2(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Int4(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Int8(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Oid(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float4(f) => out.push_str(&format_float4(*f)),
            Value::Float8(f) => out.push_str(&format_float8(*f)),
            Value::Numeric(n) => out.push_str(&numeric::format(n)),
            Value::Text(s) | Value::Json(s) | Value::Jsonb(s) => out.push_str(s),
            Value::Bytea(b) => {
                out.reserve(2 + 2 * b.len());
                out.push_str("\\x");
                for byte in b {
                    let _ = write!(out, "{byte:02x}");
                }
            }
            Value::Date(d) => out.push_str(&datetime::format_date(*d)),
            Value::Time(t) => out.push_str(&datetime::format_time(*t)),
            Value::Timestamp(t) => out.push_str(&datetime::format_timestamp(*t)),
            Value::Timestamptz(t) => out.push_str(&datetime::format_timestamptz(*t, ctx)),
            Value::Interval(iv) => out.push_str(&datetime::format_interval(iv)),
            Value::Uuid(u) => out.push_str(&format_uuid(u)),
            Value::Array(items) => {
                out.push('{');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    if v.is_null() {
                        out.push_str("NULL");
                        continue;
                    }
                    let s = v.to_text(ctx);
                    if array_needs_quotes(&s) {
                        out.push('"');
                        for c in s.chars() {
                            if c == '"' || c == '\\' {
                                out.push('\\');
                            }
                            out.push(c);
                        }
                        out.push('"');
                    } else {
                        out.push_str(&s);
                    }
                }
                out.push('}');
            }
        }
    }
}

fn array_needs_quotes(s: &str) -> bool {
    s.is_empty()
        || s.eq_ignore_ascii_case("null")
        || s.bytes().any(|c| {
            matches!(
                c,
                b'{' | b'}' | b',' | b'"' | b'\\' | b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c
            )
        })
}

/// `8-4-4-4-12` lower-case hex.
pub fn format_uuid(u: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Shortest round-trip text with Postgres's layout (`float8out` with
/// extra_float_digits = 1): fixed notation for exponents -4..15, otherwise
/// `1e+20` / `1.5e-07`.
pub fn format_float8(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    layout_float(&format!("{f:e}"), 15)
}

/// `float4out`: same as float8 with a fixed-notation limit of 6 digits.
pub fn format_float4(f: f32) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    layout_float(&format!("{f:e}"), 6)
}

fn layout_float(sci: &str, max_fixed_exp: i32) -> String {
    // sci is like "-1.2345e-7" / "1e20" / "0e0"
    let (mant, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mant) = match mant.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mant),
    };
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let mut out = String::with_capacity(24);
    if neg {
        out.push('-');
    }
    if digits == "0" {
        out.push('0');
        return out;
    }
    if (-4..max_fixed_exp).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(&digits);
        } else {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                for _ in digits.len()..int_len {
                    out.push('0');
                }
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    out
}

fn invalid(ty: &str, s: &str) -> TypeError {
    TypeError::InvalidTextRepresentation {
        type_name: ty.into(),
        value: s.into(),
    }
}

fn out_of_range(s: &str, ty: &str) -> TypeError {
    TypeError::NumericValueOutOfRange(format!("value \"{s}\" is out of range for type {ty}"))
}

/// The value of a field that is nothing but decimal digits, at most 18 of
/// them (so it cannot overflow); `None` for anything else.
pub(crate) fn plain_digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 18 {
        return None;
    }
    let mut v: i64 = 0;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as i64;
    }
    Some(v)
}

/// Postgres's integer input: optional whitespace and sign, decimal digits.
pub fn parse_int(s: &str, min: i64, max: i64, ty: &str) -> Result<i64> {
    // The common case first (COPY's bulk of numbers).
    if let Some(v) = plain_digits(s.as_bytes()) {
        if v < min || v > max {
            return Err(out_of_range(s, ty));
        }
        return Ok(v);
    }
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(invalid(ty, s));
    }
    let mut v: i128 = 0;
    for c in digits.bytes() {
        v = v * 10 + (c - b'0') as i128;
        if v > (i64::MAX as i128) + 1 {
            return Err(out_of_range(s, ty));
        }
    }
    if neg {
        v = -v;
    }
    if v < min as i128 || v > max as i128 {
        return Err(out_of_range(s, ty));
    }
    Ok(v as i64)
}

/// `float8in` / `float4in`.
pub fn parse_float(s: &str, ty: &str) -> Result<f64> {
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
    let l = t.to_ascii_lowercase();
    let special = match l.as_str() {
        "nan" | "+nan" | "-nan" => Some(f64::NAN),
        "infinity" | "+infinity" | "inf" | "+inf" => Some(f64::INFINITY),
        "-infinity" | "-inf" => Some(f64::NEG_INFINITY),
        _ => None,
    };
    if let Some(v) = special {
        return Ok(v);
    }
    let ok_chars = !t.is_empty()
        && t.bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        && t.bytes().any(|c| c.is_ascii_digit());
    if !ok_chars {
        return Err(invalid(ty, s));
    }
    let v: f64 = t.parse().map_err(|_| invalid(ty, s))?;
    let mantissa_nonzero = t
        .split(['e', 'E'])
        .next()
        .is_some_and(|m| m.bytes().any(|c| (b'1'..=b'9').contains(&c)));
    let is_f4 = ty == "real";
    let overflow = if is_f4 {
        v.is_infinite() || (v as f32).is_infinite()
    } else {
        v.is_infinite()
    };
    let underflow = mantissa_nonzero && (v == 0.0 || (is_f4 && (v as f32) == 0.0));
    if overflow || underflow {
        return Err(TypeError::NumericValueOutOfRange(format!(
            "\"{t}\" is out of range for type {ty}"
        )));
    }
    Ok(v)
}

/// `boolin`: t/true/yes/on/1 and f/false/no/off/0, any unique prefix.
pub fn parse_bool(s: &str) -> Result<bool> {
    let t = s
        .trim_matches(|c: char| c.is_ascii_whitespace())
        .to_ascii_lowercase();
    let prefix_of = |w: &str, min: usize| t.len() >= min && w.starts_with(t.as_str());
    if prefix_of("true", 1) || prefix_of("yes", 1) || prefix_of("on", 2) || t == "1" {
        Ok(true)
    } else if prefix_of("false", 1) || prefix_of("no", 1) || prefix_of("off", 2) || t == "0" {
        Ok(false)
    } else {
        Err(invalid("boolean", s))
    }
}

/// `byteain`: `\x` hex (whitespace allowed between pairs) or escape format.
pub fn parse_bytea(s: &str) -> Result<Vec<u8>> {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b'\\' && (b[1] == b'x' || b[1] == b'X') {
        let mut out = Vec::with_capacity((b.len() - 2) / 2);
        let mut i = 2;
        let hex = |c: u8| -> Option<u8> { (c as char).to_digit(16).map(|d| d as u8) };
        while i < b.len() {
            let c = b[i];
            if c.is_ascii_whitespace() {
                i += 1;
                continue;
            }
            // Postgres's hex_decode errors (22023), quoting the one bad character.
            let bad_digit = |at: usize| {
                let ch: String = s
                    .get(at..)
                    .and_then(|r| r.chars().next())
                    .map(String::from)
                    .unwrap_or_default();
                TypeError::InvalidParameterValue(format!("invalid hexadecimal digit: \"{ch}\""))
            };
            let hi = hex(c).ok_or_else(|| bad_digit(i))?;
            let Some(c2) = b.get(i + 1) else {
                return Err(TypeError::InvalidParameterValue(
                    "invalid hexadecimal data: odd number of digits".into(),
                ));
            };
            let lo = hex(*c2).ok_or_else(|| bad_digit(i + 1))?;
            out.push(hi << 4 | lo);
            i += 2;
        }
        return Ok(out);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
        } else if b.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else if i + 3 < b.len()
            && (b'0'..=b'3').contains(&b[i + 1])
            && (b'0'..=b'7').contains(&b[i + 2])
            && (b'0'..=b'7').contains(&b[i + 3])
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            return Err(invalid("bytea", s));
        }
    }
    Ok(out)
}

/// `uuid_in`: 32 hex digits, optional hyphen after any group of four,
/// optional braces.
pub fn parse_uuid(s: &str) -> Result<[u8; 16]> {
    let err = || invalid("uuid", s);
    let mut t = s.as_bytes();
    let braces = t.first() == Some(&b'{');
    if braces {
        if t.last() != Some(&b'}') || t.len() < 2 {
            return Err(err());
        }
        t = &t[1..t.len() - 1];
    }
    let mut out = [0u8; 16];
    let mut n = 0; // hex digits read
    let mut i = 0;
    while i < t.len() {
        let c = t[i];
        if c == b'-' {
            if n == 0 || n % 4 != 0 || n == 32 || t.get(i + 1) == Some(&b'-') {
                return Err(err());
            }
            i += 1;
            continue;
        }
        let d = (c as char).to_digit(16).ok_or_else(err)? as u8;
        if n >= 32 {
            return Err(err());
        }
        out[n / 2] |= if n % 2 == 0 { d << 4 } else { d };
        n += 1;
        i += 1;
    }
    if n != 32 || t.last() == Some(&b'-') {
        return Err(err());
    }
    Ok(out)
}

/// Blank-pad / check the length of a character value (`bpchar`, `varchar`
/// input and assignment). Excess characters are an error unless they are
/// all spaces, which are dropped.
pub fn apply_char_limit(s: String, ty: &DataType, explicit: bool) -> Result<String> {
    match ty {
        DataType::Varchar(Some(n)) | DataType::Char(Some(n)) => {
            let n = *n as usize;
            let len = s.chars().count();
            let mut s = s;
            if len > n {
                let cut = s.char_indices().nth(n).map_or(s.len(), |(i, _)| i);
                if !explicit && !s[cut..].bytes().all(|c| c == b' ') {
                    return Err(TypeError::StringDataRightTruncation(ty.display_name()));
                }
                s.truncate(cut);
            } else if matches!(ty, DataType::Char(_)) && len < n {
                // Whole runs of spaces at a time, not one char at a time.
                const SPACES: &str =
                    "                                                                ";
                let mut pad = n - len;
                s.reserve(pad);
                while pad > 0 {
                    let k = pad.min(SPACES.len());
                    s.push_str(&SPACES[..k]);
                    pad -= k;
                }
            }
            Ok(s)
        }
        DataType::Name => {
            let mut s = s;
            if s.len() > 63 {
                let mut cut = 63;
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                s.truncate(cut);
            }
            Ok(s)
        }
        _ => Ok(s),
    }
}

/// Parse `{a,b,"c d",NULL}` into element strings (None = NULL).
pub fn split_array(s: &str) -> Option<Vec<Option<String>>> {
    let t = s.trim();
    let inner = t.strip_prefix('{')?.strip_suffix('}')?;
    let mut items = Vec::new();
    let b = inner.as_bytes();
    let mut i = 0;
    if inner.trim().is_empty() {
        return Some(items);
    }
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut val = Vec::new();
            loop {
                match b.get(i)? {
                    b'\\' => {
                        val.push(*b.get(i + 1)?);
                        i += 2;
                    }
                    b'"' => {
                        i += 1;
                        break;
                    }
                    c => {
                        val.push(*c);
                        i += 1;
                    }
                }
            }
            items.push(Some(String::from_utf8(val).ok()?));
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
        } else {
            let mut val = Vec::new();
            let mut had_escape = false;
            while i < b.len() && b[i] != b',' {
                match b[i] {
                    b'{' | b'}' | b'"' => return None,
                    b'\\' => {
                        val.push(*b.get(i + 1)?);
                        had_escape = true;
                        i += 2;
                    }
                    c => {
                        val.push(c);
                        i += 1;
                    }
                }
            }
            while val.last().is_some_and(|c| c.is_ascii_whitespace()) {
                val.pop();
            }
            if val.is_empty() {
                return None;
            }
            let v = String::from_utf8(val).ok()?;
            if !had_escape && v.eq_ignore_ascii_case("null") {
                items.push(None);
            } else {
                items.push(Some(v));
            }
        }
        match b.get(i) {
            None => break,
            Some(b',') => i += 1,
            _ => return None,
        }
    }
    Some(items)
}

/// The text output of an `int2vector` / `oidvector` (int2vectorout): the
/// elements separated by single blanks, `1 2` (not the array form `{1,2}`).
pub fn format_vector(items: &[Value]) -> String {
    let mut out = String::new();
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        v.write_text(&TypeContext::default(), &mut out);
    }
    out
}

/// The text output of `v` as a value of type `ty`: as `Value::to_text`,
/// except for the types whose values print differently from the `Value`
/// they are held in (`int2vector`, `oidvector`).
pub fn format_as(v: &Value, ty: &DataType, ctx: &TypeContext) -> String {
    match (ty, v) {
        (DataType::Int2Vector | DataType::OidVector, Value::Array(items)) => format_vector(items),
        _ => v.to_text(ctx),
    }
}

/// Parse Postgres's text input for `ty` (what `'...'::ty` accepts). Applies the
/// type modifier (numeric scale, char padding) as an assignment would.
pub fn parse_text(s: &str, ty: &DataType, ctx: &TypeContext) -> Result<Value> {
    Ok(match ty {
        DataType::Bool => Value::Bool(parse_bool(s)?),
        DataType::Int2 => {
            Value::Int2(parse_int(s, i16::MIN as i64, i16::MAX as i64, "smallint")? as i16)
        }
        DataType::Int4 => {
            Value::Int4(parse_int(s, i32::MIN as i64, i32::MAX as i64, "integer")? as i32)
        }
        DataType::Int8 => Value::Int8(parse_int(s, i64::MIN, i64::MAX, "bigint")?),
        // regclass / regtype names are resolved by the sql crate (they need
        // the catalog); here only their numeric form.
        DataType::Oid
        | DataType::Regclass
        | DataType::Regtype
        | DataType::Regproc
        | DataType::Regprocedure
        | DataType::Regnamespace
        | DataType::Regrole => {
            let v = parse_int(s, -(u32::MAX as i64), u32::MAX as i64, "oid")?;
            Value::Oid(v as u32)
        }
        DataType::Float4 => Value::Float4(parse_float(s, "real")? as f32),
        DataType::Float8 => Value::Float8(parse_float(s, "double precision")?),
        DataType::Numeric(m) => {
            let n = numeric::parse(s)?;
            match m {
                Some((p, sc)) => Value::Numeric(numeric::apply_typmod(n, *p, *sc)?),
                None => Value::Numeric(n),
            }
        }
        DataType::Text | DataType::Unknown => Value::Text(s.to_string()),
        DataType::Varchar(_) | DataType::Char(_) | DataType::Name => {
            // Room for char(n)'s padding up front (one allocation).
            let cap = match ty {
                DataType::Char(Some(n)) => s.len().max(*n as usize),
                _ => s.len(),
            };
            let mut owned = String::with_capacity(cap);
            owned.push_str(s);
            Value::Text(apply_char_limit(owned, ty, false)?)
        }
        DataType::Bytea => Value::Bytea(parse_bytea(s)?),
        DataType::Date => Value::Date(datetime::parse_date(s, ctx)?),
        DataType::Time => Value::Time(datetime::parse_time(s)?),
        DataType::Timestamp => Value::Timestamp(datetime::parse_timestamp(s, ctx, false)?),
        DataType::Timestamptz => Value::Timestamptz(datetime::parse_timestamp(s, ctx, true)?),
        DataType::Interval => Value::Interval(datetime::parse_interval(s)?),
        DataType::Uuid => Value::Uuid(parse_uuid(s)?),
        DataType::Json => {
            if json::parse(s).is_none() {
                return Err(invalid("json", s));
            }
            Value::Json(s.to_string())
        }
        DataType::Jsonb => Value::Jsonb(json::normalize(s).ok_or_else(|| invalid("json", s))?),
        // int2vectorin / oidvectorin: numbers separated by blanks.
        DataType::Int2Vector | DataType::OidVector => {
            let elem = ty.vector_element().unwrap_or(DataType::Int2);
            let mut out = vec![];
            for word in s.split_ascii_whitespace() {
                out.push(parse_text(word, &elem, ctx)?);
            }
            Value::Array(out)
        }
        DataType::Array(elem) => {
            let items = split_array(s).ok_or_else(|| TypeError::InvalidTextRepresentation {
                type_name: ty.error_name(),
                value: s.to_string(),
            })?;
            let mut out = Vec::with_capacity(items.len());
            for it in items {
                out.push(match it {
                    None => Value::Null,
                    Some(v) => parse_text(&v, elem, ctx)?,
                });
            }
            Value::Array(out)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> TypeContext {
        TypeContext::default()
    }

    #[test]
    fn float_output() {
        assert_eq!(format_float8(0.1), "0.1");
        assert_eq!(format_float8(1e20), "1e+20");
        assert_eq!(format_float8(1.5e-7), "1.5e-07");
        assert_eq!(format_float8(-0.0), "-0");
        assert_eq!(format_float8(f64::NAN), "NaN");
        assert_eq!(format_float8(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(format_float8(100.0), "100");
        assert_eq!(format_float8(1e15), "1e+15");
        assert_eq!(format_float8(1e14), "100000000000000");
        assert_eq!(format_float8(0.0001), "0.0001");
        assert_eq!(format_float8(0.00001), "1e-05");
        assert_eq!(format_float8(1.0 / 3.0), "0.3333333333333333");
        assert_eq!(format_float4(1e6), "1e+06");
        assert_eq!(format_float4(100000.0), "100000");
        assert_eq!(format_float4(0.1), "0.1");
        assert_eq!(
            format_float8(123456789012345680.0),
            "1.2345678901234568e+17"
        );
    }

    /// The digits-only fast path and the general path agree, at the
    /// limits of each width and past them.
    #[test]
    fn int_input_at_the_limits() {
        let int8 = |s: &str| parse_int(s, i64::MIN, i64::MAX, "bigint");
        let int2 = |s: &str| parse_int(s, i16::MIN as i64, i16::MAX as i64, "smallint");
        assert_eq!(int2("32767"), Ok(32767));
        assert!(int2("32768").is_err());
        assert_eq!(int2("-32768"), Ok(-32768));
        assert!(int2("-32769").is_err());
        assert_eq!(int2("000000000000000007"), Ok(7));
        assert_eq!(int8("999999999999999999"), Ok(999_999_999_999_999_999));
        assert_eq!(int8("9223372036854775807"), Ok(i64::MAX));
        assert!(int8("9223372036854775808").is_err());
        assert_eq!(int8("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(int8("0000000000000000000000012"), Ok(12));
        assert_eq!(int8(" +12 "), Ok(12));
        assert_eq!(int8("-0"), Ok(0));
        for bad in ["", " ", "1a", "a1", "1 2", "+", "-", "١٢"] {
            assert!(int8(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn int_input_errors() {
        assert_eq!(
            parse_text(" 42 ", &DataType::Int4, &ctx()),
            Ok(Value::Int4(42))
        );
        assert_eq!(
            parse_text("abc", &DataType::Int4, &ctx())
                .unwrap_err()
                .to_string(),
            "invalid input syntax for type integer: \"abc\""
        );
        assert_eq!(
            parse_text("99999999999", &DataType::Int4, &ctx())
                .unwrap_err()
                .to_string(),
            "value \"99999999999\" is out of range for type integer"
        );
        assert_eq!(
            parse_text("-32768", &DataType::Int2, &ctx()),
            Ok(Value::Int2(-32768))
        );
        assert!(parse_text("", &DataType::Int8, &ctx()).is_err());
    }

    #[test]
    fn bool_bytea_uuid() {
        for t in ["t", "TRUE", " yes ", "on", "1", "tr"] {
            assert_eq!(parse_bool(t), Ok(true), "{t}");
        }
        for f in ["f", "false", "no", "off", "0"] {
            assert_eq!(parse_bool(f), Ok(false), "{f}");
        }
        assert!(parse_bool("o").is_err());
        assert_eq!(parse_bytea("\\x0aff").unwrap(), vec![10, 255]);
        assert_eq!(parse_bytea("a\\\\b\\001").unwrap(), b"a\\b\x01".to_vec());
        assert_eq!(Value::Bytea(vec![1, 0xab]).to_text(&ctx()), "\\x01ab");
        let u = parse_uuid("{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}").unwrap();
        assert_eq!(format_uuid(&u), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
        assert_eq!(parse_uuid("a0eebc999c0b4ef8bb6d6bb9bd380a11").unwrap(), u);
        assert!(parse_uuid("a0eebc99-9c0b").is_err());
    }

    #[test]
    fn char_limits() {
        let vc3 = DataType::Varchar(Some(3));
        assert_eq!(
            parse_text("abcd", &vc3, &ctx()).unwrap_err().to_string(),
            "value too long for type character varying(3)"
        );
        assert_eq!(
            parse_text("abc  ", &vc3, &ctx()),
            Ok(Value::Text("abc".into()))
        );
        assert_eq!(
            parse_text("a", &DataType::Char(Some(3)), &ctx()),
            Ok(Value::Text("a  ".into()))
        );
    }

    #[test]
    fn arrays() {
        let ty = DataType::Array(Box::new(DataType::Int4));
        let v = parse_text("{1, 2 ,NULL}", &ty, &ctx()).unwrap();
        assert_eq!(
            v,
            Value::Array(vec![Value::Int4(1), Value::Int4(2), Value::Null])
        );
        assert_eq!(v.to_text(&ctx()), "{1,2,NULL}");
        let t = DataType::Array(Box::new(DataType::Text));
        let v = parse_text(r#"{a,"b c","",NULL,"NULL","x\"y"}"#, &t, &ctx()).unwrap();
        assert_eq!(v.to_text(&ctx()), r#"{a,"b c","",NULL,"NULL","x\"y"}"#);
        assert_eq!(parse_text("{}", &t, &ctx()).unwrap(), Value::Array(vec![]));
    }
}
