//! The `pg_catalog` relations, with Postgres 15's column names and (the
//! closest sargdb) types, filled from the live catalog. Relations sargdb has
//! nothing for (policies, publications, triggers, ...) exist and are empty,
//! so the queries clients send bind and return no rows.

use sargdb_catalog::{ConstraintKind, DataType, IdentityKind, Value};

use super::deparse;
use super::*;

pub(super) const NAMES: &[&str] = &[
    "pg_namespace",
    "pg_class",
    "pg_attribute",
    "pg_type",
    "pg_index",
    "pg_am",
    "pg_constraint",
    "pg_attrdef",
    "pg_database",
    "pg_roles",
    "pg_user",
    "pg_authid",
    "pg_auth_members",
    "pg_settings",
    "pg_description",
    "pg_shdescription",
    "pg_proc",
    "pg_language",
    "pg_views",
    "pg_tables",
    "pg_indexes",
    "pg_sequence",
    "pg_sequences",
    "pg_inherits",
    "pg_policy",
    "pg_statistic_ext",
    "pg_publication",
    "pg_publication_rel",
    "pg_publication_namespace",
    "pg_trigger",
    "pg_collation",
    "pg_tablespace",
    "pg_rewrite",
    "pg_extension",
    "pg_foreign_table",
    "pg_partitioned_table",
    "pg_depend",
];

/// The catalog with one of Postgres's fixed oids (`relation_oid`'s inverse).
pub(super) fn relation_with_oid(oid: u32) -> Option<&'static str> {
    NAMES.iter().copied().find(|n| relation_oid(n) == Some(oid))
}

/// Postgres's fixed oids of the catalogs clients name in `'pg_class'::regclass`.
pub(super) fn relation_oid(name: &str) -> Option<u32> {
    Some(match name {
        "pg_type" => 1247,
        "pg_attribute" => 1249,
        "pg_proc" => 1255,
        "pg_language" => 2612,
        "pg_class" => 1259,
        "pg_authid" => 1260,
        "pg_database" => 1262,
        "pg_namespace" => 2615,
        "pg_constraint" => 2606,
        "pg_index" => 2610,
        "pg_attrdef" => 2604,
        "pg_am" => 2601,
        "pg_description" => 2609,
        "pg_shdescription" => 2396,
        "pg_depend" => 2608,
        "pg_trigger" => 2620,
        "pg_collation" => 3456,
        "pg_tablespace" => 1213,
        "pg_inherits" => 2611,
        "pg_policy" => 3256,
        "pg_sequence" => 2224,
        "pg_statistic_ext" => 3381,
        "pg_publication" => 6104,
        "pg_rewrite" => 2618,
        "pg_extension" => 3079,
        _ => return None,
    })
}

const PG_CLASS: &[&str] = &[
    "oid oid",
    "relname name",
    "relnamespace oid",
    "reltype oid",
    "reloftype oid",
    "relowner oid",
    "relam oid",
    "relfilenode oid",
    "reltablespace oid",
    "relpages int4",
    "reltuples float4",
    "relallvisible int4",
    "reltoastrelid oid",
    "relhasindex bool",
    "relisshared bool",
    "relpersistence char",
    "relkind char",
    "relnatts int2",
    "relchecks int2",
    "relhasrules bool",
    "relhastriggers bool",
    "relhassubclass bool",
    "relrowsecurity bool",
    "relforcerowsecurity bool",
    "relispopulated bool",
    "relreplident char",
    "relispartition bool",
    "relrewrite oid",
    "relfrozenxid xid",
    "relminmxid xid",
    "relacl acl",
    "reloptions text[]",
    "relpartbound node",
];

const PG_ATTRIBUTE: &[&str] = &[
    "attrelid oid",
    "attname name",
    "atttypid oid",
    "attstattarget int4",
    "attlen int2",
    "attnum int2",
    "attndims int4",
    "attcacheoff int4",
    "atttypmod int4",
    "attbyval bool",
    "attalign char",
    "attstorage char",
    "attcompression char",
    "attnotnull bool",
    "atthasdef bool",
    "atthasmissing bool",
    "attidentity char",
    "attgenerated char",
    "attisdropped bool",
    "attislocal bool",
    "attinhcount int4",
    "attcollation oid",
    "attacl acl",
    "attoptions text[]",
    "attfdwoptions text[]",
    "attmissingval anyarray",
];

/// One pg_class row; `kind` is the relkind.
#[allow(clippy::too_many_arguments)]
fn class_row(
    oid: u32,
    name: &str,
    ns: u32,
    am: u32,
    kind: &str,
    natts: usize,
    checks: usize,
    has_index: bool,
    pages: i32,
    tuples: f32,
    options: Option<Vec<String>>,
) -> Vec<Value> {
    let replident = if kind == "r" { "d" } else { "n" };
    vec![
        o(oid),
        t(name),
        o(ns),
        o(0),
        o(0),
        o(SUPERUSER_OID),
        o(am),
        o(oid),
        o(0),
        i4(pages),
        Value::Float4(tuples),
        i4(0),
        o(0),
        b(has_index),
        b(false),
        t("p"),
        t(kind),
        i2(natts as i16),
        i2(checks as i16),
        b(false),
        b(false),
        b(false),
        b(false),
        b(false),
        b(true),
        t(replident),
        b(false),
        o(0),
        o(0),
        o(0),
        NULL,
        options
            .map(|v| Value::Array(v.into_iter().map(Value::Text).collect()))
            .unwrap_or(NULL),
        NULL,
    ]
}

