//! Catalog functions clients call in their metadata queries:
//! `pg_get_indexdef`, `pg_get_constraintdef`, `pg_get_expr`, `format_type`,
//! `pg_table_is_visible`, `pg_get_userbyid`, `obj_description`, the
//! relation size functions (real page counts from the engine), `has_*_privilege`
//! (sargdb has one, all-powerful role) and a few array/text helpers.
//! `resolve` types a call for the binder; `call` evaluates it in the executor,
//! where the statement's catalog snapshot and the engine are at hand.

use sargdb_catalog::{DataType, Value};

use crate::error::{Result, SqlError};
use crate::executor::ExecContext;
use crate::functions::FunctionSignature;

use super::deparse;

fn sig(args: Vec<DataType>, ret: DataType, strict: bool) -> Option<FunctionSignature> {
    Some(FunctionSignature {
        arg_types: args,
        return_type: ret,
        strict,
        volatile: false,
    })
}

fn is_array(t: &DataType) -> bool {
    matches!(t, DataType::Array(_) | DataType::Unknown)
}

/// Type a catalog function call; None if `name` is not one of ours.
pub fn resolve(name: &str, args: &[DataType]) -> Option<FunctionSignature> {
    use DataType as T;
    let n = args.len();
    match name {
        // sargdb's index integrity check (executor/verify.rs).
        "verify_index" if n == 1 => sig(
            vec![if args[0].is_string() || args[0] == T::Unknown {
                T::Text
            } else {
                T::Oid
            }],
            T::Array(Box::new(T::Text)),
            true,
        ),
        // Statistics resets (void in Postgres; an empty text here).
        "pg_stat_reset"
        | "pg_stat_statements_reset"
        | "pg_stat_force_next_flush"
        | "pg_stat_clear_snapshot"
        | "pg_stat_indexes_reset"
            if n == 0 =>
        {
            sig(vec![], T::Text, false)
        }
        "pg_stat_reset_shared" if n == 1 => sig(vec![T::Text], T::Text, true),
        "pg_stat_reset_single_table_counters" | "pg_stat_indexes_reset" if n == 1 => {
            let rel = if args[0].is_string() || args[0] == T::Unknown {
                T::Text
            } else {
                T::Oid
            };
            sig(vec![rel], T::Text, true)
        }
        // The storage a relation lives in (`<data_dir>/base/<filenode>`).
        "pg_relation_filenode" if n == 1 => {
            let rel = if args[0].is_string() || args[0] == T::Unknown {
                T::Text
            } else {
                T::Oid
            };
            sig(vec![rel], T::Oid, true)
        }
        // BRIN: summarize the heap's unsummarized page ranges.
        // A regclass or oid argument arrives as its text (name or digits).
        "brin_summarize_new_values"
            if n == 1
                && (args[0].is_string()
                    || matches!(args[0], T::Unknown | T::Regclass | T::Oid)) =>
        {
            sig(vec![T::Text], T::Int4, true)
        }
        "pg_get_userbyid" if n == 1 => sig(vec![T::Oid], T::Name, true),
        // pg_proc's functions (system/pg_proc).
        "pg_get_function_result"
        | "pg_get_function_arguments"
        | "pg_get_function_identity_arguments"
        | "pg_get_function_sqlbody"
            if n == 1 =>
        {
            sig(vec![T::Oid], T::Text, true)
        }
        "pg_function_is_visible" if n == 1 => sig(vec![T::Oid], T::Bool, true),
        "pg_table_is_visible" | "pg_type_is_visible" if n == 1 => sig(vec![T::Oid], T::Bool, true),
        "pg_get_indexdef" if n == 1 => sig(vec![T::Oid], T::Text, true),
        "pg_get_indexdef" if n == 3 => sig(vec![T::Oid, T::Int4, T::Bool], T::Text, true),
        "pg_get_constraintdef" if n == 1 => sig(vec![T::Oid], T::Text, true),
        "pg_get_constraintdef" if n == 2 => sig(vec![T::Oid, T::Bool], T::Text, true),
        "pg_get_expr" if n == 2 => sig(vec![T::Text, T::Oid], T::Text, true),
        "pg_get_expr" if n == 3 => sig(vec![T::Text, T::Oid, T::Bool], T::Text, true),
        "pg_get_viewdef" if (1..=2).contains(&n) => sig(
            args.iter()
                .enumerate()
                .map(|(i, _)| if i == 0 { T::Oid } else { T::Bool })
                .collect(),
            T::Text,
            true,
        ),
        "pg_get_statisticsobjdef_columns" if n == 1 => sig(vec![T::Oid], T::Text, true),
        "pg_relation_is_publishable" if n == 1 => sig(vec![T::Oid], T::Bool, true),
        "format_type" if n == 2 => sig(vec![T::Oid, T::Int4], T::Text, false),
        "obj_description" if (1..=2).contains(&n) => sig(
            if n == 1 {
                vec![T::Oid]
            } else {
                vec![T::Oid, T::Name]
            },
            T::Text,
            false,
        ),
        "shobj_description" if n == 2 => sig(vec![T::Oid, T::Name], T::Text, false),
        "col_description" if n == 2 => sig(vec![T::Oid, T::Int4], T::Text, false),
        // A relation given by name ('t', as a regclass literal) or by oid.
        "pg_relation_size" if n == 1 || n == 2 => {
            let rel = if args[0].is_string() || args[0] == T::Unknown {
                T::Text
            } else {
                T::Oid
            };
            sig(
                if n == 1 {
                    vec![rel]
                } else {
                    vec![rel, T::Text]
                },
                T::Int8,
                true,
            )
        }
        "pg_table_size" | "pg_indexes_size" | "pg_total_relation_size" if n == 1 => {
            let rel = if args[0].is_string() || args[0] == T::Unknown {
                T::Text
            } else {
                T::Oid
            };
            sig(vec![rel], T::Int8, true)
        }
        "pg_database_size" if n == 1 => sig(
            vec![if args[0].is_string() || args[0] == T::Unknown {
                T::Name
            } else {
                T::Oid
            }],
            T::Int8,
            true,
        ),
        "pg_size_pretty" if n == 1 => sig(
            vec![if matches!(args[0], T::Numeric(_)) {
                T::Numeric(None)
            } else {
                T::Int8
            }],
            T::Text,
            true,
        ),
        "pg_encoding_to_char" if n == 1 => sig(vec![T::Int4], T::Name, true),
        "array_to_string" if (n == 2 || n == 3) && is_array(&args[0]) => {
            let at = if args[0] == T::Unknown {
                T::Array(Box::new(T::Text))
            } else {
                args[0].clone()
            };
            sig(
                if n == 2 {
                    vec![at, T::Text]
                } else {
                    vec![at, T::Text, T::Text]
                },
                T::Text,
                n == 2,
            )
        }
        "array_upper" | "array_lower" | "array_length" if n == 2 && is_array(&args[0]) => {
            let at = if args[0] == T::Unknown {
                T::Array(Box::new(T::Text))
            } else {
                args[0].clone()
            };
            sig(vec![at, T::Int4], T::Int4, true)
        }
        // array_position(anyarray, anyelement): the element is compared with
        // IS NOT DISTINCT FROM, so NULL finds a NULL (not strict).
        "array_position" if n == 2 && is_array(&args[0]) => {
            let at = if args[0] == T::Unknown {
                match &args[1] {
                    T::Unknown => T::Array(Box::new(T::Text)),
                    t => T::Array(Box::new(t.clone())),
                }
            } else {
                args[0].clone()
            };
            let elem = match &at {
                T::Array(e) => (**e).clone(),
                _ => T::Text,
            };
            sig(vec![at, elem], T::Int4, false)
        }
        "cardinality" if n == 1 && is_array(&args[0]) => {
            let at = if args[0] == T::Unknown {
                T::Array(Box::new(T::Text))
            } else {
                args[0].clone()
            };
            sig(vec![at], T::Int4, true)
        }
        "current_schemas" if n == 1 => sig(vec![T::Bool], T::Array(Box::new(T::Name)), true),
        "current_schema" if n == 0 => sig(vec![], T::Name, false),
        "to_regclass" if n == 1 => sig(vec![T::Text], T::Regclass, true),
        // The text of an oid alias (casts to text use them), and the oid a
        // computed name stands for (a literal is resolved when bound).
        // regrole's take the session's role name too (see the binder).
        _ if (n == 1 || n == 2) && super::reg::function_type(name).is_some() => {
            let mut sig_args = match super::reg::function_type(name) {
                Some((_, true)) => vec![T::Text],
                _ => vec![T::Oid],
            };
            if n == 2 {
                sig_args.push(T::Text);
            }
            match super::reg::function_type(name) {
                Some((ty, true)) => sig(sig_args, ty, true),
                _ => sig(sig_args, T::Text, true),
            }
        }
        "has_column_privilege" if n == 2 => None,
        "has_table_privilege"
        | "has_schema_privilege"
        | "has_database_privilege"
        | "has_column_privilege"
        | "has_sequence_privilege"
        | "has_function_privilege"
        | "has_any_column_privilege"
        | "has_tablespace_privilege"
        | "has_type_privilege"
        | "pg_has_role"
            if (2..=3).contains(&n) || (name == "has_column_privilege" && n == 4) =>
        {
            sig(
                args.iter()
                    .map(|t| if *t == T::Unknown { T::Text } else { t.clone() })
                    .collect(),
                T::Bool,
                true,
            )
        }
        _ => None,
    }
}

