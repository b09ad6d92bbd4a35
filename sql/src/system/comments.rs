//! Object descriptions: what `pg_description` and `pg_shdescription` hold
//! and `obj_description`, `col_description` and `shobj_description` read.
//!
//! A description is either one an object comes with (Postgres's own for
//! the schemas, databases, access methods, languages and built-in functions
//! sargdb has) or one COMMENT ON stored in the catalog
//! (`Catalog::comments`, keyed by oid so it follows renames and goes with
//! the object). A stored comment wins over a built-in one; a stored empty
//! one hides it. This module only reads; `ddl_comment` writes.

use sargdb_catalog::catalog::{
    PG_AUTHID_OID, PG_CATALOG_OID, PG_DATABASE_OID, PG_NAMESPACE_OID, PUBLIC_OID,
};
use sargdb_catalog::{Catalog, Value};

use super::{
    i4, o, t, SessionInfo, BRIN_AM_OID, BTREE_AM_OID, DATABASE_OID, HASH_AM_OID, HEAP_AM_OID,
    PG_TOAST_OID,
};

/// `pg_proc`, `pg_am` and `pg_language` oids (classoids of built-in
/// descriptions).
pub const PG_PROC_OID: u32 = 1255;
pub const PG_AM_OID: u32 = 2601;
pub const PG_LANGUAGE_OID: u32 = 2612;

/// Whether comments of this class live in `pg_shdescription`.
pub fn is_shared(classoid: u32) -> bool {
    matches!(classoid, PG_DATABASE_OID | PG_AUTHID_OID)
}

/// The description an object comes with (Postgres 15's text), if any.
fn builtin(cat: &Catalog, classoid: u32, objoid: u32) -> Option<&'static str> {
    Some(match (classoid, objoid) {
        (PG_NAMESPACE_OID, PG_CATALOG_OID) => "system catalog schema",
        (PG_NAMESPACE_OID, PG_TOAST_OID) => "reserved schema for TOAST tables",
        // Only the public schema the database came with (a recreated one
        // has another oid).
        (PG_NAMESPACE_OID, PUBLIC_OID) if cat.schemas.iter().any(|s| s.oid == PUBLIC_OID) => {
            "standard public schema"
        }
        (PG_DATABASE_OID, 1) => "default template for new databases",
        (PG_DATABASE_OID, 4) => "unmodifiable empty database",
        (PG_DATABASE_OID, DATABASE_OID) => "default administrative connection database",
        (PG_AM_OID, HEAP_AM_OID) => "heap table access method",
        (PG_AM_OID, BTREE_AM_OID) => "b-tree index access method",
        (PG_AM_OID, HASH_AM_OID) => "hash index access method",
        (PG_AM_OID, 783) => "GiST index access method",
        (PG_AM_OID, 2742) => "GIN index access method",
        (PG_AM_OID, BRIN_AM_OID) => "block range index (BRIN) access method",
        (PG_AM_OID, 4000) => "SP-GiST index access method",
        (PG_LANGUAGE_OID, 12) => "built-in functions",
        (PG_LANGUAGE_OID, 13) => "dynamically-loaded C functions",
        (PG_LANGUAGE_OID, 14) => "SQL-language functions",
        (PG_PROC_OID, f) => super::pg_proc::description(f)?,
        _ => return None,
    })
}

/// Every built-in description as (classoid, objoid, text).
fn builtins(cat: &Catalog) -> Vec<(u32, u32, &'static str)> {
    let mut keys: Vec<(u32, u32)> = vec![
        (PG_NAMESPACE_OID, PG_CATALOG_OID),
        (PG_NAMESPACE_OID, PG_TOAST_OID),
        (PG_NAMESPACE_OID, PUBLIC_OID),
        (PG_DATABASE_OID, 1),
        (PG_DATABASE_OID, 4),
        (PG_DATABASE_OID, DATABASE_OID),
        (PG_LANGUAGE_OID, 12),
        (PG_LANGUAGE_OID, 13),
        (PG_LANGUAGE_OID, 14),
    ];
    for am in [
        HEAP_AM_OID,
        BTREE_AM_OID,
        HASH_AM_OID,
        783,
        2742,
        BRIN_AM_OID,
        4000,
    ] {
        keys.push((PG_AM_OID, am));
    }
    keys.extend(super::pg_proc::oids().map(|f| (PG_PROC_OID, f)));
    keys.into_iter()
        .filter_map(|(c, o)| builtin(cat, c, o).map(|d| (c, o, d)))
        .collect()
}

/// An object's description (`col_description` with `objsubid` > 0).
pub fn description(cat: &Catalog, classoid: u32, objoid: u32, objsubid: i32) -> Option<String> {
    match cat.comment(classoid, objoid, objsubid) {
        Some("") => None,
        Some(d) => Some(d.to_string()),
        None if objsubid == 0 => builtin(cat, classoid, objoid).map(str::to_string),
        None => None,
    }
}

/// Whether an object comes with a description (removing its comment
/// then has to hide that one).
pub fn has_builtin(cat: &Catalog, classoid: u32, objoid: u32, objsubid: i32) -> bool {
    objsubid == 0 && builtin(cat, classoid, objoid).is_some()
}

/// `obj_description(oid)` (deprecated in Postgres): the description of
/// whatever non-shared object has that oid.
pub fn description_of_any(cat: &Catalog, objoid: u32) -> Option<String> {
    let stored = cat
        .comments
        .iter()
        .filter(|c| c.objoid == objoid && c.objsubid == 0 && !is_shared(c.classoid))
        .map(|c| c.classoid);
    let built = builtins(cat)
        .into_iter()
        .filter(|b| b.1 == objoid && !is_shared(b.0))
        .map(|b| b.0);
    stored
        .chain(built)
        .find_map(|c| description(cat, c, objoid, 0))
}

/// The classoid a catalog name stands for (`obj_description`'s second
/// argument).
pub fn class_oid(name: &str) -> Option<u32> {
    super::system_relation_oid(name)
}

/// `pg_description` rows: objoid, classoid, objsubid, description.
pub fn pg_description_rows(cat: &Catalog) -> Vec<Vec<Value>> {
    rows(cat, false)
        .into_iter()
        .map(|(c, obj, sub, d)| vec![o(obj), o(c), i4(sub), t(d)])
        .collect()
}

/// `pg_shdescription` rows: objoid, classoid, description (databases
/// pg_database shows to this session, and roles).
pub fn pg_shdescription_rows(cat: &Catalog, session: &SessionInfo) -> Vec<Vec<Value>> {
    let dbs: Vec<u32> = super::databases(session).iter().map(|d| d.0).collect();
    rows(cat, true)
        .into_iter()
        .filter(|(c, obj, _, _)| *c != PG_DATABASE_OID || dbs.contains(obj))
        .map(|(c, obj, _, d)| vec![o(obj), o(c), t(d)])
        .collect()
}

fn rows(cat: &Catalog, shared: bool) -> Vec<(u32, u32, i32, String)> {
    let mut out: Vec<(u32, u32, i32, String)> = cat
        .comments
        .iter()
        .filter(|c| is_shared(c.classoid) == shared && !c.description.is_empty())
        .map(|c| (c.classoid, c.objoid, c.objsubid, c.description.clone()))
        .collect();
    for (c, obj, d) in builtins(cat) {
        if is_shared(c) == shared && cat.comment(c, obj, 0).is_none() {
            out.push((c, obj, 0, d.to_string()));
        }
    }
    out.sort_by_key(|a| (a.0, a.1, a.2));
    out
}
