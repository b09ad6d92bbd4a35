//! Postgres-style text for expressions the catalog stores as SQL text
//! (defaults, CHECK constraints, index expressions and predicates), as
//! `pg_get_expr`, `pg_get_indexdef` and `pg_get_constraintdef` print them:
//! string constants carry their type (`'open'::text`), numeric constants
//! compared with a column of another numeric type are cast to it
//! (`0::numeric`), and the non-pretty form parenthesizes every operator.
//! Only what sargdb's DDL can store is covered; anything else prints as
//! sqlparser writes it.

use sargdb_catalog::{Catalog, ConstraintKind, DataType, IndexDef, TableDef};

use crate::parser::ast::{self, Expr};

/// An identifier as Postgres's `quote_ident` prints it (the SQL function's
/// implementation: one keyword list for both).
pub use crate::functions::string::quote_ident;

/// A column default as `pg_get_expr(adbin, adrelid)` prints it.
pub fn default_expr(text: &str, ty: &DataType) -> String {
    match crate::parser::parse_expr(text) {
        Ok(e) => {
            let d = Deparser {
                table: None,
                pretty: true,
            };
            let (s, t) = d.expr(&e, 0);
            if t == Some(DataType::Unknown) {
                format!("{s}::{}", cast_name(ty))
            } else {
                s
            }
        }
        Err(_) => text.to_string(),
    }
}

/// An expression over a table's columns (CHECK, index expression, index
/// predicate), pretty-printed as psql shows it.
pub fn table_expr(text: &str, table: Option<&TableDef>) -> String {
    expr_text(text, table, true)
}

/// Same, pretty (`pg_get_expr(.., true)`) or not.
pub fn expr_text(text: &str, table: Option<&TableDef>, pretty: bool) -> String {
    match crate::parser::parse_expr(text) {
        Ok(e) => Deparser { table, pretty }.expr(&e, 0).0,
        Err(_) => text.to_string(),
    }
}

/// `pg_get_indexdef(index)`: `CREATE [UNIQUE] INDEX name ON schema.table
/// USING btree (cols) [INCLUDE (cols)] [WHERE (pred)]`.
pub fn index_def(cat: &Catalog, ix: &IndexDef, pretty: bool) -> String {
    let table = cat.tables.get(&ix.table);
    let tname = table.map_or_else(String::new, |t| {
        format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.name))
    });
    let cols: Vec<String> = (1..=ix.columns.len())
        .map(|n| {
            let mut s = index_column(cat, ix, n, pretty);
            let k = &ix.columns[n - 1];
            if k.descending {
                s.push_str(" DESC");
                if !k.nulls_first {
                    s.push_str(" NULLS LAST");
                }
            } else if k.nulls_first {
                s.push_str(" NULLS FIRST");
            }
            s
        })
        .collect();
    let mut s = format!(
        "CREATE {}INDEX {} ON {} USING {} ({})",
        if ix.unique { "UNIQUE " } else { "" },
        quote_ident(&ix.name),
        tname,
        ix.method,
        cols.join(", ")
    );
    if !ix.include.is_empty() {
        let inc: Vec<String> = ix
            .include
            .iter()
            .filter_map(|p| {
                table
                    .and_then(|t| t.columns.get(*p))
                    .map(|c| quote_ident(&c.name))
            })
            .collect();
        s.push_str(&format!(" INCLUDE ({})", inc.join(", ")));
    }
    let opts = super::index_reloptions(ix);
    if !opts.is_empty() {
        // Postgres quotes values that are not plain identifiers.
        let quoted: Vec<String> = opts
            .iter()
            .map(|o| match o.split_once('=') {
                Some((k, v)) if v.chars().all(|c| c.is_ascii_lowercase() || c == '_') => {
                    format!("{k}={v}")
                }
                Some((k, v)) => format!("{k}='{v}'"),
                None => o.clone(),
            })
            .collect();
        s.push_str(&format!(" WITH ({})", quoted.join(", ")));
    }
    if let Some(p) = &ix.predicate {
        let e = expr_text(p, table, pretty);
        if pretty {
            s.push_str(&format!(" WHERE {e}"));
        } else {
            s.push_str(&format!(" WHERE {}", paren(&e)));
        }
    }
    s
}

