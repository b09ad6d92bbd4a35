//! `pg_proc` and `pg_language`: one row per function overload sargdb
//! implements, so psql's `\df`, drivers' metadata queries and
//! `pg_get_function_arguments` see the functions that really exist.
//!
//! Functions PostgreSQL 15 also has are described with PostgreSQL's own
//! metadata (`builtins.rs`, generated from a PostgreSQL 15 server by
//! `builtins.sql`: oids, argument and result types, volatility, the argument
//! text psql prints); the few that are sargdb's own, or that sargdb types
//! differently (the statistics resets return text, not void), are listed in
//! `SARGDB_ONLY` with oids from a private range. The unit tests hold the
//! rows to the resolver (`functions::resolve`) and the aggregate typing: a
//! row whose call would not bind fails, and so does an overload the resolver
//! accepts that has no row.
//!
//! This module only describes functions; it never resolves or calls them.

#[rustfmt::skip]
mod builtins;

use sargdb_catalog::Value;

use super::{b, i2, o, t, NULL, SUPERUSER_OID};

/// One `pg_proc` row.
pub(super) struct Builtin {
    pub oid: u32,
    pub name: &'static str,
    /// `f` function, `a` aggregate.
    pub kind: u8,
    /// `i` immutable, `s` stable, `v` volatile.
    pub volatile: u8,
    pub strict: bool,
    pub retset: bool,
    pub ret: u32,
    pub args: &'static [u32],
    /// The element type of a VARIADIC last argument (0: none).
    pub variadic: u32,
    pub nargdefaults: i16,
    pub argnames: &'static [&'static str],
    pub src: &'static str,
    pub lang: u32,
    /// `pg_get_function_result`.
    pub result: &'static str,
    /// `pg_get_function_arguments` (with names and defaults).
    pub arguments: &'static str,
    /// `pg_get_function_identity_arguments`.
    pub identity: &'static str,
    /// The `pg_description` text ("" for none).
    pub description: &'static str,
}

/// `pg_language` oids.
pub const INTERNAL_LANGUAGE_OID: u32 = 12;
pub const C_LANGUAGE_OID: u32 = 13;
pub const SQL_LANGUAGE_OID: u32 = 14;

const TEXT: u32 = 25;
const REGCLASS: u32 = 2205;
const RECORD: u32 = 2249;

/// Rows for what PostgreSQL does not have, or types differently.
const fn own(
    oid: u32,
    name: &'static str,
    args: &'static [u32],
    arguments: &'static str,
    ret: u32,
    result: &'static str,
    description: &'static str,
) -> Builtin {
    Builtin {
        oid,
        name,
        kind: b'f',
        volatile: b'v',
        strict: true,
        retset: false,
        ret,
        args,
        variadic: 0,
        nargdefaults: 0,
        argnames: &[],
        src: name,
        lang: INTERNAL_LANGUAGE_OID,
        result,
        arguments,
        identity: arguments,
        description,
    }
}

const SARGDB_ONLY: &[Builtin] = &[
    own(
        9800,
        "verify_index",
        &[REGCLASS],
        "regclass",
        1009,
        "text[]",
        "check an index's structure and its agreement with the table",
    ),
    own(
        9801,
        "pg_stat_reset",
        &[],
        "",
        TEXT,
        "text",
        "statistics: reset collected statistics for current database",
    ),
    own(
        9802,
        "pg_stat_reset_shared",
        &[TEXT],
        "text",
        TEXT,
        "text",
        "statistics: reset collected statistics shared across the cluster",
    ),
    own(
        9803,
        "pg_stat_reset_single_table_counters",
        &[26],
        "oid",
        TEXT,
        "text",
        "statistics: reset collected statistics for a single table or index in the current database or shared across all databases in the cluster",
    ),
    own(
        9804,
        "pg_stat_force_next_flush",
        &[],
        "",
        TEXT,
        "text",
        "statistics: force stats to be flushed after the next commit",
    ),
    own(
        9805,
        "pg_stat_clear_snapshot",
        &[],
        "",
        TEXT,
        "text",
        "statistics: discard current transaction's statistics snapshot",
    ),
    own(
        9806,
        "pg_stat_statements_reset",
        &[],
        "",
        TEXT,
        "text",
        "statistics: discard the statement statistics",
    ),
    own(
        9807,
        "pg_stat_indexes_reset",
        &[],
        "",
        TEXT,
        "text",
        "statistics: reset pg_stat_indexes for every index",
    ),
    own(
        9808,
        "pg_stat_indexes_reset",
        &[REGCLASS],
        "regclass",
        TEXT,
        "text",
        "statistics: reset pg_stat_indexes for one index, or every index of a table",
    ),
    own(
        9809,
        "pgstatindex",
        &[REGCLASS],
        "regclass",
        RECORD,
        "record",
        "show the physical layout of an index",
    ),
    own(
        9810,
        "pgstatindex",
        &[TEXT],
        "text",
        RECORD,
        "record",
        "show the physical layout of an index",
    ),
    own(
        9811,
        "pgstathashindex",
        &[REGCLASS],
        "regclass",
        RECORD,
        "record",
        "show the physical layout of a hash index",
    ),
    own(
        9812,
        "uuid_generate_v4",
        &[],
        "",
        2950,
        "uuid",
        "generate a random (version 4) UUID",
    ),
];