/// Whether the executor must route `name` here (it needs the catalog).
pub fn is_catalog_function(name: &str, nargs: usize) -> bool {
    resolve(name, &vec![DataType::Unknown; nargs]).is_some()
        || matches!(
            name,
            "array_cat"
                // pgstatindex(x) / pgstathashindex(x) are bound by the
                // binder only (in FROM and as `(f(x)).field`).
                | "pgstatindex"
                | "pgstathashindex"
                | "record_field"
                | "record_out"
                | "array_any_eq"
                | "array_subscript"
                | "pg_get_indexdef"
                | "pg_get_constraintdef"
                | "pg_get_expr"
                | "pg_size_pretty"
                | "array_to_string"
                // pg_get_userbyid with the session's role name, which the
                // binder adds (the executor does not know who is connected).
                | "pg_get_userbyid_for"
        )
}

fn oid_arg(v: Option<&Value>) -> Option<u32> {
    match v? {
        Value::Oid(o) => Some(*o),
        Value::Int4(i) => u32::try_from(*i).ok(),
        Value::Int8(i) => u32::try_from(*i).ok(),
        _ => None,
    }
}

/// The oid of a relation named like a regclass literal (`t`, `s.t`,
/// `"MixedCase"`), along the search path; 42P01 if there is none.
fn relation_oid(ctx: &ExecContext, name: &str) -> Result<u32> {
    let parts: Vec<String> = name
        .split('.')
        .map(|p| {
            if p.len() >= 2 && p.starts_with('"') && p.ends_with('"') {
                p[1..p.len() - 1].replace("\"\"", "\"")
            } else {
                p.to_lowercase()
            }
        })
        .collect();
    let cat = ctx.catalog;
    let found = match parts.as_slice() {
        [n] => cat
            .resolve_table(ctx.search_path, n)
            .map(|t| t.oid)
            .or_else(|| cat.resolve_index(ctx.search_path, n).map(|i| i.oid))
            .or_else(|| cat.resolve_sequence(ctx.search_path, n).map(|q| q.oid)),
        [sc, n] => cat
            .table_in(sc, n)
            .map(|t| t.oid)
            .or_else(|| cat.index_in(sc, n).map(|i| i.oid))
            .or_else(|| cat.sequence_in(sc, n).map(|q| q.oid)),
        _ => None,
    };
    found.ok_or_else(|| SqlError::UndefinedTable {
        name: name.to_string(),
        position: None,
    })
}