fn paren(s: &str) -> String {
    if s.starts_with('(') && s.ends_with(')') {
        s.to_string()
    } else {
        format!("({s})")
    }
}

/// `pg_get_indexdef(index, n, pretty)` for column n (1-based): the key
/// column or the expression, without ordering options. Out of range: "".
pub fn index_column(cat: &Catalog, ix: &IndexDef, n: usize, pretty: bool) -> String {
    let table = cat.tables.get(&ix.table);
    if n == 0 || n > ix.columns.len() + ix.include.len() {
        return String::new();
    }
    if n > ix.columns.len() {
        let p = ix.include[n - ix.columns.len() - 1];
        return table
            .and_then(|t| t.columns.get(p))
            .map(|c| quote_ident(&c.name))
            .unwrap_or_default();
    }
    let k = &ix.columns[n - 1];
    let s = match (k.column, &k.expr) {
        (Some(p), _) => table
            .and_then(|t| t.columns.get(p))
            .map(|c| quote_ident(&c.name))
            .unwrap_or_default(),
        (None, Some(e)) => {
            let d = expr_text(e, table, pretty);
            let parsed = crate::parser::parse_expr(e).ok();
            if matches!(parsed, Some(Expr::Function(_))) {
                d
            } else {
                paren(&d)
            }
        }
        (None, None) => String::new(),
    };
    s
}