#[allow(clippy::too_many_arguments)]
fn attr_row(
    rel: u32,
    name: &str,
    ty: &DataType,
    num: i16,
    not_null: bool,
    has_def: bool,
    identity: &str,
    dropped: bool,
    coll: u32,
) -> Vec<Value> {
    let len = ty.type_len();
    vec![
        o(rel),
        t(name),
        o(if dropped { 0 } else { ty.oid() }),
        i4(-1),
        i2(len),
        i2(num),
        i4(if matches!(ty, DataType::Array(_)) {
            1
        } else {
            0
        }),
        i4(-1),
        i4(ty.typmod()),
        b(len > 0 && len <= 8),
        t(match len {
            1 => "c",
            2 => "s",
            4 => "i",
            8 => "d",
            _ => "i",
        }),
        t(type_storage(ty)),
        t(""),
        b(not_null),
        b(has_def),
        b(false),
        t(identity),
        t(""),
        b(dropped),
        b(true),
        i4(0),
        o(coll),
        NULL,
        NULL,
        NULL,
        NULL,
    ]
}

/// Name Postgres gives an expression column of an index (`lower` for
/// `lower(status)`, `expr` otherwise).
pub fn index_expr_column_name(expr: &str) -> String {
    let head: String = expr
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if !head.is_empty() && expr[head.len()..].trim_start().starts_with('(') {
        head.to_lowercase()
    } else {
        "expr".into()
    }
}

