//! The object identifier aliases: text input and output of `regclass`,
//! `regtype`, `regproc`, `regprocedure`, `regnamespace` and `regrole`, as
//! Postgres's `reg*in` / `reg*out` functions behave (names looked up in the
//! catalog, errors with Postgres's SQLSTATEs, `-` for oid 0, the number for
//! an oid nothing has). The binder resolves a literal when it binds the
//! cast; a computed name, and every output, goes through here at execution
//! or when the protocol layer prints a value.

use sargdb_catalog::{Catalog, DataType};

use crate::error::{Result, SqlError};
use crate::functions::string::quote_ident;

/// What a lookup needs: the catalog, the search path, the session's role.
pub struct RegContext<'a> {
    pub catalog: &'a Catalog,
    pub search_path: &'a [String],
    pub user: &'a str,
}

impl RegContext<'_> {
    fn session(&self) -> super::SessionInfo {
        super::SessionInfo {
            user: self.user.to_string(),
            ..Default::default()
        }
    }
}

/// The name of the input function of an alias type (`regprocin`), the
/// catalog function a computed cast calls.
pub fn input_function(ty: &DataType) -> String {
    format!("{}in", ty.display_name())
}

/// The name of the output function of an alias type (`regprocout`).
pub fn output_function(ty: &DataType) -> String {
    format!("{}out", ty.display_name())
}

/// The alias type an input / output function name belongs to.
pub fn function_type(name: &str) -> Option<(DataType, bool)> {
    let (base, input) = if let Some(b) = name.strip_suffix("in") {
        (b, true)
    } else {
        (name.strip_suffix("out")?, false)
    };
    let ty = match base {
        "regclass" => DataType::Regclass,
        "regtype" => DataType::Regtype,
        "regproc" => DataType::Regproc,
        "regprocedure" => DataType::Regprocedure,
        "regnamespace" => DataType::Regnamespace,
        "regrole" => DataType::Regrole,
        _ => return None,
    };
    Some((ty, input))
}

/// An identifier as written (`"Quoted"` kept, others folded to lower case).
fn ident(s: &str) -> String {
    let s = s.trim();
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        s[1..s.len() - 1].replace("\"\"", "\"")
    } else {
        s.to_lowercase()
    }
}

/// `a.b.c` split at dots outside double quotes.
fn dotted(s: &str) -> Vec<String> {
    let mut parts = vec![];
    let mut cur = String::new();
    let mut quoted = false;
    for ch in s.chars() {
        match ch {
            '"' => {
                quoted = !quoted;
                cur.push(ch);
            }
            '.' if !quoted => parts.push(ident(&std::mem::take(&mut cur))),
            _ => cur.push(ch),
        }
    }
    parts.push(ident(&cur));
    parts
}