/// Every function row, PostgreSQL's first.
pub(super) fn all() -> impl Iterator<Item = &'static Builtin> {
    builtins::BUILTINS.iter().chain(SARGDB_ONLY.iter())
}

/// The row of a function oid.
pub(super) fn by_oid(oid: u32) -> Option<&'static Builtin> {
    all().find(|f| f.oid == oid)
}

/// The oids of the functions named `name`.
pub(super) fn overloads(name: &str) -> impl Iterator<Item = u32> + '_ {
    all().filter(move |f| f.name == name).map(|f| f.oid)
}

/// A function's name.
pub(super) fn name_of(oid: u32) -> Option<&'static str> {
    by_oid(oid).map(|f| f.name)
}

/// A function's argument type oids (`proargtypes`).
pub(super) fn argument_types(oid: u32) -> Option<&'static [u32]> {
    by_oid(oid).map(|f| f.args)
}

/// Every function's oid.
pub(super) fn oids() -> impl Iterator<Item = u32> {
    all().map(|f| f.oid)
}

/// A function's description (`pg_description`), if it has one.
pub(super) fn description(oid: u32) -> Option<&'static str> {
    by_oid(oid).map(|f| f.description).filter(|d| !d.is_empty())
}

pub(super) const PG_PROC_COLUMNS: &[&str] = &[
    "oid oid",
    "proname name",
    "pronamespace oid",
    "proowner oid",
    "prolang oid",
    "procost float4",
    "prorows float4",
    "provariadic oid",
    "prosupport regproc",
    "prokind char",
    "prosecdef bool",
    "proleakproof bool",
    "proisstrict bool",
    "proretset bool",
    "provolatile char",
    "proparallel char",
    "pronargs int2",
    "pronargdefaults int2",
    "prorettype oid",
    "proargtypes oidvector",
    "proallargtypes oid[]",
    "proargmodes char[]",
    "proargnames text[]",
    "proargdefaults node",
    "protrftypes oid[]",
    "prosrc text",
    "probin text",
    "prosqlbody node",
    "proconfig text[]",
    "proacl acl",
];

/// The `pg_proc` rows, columns as `PG_PROC_COLUMNS`.
pub(super) fn proc_rows() -> Vec<Vec<Value>> {
    let pg_catalog = sargdb_catalog::catalog::PG_CATALOG_OID;
    all()
        .map(|f| {
            vec![
                o(f.oid),
                t(f.name),
                o(pg_catalog),
                o(SUPERUSER_OID),
                o(f.lang),
                Value::Float4(1.0),
                Value::Float4(if f.retset { 1000.0 } else { 0.0 }),
                o(f.variadic),
                o(0),
                t((f.kind as char).to_string()),
                b(false),
                b(false),
                b(f.strict),
                b(f.retset),
                t((f.volatile as char).to_string()),
                t("s"),
                i2(f.args.len() as i16),
                i2(f.nargdefaults),
                o(f.ret),
                Value::Array(f.args.iter().map(|a| o(*a)).collect()),
                NULL,
                NULL,
                if f.argnames.is_empty() {
                    NULL
                } else {
                    Value::Array(f.argnames.iter().map(|n| t(*n)).collect())
                },
                NULL,
                NULL,
                t(f.src),
                NULL,
                NULL,
                NULL,
                NULL,
            ]
        })
        .collect()
}

pub(super) const PG_LANGUAGE_COLUMNS: &[&str] = &[
    "oid oid",
    "lanname name",
    "lanowner oid",
    "lanispl bool",
    "lanpltrusted bool",
    "lanplcallfoid oid",
    "laninline oid",
    "lanvalidator oid",
    "lanacl acl",
];