/// The open index named `name` (a regclass literal), which must be of
/// access method `method`, and its table's storage; otherwise 42809 with
/// `wrong` (`{}`: the name).
fn index_of_method(
    ctx: &ExecContext,
    name: Option<&str>,
    method: &str,
    wrong: &str,
) -> Result<(sargdb_engine::IndexHandle, sargdb_engine::RelFileId)> {
    let name = name.unwrap_or_default();
    // An oid (a non-constant argument arrives as text: `c.oid` as digits).
    let oid = match name.parse::<u32>() {
        Ok(o) => o,
        Err(_) => relation_oid(ctx, name)?,
    };
    let cat = ctx.catalog;
    let (def, table) = match cat.indexes.get(&oid) {
        Some(d) if d.method == method => match cat.tables.get(&d.table) {
            Some(t) => (d, t),
            None => return Err(SqlError::Internal("indexed table vanished".into())),
        },
        _ => {
            let short = name.rsplit('.').next().unwrap_or(name).trim_matches('"');
            return Err(SqlError::WrongObjectType(wrong.replace("{}", short)));
        }
    };
    let kind = sargdb_engine::IndexKind::from_name(&def.method)
        .ok_or_else(|| SqlError::Internal(format!("access method {}", def.method)))?;
    let h = ctx.engine.open_index(
        table.storage,
        def.storage,
        kind,
        crate::executor::index_maint::index_options(def),
    )?;
    Ok((h, table.storage))
}

/// Output columns of `pgstathashindex` (Postgres's pgstattuple extension).
pub const PGSTATHASHINDEX_COLUMNS: [(&str, DataType); 8] = [
    ("version", DataType::Int4),
    ("bucket_pages", DataType::Int8),
    ("overflow_pages", DataType::Int8),
    ("bitmap_pages", DataType::Int8),
    ("unused_pages", DataType::Int8),
    ("live_items", DataType::Int8),
    ("dead_items", DataType::Int8),
    ("free_percent", DataType::Float8),
];