pub(super) fn build(name: &str, ctx: &SysContext) -> Option<SystemRelation> {
    let cat = ctx.catalog;
    let ns = |s: &str| schema_oid(cat, s);
    let rel = |spec: &[&str], rows| Some(relation("pg_catalog", name, spec, rows));
    match name {
        "pg_namespace" => rel(
            &["oid oid", "nspname name", "nspowner oid", "nspacl acl"],
            schemas(cat)
                .into_iter()
                .map(|(oid, n, owner)| {
                    let acl = match n.as_str() {
                        "public" => Value::Array(vec![
                            t("pg_database_owner=UC/pg_database_owner"),
                            t("=U/pg_database_owner"),
                        ]),
                        "pg_catalog" | "information_schema" => Value::Array(vec![
                            t(format!("{}=UC/{}", ctx.session.user, ctx.session.user)),
                            t(format!("=U/{}", ctx.session.user)),
                        ]),
                        _ => NULL,
                    };
                    vec![o(oid), t(n), o(owner), acl]
                })
                .collect(),
        ),
        "pg_depend" => {
            // A serial's sequence depends on its column ('a'uto), an identity's ('i'nternal).
            let mut rows = vec![];
            for sq in cat.sequences.values() {
                if let Some((table, pos)) = sq.owned_by {
                    let identity = cat
                        .tables
                        .get(&table)
                        .and_then(|tb| tb.columns.get(pos))
                        .is_some_and(|c| c.identity.is_some());
                    rows.push(vec![
                        o(1259),
                        o(sq.oid),
                        i4(0),
                        o(1259),
                        o(table),
                        i4(pos as i32 + 1),
                        t(if identity { "i" } else { "a" }),
                    ]);
                }
            }
            for ix in cat.indexes.values() {
                match ix.constraint {
                    Some(c) => rows.push(vec![
                        o(1259),
                        o(ix.oid),
                        i4(0),
                        o(2606),
                        o(c),
                        i4(0),
                        t("i"),
                    ]),
                    None => {
                        for k in &ix.columns {
                            if let Some(p) = k.column {
                                rows.push(vec![
                                    o(1259),
                                    o(ix.oid),
                                    i4(0),
                                    o(1259),
                                    o(ix.table),
                                    i4(p as i32 + 1),
                                    t("a"),
                                ]);
                            }
                        }
                    }
                }
            }
            rel(
                &[
                    "classid oid",
                    "objid oid",
                    "objsubid int4",
                    "refclassid oid",
                    "refobjid oid",
                    "refobjsubid int4",
                    "deptype char",
                ],
                rows,
            )
        }
        "pg_class" => {
            let mut rows = vec![];
            for tb in cat.tables.values() {
                let checks = tb
                    .constraints
                    .iter()
                    .filter(|c| matches!(c.kind, ConstraintKind::Check(_)))
                    .count();
                let has_index = cat.indexes_of(tb.oid).next().is_some();
                let (pages, tuples) = cat
                    .stats
                    .get(&tb.oid)
                    .map_or((0, -1.0), |s| (s.relpages as i32, s.reltuples as f32));
                rows.push(class_row(
                    tb.oid,
                    &tb.name,
                    ns(&tb.schema),
                    HEAP_AM_OID,
                    "r",
                    tb.columns.len(),
                    checks,
                    has_index,
                    pages,
                    tuples,
                    None,
                ));
            }
            for ix in cat.indexes.values() {
                let opts = Some(super::index_reloptions(ix)).filter(|o| !o.is_empty());
                rows.push(class_row(
                    ix.oid,
                    &ix.name,
                    ns(&ix.schema),
                    super::am_oid(&ix.method),
                    "i",
                    ix.columns.len() + ix.include.len(),
                    0,
                    false,
                    0,
                    0.0,
                    opts,
                ));
            }
            for sq in cat.sequences.values() {
                rows.push(class_row(
                    sq.oid,
                    &sq.name,
                    ns(&sq.schema),
                    0,
                    "S",
                    3,
                    0,
                    false,
                    1,
                    1.0,
                    None,
                ));
            }
            rel(PG_CLASS, rows)
        }
        "pg_attribute" => {
            let mut rows = vec![];
            for tb in cat.tables.values() {
                for (i, c) in tb.columns.iter().enumerate() {
                    let num = (i + 1) as i16;
                    if c.dropped {
                        rows.push(attr_row(
                            tb.oid,
                            &format!("........pg.dropped.{num}........"),
                            &c.data_type,
                            num,
                            false,
                            false,
                            "",
                            true,
                            0,
                        ));
                        continue;
                    }
                    let identity = match &c.identity {
                        Some((IdentityKind::Always, _)) => "a",
                        Some((IdentityKind::ByDefault, _)) => "d",
                        None => "",
                    };
                    let has_def = c.default.is_some() && c.identity.is_none();
                    rows.push(attr_row(
                        tb.oid,
                        &c.name,
                        &c.data_type,
                        num,
                        column_not_null(tb, i),
                        has_def,
                        identity,
                        false,
                        type_collation(&c.data_type),
                    ));
                }
            }
            for ix in cat.indexes.values() {
                let table = cat.tables.get(&ix.table);
                let mut num = 0i16;
                let mut push = |name: String, ty: &DataType, rows: &mut Vec<Vec<Value>>| {
                    num += 1;
                    rows.push(attr_row(
                        ix.oid,
                        &name,
                        ty,
                        num,
                        false,
                        false,
                        "",
                        false,
                        type_collation(ty),
                    ));
                };
                for k in &ix.columns {
                    let name = match (k.column, &k.expr, table) {
                        (Some(p), _, Some(tb)) => tb
                            .columns
                            .get(p)
                            .map(|c| c.name.clone())
                            .unwrap_or_default(),
                        (_, Some(e), _) => index_expr_column_name(e),
                        _ => "expr".into(),
                    };
                    push(name, &k.data_type, &mut rows);
                }
                for p in &ix.include {
                    if let Some(c) = table.and_then(|tb| tb.columns.get(*p)) {
                        push(c.name.clone(), &c.data_type, &mut rows);
                    }
                }
            }
            for sq in cat.sequences.values() {
                rows.push(attr_row(
                    sq.oid,
                    "last_value",
                    &DataType::Int8,
                    1,
                    true,
                    false,
                    "",
                    false,
                    0,
                ));
                rows.push(attr_row(
                    sq.oid,
                    "log_cnt",
                    &DataType::Int8,
                    2,
                    true,
                    false,
                    "",
                    false,
                    0,
                ));
                rows.push(attr_row(
                    sq.oid,
                    "is_called",
                    &DataType::Bool,
                    3,
                    true,
                    false,
                    "",
                    false,
                    0,
                ));
            }
            rel(PG_ATTRIBUTE, rows)
        }
        "pg_attrdef" => {
            let mut rows = vec![];
            for tb in cat.tables.values() {
                for (i, c) in tb.columns.iter().enumerate() {
                    if let (Some(d), None, false) = (&c.default, &c.identity, c.dropped) {
                        // adbin holds the deparsed text: pg_get_expr returns it.
                        let text = deparse::default_expr(d, &c.data_type);
                        rows.push(vec![
                            o(attrdef_oid(tb.oid, i)),
                            o(tb.oid),
                            i2((i + 1) as i16),
                            t(text),
                        ]);
                    }
                }
            }
            rel(
                &["oid oid", "adrelid oid", "adnum int2", "adbin node"],
                rows,
            )
        }
        "pg_index" => {
            let mut rows = vec![];
            for ix in cat.indexes.values() {
                let mut key: Vec<Value> = ix
                    .columns
                    .iter()
                    .map(|k| i2(k.column.map_or(0, |p| (p + 1) as i16)))
                    .collect();
                key.extend(ix.include.iter().map(|p| i2((*p + 1) as i16)));
                let option: Vec<Value> = ix
                    .columns
                    .iter()
                    .map(|k| i2((k.descending as i16) | ((k.nulls_first as i16) << 1)))
                    .collect();
                let table = cat.tables.get(&ix.table);
                let exprs: Vec<String> = ix
                    .columns
                    .iter()
                    .filter_map(|k| k.expr.as_ref().map(|e| deparse::table_expr(e, table)))
                    .collect();
                let natts = key.len() as i16;
                rows.push(vec![
                    o(ix.oid),
                    o(ix.table),
                    i2(natts),
                    i2(ix.columns.len() as i16),
                    b(ix.unique),
                    b(false),
                    b(ix.primary),
                    b(false),
                    b(true),
                    b(false),
                    b(ix.valid),
                    b(false),
                    b(true),
                    b(true),
                    b(false),
                    Value::Array(key),
                    Value::Array(
                        ix.columns
                            .iter()
                            .map(|k| o(type_collation(&k.data_type)))
                            .collect(),
                    ),
                    Value::Array(
                        ix.columns
                            .iter()
                            .map(|k| o(default_opclass(&ix.method, &k.data_type)))
                            .collect(),
                    ),
                    Value::Array(option),
                    if exprs.is_empty() {
                        NULL
                    } else {
                        t(exprs.join(", "))
                    },
                    opt_t(ix.predicate.as_ref().map(|p| deparse::table_expr(p, table))),
                ]);
            }
            rel(
                &[
                    "indexrelid oid",
                    "indrelid oid",
                    "indnatts int2",
                    "indnkeyatts int2",
                    "indisunique bool",
                    "indnullsnotdistinct bool",
                    "indisprimary bool",
                    "indisexclusion bool",
                    "indimmediate bool",
                    "indisclustered bool",
                    "indisvalid bool",
                    "indcheckxmin bool",
                    "indisready bool",
                    "indislive bool",
                    "indisreplident bool",
                    "indkey int2vector",
                    "indcollation oidvector",
                    "indclass oidvector",
                    "indoption int2vector",
                    "indexprs node",
                    "indpred node",
                ],
                rows,
            )
        }
        "pg_am" => rel(
            &["oid oid", "amname name", "amhandler regproc", "amtype char"],
            vec![
                vec![o(HEAP_AM_OID), t("heap"), o(3), t("t")],
                vec![o(BTREE_AM_OID), t("btree"), o(330), t("i")],
                vec![o(super::HASH_AM_OID), t("hash"), o(331), t("i")],
                vec![o(783), t("gist"), o(332), t("i")],
                vec![o(2742), t("gin"), o(333), t("i")],
                vec![o(4000), t("spgist"), o(334), t("i")],
                vec![o(super::BRIN_AM_OID), t("brin"), o(335), t("i")],
            ],
        ),
        "pg_constraint" => {
            let mut rows = vec![];
            for tb in cat.tables.values() {
                for c in &tb.constraints {
                    let (ty, key, bin) = match &c.kind {
                        ConstraintKind::PrimaryKey(cols) => ("p", cols.clone(), None),
                        ConstraintKind::Unique(cols) => ("u", cols.clone(), None),
                        ConstraintKind::Check(e) => {
                            ("c", vec![], Some(deparse::table_expr(e, Some(tb))))
                        }
                    };
                    let index = cat
                        .indexes_of(tb.oid)
                        .find(|i| i.constraint == Some(c.oid))
                        .map_or(0, |i| i.oid);
                    rows.push(vec![
                        o(c.oid),
                        t(c.name.clone()),
                        o(ns(&tb.schema)),
                        t(ty),
                        b(false),
                        b(false),
                        b(true),
                        o(tb.oid),
                        o(0),
                        o(index),
                        o(0),
                        o(0),
                        t(" "),
                        t(" "),
                        t(" "),
                        b(true),
                        i4(0),
                        b(false),
                        if key.is_empty() {
                            NULL
                        } else {
                            Value::Array(key.iter().map(|p| i2((*p + 1) as i16)).collect())
                        },
                        NULL,
                        NULL,
                        NULL,
                        NULL,
                        NULL,
                        NULL,
                        opt_t(bin),
                    ]);
                }
            }
            rel(
                &[
                    "oid oid",
                    "conname name",
                    "connamespace oid",
                    "contype char",
                    "condeferrable bool",
                    "condeferred bool",
                    "convalidated bool",
                    "conrelid oid",
                    "contypid oid",
                    "conindid oid",
                    "conparentid oid",
                    "confrelid oid",
                    "confupdtype char",
                    "confdeltype char",
                    "confmatchtype char",
                    "conislocal bool",
                    "coninhcount int4",
                    "connoinherit bool",
                    "conkey int2[]",
                    "confkey int2[]",
                    "conpfeqop oid[]",
                    "conppeqop oid[]",
                    "conffeqop oid[]",
                    "confdelsetcols int2[]",
                    "conexclop oid[]",
                    "conbin node",
                ],
                rows,
            )
        }
        "pg_type" => {
            let mut rows = vec![];
            for (ty, name, cat_code) in TYPES {
                let oid = ty.oid();
                let arr = DataType::Array(Box::new(ty.clone())).oid();
                let elem = ty.vector_element().map_or(0, |e| e.oid());
                rows.push(type_row(oid, name, ty, cat_code, elem, arr));
                if arr != 0 {
                    rows.push(type_row(
                        arr,
                        &format!("_{name}"),
                        &DataType::Array(Box::new(ty.clone())),
                        "A",
                        oid,
                        0,
                    ));
                }
            }
            rel(
                &[
                    "oid oid",
                    "typname name",
                    "typnamespace oid",
                    "typowner oid",
                    "typlen int2",
                    "typbyval bool",
                    "typtype char",
                    "typcategory char",
                    "typispreferred bool",
                    "typisdefined bool",
                    "typdelim char",
                    "typrelid oid",
                    "typelem oid",
                    "typarray oid",
                    "typinput regproc",
                    "typoutput regproc",
                    "typnotnull bool",
                    "typbasetype oid",
                    "typtypmod int4",
                    "typndims int4",
                    "typcollation oid",
                    "typdefault text",
                    "typacl acl",
                ],
                rows,
            )
        }
        "pg_collation" => rel(
            &[
                "oid oid",
                "collname name",
                "collnamespace oid",
                "collowner oid",
                "collprovider char",
                "collisdeterministic bool",
                "collencoding int4",
                "collcollate text",
                "collctype text",
                "colliculocale text",
                "collversion text",
            ],
            vec![
                vec![
                    o(DEFAULT_COLLATION_OID),
                    t("default"),
                    o(11),
                    o(10),
                    t("d"),
                    b(true),
                    i4(-1),
                    NULL,
                    NULL,
                    NULL,
                    NULL,
                ],
                vec![
                    o(C_COLLATION_OID),
                    t("C"),
                    o(11),
                    o(10),
                    t("c"),
                    b(true),
                    i4(-1),
                    t("C"),
                    t("C"),
                    NULL,
                    NULL,
                ],
                vec![
                    o(951),
                    t("POSIX"),
                    o(11),
                    o(10),
                    t("c"),
                    b(true),
                    i4(-1),
                    t("POSIX"),
                    t("POSIX"),
                    NULL,
                    NULL,
                ],
            ],
        ),
        "pg_database" => {
            let mut rows = vec![];
            for (oid, n, template) in databases(ctx.session) {
                let acl = if template {
                    Value::Array(vec![t("=c/postgres"), t("postgres=CTc/postgres")])
                } else {
                    NULL
                };
                rows.push(vec![
                    o(oid),
                    t(n),
                    o(SUPERUSER_OID),
                    i4(6),
                    t("c"),
                    b(template),
                    b(oid != 4),
                    i4(-1),
                    o(0),
                    o(0),
                    o(1663),
                    t("C"),
                    t("C"),
                    NULL,
                    NULL,
                    acl,
                ]);
            }
            rel(
                &[
                    "oid oid",
                    "datname name",
                    "datdba oid",
                    "encoding int4",
                    "datlocprovider char",
                    "datistemplate bool",
                    "datallowconn bool",
                    "datconnlimit int4",
                    "datfrozenxid xid",
                    "datminmxid xid",
                    "dattablespace oid",
                    "datcollate text",
                    "datctype text",
                    "daticulocale text",
                    "datcollversion text",
                    "datacl acl",
                ],
                rows,
            )
        }
        "pg_roles" | "pg_authid" => {
            let roles = [
                (SUPERUSER_OID, ctx.session.user.clone(), true),
                (DATABASE_OWNER_OID, "pg_database_owner".into(), false),
            ];
            let rows = roles
                .iter()
                .map(|(oid, n, sup)| {
                    vec![
                        o(*oid),
                        t(n.clone()),
                        b(*sup),
                        b(true),
                        b(*sup),
                        b(*sup),
                        b(*sup),
                        b(*sup),
                        i4(-1),
                        NULL,
                        NULL,
                        b(*sup),
                    ]
                })
                .collect();
            let pass = "rolpassword text";
            let mut spec = vec![
                "oid oid",
                "rolname name",
                "rolsuper bool",
                "rolinherit bool",
                "rolcreaterole bool",
                "rolcreatedb bool",
                "rolcanlogin bool",
                "rolreplication bool",
                "rolconnlimit int4",
                pass,
                "rolvaliduntil timestamptz",
                "rolbypassrls bool",
            ];
            if name == "pg_roles" {
                spec.push("rolconfig text[]");
            }
            let mut r = relation("pg_catalog", name, &spec, rows);
            if name == "pg_roles" {
                for row in &mut r.rows {
                    row[9] = t("********");
                    row.push(NULL);
                }
            }
            Some(r)
        }
        "pg_user" => rel(
            &[
                "usename name",
                "usesysid oid",
                "usecreatedb bool",
                "usesuper bool",
                "userepl bool",
                "usebypassrls bool",
                "passwd text",
                "valuntil timestamptz",
                "useconfig text[]",
            ],
            vec![vec![
                t(ctx.session.user.clone()),
                o(SUPERUSER_OID),
                b(true),
                b(true),
                b(true),
                b(true),
                t("********"),
                NULL,
                NULL,
            ]],
        ),
        "pg_auth_members" => rel(
            &[
                "roleid oid",
                "member oid",
                "grantor oid",
                "admin_option bool",
            ],
            vec![],
        ),
        "pg_settings" => rel(
            &[
                "name text",
                "setting text",
                "unit text",
                "category text",
                "short_desc text",
                "extra_desc text",
                "context text",
                "vartype text",
                "source text",
                "min_val text",
                "max_val text",
                "enumvals text[]",
                "boot_val text",
                "reset_val text",
                "sourcefile text",
                "sourceline int4",
                "pending_restart bool",
            ],
            settings_rows(ctx),
        ),
        "pg_description" => rel(
            &[
                "objoid oid",
                "classoid oid",
                "objsubid int4",
                "description text",
            ],
            super::comments::pg_description_rows(cat),
        ),
        "pg_shdescription" => rel(
            &["objoid oid", "classoid oid", "description text"],
            super::comments::pg_shdescription_rows(cat, ctx.session),
        ),
        "pg_proc" => rel(super::pg_proc::PG_PROC_COLUMNS, super::pg_proc::proc_rows()),
        "pg_language" => rel(
            super::pg_proc::PG_LANGUAGE_COLUMNS,
            super::pg_proc::language_rows(),
        ),
        "pg_views" => rel(
            &[
                "schemaname name",
                "viewname name",
                "viewowner name",
                "definition text",
            ],
            vec![],
        ),
        "pg_tables" => {
            let rows = cat
                .tables
                .values()
                .map(|tb| {
                    let has_index = cat.indexes_of(tb.oid).next().is_some();
                    vec![
                        t(tb.schema.clone()),
                        t(tb.name.clone()),
                        t(ctx.session.user.clone()),
                        NULL,
                        b(has_index),
                        b(false),
                        b(false),
                        b(false),
                    ]
                })
                .collect();
            rel(
                &[
                    "schemaname name",
                    "tablename name",
                    "tableowner name",
                    "tablespace name",
                    "hasindexes bool",
                    "hasrules bool",
                    "hastriggers bool",
                    "rowsecurity bool",
                ],
                rows,
            )
        }
        "pg_indexes" => {
            let rows = cat
                .indexes
                .values()
                .filter_map(|ix| {
                    let tb = cat.tables.get(&ix.table)?;
                    Some(vec![
                        t(ix.schema.clone()),
                        t(tb.name.clone()),
                        t(ix.name.clone()),
                        NULL,
                        t(deparse::index_def(cat, ix, false)),
                    ])
                })
                .collect();
            rel(
                &[
                    "schemaname name",
                    "tablename name",
                    "indexname name",
                    "tablespace name",
                    "indexdef text",
                ],
                rows,
            )
        }
        "pg_sequence" => {
            let rows = cat
                .sequences
                .values()
                .map(|s| {
                    vec![
                        o(s.oid),
                        o(s.data_type.oid()),
                        Value::Int8(s.start),
                        Value::Int8(s.increment),
                        Value::Int8(s.max),
                        Value::Int8(s.min),
                        Value::Int8(1),
                        b(s.cycle),
                    ]
                })
                .collect();
            rel(
                &[
                    "seqrelid oid",
                    "seqtypid oid",
                    "seqstart int8",
                    "seqincrement int8",
                    "seqmax int8",
                    "seqmin int8",
                    "seqcache int8",
                    "seqcycle bool",
                ],
                rows,
            )
        }
        "pg_sequences" => {
            let rows = cat
                .sequences
                .values()
                .map(|s| {
                    vec![
                        t(s.schema.clone()),
                        t(s.name.clone()),
                        t(ctx.session.user.clone()),
                        t(s.data_type.display_name()),
                        Value::Int8(s.start),
                        Value::Int8(s.min),
                        Value::Int8(s.max),
                        Value::Int8(s.increment),
                        b(s.cycle),
                        Value::Int8(1),
                        NULL,
                    ]
                })
                .collect();
            rel(
                &[
                    "schemaname name",
                    "sequencename name",
                    "sequenceowner name",
                    "data_type regtype",
                    "start_value int8",
                    "min_value int8",
                    "max_value int8",
                    "increment_by int8",
                    "cycle bool",
                    "cache_size int8",
                    "last_value int8",
                ],
                rows,
            )
        }
        "pg_inherits" => rel(
            &[
                "inhrelid oid",
                "inhparent oid",
                "inhseqno int4",
                "inhdetachpending bool",
            ],
            vec![],
        ),
        "pg_policy" => rel(
            &[
                "oid oid",
                "polname name",
                "polrelid oid",
                "polcmd char",
                "polpermissive bool",
                "polroles oid[]",
                "polqual node",
                "polwithcheck node",
            ],
            vec![],
        ),
        "pg_statistic_ext" => rel(
            &[
                "oid oid",
                "stxrelid oid",
                "stxname name",
                "stxnamespace oid",
                "stxowner oid",
                "stxstattarget int4",
                "stxkeys int2vector",
                "stxkind char[]",
                "stxexprs node",
            ],
            vec![],
        ),
        "pg_publication" => rel(
            &[
                "oid oid",
                "pubname name",
                "pubowner oid",
                "puballtables bool",
                "pubinsert bool",
                "pubupdate bool",
                "pubdelete bool",
                "pubtruncate bool",
                "pubviaroot bool",
            ],
            vec![],
        ),
        "pg_publication_rel" => rel(
            &[
                "oid oid",
                "prpubid oid",
                "prrelid oid",
                "prqual node",
                "prattrs int2vector",
            ],
            vec![],
        ),
        "pg_publication_namespace" => rel(&["oid oid", "pnpubid oid", "pnnspid oid"], vec![]),
        "pg_trigger" => rel(
            &[
                "oid oid",
                "tgrelid oid",
                "tgparentid oid",
                "tgname name",
                "tgfoid oid",
                "tgtype int2",
                "tgenabled char",
                "tgisinternal bool",
                "tgconstrrelid oid",
                "tgconstrindid oid",
                "tgconstraint oid",
                "tgdeferrable bool",
                "tginitdeferred bool",
                "tgnargs int2",
                "tgattr int2vector",
                "tgargs text",
                "tgqual node",
                "tgoldtable name",
                "tgnewtable name",
            ],
            vec![],
        ),
        "pg_rewrite" => rel(
            &[
                "oid oid",
                "rulename name",
                "ev_class oid",
                "ev_type char",
                "ev_enabled char",
                "is_instead bool",
                "ev_qual node",
                "ev_action node",
            ],
            vec![],
        ),
        "pg_extension" => rel(
            &[
                "oid oid",
                "extname name",
                "extowner oid",
                "extnamespace oid",
                "extrelocatable bool",
                "extversion text",
                "extconfig oid[]",
                "extcondition text[]",
            ],
            vec![vec![
                o(13500),
                t("plpgsql"),
                o(10),
                o(11),
                b(false),
                t("1.0"),
                NULL,
                NULL,
            ]],
        ),
        "pg_foreign_table" => rel(&["ftrelid oid", "ftserver oid", "ftoptions text[]"], vec![]),
        "pg_partitioned_table" => rel(
            &[
                "partrelid oid",
                "partstrat char",
                "partnatts int2",
                "partdefid oid",
                "partattrs int2vector",
                "partclass oidvector",
                "partcollation oidvector",
                "partexprs node",
            ],
            vec![],
        ),
        "pg_tablespace" => rel(
            &[
                "oid oid",
                "spcname name",
                "spcowner oid",
                "spcacl acl",
                "spcoptions text[]",
            ],
            vec![
                vec![o(1663), t("pg_default"), o(10), NULL, NULL],
                vec![o(1664), t("pg_global"), o(10), NULL, NULL],
            ],
        ),
        _ => None,
    }
}

