//! String functions: length, case, substr, pad/trim, split_part, concat,
//! format, quoting, md5, chr/ascii, to_hex. Positions and lengths count
//! characters, not bytes, as in a UTF8 database.

use super::{arg_i64, arg_text, md5, CallContext};
use sargdb_catalog::types::{TypeError, Value};

fn text(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

fn substr_chars(s: &str, start: i64, count: Option<i64>) -> Result<String, TypeError> {
    if let Some(c) = count {
        if c < 0 {
            return Err(TypeError::SubstringError(
                "negative substring length not allowed".into(),
            ));
        }
    }
    let from = start.max(1);
    let to = match count {
        Some(c) => start.saturating_add(c),
        None => i64::MAX,
    };
    if to <= from {
        return Ok(String::new());
    }
    Ok(s.chars()
        .skip((from - 1) as usize)
        .take((to - from) as usize)
        .collect())
}

fn pad(s: &str, len: i64, fill: &str, left: bool) -> String {
    if len <= 0 {
        return String::new();
    }
    let len = len as usize;
    let n = s.chars().count();
    if n >= len || fill.is_empty() {
        return s.chars().take(len).collect();
    }
    let padding: String = fill.chars().cycle().take(len - n).collect();
    if left {
        padding + s
    } else {
        s.to_string() + &padding
    }
}

fn initcap(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    for c in s.chars() {
        if c.is_alphanumeric() {
            if in_word {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            in_word = true;
        } else {
            out.push(c);
            in_word = false;
        }
    }
    out
}

const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "current_catalog",
    "current_date",
    "current_role",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "initially",
    "intersect",
    "into",
    "lateral",
    "leading",
    "limit",
    "localtime",
    "localtimestamp",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "placing",
    "primary",
    "references",
    "returning",
    "select",
    "session_user",
    "some",
    "symmetric",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "when",
    "where",
    "window",
    "with",
];

/// `quote_ident`: double-quote unless the name is a plain lower-case
/// identifier that is not a reserved word.
pub fn quote_ident(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.contains(&s);
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}

/// `quote_literal`: single quotes doubled; backslashes force the E'' form.
pub fn quote_literal(s: &str) -> String {
    let body = s.replace('\'', "''");
    if s.contains('\\') {
        format!("E'{}'", body.replace('\\', "\\\\"))
    } else {
        format!("'{body}'")
    }
}

fn format_fn(args: &[Value], ctx: &CallContext) -> Result<Value, TypeError> {
    let fmt = match args.first() {
        Some(Value::Null) | None => return Ok(Value::Null),
        _ => arg_text(args, 0)?,
    };
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    let mut next_arg = 1usize;
    let unterminated =
        || TypeError::InvalidParameterValue("unterminated format() type specifier".into());
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        // optional position n$
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        let mut idx = next_arg;
        if !digits.is_empty() {
            if chars.peek() == Some(&'$') {
                chars.next();
                idx = digits.parse::<usize>().map_err(|_| unterminated())?;
                if idx == 0 {
                    return Err(TypeError::InvalidParameterValue(
                        "format specifies argument 0, but arguments are numbered from 1".into(),
                    ));
                }
            } else {
                return Err(TypeError::InvalidParameterValue(
                    "width is not supported in format()".into(),
                ));
            }
        }
        let kind = chars.next().ok_or_else(unterminated)?;
        let v = args.get(idx).ok_or_else(|| {
            TypeError::InvalidParameterValue("too few arguments for format()".into())
        })?;
        next_arg = idx + 1;
        let s = if v.is_null() {
            None
        } else {
            Some(v.to_text(&ctx.types))
        };
        match kind {
            's' => out.push_str(s.as_deref().unwrap_or("")),
            'I' => match s {
                Some(s) => out.push_str(&quote_ident(&s)),
                None => {
                    return Err(TypeError::InvalidParameterValue(
                        "null values cannot be formatted as an SQL identifier".into(),
                    ))
                }
            },
            'L' => match s {
                Some(s) => out.push_str(&quote_literal(&s)),
                None => out.push_str("NULL"),
            },
            other => {
                return Err(TypeError::InvalidParameterValue(format!(
                    "unrecognized format() type specifier \"{other}\""
                )))
            }
        }
    }
    Ok(text(out))
}

