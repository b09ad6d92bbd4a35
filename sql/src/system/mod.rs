//! System relations: the `pg_catalog` and `information_schema` relations that
//! psql, drivers and BI tools read, computed from the live catalog when a
//! statement is bound, plus the catalog functions those queries call
//! (`functions`) and Postgres-style deparsing of stored expressions
//! (`deparse`).
//!
//! A system relation is a name, Postgres's column names and types, and rows
//! materialized from a `Catalog` snapshot; the binder turns it into a values
//! plan, so everything else (joins, filters, sorting) is ordinary SQL. This
//! module only reads the catalog; it never writes it and never touches
//! storage (sizes are the functions' business, at execution time).

pub mod comments;
pub mod deparse;
pub mod functions;
mod information_schema;
mod pg_catalog;
mod pg_proc;
pub mod reg;
pub mod stats_views;

use sargdb_catalog::{Catalog, DataType, Value};

/// Oid of the bootstrap superuser (`postgres`).
pub const SUPERUSER_OID: u32 = 10;
/// Oid of the `pg_database_owner` role (owner of `public`).
pub const DATABASE_OWNER_OID: u32 = 6171;
/// Oid of `information_schema` (fixed here; Postgres's varies per cluster).
pub const INFORMATION_SCHEMA_OID: u32 = 13000;
/// Oid of `pg_toast`.
pub const PG_TOAST_OID: u32 = 99;
/// Oid of the current database in `pg_database`.
pub const DATABASE_OID: u32 = 5;
/// Access methods (`pg_am`).
pub const HEAP_AM_OID: u32 = 2;
pub const BTREE_AM_OID: u32 = 403;
pub const HASH_AM_OID: u32 = 405;
pub const BRIN_AM_OID: u32 = 3580;

/// `pg_am` oid of an index access method name.
pub fn am_oid(method: &str) -> u32 {
    match method {
        "hash" => HASH_AM_OID,
        "brin" => BRIN_AM_OID,
        _ => BTREE_AM_OID,
    }
}

/// An index's storage parameters as `pg_class.reloptions` holds them
/// (`name=value`), in the order Postgres stores them.
pub fn index_reloptions(ix: &sargdb_catalog::IndexDef) -> Vec<String> {
    let mut out = vec![];
    if ix.fillfactor != 0 && ix.fillfactor != crate::ddl_index::default_fillfactor(&ix.method) {
        out.push(format!("fillfactor={}", ix.fillfactor));
    }
    if let Some(n) = ix.pages_per_range {
        out.push(format!("pages_per_range={n}"));
    }
    if let Some(a) = ix.autosummarize {
        out.push(format!("autosummarize={}", if a { "on" } else { "off" }));
    }
    out
}
/// The default collation (`pg_collation`).
pub const DEFAULT_COLLATION_OID: u32 = 100;
pub const C_COLLATION_OID: u32 = 950;

/// Who and where the statement runs, for the relations and functions that
/// depend on the session (`current_user`, `pg_database`).
#[derive(Clone, Debug)]
pub struct SessionInfo {
    pub user: String,
    pub database: String,
    pub pid: i32,
    /// The running server, for the statistics relations (None in unit
    /// tests of the binder).
    pub db: Option<DbRef>,
    /// The session's parameters, when the statement reads pg_settings.
    pub(crate) settings: Option<std::sync::Arc<Vec<crate::settings::SettingRow>>>,
    /// How values print in this session (its TimeZone): pg_stats prints
    /// the values ANALYZE kept as the session would.
    pub types: sargdb_catalog::types::TypeContext,
}

/// The running server's shared state, as the statistics relations read it.
#[derive(Clone)]
pub struct DbRef(pub std::sync::Arc<crate::session::Database>);

impl std::fmt::Debug for DbRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Database")
    }
}

impl Default for SessionInfo {
    fn default() -> Self {
        SessionInfo {
            user: "postgres".into(),
            database: "postgres".into(),
            pid: std::process::id() as i32,
            db: None,
            settings: None,
            types: Default::default(),
        }
    }
}

/// A system relation materialized for one statement.
#[derive(Clone, Debug)]
pub struct SystemRelation {
    pub schema: &'static str,
    pub name: String,
    pub columns: Vec<(String, DataType)>,
    pub rows: Vec<Vec<Value>>,
}

/// What a system relation is built from.
pub struct SysContext<'a> {
    pub catalog: &'a Catalog,
    pub session: &'a SessionInfo,
}