/// Output columns of `pgstatindex` (as `stats_views::pgstatindex_row`).
pub const PGSTATINDEX_COLUMNS: [(&str, DataType); 10] = [
    ("version", DataType::Int4),
    ("tree_level", DataType::Int4),
    ("index_size", DataType::Int8),
    ("root_block_no", DataType::Int8),
    ("internal_pages", DataType::Int8),
    ("leaf_pages", DataType::Int8),
    ("empty_pages", DataType::Int8),
    ("deleted_pages", DataType::Int8),
    ("avg_leaf_density", DataType::Float8),
    ("leaf_fragmentation", DataType::Float8),
];

/// A record-returning function's result: the whole record (as an array of
/// its fields) when no field was asked for, else that field.
fn record_or_field(fields: Vec<Value>, field: Option<&Value>) -> Value {
    match field {
        None => Value::Array(fields),
        Some(Value::Int4(i)) => usize::try_from(*i)
            .ok()
            .and_then(|i| fields.into_iter().nth(i))
            .unwrap_or(Value::Null),
        Some(_) => Value::Null,
    }
}

/// Postgres's `record_out`: `(f1,f2,...)`, a NULL field empty, a field
/// quoted when it is empty or holds `"`, `\\`, `(`, `)`, `,` or white
/// space (with `"` and `\\` doubled inside the quotes).
fn record_text(fields: &[Value], types: &sargdb_catalog::types::TypeContext) -> String {
    let mut out = String::from("(");
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if matches!(f, Value::Null) {
            continue;
        }
        let s = f.to_text(types);
        let quote = s.is_empty()
            || s.chars()
                .any(|c| matches!(c, '"' | '\\' | '(' | ')' | ',') || c.is_ascii_whitespace());
        if !quote {
            out.push_str(&s);
            continue;
        }
        out.push('"');
        for c in s.chars() {
            if c == '"' || c == '\\' {
                out.push(c);
            }
            out.push(c);
        }
        out.push('"');
    }
    out.push(')');
    out
}

fn bool_arg(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true)))
}

fn text_arg(v: Option<&Value>) -> Option<&str> {
    match v? {
        Value::Text(s) => Some(s),
        _ => None,
    }
}

fn text_or_null(s: Option<String>) -> Value {
    s.map(Value::Text).unwrap_or(Value::Null)
}