/// The oid `text` names as a value of `ty` (Postgres's `reg*in`).
pub fn input(ty: &DataType, text: &str, ctx: &RegContext) -> Result<u32> {
    let s = text.trim();
    // Every alias takes an oid's digits, and `-` for 0 (regclass and
    // regtype read `-` as a name, as Postgres does).
    if let Ok(n) = s.parse::<u32>() {
        return Ok(n);
    }
    if s == "-" && !matches!(ty, DataType::Regclass | DataType::Regtype) {
        return Ok(0);
    }
    match ty {
        DataType::Regclass => {
            if let Some(oid) = super::system_relation_oid(s) {
                return Ok(oid);
            }
            super::functions::regclass_oid(ctx.catalog, ctx.search_path, s).ok_or_else(|| {
                SqlError::UndefinedTable {
                    name: s.to_string(),
                    position: None,
                }
            })
        }
        DataType::Regtype => type_oid(s),
        DataType::Regproc => {
            let name = function_name(s, ctx)?;
            let found: Vec<u32> = super::pg_proc::overloads(&name).collect();
            match found.as_slice() {
                [one] => Ok(*one),
                [] => Err(SqlError::UndefinedFunction(format!(
                    "function \"{s}\" does not exist"
                ))),
                _ => Err(SqlError::AmbiguousFunction(format!(
                    "more than one function named \"{s}\""
                ))),
            }
        }
        DataType::Regprocedure => {
            let Some(open) = s.find('(') else {
                return Err(SqlError::InvalidTextRepresentationMsg(
                    "expected a left parenthesis".into(),
                ));
            };
            let Some(inner) = s[open + 1..].trim_end().strip_suffix(')') else {
                return Err(SqlError::InvalidTextRepresentationMsg(
                    "expected a right parenthesis".into(),
                ));
            };
            let name = function_name(&s[..open], ctx)?;
            let mut args = vec![];
            for a in split_args(inner) {
                args.push(type_oid(&a)?);
            }
            let found = super::pg_proc::overloads(&name)
                .find(|oid| super::pg_proc::argument_types(*oid) == Some(args.as_slice()));
            found.ok_or_else(|| {
                SqlError::UndefinedFunction(format!("function \"{s}\" does not exist"))
            })
        }
        DataType::Regnamespace => {
            let parts = dotted(s);
            let [n] = parts.as_slice() else {
                return Err(SqlError::InvalidTextRepresentationMsg(
                    "invalid name syntax".into(),
                ));
            };
            super::schemas(ctx.catalog)
                .into_iter()
                .find(|sc| sc.1 == *n)
                .map(|sc| sc.0)
                .ok_or_else(|| SqlError::UndefinedSchema(n.clone()))
        }
        DataType::Regrole => {
            let parts = dotted(s);
            let [n] = parts.as_slice() else {
                return Err(SqlError::InvalidTextRepresentationMsg(
                    "invalid name syntax".into(),
                ));
            };
            super::role_oid(n, &ctx.session())
                .ok_or_else(|| SqlError::UndefinedObject(format!("role \"{n}\" does not exist")))
        }
        _ => Err(SqlError::Internal(format!(
            "{} is no oid alias",
            ty.display_name()
        ))),
    }
}

/// The function name of a regproc / regprocedure text; every function
/// lives in pg_catalog, so another existing schema finds none.
fn function_name(s: &str, ctx: &RegContext) -> Result<String> {
    let parts = dotted(s);
    match parts.as_slice() {
        [n] => Ok(n.clone()),
        [sc, n] => {
            if super::schema_oid(ctx.catalog, sc) == 0 {
                return Err(SqlError::UndefinedSchema(sc.clone()));
            }
            if sc != "pg_catalog" {
                return Err(SqlError::UndefinedFunction(format!(
                    "function \"{}\" does not exist",
                    s.trim()
                )));
            }
            Ok(n.clone())
        }
        _ => Err(SqlError::InvalidTextRepresentationMsg(
            "invalid name syntax".into(),
        )),
    }
}

