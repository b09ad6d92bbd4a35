//! The `information_schema` views drivers and BI tools read (schemata,
//! tables, columns, table_constraints, key_column_usage, views), with the
//! standard's column names. `sql_identifier` is `name`, `character_data`
//! and `yes_or_no` are text, `cardinal_number` is int4.

use sargdb_catalog::{ConstraintKind, DataType, Value};

use super::*;

pub(super) const NAMES: &[&str] = &[
    "schemata",
    "tables",
    "columns",
    "table_constraints",
    "key_column_usage",
    "views",
];

fn yes(v: bool) -> Value {
    t(if v { "YES" } else { "NO" })
}

/// information_schema's `data_type`: the SQL standard name of a type.
fn sql_type_name(ty: &DataType) -> String {
    match ty {
        DataType::Array(_) => "ARRAY".into(),
        DataType::Char(_) => "character".into(),
        DataType::Varchar(_) => "character varying".into(),
        DataType::Numeric(_) => "numeric".into(),
        other => other.display_name(),
    }
}

fn udt_name(ty: &DataType) -> String {
    match ty {
        DataType::Bool => "bool",
        DataType::Int2 => "int2",
        DataType::Int4 => "int4",
        DataType::Int8 => "int8",
        DataType::Float4 => "float4",
        DataType::Float8 => "float8",
        DataType::Numeric(_) => "numeric",
        DataType::Text => "text",
        DataType::Varchar(_) => "varchar",
        DataType::Char(_) => "bpchar",
        DataType::Name => "name",
        DataType::Bytea => "bytea",
        DataType::Date => "date",
        DataType::Time => "time",
        DataType::Timestamp => "timestamp",
        DataType::Timestamptz => "timestamptz",
        DataType::Interval => "interval",
        DataType::Uuid => "uuid",
        DataType::Json => "json",
        DataType::Jsonb => "jsonb",
        DataType::Oid => "oid",
        DataType::Regclass => "regclass",
        DataType::Regtype => "regtype",
        DataType::Regproc => "regproc",
        DataType::Regprocedure => "regprocedure",
        DataType::Regnamespace => "regnamespace",
        DataType::Regrole => "regrole",
        DataType::Int2Vector => "int2vector",
        DataType::OidVector => "oidvector",
        DataType::Array(e) => return format!("_{}", udt_name(e)),
        DataType::Unknown => "unknown",
    }
    .into()
}