/// Evaluate a catalog function on coerced arguments.
pub fn call(name: &str, args: &[Value], ctx: &mut ExecContext) -> Result<Value> {
    let cat = ctx.catalog;
    let a0 = args.first();
    Ok(match name {
        "verify_index" => crate::executor::verify::verify_index(a0.unwrap_or(&Value::Null), ctx)?,
        "pg_relation_filenode" => {
            let o = match a0 {
                Some(Value::Text(rel)) => relation_oid(ctx, rel)?,
                other => oid_arg(other).unwrap_or(0),
            };
            if let Some(tb) = cat.tables.get(&o) {
                Value::Oid(tb.storage)
            } else if let Some(ix) = cat.indexes.get(&o) {
                Value::Oid(ix.storage)
            } else {
                Value::Null
            }
        }
        "pg_stat_reset" => {
            ctx.engine.relation_stats().reset_all();
            ctx.engine.reset_buffer_io(None);
            Value::Text(String::new())
        }
        // Postgres's targets; only the WAL's counters are sargdb's to reset
        // (it has no archiver, background writer or recovery prefetcher).
        "pg_stat_reset_shared" => {
            if let Some(Value::Text(t)) = a0 {
                match t.as_str() {
                    "wal" => ctx.engine.reset_wal_stats(),
                    "bgwriter" | "archiver" | "recovery_prefetch" => {}
                    _ => {
                        return Err(SqlError::InvalidParameterValue(format!(
                            "unrecognized reset target: \"{t}\""
                        ))
                        .with_hint(
                            "Target must be \"archiver\", \"bgwriter\", \"recovery_prefetch\", or \"wal\".",
                        ))
                    }
                }
            }
            Value::Text(String::new())
        }
        "pg_stat_statements_reset" => {
            crate::statements::STATEMENTS.reset();
            Value::Text(String::new())
        }
        // Counters are always current: nothing is pending, nothing cached.
        "pg_stat_force_next_flush" | "pg_stat_clear_snapshot" => Value::Text(String::new()),
        "pg_stat_reset_single_table_counters" | "pg_stat_indexes_reset" => {
            let oids: Vec<u32> = match a0 {
                None => cat.indexes.keys().copied().collect(),
                Some(Value::Text(rel)) => vec![relation_oid(ctx, rel)?],
                other => vec![oid_arg(other).unwrap_or(0)],
            };
            for o in oids {
                let storage = if let Some(tb) = cat.tables.get(&o) {
                    tb.storage
                } else if let Some(ix) = cat.indexes.get(&o) {
                    ix.storage
                } else {
                    continue;
                };
                if name == "pg_stat_indexes_reset" && !cat.indexes.contains_key(&o) {
                    continue;
                }
                ctx.engine.relation_stats().get(o).reset();
                ctx.engine.reset_buffer_io(Some(&[storage]));
            }
            Value::Text(String::new())
        }
        "brin_summarize_new_values" => {
            let (h, _) = index_of_method(ctx, text_arg(a0), "brin", "\"{}\" is not a BRIN index")?;
            Value::Int4(h.summarize_new_values()?.min(i32::MAX as u64) as i32)
        }
        // The statistics functions compute their whole result in one pass
        // over the index: with one argument the record (every field, taken
        // apart by `record_field`), with a second the field at that index.
        "pgstathashindex" => {
            let (h, heap) = index_of_method(
                ctx,
                text_arg(a0),
                "hash",
                "relation \"{}\" is not a hash index",
            )?;
            let stats = ctx.engine.index_stats(heap, &h)?;
            let sargdb_engine::KindStats::Hash(hs) = &stats.detail else {
                return Err(SqlError::Internal(
                    "hash index without hash statistics".into(),
                ));
            };
            let n = |v: u64| Value::Int8(v.min(i64::MAX as u64) as i64);
            record_or_field(
                vec![
                    Value::Int4(stats.version as i32),
                    n(hs.bucket_pages),
                    n(hs.overflow_pages),
                    n(hs.bitmap_pages),
                    n(hs.unused_pages),
                    n(hs.live_items),
                    n(hs.dead_items),
                    Value::Float8(hs.free_percent),
                ],
                args.get(1),
            )
        }
        "pgstatindex" => {
            let name = text_arg(a0).unwrap_or_default();
            let oid = regclass_oid(cat, ctx.search_path, name).ok_or_else(|| {
                SqlError::UndefinedTable {
                    name: name.to_string(),
                    position: None,
                }
            })?;
            let Some(ix) = cat.indexes.get(&oid) else {
                let shown = cat.tables.get(&oid).map_or(name, |t| t.name.as_str());
                return Err(SqlError::WrongObjectType(format!(
                    "relation \"{shown}\" is not a btree index"
                )));
            };
            let table = cat
                .tables
                .get(&ix.table)
                .ok_or_else(|| SqlError::Internal("indexed table vanished".into()))?;
            let kind = sargdb_engine::IndexKind::from_name(&ix.method)
                .ok_or_else(|| SqlError::Internal(format!("access method {}", ix.method)))?;
            let h = ctx.engine.open_index(
                table.storage,
                ix.storage,
                kind,
                crate::executor::index_maint::index_options(ix),
            )?;
            let row = super::stats_views::pgstatindex_row(&h.stats()?);
            record_or_field(row, args.get(1))
        }
        "record_out" => match a0 {
            Some(Value::Array(fields)) => Value::Text(record_text(fields, &ctx.call.types)),
            _ => Value::Null,
        },
        "record_field" => match (a0, args.get(1)) {
            (Some(Value::Array(fields)), Some(Value::Int4(i))) => usize::try_from(*i)
                .ok()
                .and_then(|i| fields.get(i))
                .cloned()
                .unwrap_or(Value::Null),
            _ => Value::Null,
        },
        "pg_get_userbyid" | "pg_get_userbyid_for" => {
            let o = oid_arg(a0).unwrap_or(0);
            let user = text_arg(args.get(1))
                .map(str::to_string)
                .unwrap_or_else(|| session_user(ctx));
            Value::Text(super::role_name(
                o,
                &super::SessionInfo {
                    user,
                    ..Default::default()
                },
            ))
        }
        "pg_table_is_visible" => {
            let o = oid_arg(a0).unwrap_or(0);
            Value::Bool(relation_visible(ctx, o))
        }
        "pg_type_is_visible" => Value::Bool(true),
        // Every function lives in pg_catalog, which is always searched.
        "pg_function_is_visible" => match oid_arg(a0).and_then(super::pg_proc::by_oid) {
            Some(_) => Value::Bool(true),
            None => Value::Null,
        },
        "pg_get_function_result"
        | "pg_get_function_arguments"
        | "pg_get_function_identity_arguments" => {
            match oid_arg(a0).and_then(super::pg_proc::by_oid) {
                Some(f) => Value::Text(
                    match name {
                        "pg_get_function_result" => f.result,
                        "pg_get_function_arguments" => f.arguments,
                        _ => f.identity,
                    }
                    .to_string(),
                ),
                None => Value::Null,
            }
        }
        // No function has a SQL-standard body (BEGIN ATOMIC ... END).
        "pg_get_function_sqlbody" => Value::Null,
        "pg_get_indexdef" => {
            let o = oid_arg(a0).unwrap_or(0);
            let Some(ix) = cat.indexes.get(&o) else {
                return Ok(Value::Null);
            };
            let col = match args.get(1) {
                Some(Value::Int4(c)) => *c,
                _ => 0,
            };
            let pretty = bool_arg(args.get(2));
            if col == 0 {
                Value::Text(deparse::index_def(cat, ix, pretty))
            } else {
                Value::Text(deparse::index_column(cat, ix, col as usize, pretty))
            }
        }
        "pg_get_constraintdef" => text_or_null(deparse::constraint_def(
            cat,
            oid_arg(a0).unwrap_or(0),
            bool_arg(args.get(1)),
        )),
        // Stored node trees are already deparsed text.
        "pg_get_expr" => a0.cloned().unwrap_or(Value::Null),
        // The description functions are SQL functions over pg_description
        // in Postgres: NULL for a NULL argument or no such description.
        "obj_description" | "shobj_description" | "col_description" => {
            use super::comments;
            let Some(objoid) = oid_arg(a0) else {
                return Ok(Value::Null);
            };
            let found = match (name, args.get(1)) {
                ("obj_description", None) => comments::description_of_any(cat, objoid),
                ("col_description", Some(Value::Int4(n))) => {
                    comments::description(cat, sargdb_catalog::catalog::PG_CLASS_OID, objoid, *n)
                }
                (_, Some(class)) => text_arg(Some(class))
                    .and_then(comments::class_oid)
                    .filter(|c| comments::is_shared(*c) == (name == "shobj_description"))
                    .and_then(|c| comments::description(cat, c, objoid, 0)),
                _ => None,
            };
            text_or_null(found)
        }
        "pg_get_viewdef" | "pg_get_statisticsobjdef_columns" => Value::Null,
        "pg_relation_is_publishable" => Value::Bool(false),
        "format_type" => match oid_arg(a0) {
            None => Value::Null,
            Some(o) => {
                let typmod = match args.get(1) {
                    Some(Value::Int4(m)) => *m,
                    _ => -1,
                };
                Value::Text(match DataType::from_oid_typmod(o, typmod) {
                    Some(DataType::Char(None)) if typmod < 0 => "character".into(),
                    Some(t) => t.display_name(),
                    None if o == 0 => "-".into(),
                    None => "???".into(),
                })
            }
        },
        "pg_relation_size" | "pg_table_size" | "pg_indexes_size" | "pg_total_relation_size" => {
            let o = match a0 {
                Some(Value::Text(rel)) => relation_oid(ctx, rel)?,
                other => oid_arg(other).unwrap_or(0),
            };
            let fork_main = text_arg(args.get(1)).is_none_or(|f| f == "main");
            let mut pages = 0u64;
            let mut add = |rel| -> Result<()> {
                pages += u64::from(ctx.engine.relation_pages(rel)?);
                Ok(())
            };
            if let Some(tb) = cat.tables.get(&o) {
                if matches!(
                    name,
                    "pg_relation_size" | "pg_table_size" | "pg_total_relation_size"
                ) && fork_main
                {
                    add(tb.storage)?;
                }
                if matches!(name, "pg_indexes_size" | "pg_total_relation_size") {
                    for ix in cat.indexes_of(o) {
                        add(ix.storage)?;
                    }
                }
            } else if let Some(ix) = cat.indexes.get(&o) {
                if name != "pg_indexes_size" && fork_main {
                    add(ix.storage)?;
                }
            } else if cat.sequences.contains_key(&o) {
                pages = if name == "pg_indexes_size" { 0 } else { 1 };
            } else {
                return Ok(Value::Null);
            }
            Value::Int8((pages * 8192) as i64)
        }
        "pg_database_size" => {
            let mut pages = 0u64;
            for tb in cat.tables.values() {
                pages += u64::from(ctx.engine.relation_pages(tb.storage)?);
            }
            for ix in cat.indexes.values() {
                pages += u64::from(ctx.engine.relation_pages(ix.storage)?);
            }
            Value::Int8((pages * 8192) as i64)
        }
        "pg_size_pretty" => match a0 {
            Some(Value::Int8(n)) => Value::Text(size_pretty(*n as i128)),
            Some(Value::Numeric(n)) => {
                let s = Value::Numeric(n.clone()).to_text(&ctx.call.types);
                let whole = s
                    .split('.')
                    .next()
                    .unwrap_or("0")
                    .parse::<i128>()
                    .unwrap_or(0);
                Value::Text(size_pretty(whole))
            }
            _ => Value::Null,
        },
        "pg_encoding_to_char" => Value::Text(match a0 {
            Some(Value::Int4(6)) => "UTF8".into(),
            Some(Value::Int4(0)) => "SQL_ASCII".into(),
            _ => String::new(),
        }),
        "array_to_string" => {
            let Some(Value::Array(items)) = a0 else {
                return Ok(Value::Null);
            };
            let Some(sep) = text_arg(args.get(1)) else {
                return Ok(Value::Null);
            };
            let null_as = text_arg(args.get(2));
            let mut parts = vec![];
            for v in items {
                match v {
                    Value::Null => {
                        if let Some(n) = null_as {
                            parts.push(n.to_string());
                        }
                    }
                    Value::Text(s) => parts.push(s.clone()),
                    other => parts.push(other.to_text(&ctx.call.types)),
                }
            }
            Value::Text(parts.join(sep))
        }
        "array_position" => {
            let Some(Value::Array(items)) = a0 else {
                return Ok(Value::Null);
            };
            let needle = args.get(1).unwrap_or(&Value::Null);
            match items.iter().position(|v| v == needle) {
                Some(i) => Value::Int4(i as i32 + 1),
                None => Value::Null,
            }
        }
        "array_upper" | "array_lower" | "array_length" | "cardinality" => {
            let Some(Value::Array(items)) = a0 else {
                return Ok(Value::Null);
            };
            if name != "cardinality" && !matches!(args.get(1), Some(Value::Int4(1)))
                || items.is_empty()
            {
                return Ok(if name == "cardinality" {
                    Value::Int4(items.len() as i32)
                } else {
                    Value::Null
                });
            }
            Value::Int4(match name {
                "array_lower" => 1,
                _ => items.len() as i32,
            })
        }
        "current_schemas" => {
            let mut v = vec![];
            if bool_arg(a0) {
                v.push(Value::Text("pg_catalog".into()));
            }
            for s in ctx.search_path {
                if cat.schema(s).is_some() && !v.contains(&Value::Text(s.clone())) {
                    v.push(Value::Text(s.clone()));
                }
            }
            Value::Array(v)
        }
        "current_schema" => text_or_null(
            ctx.search_path
                .iter()
                .find(|s| cat.schema(s).is_some())
                .cloned(),
        ),
        n if super::reg::function_type(n).is_some() => {
            let Some((ty, is_input)) = super::reg::function_type(n) else {
                return Ok(Value::Null);
            };
            let user = text_arg(args.get(1))
                .map(str::to_string)
                .unwrap_or_else(|| session_user(ctx));
            let rctx = super::reg::RegContext {
                catalog: cat,
                search_path: ctx.search_path,
                user: &user,
            };
            if is_input {
                match text_arg(a0) {
                    Some(s) => Value::Oid(super::reg::input(&ty, s, &rctx)?),
                    None => Value::Null,
                }
            } else {
                match oid_arg(a0) {
                    Some(o) => Value::Text(super::reg::output(&ty, o, &rctx)),
                    None => Value::Null,
                }
            }
        }
        "to_regclass" => {
            let s = text_arg(a0).unwrap_or_default();
            match regclass_oid(cat, ctx.search_path, s) {
                Some(o) => Value::Oid(o),
                None => Value::Null,
            }
        }
        "array_cat" => match (a0, args.get(1)) {
            (Some(Value::Array(a)), Some(Value::Array(b))) => {
                Value::Array(a.iter().chain(b.iter()).cloned().collect())
            }
            (Some(Value::Array(a)), _) => Value::Array(a.clone()),
            (_, Some(Value::Array(b))) => Value::Array(b.clone()),
            _ => Value::Null,
        },
        "array_subscript" => match (a0, args.get(1)) {
            (Some(Value::Array(items)), Some(Value::Int4(i))) if *i >= 1 => {
                items.get(*i as usize - 1).cloned().unwrap_or(Value::Null)
            }
            _ => Value::Null,
        },
        "array_any_eq" => {
            // x = ANY(array) with SQL's three-valued result.
            let (Some(x), Some(arr)) = (a0, args.get(1)) else {
                return Ok(Value::Null);
            };
            let Value::Array(items) = arr else {
                return Ok(Value::Null);
            };
            if x.is_null() {
                return Ok(if items.is_empty() {
                    Value::Bool(false)
                } else {
                    Value::Null
                });
            }
            let mut saw_null = false;
            for v in items {
                if v.is_null() {
                    saw_null = true;
                } else if sargdb_catalog::types::compare(x, v) == std::cmp::Ordering::Equal {
                    return Ok(Value::Bool(true));
                }
            }
            if saw_null {
                Value::Null
            } else {
                Value::Bool(false)
            }
        }
        n if n.starts_with("has_") || n == "pg_has_role" => Value::Bool(true),
        other => return Err(SqlError::FeatureNotSupported(format!("function {other}"))),
    })
}

