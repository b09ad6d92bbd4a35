//! The binder: resolves names in sqlparser's AST against the catalog, types
//! every expression with Postgres's rules (`typing`), infers the types of
//! `$n` parameters from their context, and produces a logical `Plan`.
//! It never touches storage.

pub mod bound;
mod dml;
pub(crate) mod expr;
pub mod index;
mod select;
pub mod typing;

use std::sync::Arc;

use sargdb_catalog::types::TypeContext;
use sargdb_catalog::{Catalog, DataType, TableDef};

use crate::error::{Result, SqlError};
use crate::parser::ast;
use crate::planner::plan::Plan;

pub use bound::BoundExpr;

/// One column visible to name resolution.
#[derive(Clone, Debug)]
pub struct ScopeCol {
    /// Table name or alias that qualifies it.
    pub table: Option<String>,
    pub name: String,
    pub ty: DataType,
    /// (table oid, attnum) when it is a plain table column.
    pub origin: Option<(u32, i16)>,
    /// Not matched by unqualified names nor by `*` (dropped columns, tids,
    /// the right side of USING).
    pub hidden: bool,
}

/// The columns of the row an expression is evaluated on.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub cols: Vec<ScopeCol>,
}

impl Scope {
    /// Scope of a table's physical row.
    pub fn for_table(t: &TableDef, alias: &str) -> Scope {
        Scope {
            cols: t
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| ScopeCol {
                    table: Some(alias.to_string()),
                    name: if c.dropped {
                        String::new()
                    } else {
                        c.name.clone()
                    },
                    ty: c.data_type.clone(),
                    origin: Some((t.oid, (i + 1) as i16)),
                    hidden: c.dropped,
                })
                .collect(),
        }
    }

    pub fn push_tid(&mut self) {
        self.cols.push(ScopeCol {
            table: None,
            name: String::new(),
            ty: DataType::Int8,
            origin: None,
            hidden: true,
        });
    }

    pub fn types(&self) -> Vec<DataType> {
        self.cols.iter().map(|c| c.ty.clone()).collect()
    }
}

/// A result column of a query.
#[derive(Clone, Debug)]
pub struct OutCol {
    pub name: String,
    pub ty: DataType,
    pub origin: Option<(u32, i16)>,
}

/// A common table expression visible by name.
#[derive(Clone, Debug)]
struct CteDef {
    name: String,
    plan: Option<Arc<Plan>>,
    cols: Vec<OutCol>,
    /// Inside its own recursive term: read the work table.
    worktable: Option<usize>,
}

/// Aggregation context while binding the select list, HAVING and ORDER BY of
/// a grouped query.
#[derive(Debug)]
struct AggState {
    input: Scope,
    groups: Vec<BoundExpr>,
    aggs: Vec<bound::AggCall>,
    active: bool,
}

pub struct Binder<'a> {
    pub catalog: &'a Catalog,
    pub search_path: &'a [String],
    pub tctx: &'a TypeContext,
    /// Parameter types; Unknown until inferred.
    pub params: Vec<DataType>,
    sql: &'a str,
    outer: Vec<Scope>,
    correlated: Vec<bool>,
    ctes: Vec<CteDef>,
    agg: Option<AggState>,
    next_worktable: usize,
    /// (left, right) scope positions of the USING keys of the join being bound.
    using_pairs: Vec<(usize, usize)>,
    /// FROM item made from a select-list generate_series (see `bind_select`).
    srf_from: Option<(Plan, Scope)>,
    /// Where an expression is being bound, for error messages ("WHERE").
    clause: &'static str,
    /// The scope to the left of the FROM item being bound: what a LATERAL
    /// item may reference (it is the left input of the join built with it).
    lateral_left: Option<Scope>,
    /// Set when a LATERAL item referenced `lateral_left`: the join must be a
    /// `Plan::LateralJoin`.
    lateral_used: bool,
    /// While a LATERAL subquery is bound: the position of its left scope in
    /// `outer`, and the first table it referenced there (error messages).
    lateral_ref: Option<(usize, Option<String>)>,
    /// While a subquery in FROM that is not LATERAL is bound: the FROM items
    /// to its left, which it may not reference (for the error message).
    lateral_hidden: Option<Scope>,
    /// The table the last bound LATERAL item referenced first.
    lateral_table: Option<String>,
    /// Session facts for current_user, current_database() and pg_database.
    pub session: crate::system::SessionInfo,
    /// Set when the plan holds data read at bind time (pg_catalog and
    /// statistics relations, pgstatindex): such a plan must not be cached.
    pub materialized: std::cell::Cell<bool>,
}

/// The text of a constant relation argument (`'name'`, `'name'::regclass`,
/// an oid literal); None for anything else.
pub fn constant_relation_arg(arg: &ast::Expr) -> Option<String> {
    let mut e = arg;
    while let ast::Expr::Cast { expr, .. } | ast::Expr::Nested(expr) = e {
        e = expr;
    }
    match e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s) => Some(s.clone()),
            ast::Value::Number(n, _) => Some(n.to_string()),
            _ => Some(String::new()),
        },
        _ => None,
    }
}