fn trim_set(s: &str, set: &str, left: bool, right: bool) -> String {
    let is_in = |c: char| set.contains(c);
    let mut t = s;
    if left {
        t = t.trim_start_matches(is_in);
    }
    if right {
        t = t.trim_end_matches(is_in);
    }
    t.to_string()
}

/// String functions; None when `name` is not one of them.
pub fn call(name: &str, args: &[Value], ctx: &CallContext) -> Result<Option<Value>, TypeError> {
    let v = match name {
        "length" | "char_length" | "character_length" => match args.first() {
            Some(Value::Bytea(b)) => Value::Int4(b.len() as i32),
            _ => Value::Int4(arg_text(args, 0)?.chars().count() as i32),
        },
        "octet_length" => match args.first() {
            Some(Value::Bytea(b)) => Value::Int4(b.len() as i32),
            _ => Value::Int4(arg_text(args, 0)?.len() as i32),
        },
        "bit_length" => match args.first() {
            Some(Value::Bytea(b)) => Value::Int4(b.len() as i32 * 8),
            _ => Value::Int4(arg_text(args, 0)?.len() as i32 * 8),
        },
        "lower" => text(arg_text(args, 0)?.to_lowercase()),
        "overlay" => {
            // textoverlay: substr(s, 1, from - 1) || r || substr(s, from + count)
            let (s, r) = (arg_text(args, 0)?, arg_text(args, 1)?);
            let from = arg_i64(args, 2)?;
            let count = if args.len() > 3 {
                arg_i64(args, 3)?
            } else {
                r.chars().count() as i64
            };
            if from <= 0 {
                return Err(TypeError::SubstringError(
                    "negative substring length not allowed".into(),
                ));
            }
            let mut out = substr_chars(s, 1, Some(from - 1))?;
            out.push_str(r);
            out.push_str(&substr_chars(s, from.saturating_add(count.max(0)), None)?);
            text(out)
        }
        "upper" => text(arg_text(args, 0)?.to_uppercase()),
        "initcap" => text(initcap(arg_text(args, 0)?)),
        "reverse" => text(arg_text(args, 0)?.chars().rev().collect::<String>()),
        "substr" | "substring" => {
            let start = arg_i64(args, 1)?;
            let count = if args.len() > 2 {
                Some(arg_i64(args, 2)?)
            } else {
                None
            };
            match args.first() {
                Some(Value::Bytea(b)) => {
                    if count.is_some_and(|c| c < 0) {
                        return Err(TypeError::SubstringError(
                            "negative substring length not allowed".into(),
                        ));
                    }
                    let from = start.max(1);
                    let to = count.map_or(i64::MAX, |c| start.saturating_add(c));
                    let (f, t) = (
                        (from - 1) as usize,
                        (to.max(from) - 1).min(b.len() as i64) as usize,
                    );
                    Value::Bytea(if f < t { b[f..t].to_vec() } else { Vec::new() })
                }
                _ => text(substr_chars(arg_text(args, 0)?, start, count)?),
            }
        }
        "strpos" | "position" => {
            // strpos(string, substring); position(substring, string)
            let (hay, needle) = if name == "strpos" {
                (arg_text(args, 0)?, arg_text(args, 1)?)
            } else {
                (arg_text(args, 1)?, arg_text(args, 0)?)
            };
            Value::Int4(match hay.find(needle) {
                Some(b) => hay[..b].chars().count() as i32 + 1,
                None => 0,
            })
        }
        "replace" => {
            let (s, from, to) = (arg_text(args, 0)?, arg_text(args, 1)?, arg_text(args, 2)?);
            text(if from.is_empty() {
                s.to_string()
            } else {
                s.replace(from, to)
            })
        }
        "translate" => {
            let (s, from, to) = (arg_text(args, 0)?, arg_text(args, 1)?, arg_text(args, 2)?);
            let from: Vec<char> = from.chars().collect();
            let to: Vec<char> = to.chars().collect();
            text(
                s.chars()
                    .filter_map(|c| match from.iter().position(|f| *f == c) {
                        Some(i) => to.get(i).copied(),
                        None => Some(c),
                    })
                    .collect::<String>(),
            )
        }
        "trim" | "btrim" | "ltrim" | "rtrim" => {
            let s = arg_text(args, 0)?;
            let set = if args.len() > 1 {
                arg_text(args, 1)?
            } else {
                " "
            };
            let (l, r) = match name {
                "ltrim" => (true, false),
                "rtrim" => (false, true),
                _ => (true, true),
            };
            text(trim_set(s, set, l, r))
        }
        "lpad" | "rpad" => {
            let fill = if args.len() > 2 {
                arg_text(args, 2)?
            } else {
                " "
            };
            text(pad(
                arg_text(args, 0)?,
                arg_i64(args, 1)?,
                fill,
                name == "lpad",
            ))
        }
        "left" | "right" => {
            let s = arg_text(args, 0)?;
            let n = arg_i64(args, 1)?;
            let len = s.chars().count() as i64;
            let keep = if n >= 0 { n.min(len) } else { (len + n).max(0) };
            text(if name == "left" {
                s.chars().take(keep as usize).collect::<String>()
            } else {
                s.chars().skip((len - keep) as usize).collect::<String>()
            })
        }
        "repeat" => {
            let s = arg_text(args, 0)?;
            let n = arg_i64(args, 1)?.max(0) as usize;
            if s.len().saturating_mul(n) > (1 << 30) - 1 {
                return Err(TypeError::InvalidParameterValue(
                    "requested length too large".into(),
                ));
            }
            text(s.repeat(n))
        }
        "split_part" => {
            let (s, d, n) = (arg_text(args, 0)?, arg_text(args, 1)?, arg_i64(args, 2)?);
            if n == 0 {
                return Err(TypeError::InvalidParameterValue(
                    "field position must not be zero".into(),
                ));
            }
            let parts: Vec<&str> = if d.is_empty() {
                vec![s]
            } else {
                s.split(d).collect()
            };
            let idx = if n > 0 { n - 1 } else { parts.len() as i64 + n };
            text(if idx >= 0 {
                parts.get(idx as usize).copied().unwrap_or("")
            } else {
                ""
            })
        }
        "starts_with" => Value::Bool(arg_text(args, 0)?.starts_with(arg_text(args, 1)?)),
        "concat" => {
            let mut out = String::new();
            for v in args.iter().filter(|v| !v.is_null()) {
                write_any(v, ctx, &mut out);
            }
            text(out)
        }
        "concat_ws" => {
            if args.first().is_none_or(Value::is_null) {
                return Ok(Some(Value::Null));
            }
            let sep = arg_text(args, 0)?;
            let mut out = String::new();
            let mut first = true;
            for v in args[1..].iter().filter(|v| !v.is_null()) {
                if !first {
                    out.push_str(sep);
                }
                first = false;
                write_any(v, ctx, &mut out);
            }
            text(out)
        }
        "format" => format_fn(args, ctx)?,
        "quote_ident" => text(quote_ident(arg_text(args, 0)?)),
        "quote_literal" => text(quote_literal(arg_text(args, 0)?)),
        "quote_nullable" => match args.first() {
            Some(Value::Null) | None => text("NULL"),
            _ => text(quote_literal(arg_text(args, 0)?)),
        },
        "md5" => match args.first() {
            Some(Value::Bytea(b)) => text(md5::hex(b)),
            _ => text(md5::hex(arg_text(args, 0)?.as_bytes())),
        },
        "chr" => {
            let c = arg_i64(args, 0)?;
            if c == 0 {
                return Err(TypeError::ProgramLimitExceeded(
                    "null character not permitted".into(),
                ));
            }
            if c < 0 {
                return Err(TypeError::InvalidParameterValue(
                    "character number must be positive".into(),
                ));
            }
            let ch = u32::try_from(c)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| {
                    TypeError::InvalidParameterValue(format!(
                        "requested character too large for encoding: {c}"
                    ))
                })?;
            text(ch.to_string())
        }
        "ascii" => Value::Int4(arg_text(args, 0)?.chars().next().map_or(0, |c| c as i32)),
        "to_hex" => match args.first() {
            Some(Value::Int8(i)) => text(format!("{:x}", *i as u64)),
            _ => text(format!("{:x}", arg_i64(args, 0)? as i32 as u32)),
        },
        _ => return Ok(None),
    };
    Ok(Some(v))
}

/// Text form of any value for concat(): booleans print as t/f like Postgres.
fn write_any(v: &Value, ctx: &CallContext, out: &mut String) {
    v.write_text(&ctx.types, out);
}