fn session_user(ctx: &ExecContext) -> String {
    let _ = ctx;
    super::SessionInfo::default().user
}

/// Postgres's pg_size_pretty: bytes, kB, MB, GB, TB with half-up rounding,
/// switching unit at 10240 of the smaller one.
pub fn size_pretty(mut size: i128) -> String {
    let limit: i128 = 10 * 1024;
    let limit2 = limit * 2 - 1;
    if size.abs() < limit {
        return format!("{size} bytes");
    }
    size >>= 9; // 1/2 kB
    for unit in ["kB", "MB", "GB", "TB"] {
        if size.abs() < limit2 || unit == "TB" {
            let v = (size + if size < 0 { 0 } else { 1 }) / 2;
            return format!("{v} {unit}");
        }
        size >>= 10;
    }
    format!("{size} PB")
}

/// Whether a relation is the one its unqualified name finds on the search
/// path (what `pg_table_is_visible` answers).
fn relation_visible(ctx: &ExecContext, oid: u32) -> bool {
    let cat = ctx.catalog;
    let (schema, name) = if let Some(t) = cat.tables.get(&oid) {
        (t.schema.clone(), t.name.clone())
    } else if let Some(i) = cat.indexes.get(&oid) {
        (i.schema.clone(), i.name.clone())
    } else if let Some(s) = cat.sequences.get(&oid) {
        (s.schema.clone(), s.name.clone())
    } else {
        return oid < 16384;
    };
    let mut path: Vec<&str> = vec!["pg_catalog"];
    path.extend(ctx.search_path.iter().map(String::as_str));
    for s in path {
        if s == schema {
            return true;
        }
        if cat.relation_exists(s, &name) {
            return false;
        }
    }
    false
}