pub(super) fn build(name: &str, ctx: &SysContext) -> Option<SystemRelation> {
    let cat = ctx.catalog;
    let db = ctx.session.database.clone();
    let user = ctx.session.user.clone();
    let rel = |spec: &[&str], rows| Some(relation("information_schema", name, spec, rows));
    match name {
        "schemata" => {
            let rows = schemas(cat)
                .into_iter()
                .map(|(_, n, owner)| {
                    vec![
                        t(db.clone()),
                        t(n),
                        t(role_name(owner, ctx.session)),
                        NULL,
                        NULL,
                        NULL,
                        NULL,
                    ]
                })
                .collect();
            rel(
                &[
                    "catalog_name name",
                    "schema_name name",
                    "schema_owner name",
                    "default_character_set_catalog name",
                    "default_character_set_schema name",
                    "default_character_set_name name",
                    "sql_path text",
                ],
                rows,
            )
        }
        "tables" => {
            let mut rows = vec![];
            for tb in cat.tables.values() {
                rows.push(vec![
                    t(db.clone()),
                    t(tb.schema.clone()),
                    t(tb.name.clone()),
                    t("BASE TABLE"),
                    NULL,
                    NULL,
                    NULL,
                    NULL,
                    NULL,
                    yes(true),
                    yes(false),
                    NULL,
                ]);
            }
            rel(
                &[
                    "table_catalog name",
                    "table_schema name",
                    "table_name name",
                    "table_type text",
                    "self_referencing_column_name name",
                    "reference_generation text",
                    "user_defined_type_catalog name",
                    "user_defined_type_schema name",
                    "user_defined_type_name name",
                    "is_insertable_into text",
                    "is_typed text",
                    "commit_action text",
                ],
                rows,
            )
        }
        "columns" => {
            let mut rows = vec![];
            for tb in cat.tables.values() {
                for (pos, (i, c)) in tb.live_columns().enumerate() {
                    let ty = &c.data_type;
                    let (char_len, octet_len) = match ty {
                        DataType::Varchar(Some(n)) | DataType::Char(Some(n)) => {
                            (i4(*n as i32), i4((*n as i32) * 4))
                        }
                        DataType::Varchar(None) | DataType::Text | DataType::Char(None) => {
                            (NULL, i4(1073741824))
                        }
                        _ => (NULL, NULL),
                    };
                    let (nprec, radix, nscale) = match ty {
                        DataType::Int2 => (i4(16), i4(2), i4(0)),
                        DataType::Int4 => (i4(32), i4(2), i4(0)),
                        DataType::Int8 => (i4(64), i4(2), i4(0)),
                        DataType::Float4 => (i4(24), i4(2), NULL),
                        DataType::Float8 => (i4(53), i4(2), NULL),
                        DataType::Numeric(Some((p, s))) => (i4(*p as i32), i4(10), i4(*s)),
                        DataType::Numeric(None) => (NULL, i4(10), NULL),
                        _ => (NULL, NULL, NULL),
                    };
                    let dt_prec = match ty {
                        DataType::Date => i4(0),
                        DataType::Time
                        | DataType::Timestamp
                        | DataType::Timestamptz
                        | DataType::Interval => i4(6),
                        _ => NULL,
                    };
                    let default = if c.identity.is_some() {
                        None
                    } else {
                        c.default
                            .as_ref()
                            .map(|d| super::deparse::default_expr(d, ty))
                    };
                    let identity = c.identity.as_ref().map(|(k, _)| match k {
                        sargdb_catalog::IdentityKind::Always => "ALWAYS",
                        sargdb_catalog::IdentityKind::ByDefault => "BY DEFAULT",
                    });
                    let mut row = vec![
                        t(db.clone()),
                        t(tb.schema.clone()),
                        t(tb.name.clone()),
                        t(c.name.clone()),
                        i4(pos as i32 + 1),
                        opt_t(default),
                        yes(!column_not_null(tb, i)),
                        t(sql_type_name(ty)),
                        char_len,
                        octet_len,
                        nprec,
                        radix,
                        nscale,
                        dt_prec,
                        NULL,
                        NULL,
                    ];
                    // character_set_*, collation_*, domain_*
                    row.extend(std::iter::repeat_n(NULL, 9));
                    row.extend([t(db.clone()), t("pg_catalog"), t(udt_name(ty))]);
                    // scope_*, maximum_cardinality
                    row.extend(std::iter::repeat_n(NULL, 4));
                    row.push(t((i + 1).to_string()));
                    row.push(yes(false));
                    row.push(yes(identity.is_some()));
                    row.push(opt_t(identity.map(str::to_string)));
                    // identity_start/increment/maximum/minimum, identity_cycle
                    row.extend(std::iter::repeat_n(NULL, 4));
                    row.push(yes(false));
                    row.push(t("NEVER"));
                    row.push(NULL);
                    row.push(yes(true));
                    rows.push(row);
                }
            }
            rel(
                &[
                    "table_catalog name",
                    "table_schema name",
                    "table_name name",
                    "column_name name",
                    "ordinal_position int4",
                    "column_default text",
                    "is_nullable text",
                    "data_type text",
                    "character_maximum_length int4",
                    "character_octet_length int4",
                    "numeric_precision int4",
                    "numeric_precision_radix int4",
                    "numeric_scale int4",
                    "datetime_precision int4",
                    "interval_type text",
                    "interval_precision int4",
                    "character_set_catalog name",
                    "character_set_schema name",
                    "character_set_name name",
                    "collation_catalog name",
                    "collation_schema name",
                    "collation_name name",
                    "domain_catalog name",
                    "domain_schema name",
                    "domain_name name",
                    "udt_catalog name",
                    "udt_schema name",
                    "udt_name name",
                    "scope_catalog name",
                    "scope_schema name",
                    "scope_name name",
                    "maximum_cardinality int4",
                    "dtd_identifier name",
                    "is_self_referencing text",
                    "is_identity text",
                    "identity_generation text",
                    "identity_start text",
                    "identity_increment text",
                    "identity_maximum text",
                    "identity_minimum text",
                    "identity_cycle text",
                    "is_generated text",
                    "generation_expression text",
                    "is_updatable text",
                ],
                rows,
            )
        }
        "table_constraints" => {
            let mut rows = vec![];
            for tb in cat.tables.values() {
                for c in &tb.constraints {
                    let ty = match c.kind {
                        ConstraintKind::PrimaryKey(_) => "PRIMARY KEY",
                        ConstraintKind::Unique(_) => "UNIQUE",
                        ConstraintKind::Check(_) => "CHECK",
                    };
                    let nulls = if matches!(c.kind, ConstraintKind::Unique(_)) {
                        t("YES")
                    } else {
                        NULL
                    };
                    rows.push(vec![
                        t(db.clone()),
                        t(tb.schema.clone()),
                        t(c.name.clone()),
                        t(db.clone()),
                        t(tb.schema.clone()),
                        t(tb.name.clone()),
                        t(ty),
                        yes(false),
                        yes(false),
                        yes(true),
                        nulls,
                    ]);
                }
            }
            rel(
                &[
                    "constraint_catalog name",
                    "constraint_schema name",
                    "constraint_name name",
                    "table_catalog name",
                    "table_schema name",
                    "table_name name",
                    "constraint_type text",
                    "is_deferrable text",
                    "initially_deferred text",
                    "enforced text",
                    "nulls_distinct text",
                ],
                rows,
            )
        }
        "key_column_usage" => {
            let mut rows = vec![];
            for tb in cat.tables.values() {
                for c in &tb.constraints {
                    let cols = match &c.kind {
                        ConstraintKind::PrimaryKey(v) | ConstraintKind::Unique(v) => v,
                        ConstraintKind::Check(_) => continue,
                    };
                    for (k, p) in cols.iter().enumerate() {
                        let Some(col) = tb.columns.get(*p) else {
                            continue;
                        };
                        rows.push(vec![
                            t(db.clone()),
                            t(tb.schema.clone()),
                            t(c.name.clone()),
                            t(db.clone()),
                            t(tb.schema.clone()),
                            t(tb.name.clone()),
                            t(col.name.clone()),
                            i4(k as i32 + 1),
                            NULL,
                        ]);
                    }
                }
            }
            rel(
                &[
                    "constraint_catalog name",
                    "constraint_schema name",
                    "constraint_name name",
                    "table_catalog name",
                    "table_schema name",
                    "table_name name",
                    "column_name name",
                    "ordinal_position int4",
                    "position_in_unique_constraint int4",
                ],
                rows,
            )
        }
        "views" => {
            let _ = user;
            rel(
                &[
                    "table_catalog name",
                    "table_schema name",
                    "table_name name",
                    "view_definition text",
                    "check_option text",
                    "is_updatable text",
                    "is_insertable_into text",
                    "is_trigger_updatable text",
                    "is_trigger_deletable text",
                    "is_trigger_insertable_into text",
                ],
                vec![],
            )
        }
        _ => None,
    }
}