impl<'a> Binder<'a> {
    pub fn new(
        catalog: &'a Catalog,
        search_path: &'a [String],
        tctx: &'a TypeContext,
        sql: &'a str,
        params: Vec<DataType>,
    ) -> Self {
        Binder {
            catalog,
            search_path,
            tctx,
            params,
            sql,
            outer: vec![],
            correlated: vec![],
            ctes: vec![],
            agg: None,
            next_worktable: 0,
            using_pairs: vec![],
            srf_from: None,
            clause: "",
            lateral_left: None,
            lateral_used: false,
            lateral_ref: None,
            lateral_table: None,
            lateral_hidden: None,
            session: crate::system::SessionInfo::default(),
            materialized: std::cell::Cell::new(false),
        }
    }

    /// 1-based character offset of a span, when it has one.
    fn pos(&self, span: ast::Span) -> Option<usize> {
        if span.start.line == 0 {
            return None;
        }
        Some(crate::parser::offset_of(
            self.sql,
            span.start.line,
            span.start.column,
        ))
    }

    /// A pg_catalog / information_schema relation named by `name`, unless a
    /// user table of that name is found first (unqualified names).
    pub fn lookup_system_relation(
        &self,
        name: &ast::ObjectName,
    ) -> Result<Option<crate::system::SystemRelation>> {
        let parts = object_parts(name)?;
        if parts.len() == 1
            && self
                .catalog
                .resolve_table(self.search_path, &parts[0])
                .is_some()
        {
            return Ok(None);
        }
        let ctx = crate::system::SysContext {
            catalog: self.catalog,
            session: &self.session,
        };
        let found = crate::system::lookup(&parts, &ctx);
        if found.is_some() {
            self.materialized.set(true);
        }
        Ok(found)
    }

    /// `pgstatindex('name')` in FROM: the index's physical figures, read
    /// now. The argument must be a constant (a name, a regclass literal or
    /// an oid), as the relation is materialized at bind time.
    pub fn pgstatindex(&self, arg: &ast::Expr) -> Result<crate::system::SystemRelation> {
        self.materialized.set(true);
        let text = constant_relation_arg(arg).ok_or_else(|| {
            SqlError::FeatureNotSupported("pgstatindex of a non-constant argument".into())
        })?;
        let unknown = || SqlError::UndefinedTable {
            name: text.clone(),
            position: None,
        };
        let oid = crate::system::functions::regclass_oid(self.catalog, self.search_path, &text)
            .ok_or_else(unknown)?;
        if !self.catalog.indexes.contains_key(&oid) {
            return Err(SqlError::WrongObjectType(format!(
                "relation \"{text}\" is not a btree index"
            )));
        }
        let db = self
            .session
            .db
            .as_ref()
            .ok_or_else(|| SqlError::Internal("pgstatindex without a server".into()))?;
        crate::system::stats_views::pgstatindex(&db.0, self.catalog, oid).ok_or_else(unknown)
    }

    /// Resolve `[schema.]name` to a table.
    pub fn lookup_table(&self, name: &ast::ObjectName) -> Result<Arc<TableDef>> {
        let parts = object_parts(name)?;
        let pos = name
            .0
            .first()
            .and_then(|p| p.as_ident())
            .and_then(|i| self.pos(i.span));
        let found = match parts.as_slice() {
            [n] => self.catalog.resolve_table(self.search_path, n),
            [s, n] => self.catalog.table_in(s, n),
            [_, s, n] => self.catalog.table_in(s, n),
            _ => None,
        };
        match found {
            Some(t) => Ok(Arc::new(t.clone())),
            None => Err(SqlError::UndefinedTable {
                name: parts.join("."),
                position: pos,
            }),
        }
    }
}

/// Lower-cased (unless quoted) parts of an object name.
pub fn object_parts(name: &ast::ObjectName) -> Result<Vec<String>> {
    name.0
        .iter()
        .map(|p| match p.as_ident() {
            Some(i) => Ok(ident_name(i)),
            None => Err(SqlError::FeatureNotSupported(
                "function-valued object names".into(),
            )),
        })
        .collect()
}