/// How a regclass value prints (Postgres's `regclassout`): the relation's
/// name, schema-qualified unless the search path finds it by its bare
/// name; the number when no relation has that oid.
pub fn regclass_name(cat: &sargdb_catalog::Catalog, search_path: &[String], oid: u32) -> String {
    use crate::functions::string::quote_ident;
    if let Some(name) = super::pg_catalog::relation_with_oid(oid) {
        return name.to_string();
    }
    let found = cat
        .tables
        .get(&oid)
        .map(|t| (&t.schema, &t.name))
        .or_else(|| cat.indexes.get(&oid).map(|i| (&i.schema, &i.name)))
        .or_else(|| cat.sequences.get(&oid).map(|q| (&q.schema, &q.name)));
    match found {
        None => oid.to_string(),
        Some((schema, name)) => {
            let bare = quote_ident(name);
            if regclass_oid(cat, search_path, &bare) == Some(oid) {
                bare
            } else {
                format!("{}.{bare}", quote_ident(schema))
            }
        }
    }
}

/// How a regtype value prints (`regtypeout`): the type's name as
/// `format_type` gives it, the number for an unknown oid.
pub fn regtype_name(oid: u32) -> String {
    DataType::from_oid(oid).map_or_else(|| oid.to_string(), |t| t.regtype_name())
}