/// `pg_get_constraintdef(oid, pretty)`.
pub fn constraint_def(cat: &Catalog, oid: u32, pretty: bool) -> Option<String> {
    for tb in cat.tables.values() {
        for c in &tb.constraints {
            if c.oid != oid {
                continue;
            }
            let cols = |v: &[usize]| {
                v.iter()
                    .filter_map(|p| tb.columns.get(*p))
                    .map(|c| quote_ident(&c.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let index_opts = cat
                .indexes_of(tb.oid)
                .find(|i| i.constraint == Some(c.oid))
                .filter(|i| !i.include.is_empty())
                .map(|i| {
                    let inc = i
                        .include
                        .iter()
                        .filter_map(|p| tb.columns.get(*p))
                        .map(|c| quote_ident(&c.name))
                        .collect::<Vec<_>>()
                        .join(", ");
                    format!(" INCLUDE ({inc})")
                })
                .unwrap_or_default();
            return Some(match &c.kind {
                ConstraintKind::PrimaryKey(v) => format!("PRIMARY KEY ({}){index_opts}", cols(v)),
                ConstraintKind::Unique(v) => format!("UNIQUE ({}){index_opts}", cols(v)),
                ConstraintKind::Check(e) => {
                    let d = expr_text(e, Some(tb), pretty);
                    format!("CHECK ({})", if pretty { d } else { paren(&d) })
                }
            });
        }
    }
    None
}

/// The type name a cast prints (`text`, `character varying`, `numeric`).
fn cast_name(t: &DataType) -> String {
    t.without_modifier().display_name()
}

/// Functions taking text (a varchar argument is cast to text).
const TEXT_FUNCTIONS: &[&str] = &[
    "lower", "upper", "btrim", "ltrim", "rtrim", "length", "md5", "initcap", "reverse",
];

/// A numeric constant, possibly negated.
fn is_const(e: &Expr) -> bool {
    match e {
        Expr::Value(_) => true,
        Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => matches!(**expr, Expr::Value(_)),
        Expr::Nested(x) => is_const(x),
        _ => false,
    }
}

struct Deparser<'a> {
    table: Option<&'a TableDef>,
    pretty: bool,
}

/// Precedence for pretty printing: higher binds tighter.
fn prec(op: &ast::BinaryOperator) -> u8 {
    use ast::BinaryOperator as B;
    match op {
        B::Or => 1,
        B::And => 2,
        B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq => 4,
        B::Plus | B::Minus => 6,
        B::Multiply | B::Divide | B::Modulo => 7,
        _ => 5,
    }
}

impl Deparser<'_> {
    fn column_type(&self, name: &str) -> Option<DataType> {
        let t = self.table?;
        let p = t.column_index(name)?;
        Some(t.columns[p].data_type.clone())
    }

    /// Text and type of an expression; Some(Unknown) marks an untyped
    /// string literal, None a type we do not know.
    fn expr(&self, e: &Expr, parent: u8) -> (String, Option<DataType>) {
        match e {
            Expr::Identifier(i) => {
                let n = crate::binder::ident_name(i);
                (quote_ident(&n), self.column_type(&n))
            }
            Expr::CompoundIdentifier(v) => {
                let n = v.last().map(crate::binder::ident_name).unwrap_or_default();
                (quote_ident(&n), self.column_type(&n))
            }
            Expr::Nested(x) => self.expr(x, parent),
            Expr::Value(v) => match &v.value {
                ast::Value::Number(n, _) => {
                    let ty = if n.contains(['.', 'e', 'E']) {
                        DataType::Numeric(None)
                    } else if n.parse::<i32>().is_ok() {
                        DataType::Int4
                    } else if n.parse::<i64>().is_ok() {
                        DataType::Int8
                    } else {
                        DataType::Numeric(None)
                    };
                    (n.clone(), Some(ty))
                }
                ast::Value::SingleQuotedString(s) => (
                    format!("'{}'", s.replace('\'', "''")),
                    Some(DataType::Unknown),
                ),
                ast::Value::Boolean(x) => (x.to_string(), Some(DataType::Bool)),
                ast::Value::Null => ("NULL".into(), None),
                other => (other.to_string(), None),
            },
            Expr::Cast {
                expr, data_type, ..
            } => {
                let (s, _) = self.expr(expr, 10);
                let tn = data_type.to_string().to_lowercase();
                let ty = crate::binder::convert_type(data_type).ok();
                let s = if (matches!(**expr, Expr::Value(_)) && s.starts_with('\''))
                    || (self.pretty && !s.contains(' '))
                {
                    s
                } else {
                    format!("({s})")
                };
                (format!("{s}::{tn}"), ty)
            }
            Expr::Function(f) => {
                let name = f.name.to_string().to_lowercase();
                let args: Vec<String> = match &f.args {
                    ast::FunctionArguments::List(l) => l
                        .args
                        .iter()
                        .map(|a| match a {
                            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) => {
                                let (s, t) = self.expr(x, 0);
                                if t == Some(DataType::Unknown) && name != "nextval" {
                                    format!("{s}::text")
                                } else if matches!(t, Some(DataType::Varchar(_)))
                                    && TEXT_FUNCTIONS.contains(&name.as_str())
                                {
                                    // varchar reaches text functions through a cast.
                                    format!("{s}::text")
                                } else {
                                    s
                                }
                            }
                            other => other.to_string(),
                        })
                        .collect(),
                    ast::FunctionArguments::None => return (name.to_uppercase(), None),
                    ast::FunctionArguments::Subquery(_) => return (e.to_string(), None),
                };
                let ty = match name.as_str() {
                    "lower" | "upper" | "btrim" | "trim" | "substr" | "substring" | "concat" => {
                        Some(DataType::Text)
                    }
                    "length" => Some(DataType::Int4),
                    "now" => Some(DataType::Timestamptz),
                    _ => None,
                };
                (format!("{name}({})", args.join(", ")), ty)
            }
            Expr::UnaryOp {
                op: ast::UnaryOperator::Minus,
                expr,
            } if matches!(&**expr, Expr::Value(v) if matches!(v.value, ast::Value::Number(..))) => {
                // Postgres prints a negative constant as a quoted literal with its type.
                let (n, ty) = self.expr(expr, 10);
                let ty = ty.unwrap_or(DataType::Int4);
                (format!("'-{n}'::{}", cast_name(&ty)), Some(ty))
            }
            Expr::IsNull(x) => (
                self.wrap(format!("{} IS NULL", self.expr(x, 9).0), 3, parent),
                Some(DataType::Bool),
            ),
            Expr::IsNotNull(x) => (
                self.wrap(format!("{} IS NOT NULL", self.expr(x, 9).0), 3, parent),
                Some(DataType::Bool),
            ),
            Expr::UnaryOp {
                op: ast::UnaryOperator::Not,
                expr,
            } => (
                self.wrap(format!("NOT {}", self.expr(expr, 3).0), 3, parent),
                Some(DataType::Bool),
            ),
            Expr::BinaryOp { left, op, right } => {
                let p = prec(op);
                let (mut ls, lt) = self.expr(left, p);
                let (mut rs, rt) = self.expr(right, p + 1);
                let unknown = Some(DataType::Unknown);
                let mut ty = None;
                match (&lt, &rt) {
                    (Some(DataType::Unknown), Some(o)) if *o != DataType::Unknown => {
                        let (c, s) = self.coerce(o);
                        ls = format!("{ls}::{c}");
                        if s {
                            rs = format!("({rs})::{c}");
                        }
                    }
                    (Some(o), Some(DataType::Unknown)) if *o != DataType::Unknown => {
                        let (c, s) = self.coerce(o);
                        rs = format!("{rs}::{c}");
                        if s {
                            ls = format!("({ls})::{c}");
                        }
                    }
                    (Some(a), Some(b)) if a.is_numeric() && b.is_numeric() => {
                        let int = |t: &DataType| {
                            matches!(t, DataType::Int2 | DataType::Int4 | DataType::Int8)
                        };
                        if !(int(a) && int(b)) && a.without_modifier() != b.without_modifier() {
                            // The integer constant is coerced to the other side's type.
                            if is_const(right) && int(b) {
                                rs = self.const_cast(&rs, a);
                            } else if is_const(left) && int(a) {
                                ls = self.const_cast(&ls, b);
                            }
                        }
                        ty = Some(if int(a) && int(b) {
                            a.clone()
                        } else {
                            DataType::Numeric(None)
                        });
                    }
                    _ => {}
                }
                let _ = unknown;
                if p == 4 || matches!(op, ast::BinaryOperator::And | ast::BinaryOperator::Or) {
                    ty = Some(DataType::Bool);
                }
                let opname = match op {
                    ast::BinaryOperator::NotEq => "<>".to_string(),
                    other => other.to_string(),
                };
                (self.wrap(format!("{ls} {opname} {rs}"), p, parent), ty)
            }
            other => (other.to_string(), None),
        }
    }

    fn const_cast(&self, s: &str, to: &DataType) -> String {
        if self.pretty {
            format!("{s}::{}", cast_name(to))
        } else {
            format!("({s})::{}", cast_name(to))
        }
    }

    /// The type an untyped literal compared with a value of type `o` takes,
    /// and whether the other side must be cast too (varchar has no
    /// operators of its own; it compares as text).
    fn coerce(&self, o: &DataType) -> (String, bool) {
        match o {
            DataType::Varchar(_) => ("text".into(), true),
            other => (cast_name(other), false),
        }
    }

    fn wrap(&self, s: String, p: u8, parent: u8) -> String {
        if !self.pretty || (parent > 0 && p < parent) {
            format!("({s})")
        } else {
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sargdb_catalog::ColumnDef;

    fn table() -> TableDef {
        TableDef {
            oid: 1,
            schema: "public".into(),
            name: "orders".into(),
            columns: vec![
                ColumnDef::new("status", DataType::Text),
                ColumnDef::new("amount", DataType::Numeric(Some((12, 2)))),
                ColumnDef::new("qty", DataType::Int4),
            ],
            constraints: vec![],
            storage: Default::default(),
        }
    }

    #[test]
    fn postgres_forms() {
        let t = table();
        assert_eq!(
            table_expr("status = 'open'", Some(&t)),
            "status = 'open'::text"
        );
        assert_eq!(
            expr_text("status = 'open'", Some(&t), false),
            "(status = 'open'::text)"
        );
        assert_eq!(table_expr("amount >= 0", Some(&t)), "amount >= 0::numeric");
        assert_eq!(
            expr_text("amount >= 0", Some(&t), false),
            "(amount >= (0)::numeric)"
        );
        assert_eq!(table_expr("qty > 0", Some(&t)), "qty > 0");
        assert_eq!(table_expr("qty > -100", Some(&t)), "qty > '-100'::integer");
        assert_eq!(table_expr("lower(status)", Some(&t)), "lower(status)");
        assert_eq!(default_expr("'new'", &DataType::Text), "'new'::text");
        assert_eq!(default_expr("1", &DataType::Int4), "1");
        assert_eq!(
            default_expr("nextval('items_id_seq'::regclass)", &DataType::Int4),
            "nextval('items_id_seq'::regclass)"
        );
    }
}