/// Postgres folds unquoted identifiers to lower case.
pub fn ident_name(i: &ast::Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

/// Map a SQL type name to a `DataType`.
pub fn convert_type(t: &ast::DataType) -> Result<DataType> {
    use ast::DataType as S;
    let len = |l: &Option<ast::CharacterLength>| match l {
        Some(ast::CharacterLength::IntegerLength { length, .. }) => Some(*length as u32),
        _ => None,
    };
    Ok(match t {
        S::SmallInt(_) | S::Int2(_) => DataType::Int2,
        S::Int(_) | S::Integer(_) | S::Int4(_) => DataType::Int4,
        S::BigInt(_) | S::Int8(_) => DataType::Int8,
        S::Real | S::Float4 => DataType::Float4,
        S::DoublePrecision | S::Float8 | S::Double(_) => DataType::Float8,
        S::Float(info) => match info {
            ast::ExactNumberInfo::Precision(p) if *p <= 24 => DataType::Float4,
            _ => DataType::Float8,
        },
        S::Numeric(info) | S::Decimal(info) | S::Dec(info) => match info {
            ast::ExactNumberInfo::None => DataType::Numeric(None),
            ast::ExactNumberInfo::Precision(p) => DataType::Numeric(Some((*p as u32, 0))),
            ast::ExactNumberInfo::PrecisionAndScale(p, s) => {
                DataType::Numeric(Some((*p as u32, *s as i32)))
            }
        },
        S::Text | S::String(None) => DataType::Text,
        S::Varchar(l) | S::CharacterVarying(l) | S::CharVarying(l) => DataType::Varchar(len(l)),
        S::Char(l) | S::Character(l) => DataType::Char(Some(len(l).unwrap_or(1))),
        S::Bool | S::Boolean => DataType::Bool,
        S::Date => DataType::Date,
        S::Time(_, tz) => match tz {
            ast::TimezoneInfo::WithTimeZone | ast::TimezoneInfo::Tz => {
                return Err(SqlError::FeatureNotSupported(
                    "type time with time zone".into(),
                ))
            }
            _ => DataType::Time,
        },
        S::Timestamp(_, tz) => match tz {
            ast::TimezoneInfo::WithTimeZone | ast::TimezoneInfo::Tz => DataType::Timestamptz,
            _ => DataType::Timestamp,
        },
        S::Interval { .. } => DataType::Interval,
        S::Bytea => DataType::Bytea,
        S::Uuid => DataType::Uuid,
        S::JSON => DataType::Json,
        S::JSONB => DataType::Jsonb,
        S::Regclass => DataType::Regclass,
        S::Array(inner) => match inner {
            ast::ArrayElemTypeDef::SquareBracket(t, _)
            | ast::ArrayElemTypeDef::AngleBracket(t)
            | ast::ArrayElemTypeDef::Parenthesis(t)
            | ast::ArrayElemTypeDef::Qualified(t, _) => DataType::Array(Box::new(convert_type(t)?)),
            ast::ArrayElemTypeDef::None => {
                return Err(SqlError::FeatureNotSupported("untyped arrays".into()))
            }
        },
        S::Custom(name, mods) => {
            let parts = object_parts(name)?;
            let last = parts.last().cloned().unwrap_or_default();
            match last.as_str() {
                "int2" | "smallint" => DataType::Int2,
                "int4" | "int" | "integer" | "serial" | "serial4" => DataType::Int4,
                "int8" | "bigint" | "bigserial" | "serial8" => DataType::Int8,
                "smallserial" | "serial2" => DataType::Int2,
                "float4" => DataType::Float4,
                "float8" => DataType::Float8,
                "text" => DataType::Text,
                "varchar" => DataType::Varchar(mods.first().and_then(|m| m.parse().ok())),
                "bpchar" => DataType::Char(mods.first().and_then(|m| m.parse().ok())),
                "name" => DataType::Name,
                "timestamptz" => DataType::Timestamptz,
                "timestamp" => DataType::Timestamp,
                "regclass" => DataType::Regclass,
                "regtype" => DataType::Regtype,
                "regproc" => DataType::Regproc,
                "regprocedure" => DataType::Regprocedure,
                "regnamespace" => DataType::Regnamespace,
                "regrole" => DataType::Regrole,
                "oid" | "regoper" | "regoperator" => DataType::Oid,
                // Postgres's one-byte "char" (catalog flags such as relkind).
                "char" => DataType::Text,
                "int2vector" => DataType::Int2Vector,
                "oidvector" => DataType::OidVector,
                "pg_node_tree" => DataType::Text,
                "bool" => DataType::Bool,
                "numeric" | "decimal" => DataType::Numeric(None),
                "json" => DataType::Json,
                "jsonb" => DataType::Jsonb,
                "uuid" => DataType::Uuid,
                "bytea" => DataType::Bytea,
                "date" => DataType::Date,
                "interval" => DataType::Interval,
                "time" => DataType::Time,
                other => {
                    return Err(SqlError::UndefinedObject(format!(
                        "type \"{other}\" does not exist"
                    )))
                }
            }
        }
        other => return Err(SqlError::FeatureNotSupported(format!("type {other}"))),
    })
}

/// Whether a column type name is serial/bigserial/smallserial (and its real type).
pub fn serial_type(t: &ast::DataType) -> Option<DataType> {
    if let ast::DataType::Custom(name, _) = t {
        let n = name.to_string().to_lowercase();
        return match n.as_str() {
            "serial" | "serial4" => Some(DataType::Int4),
            "bigserial" | "serial8" => Some(DataType::Int8),
            "smallserial" | "serial2" => Some(DataType::Int2),
            _ => None,
        };
    }
    None
}

/// Text of a constant literal (for ADD COLUMN defaults).
pub fn expr_value_text(v: &ast::Value) -> Option<String> {
    match v {
        ast::Value::Number(n, _) => Some(n.clone()),
        ast::Value::Boolean(b) => Some(if *b { "true".into() } else { "false".into() }),
        other => expr::value_string(other),
    }
}