/// Oid of a column default (stable for a given table and column).
/// pg_settings: the session's parameters, then the server's (fixed at
/// startup), in name order.
fn settings_rows(ctx: &SysContext) -> Vec<Vec<Value>> {
    let mut rows: Vec<(String, Vec<Value>)> = vec![];
    let opt = |v: Option<&str>| v.map(t).unwrap_or(NULL);
    if let Some(settings) = &ctx.session.settings {
        for s in settings.iter() {
            rows.push((
                s.name.to_lowercase(),
                vec![
                    t(s.name.clone()),
                    t(s.setting.clone()),
                    opt(s.unit),
                    t(s.category),
                    t(s.short_desc),
                    NULL,
                    t(s.context),
                    t(s.vartype),
                    t(s.source),
                    opt(s.min_val),
                    opt(s.max_val),
                    s.enumvals
                        .map(|e| Value::Array(e.iter().map(|v| t(*v)).collect()))
                        .unwrap_or(NULL),
                    t(s.boot_val.clone()),
                    t(s.reset_val.clone()),
                    NULL,
                    NULL,
                    b(false),
                ],
            ));
        }
    }
    if let Some(db) = &ctx.session.db {
        let cfg = db.0.engine().config();
        let onoff = |v: bool| if v { "on" } else { "off" };
        let server: [(&str, String, Option<&str>, &str, &str, &str, &str); 4] = [
            (
                "shared_buffers",
                (cfg.buffer_pool_bytes / 8192).to_string(),
                Some("8kB"),
                "Resource Usage / Memory",
                "Sets the size of the buffer pool (--buffer-pool).",
                "postmaster",
                "integer",
            ),
            (
                "fsync",
                onoff(cfg.fsync).into(),
                None,
                "Write-Ahead Log / Settings",
                "Forces synchronization of updates to disk (--fsync).",
                "postmaster",
                "bool",
            ),
            (
                "checkpoint_timeout",
                cfg.checkpoint_interval.as_secs().to_string(),
                Some("s"),
                "Write-Ahead Log / Checkpoints",
                "Sets the time between automatic checkpoints (--checkpoint-interval).",
                "postmaster",
                "integer",
            ),
            (
                "track_counts",
                onoff(cfg.track_counts).into(),
                None,
                "Statistics / Cumulative Query and Index Statistics",
                "Collects statistics on database activity (--track-counts).",
                "postmaster",
                "bool",
            ),
        ];
        for (name, setting, unit, category, desc, context, vartype) in server {
            rows.push((
                name.to_string(),
                vec![
                    t(name),
                    t(setting.clone()),
                    opt(unit),
                    t(category),
                    t(desc),
                    NULL,
                    t(context),
                    t(vartype),
                    t("command line"),
                    NULL,
                    NULL,
                    NULL,
                    NULL,
                    t(setting),
                    NULL,
                    NULL,
                    b(false),
                ],
            ));
        }
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows.into_iter().map(|r| r.1).collect()
}

fn attrdef_oid(table: u32, pos: usize) -> u32 {
    table.wrapping_mul(64).wrapping_add(pos as u32 + 1) | 0x8000_0000
}

/// The oid of Postgres 15's default operator class of an access method for
/// a type (pg_index.indclass: sargdb indexes always use the default one);
/// 0 for a combination Postgres has no default for.
fn default_opclass(method: &str, ty: &DataType) -> u32 {
    use DataType as T;
    let (btree, hash, brin) = match ty {
        T::Bool => (10003, 10048, 0),
        T::Bytea => (10006, 10049, 10092),
        T::Name => (10028, 10029, 10096),
        T::Int8 => (3124, 10021, 10098),
        T::Int2 => (1979, 10019, 10101),
        T::Int4 => (1978, 10020, 10104),
        // varchar uses text's classes (binary coercible), as in Postgres.
        T::Text | T::Varchar(_) => (3126, 10037, 10107),
        t if t.is_oid() => (1981, 10031, 10109),
        T::Float4 => (10012, 10013, 10115),
        T::Float8 => (3123, 10014, 10118),
        T::Char(_) => (10004, 10005, 10131),
        T::Date => (3122, 10011, 10136),
        T::Time => (10038, 10039, 10133),
        T::Timestamp => (3128, 10046, 10139),
        T::Timestamptz => (3127, 10040, 10142),
        T::Interval => (10022, 10023, 10145),
        T::Numeric(_) => (3125, 10030, 10153),
        T::Uuid => (10065, 10066, 10156),
        T::Jsonb => (10088, 10089, 0),
        T::Array(_) => (10000, 10001, 0),
        _ => (0, 0, 0),
    };
    match method {
        "btree" => btree,
        "hash" => hash,
        "brin" => brin,
        _ => 0,
    }
}

/// (type, typname, typcategory) of the built-in types sargdb has.
const TYPES: &[(DataType, &str, &str)] = &[
    (DataType::Bool, "bool", "B"),
    (DataType::Bytea, "bytea", "U"),
    (DataType::Name, "name", "S"),
    (DataType::Int8, "int8", "N"),
    (DataType::Int2, "int2", "N"),
    (DataType::Int4, "int4", "N"),
    (DataType::Text, "text", "S"),
    (DataType::Oid, "oid", "N"),
    (DataType::Regclass, "regclass", "N"),
    (DataType::Regtype, "regtype", "N"),
    (DataType::Regproc, "regproc", "N"),
    (DataType::Regprocedure, "regprocedure", "N"),
    (DataType::Regnamespace, "regnamespace", "N"),
    (DataType::Regrole, "regrole", "N"),
    (DataType::Json, "json", "U"),
    (DataType::Float4, "float4", "N"),
    (DataType::Float8, "float8", "N"),
    (DataType::Unknown, "unknown", "X"),
    (DataType::Char(None), "bpchar", "S"),
    (DataType::Varchar(None), "varchar", "S"),
    (DataType::Date, "date", "D"),
    (DataType::Time, "time", "D"),
    (DataType::Timestamp, "timestamp", "D"),
    (DataType::Timestamptz, "timestamptz", "D"),
    (DataType::Interval, "interval", "T"),
    (DataType::Numeric(None), "numeric", "N"),
    (DataType::Uuid, "uuid", "U"),
    (DataType::Jsonb, "jsonb", "U"),
    (DataType::Int2Vector, "int2vector", "A"),
    (DataType::OidVector, "oidvector", "A"),
];

fn type_row(
    oid: u32,
    name: &str,
    ty: &DataType,
    category: &str,
    elem: u32,
    array: u32,
) -> Vec<Value> {
    let len = ty.type_len();
    vec![
        o(oid),
        t(name),
        o(11),
        o(SUPERUSER_OID),
        i2(len),
        b(len > 0 && len <= 8),
        t(if matches!(ty, DataType::Unknown) {
            "p"
        } else {
            "b"
        }),
        t(category),
        b(matches!(
            ty,
            DataType::Bool
                | DataType::Text
                | DataType::Float8
                | DataType::Oid
                | DataType::Timestamptz
                | DataType::Interval
        )),
        b(true),
        t(","),
        o(0),
        o(elem),
        o(array),
        o(0),
        o(0),
        b(false),
        o(0),
        i4(-1),
        i4(0),
        o(type_collation(ty)),
        NULL,
        NULL,
    ]
}