/// Resolve a relation name (already split and case-folded) to a system
/// relation. Unqualified names are looked up in pg_catalog only, as
/// Postgres's implicit search path does.
pub fn lookup(parts: &[String], ctx: &SysContext) -> Option<SystemRelation> {
    let (schema, name) = match parts {
        [n] => ("pg_catalog", n.as_str()),
        [s, n] | [_, s, n] => (s.as_str(), n.as_str()),
        _ => return None,
    };
    match schema {
        "pg_catalog" => pg_catalog::build(name, ctx).or_else(|| stats_views::build(name, ctx)),
        "information_schema" => information_schema::build(name, ctx),
        _ => None,
    }
}

/// Oid of a system relation named by `[pg_catalog.]name` (what
/// `'pg_catalog.pg_class'::regclass` reads), if it has a fixed one.
pub fn system_relation_oid(text: &str) -> Option<u32> {
    let name = text.strip_prefix("pg_catalog.").unwrap_or(text);
    pg_catalog::relation_oid(name)
}

/// Names of every system relation in a schema (pg_class rows for them).
pub fn relation_names(schema: &str) -> &'static [&'static str] {
    match schema {
        "pg_catalog" => pg_catalog::NAMES,
        "information_schema" => information_schema::NAMES,
        _ => &[],
    }
}

/// Column type shorthand used by the relation tables: Postgres's type names,
/// with `"char"`, `pg_node_tree`, `xid`, `regproc` and `aclitem[]` mapped to
/// the closest type sargdb has.
pub(crate) fn col_type(code: &str) -> DataType {
    match code {
        "oid" | "xid" | "regproc" | "regclass" | "regtype" => DataType::Oid,
        "name" => DataType::Name,
        "char" | "text" | "node" | "anyarray" => DataType::Text,
        "bool" => DataType::Bool,
        "int2" => DataType::Int2,
        "int4" => DataType::Int4,
        "int8" => DataType::Int8,
        "float4" => DataType::Float4,
        "float8" => DataType::Float8,
        "numeric" => DataType::Numeric(None),
        "timestamptz" => DataType::Timestamptz,
        "text[]" | "char[]" | "acl" => DataType::Array(Box::new(DataType::Text)),
        "int2[]" => DataType::Array(Box::new(DataType::Int2)),
        "int2vector" => DataType::Int2Vector,
        "float4[]" => DataType::Array(Box::new(DataType::Float4)),
        "oid[]" => DataType::Array(Box::new(DataType::Oid)),
        "oidvector" => DataType::OidVector,
        _ => DataType::Text,
    }
}

/// Build a relation from `"name type"` column specs and rows.
pub(crate) fn relation(
    schema: &'static str,
    name: &str,
    spec: &[&str],
    rows: Vec<Vec<Value>>,
) -> SystemRelation {
    let columns = spec
        .iter()
        .map(|s| {
            let mut it = s.splitn(2, ' ');
            let n = it.next().unwrap_or_default().to_string();
            let t = col_type(it.next().unwrap_or("text"));
            (n, t)
        })
        .collect();
    SystemRelation {
        schema,
        name: name.to_string(),
        columns,
        rows,
    }
}

// Value shorthands for the row builders.
pub(crate) fn o(v: u32) -> Value {
    Value::Oid(v)
}
pub(crate) fn t(v: impl Into<String>) -> Value {
    Value::Text(v.into())
}
pub(crate) fn b(v: bool) -> Value {
    Value::Bool(v)
}
pub(crate) fn i2(v: i16) -> Value {
    Value::Int2(v)
}
pub(crate) fn i4(v: i32) -> Value {
    Value::Int4(v)
}
pub(crate) fn opt_t(v: Option<String>) -> Value {
    v.map(Value::Text).unwrap_or(Value::Null)
}
pub(crate) const NULL: Value = Value::Null;

/// Oid of a schema by name (the fixed ones included).
pub fn schema_oid(catalog: &Catalog, name: &str) -> u32 {
    match name {
        "pg_catalog" => sargdb_catalog::catalog::PG_CATALOG_OID,
        "information_schema" => INFORMATION_SCHEMA_OID,
        "pg_toast" => PG_TOAST_OID,
        _ => catalog.schema(name).map_or(0, |s| s.oid),
    }
}

