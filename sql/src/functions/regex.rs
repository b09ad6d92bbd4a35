//! POSIX regular expressions: the `~ ~* !~ !~*` operators (which the binder
//! binds as calls to `regex_match` and friends), `regexp_replace`,
//! `regexp_match` and `regexp_like`. Postgres's ARE dialect is translated to
//! the `regex` crate's syntax where the two differ (`\m \M \y \Y`, bracket
//! classes); features the crate lacks (back-references in patterns,
//! lookaround) are reported as invalid regular expressions, never a panic.

use std::cell::RefCell;
use std::collections::HashMap;

use regex::{Regex, RegexBuilder};
use sargdb_catalog::types::{TypeError, Value};

use super::arg_text;

thread_local! {
    /// Compiled patterns, keyed by (pattern, case-insensitive). Bounded: cleared when full.
    static CACHE: RefCell<HashMap<(String, bool), Regex>> = RefCell::new(HashMap::new());
}

const CACHE_LIMIT: usize = 256;

/// Translate an ARE pattern to the regex crate's syntax.
fn translate(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    let mut in_bracket = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('m') if !in_bracket => out.push_str(r"\b"),
                Some('M') if !in_bracket => out.push_str(r"\b"),
                Some('y') if !in_bracket => out.push_str(r"\b"),
                Some('Y') if !in_bracket => out.push_str(r"\B"),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push_str(r"\\"),
            },
            '[' if !in_bracket => {
                in_bracket = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                // A leading ']' is a literal in POSIX brackets.
                if chars.peek() == Some(&']') {
                    out.push_str(r"\]");
                    chars.next();
                }
            }
            '[' if in_bracket => {
                // [:alpha:] and friends pass through; a lone '[' is literal.
                if chars.peek() == Some(&':') {
                    out.push('[');
                } else {
                    out.push_str(r"\[");
                }
            }
            ']' if in_bracket => {
                in_bracket = false;
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

fn compile(pattern: &str, ci: bool) -> Result<Regex, TypeError> {
    CACHE.with(|c| {
        let key = (pattern.to_string(), ci);
        if let Some(r) = c.borrow().get(&key) {
            return Ok(r.clone());
        }
        let re = RegexBuilder::new(&translate(pattern))
            .case_insensitive(ci)
            .size_limit(10 << 20)
            .build()
            .map_err(|e| TypeError::InvalidRegex(short_error(&e)))?;
        let mut m = c.borrow_mut();
        if m.len() >= CACHE_LIMIT {
            m.clear();
        }
        m.insert(key, re.clone());
        Ok(re)
    })
}

fn short_error(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(s) => s
            .lines()
            .rev()
            .find(|l| l.starts_with("error: "))
            .map(|l| l.trim_start_matches("error: ").to_string())
            .unwrap_or_else(|| "invalid pattern".into()),
        regex::Error::CompiledTooBig(_) => "regular expression is too complex".into(),
        _ => "invalid pattern".into(),
    }
}

/// Flags of regexp_replace/regexp_match: (global, case-insensitive).
fn flags(f: Option<&str>, allow_g: bool, func: &str) -> Result<(bool, bool), TypeError> {
    let (mut g, mut ci) = (false, false);
    for c in f.unwrap_or("").chars() {
        match c {
            'g' if allow_g => g = true,
            'g' => {
                return Err(TypeError::InvalidParameterValue(format!(
                    "{func}() does not support the \"global\" option"
                )))
            }
            'i' => ci = true,
            'c' => ci = false,
            'n' | 'p' | 'w' | 's' | 't' | 'x' | 'q' | 'e' | 'b' => {}
            other => {
                return Err(TypeError::InvalidParameterValue(format!(
                    "invalid regular expression option: \"{other}\""
                )))
            }
        }
    }
    Ok((g, ci))
}

/// Postgres replacement text (`\1`, `\&`, `\\`) in the regex crate's form.
fn replacement(r: &str) -> String {
    let mut out = String::with_capacity(r.len());
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d @ '1'..='9') => {
                    chars.next();
                    out.push_str(&format!("${{{d}}}"));
                }
                Some('&') => {
                    chars.next();
                    out.push_str("${0}");
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

/// Regex functions; None when `name` is not one of them.
pub fn call(name: &str, args: &[Value]) -> Result<Option<Value>, TypeError> {
    let v = match name {
        "regex_match" | "regex_imatch" | "regex_not_match" | "regex_not_imatch" => {
            let ci = name.ends_with("imatch");
            let re = compile(arg_text(args, 1)?, ci)?;
            let m = re.is_match(arg_text(args, 0)?);
            Value::Bool(if name.contains("not") { !m } else { m })
        }
        "regexp_like" => {
            let (_, ci) = flags(
                args.get(2).map(|_| arg_text(args, 2)).transpose()?,
                false,
                name,
            )?;
            let re = compile(arg_text(args, 1)?, ci)?;
            Value::Bool(re.is_match(arg_text(args, 0)?))
        }
        "regexp_replace" => {
            let (g, ci) = flags(
                args.get(3).map(|_| arg_text(args, 3)).transpose()?,
                true,
                name,
            )?;
            let re = compile(arg_text(args, 1)?, ci)?;
            let src = arg_text(args, 0)?;
            let rep = replacement(arg_text(args, 2)?);
            let out = if g {
                re.replace_all(src, rep.as_str())
            } else {
                re.replace(src, rep.as_str())
            };
            Value::Text(out.into_owned())
        }
        "regexp_match" => {
            let (_, ci) = flags(
                args.get(2).map(|_| arg_text(args, 2)).transpose()?,
                false,
                name,
            )?;
            let re = compile(arg_text(args, 1)?, ci)?;
            match re.captures(arg_text(args, 0)?) {
                None => Value::Null,
                Some(c) if c.len() == 1 => Value::Array(vec![c
                    .get(0)
                    .map_or(Value::Null, |m| Value::Text(m.as_str().into()))]),
                Some(c) => Value::Array(
                    (1..c.len())
                        .map(|i| {
                            c.get(i)
                                .map_or(Value::Null, |m| Value::Text(m.as_str().into()))
                        })
                        .collect(),
                ),
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn operators_and_replace() {
        assert_eq!(
            call("regex_match", &[t("abc"), t("b")]).unwrap(),
            Some(Value::Bool(true))
        );
        assert_eq!(
            call("regex_imatch", &[t("abc"), t("B")]).unwrap(),
            Some(Value::Bool(true))
        );
        assert_eq!(
            call("regex_not_match", &[t("abc"), t("z")]).unwrap(),
            Some(Value::Bool(true))
        );
        assert_eq!(
            call("regexp_replace", &[t("abc123def456"), t("[0-9]+"), t("#")]).unwrap(),
            Some(t("abc#def456"))
        );
        assert_eq!(
            call(
                "regexp_replace",
                &[t("abc123def456"), t("([0-9])+"), t("<\\1$>"), t("g")]
            )
            .unwrap(),
            Some(t("abc<3$>def<6$>"))
        );
        assert_eq!(
            call("regexp_match", &[t("foobarbequebaz"), t("(bar)(beque)")]).unwrap(),
            Some(Value::Array(vec![t("bar"), t("beque")]))
        );
        assert!(call("regex_match", &[t("a"), t("(")]).is_err());
        assert_eq!(
            call("regex_match", &[t("a]"), t("[]a]+")]).unwrap(),
            Some(Value::Bool(true))
        );
    }
}