/// Oid of a relation named by `[schema.]name` text (what `'t'::regclass` reads).
pub fn regclass_oid(cat: &sargdb_catalog::Catalog, search_path: &[String], s: &str) -> Option<u32> {
    if let Ok(n) = s.parse::<u32>() {
        return Some(n);
    }
    let parts: Vec<String> = s
        .split('.')
        .map(|p| {
            if p.starts_with('"') && p.ends_with('"') && p.len() >= 2 {
                p[1..p.len() - 1].to_string()
            } else {
                p.to_lowercase()
            }
        })
        .collect();
    let find = |schema: &str, name: &str| -> Option<u32> {
        cat.table_in(schema, name)
            .map(|t| t.oid)
            .or_else(|| cat.index_in(schema, name).map(|i| i.oid))
            .or_else(|| cat.sequence_in(schema, name).map(|q| q.oid))
    };
    match parts.as_slice() {
        [n] => {
            let mut path = vec!["pg_catalog".to_string()];
            path.extend(search_path.iter().cloned());
            path.iter().find_map(|s| find(s, n))
        }
        [s, n] => find(s, n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_like_postgres() {
        assert_eq!(size_pretty(8192), "8192 bytes");
        assert_eq!(size_pretty(16384), "16 kB");
        assert_eq!(size_pretty(10 * 1024 * 1024), "10 MB");
        assert_eq!(size_pretty(0), "0 bytes");
    }
}