/// `pg_language`: the languages Postgres bootstraps with (sargdb has no
/// procedural language; every function is internal).
pub(super) fn language_rows() -> Vec<Vec<Value>> {
    [
        (INTERNAL_LANGUAGE_OID, "internal", false, 2246),
        (C_LANGUAGE_OID, "c", false, 2247),
        (SQL_LANGUAGE_OID, "sql", true, 2248),
    ]
    .into_iter()
    .map(|(oid, name, trusted, validator)| {
        vec![
            o(oid),
            t(name),
            o(SUPERUSER_OID),
            b(false),
            b(trusted),
            o(0),
            o(0),
            o(validator),
            NULL,
        ]
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binder::expr::{aggregate_result_type, is_aggregate};
    use crate::functions;
    use sargdb_catalog::DataType;

    /// Functions the binder answers itself (not through the resolver).
    const BOUND_BY_BINDER: &[&str] = &[
        "version",
        "current_database",
        "current_user",
        "session_user",
        "pg_backend_pid",
        "pg_typeof",
        "nextval",
        "currval",
        "setval",
        "unnest",
        "generate_series",
        "pgstatindex",
        "pgstathashindex",
    ];

    /// A concrete type for an argument or result oid (pseudo-types
    /// instantiated with int4).
    fn concrete(oid: u32) -> DataType {
        match oid {
            2283 | 2776 | 5077 | 2276 => DataType::Int4,
            2277 | 5078 => DataType::Array(Box::new(DataType::Int4)),
            194 => DataType::Text,
            o => DataType::from_oid(o).unwrap_or_else(|| panic!("type oid {o}")),
        }
    }

    #[test]
    fn oids_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for f in all() {
            assert!(seen.insert(f.oid), "oid {} twice", f.oid);
        }
    }

    /// Every row is a call sargdb binds, with the row's result type.
    #[test]
    fn every_row_resolves() {
        for f in all() {
            if BOUND_BY_BINDER.contains(&f.name) {
                continue;
            }
            let args: Vec<DataType> = f.args.iter().map(|a| concrete(*a)).collect();
            let got = if f.kind == b'a' {
                assert!(is_aggregate(f.name), "{} is no aggregate", f.name);
                match args.first() {
                    Some(a) => aggregate_result_type(f.name, a),
                    None => Some(DataType::Int8), // count(*)
                }
            } else {
                functions::resolve(f.name, &args).map(|s| s.return_type)
            };
            let got = got.unwrap_or_else(|| panic!("{}({}) does not resolve", f.name, f.arguments));
            assert_eq!(
                got.without_modifier(),
                concrete(f.ret),
                "{}({}) result",
                f.name,
                f.arguments
            );
        }
    }

    /// Every overload the resolver accepts (for concrete argument types, up
    /// to three arguments) has a row of that name, arity and result type.
    #[test]
    fn every_resolvable_overload_has_a_row() {
        use DataType as T;
        let types = [
            T::Bool,
            T::Int2,
            T::Int4,
            T::Int8,
            T::Float4,
            T::Float8,
            T::Numeric(None),
            T::Text,
            T::Varchar(None),
            T::Char(None),
            T::Name,
            T::Bytea,
            T::Date,
            T::Time,
            T::Timestamp,
            T::Timestamptz,
            T::Interval,
            T::Uuid,
            T::Json,
            T::Oid,
            T::Regclass,
            T::Array(Box::new(T::Int4)),
            T::Array(Box::new(T::Text)),
        ];
        let names: std::collections::BTreeSet<&str> = all()
            .filter(|f| f.kind == b'f' && !BOUND_BY_BINDER.contains(&f.name))
            .map(|f| f.name)
            .collect();
        let mut missing = std::collections::BTreeSet::new();
        for name in names {
            let mut probe = |args: &[DataType]| {
                let Some(sig) = functions::resolve(name, args) else {
                    return;
                };
                let ret = sig.return_type.without_modifier();
                let covered = all().any(|f| {
                    f.name == name
                        && ((f.args.len() - f.nargdefaults as usize..=f.args.len())
                            .contains(&args.len())
                            || (f.variadic != 0 && args.len() >= f.args.len()))
                        && (concrete(f.ret) == ret || matches!(f.ret, 2283 | 2277 | 5077 | 5078))
                });
                if !covered {
                    missing.insert(format!(
                        "{name}({}) -> {}",
                        args.iter()
                            .map(|a| a.display_name())
                            .collect::<Vec<_>>()
                            .join(", "),
                        ret.display_name()
                    ));
                }
            };
            probe(&[]);
            for a in &types {
                probe(std::slice::from_ref(a));
                for b in &types {
                    probe(&[a.clone(), b.clone()]);
                    for c in &types {
                        probe(&[a.clone(), b.clone(), c.clone()]);
                    }
                }
            }
        }
        assert!(missing.is_empty(), "no pg_proc row for: {missing:#?}");
    }

    /// Every aggregate the binder knows has a row.
    #[test]
    fn aggregates_have_rows() {
        for name in [
            "count",
            "sum",
            "avg",
            "min",
            "max",
            "bool_and",
            "bool_or",
            "every",
            "string_agg",
            "array_agg",
        ] {
            assert!(is_aggregate(name));
            assert!(all().any(|f| f.name == name && f.kind == b'a'), "{name}");
        }
    }
}