/// A regprocedure's argument list split at top-level commas.
fn split_args(inner: &str) -> Vec<String> {
    let mut out = vec![];
    let mut depth = 0i32;
    let mut quoted = false;
    let mut cur = String::new();
    for ch in inner.chars() {
        match ch {
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    if !cur.trim().is_empty() || !out.is_empty() {
        out.push(cur);
    }
    out
}

/// Pseudo-types function signatures use, which are no `DataType`.
const PSEUDO_TYPES: &[(&str, u32)] = &[
    ("\"any\"", 2276),
    ("anyarray", 2277),
    ("anyelement", 2283),
    ("anynonarray", 2776),
    ("anycompatible", 5077),
    ("anycompatiblearray", 5078),
    ("record", 2249),
    ("pg_node_tree", 194),
    ("void", 2278),
    ("cstring", 2275),
];

/// The oid of a type named as `regtype` input reads it (42704 if none).
fn type_oid(s: &str) -> Result<u32> {
    let s = s.trim();
    let lower = s.to_lowercase();
    if let Some((_, oid)) = PSEUDO_TYPES
        .iter()
        .find(|(n, _)| *n == lower || n.trim_matches('"') == lower)
    {
        return Ok(*oid);
    }
    crate::parser::parse_type_name(s)
        .and_then(|st| crate::binder::convert_type(&st).ok())
        .map(|t| t.oid())
        .filter(|o| *o != 0)
        .ok_or_else(|| {
            let shown = s.rsplit('.').next().unwrap_or(s).trim_matches('"');
            SqlError::UndefinedObject(format!("type \"{shown}\" does not exist"))
        })
}

/// A type oid as `format_type` prints it inside a regprocedure.
fn type_name(oid: u32) -> String {
    if let Some((n, _)) = PSEUDO_TYPES.iter().find(|(_, o)| *o == oid) {
        return n.to_string();
    }
    super::functions::regtype_name(oid)
}

/// How a value of `ty` prints (Postgres's `reg*out`).
pub fn output(ty: &DataType, oid: u32, ctx: &RegContext) -> String {
    if oid == 0 {
        return "-".into();
    }
    match ty {
        DataType::Regclass => super::functions::regclass_name(ctx.catalog, ctx.search_path, oid),
        DataType::Regtype => super::functions::regtype_name(oid),
        DataType::Regproc | DataType::Regprocedure => match super::pg_proc::name_of(oid) {
            None => oid.to_string(),
            Some(name) if *ty == DataType::Regprocedure => {
                let args: Vec<String> = super::pg_proc::argument_types(oid)
                    .unwrap_or_default()
                    .iter()
                    .map(|a| type_name(*a))
                    .collect();
                format!("{}({})", quote_ident(name), args.join(","))
            }
            // A name several functions share is qualified (as Postgres
            // does: the bare name would not find this one).
            Some(name) if super::pg_proc::overloads(name).count() > 1 => {
                format!("pg_catalog.{}", quote_ident(name))
            }
            Some(name) => quote_ident(name),
        },
        DataType::Regnamespace => super::schemas(ctx.catalog)
            .into_iter()
            .find(|sc| sc.0 == oid)
            .map_or_else(|| oid.to_string(), |sc| quote_ident(&sc.1)),
        DataType::Regrole => {
            let session = ctx.session();
            let name = super::role_name(oid, &session);
            if super::role_oid(&name, &session) == Some(oid) {
                quote_ident(&name)
            } else {
                oid.to_string()
            }
        }
        _ => oid.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(cat: &Catalog) -> RegContext<'_> {
        RegContext {
            catalog: cat,
            search_path: &[],
            user: "postgres",
        }
    }

    #[test]
    fn functions_by_name_and_signature() {
        let cat = Catalog::default();
        let c = ctx(&cat);
        let ascii = input(&DataType::Regproc, "ascii", &c).unwrap();
        assert_eq!(output(&DataType::Regproc, ascii, &c), "ascii");
        assert_eq!(output(&DataType::Regprocedure, ascii, &c), "ascii(text)");
        assert!(matches!(
            input(&DataType::Regproc, "abs", &c),
            Err(SqlError::AmbiguousFunction(_))
        ));
        let abs = input(&DataType::Regprocedure, "pg_catalog.ABS(int)", &c).unwrap();
        assert_eq!(abs, 1397);
        assert_eq!(output(&DataType::Regproc, abs, &c), "pg_catalog.abs");
        assert_eq!(
            output(
                &DataType::Regprocedure,
                input(&DataType::Regprocedure, "substr(text, int4, int4)", &c).unwrap(),
                &c
            ),
            "substr(text,integer,integer)"
        );
        assert!(matches!(
            input(&DataType::Regprocedure, "lower(int)", &c),
            Err(SqlError::UndefinedFunction(_))
        ));
        assert!(matches!(
            input(&DataType::Regprocedure, "lower", &c),
            Err(SqlError::InvalidTextRepresentationMsg(_))
        ));
        assert_eq!(output(&DataType::Regproc, 0, &c), "-");
        assert_eq!(output(&DataType::Regproc, 4_000_000, &c), "4000000");
    }

    #[test]
    fn schemas_and_roles() {
        let cat = Catalog::default();
        let c = ctx(&cat);
        let public = input(&DataType::Regnamespace, "PUBLIC", &c).unwrap();
        assert_eq!(output(&DataType::Regnamespace, public, &c), "public");
        assert!(matches!(
            input(&DataType::Regnamespace, "nosuch", &c),
            Err(SqlError::UndefinedSchema(_))
        ));
        let me = input(&DataType::Regrole, "postgres", &c).unwrap();
        assert_eq!(output(&DataType::Regrole, me, &c), "postgres");
        assert!(matches!(
            input(&DataType::Regrole, "nobody", &c),
            Err(SqlError::UndefinedObject(_))
        ));
    }
}