/// All schemas as (oid, name, owner), pg_catalog and information_schema included.
pub fn schemas(catalog: &Catalog) -> Vec<(u32, String, u32)> {
    let mut v: Vec<(u32, String, u32)> = vec![(PG_TOAST_OID, "pg_toast".into(), SUPERUSER_OID)];
    for s in &catalog.schemas {
        let owner = if s.name == "public" {
            DATABASE_OWNER_OID
        } else {
            SUPERUSER_OID
        };
        v.push((s.oid, s.name.clone(), owner));
    }
    if !v.iter().any(|s| s.1 == "pg_catalog") {
        v.push((
            sargdb_catalog::catalog::PG_CATALOG_OID,
            "pg_catalog".into(),
            SUPERUSER_OID,
        ));
    }
    v.push((
        INFORMATION_SCHEMA_OID,
        "information_schema".into(),
        SUPERUSER_OID,
    ));
    v.sort_by_key(|s| s.0);
    v
}

/// The databases `pg_database` lists as (oid, name, is_template): the
/// templates, `postgres`, and the one the session connected to. (sargdb
/// serves one database under whatever name a client gives; a name other
/// than these is shown with a fixed oid.)
pub fn databases(session: &SessionInfo) -> Vec<(u32, String, bool)> {
    let mut names = vec![
        (1u32, "template1".to_string(), true),
        (4, "template0".into(), true),
        (DATABASE_OID, "postgres".into(), false),
    ];
    if session.database != "postgres" && !session.database.starts_with("template") {
        names.push((SESSION_DATABASE_OID, session.database.clone(), false));
    }
    names
}

/// Oid `pg_database` shows for a database name other than postgres and
/// the templates.
pub const SESSION_DATABASE_OID: u32 = 16384;

/// Role oid for a name (`'x'::regrole`, COMMENT ON ROLE): the session's
/// user (sargdb's one login role) and pg_database_owner.
pub fn role_oid(name: &str, session: &SessionInfo) -> Option<u32> {
    if name == session.user {
        Some(SUPERUSER_OID)
    } else if name == "pg_database_owner" {
        Some(DATABASE_OWNER_OID)
    } else {
        None
    }
}

/// Role name for an oid (`pg_get_userbyid`).
pub fn role_name(oid: u32, session: &SessionInfo) -> String {
    match oid {
        SUPERUSER_OID => session_superuser(session),
        DATABASE_OWNER_OID => "pg_database_owner".into(),
        other => format!("unknown (OID={other})"),
    }
}

/// sargdb has one role; it carries the name the session connected with.
fn session_superuser(session: &SessionInfo) -> String {
    session.user.clone()
}

/// `pg_type.typcollation` / `attcollation` of a type.
pub fn type_collation(t: &DataType) -> u32 {
    match t {
        DataType::Text | DataType::Varchar(_) | DataType::Char(_) => DEFAULT_COLLATION_OID,
        DataType::Name => C_COLLATION_OID,
        DataType::Array(e) => type_collation(e),
        _ => 0,
    }
}

/// `attstorage`: p(lain), x (extended), m (main).
pub fn type_storage(t: &DataType) -> &'static str {
    match t {
        DataType::Numeric(_) => "m",
        t if t.type_len() > 0 => "p",
        DataType::Unknown => "p",
        _ => "x",
    }
}

/// Whether a column is NOT NULL, PRIMARY KEY columns included.
pub fn column_not_null(table: &sargdb_catalog::TableDef, pos: usize) -> bool {
    table.columns.get(pos).is_some_and(|c| c.not_null)
        || table
            .constraints
            .iter()
            .any(|c| matches!(&c.kind, sargdb_catalog::ConstraintKind::PrimaryKey(cols) if cols.contains(&pos)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_class_lists_tables_indexes_and_sequences() {
        let mut cat = Catalog::default();
        let oid = cat.alloc_oid();
        cat.tables.insert(
            oid,
            sargdb_catalog::TableDef {
                oid,
                schema: "public".into(),
                name: "t".into(),
                columns: vec![sargdb_catalog::ColumnDef::new("a", DataType::Int4)],
                constraints: vec![],
                storage: Default::default(),
            },
        );
        let session = SessionInfo::default();
        let ctx = SysContext {
            catalog: &cat,
            session: &session,
        };
        let rel = lookup(&["pg_class".to_string()], &ctx).expect("pg_class");
        let name_col = rel
            .columns
            .iter()
            .position(|c| c.0 == "relname")
            .expect("relname");
        assert!(rel
            .rows
            .iter()
            .any(|r| r[name_col] == Value::Text("t".into())));
        for r in &rel.rows {
            assert_eq!(r.len(), rel.columns.len(), "row width of pg_class");
        }
        assert!(lookup(&["pg_catalog".into(), "no_such".into()], &ctx).is_none());
    }
}
