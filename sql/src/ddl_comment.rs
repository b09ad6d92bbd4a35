//! COMMENT ON: finds the object as Postgres does (same errors), and sets or
//! removes its comment in the transaction's catalog (`Catalog::comments`),
//! which is logged like any other catalog change: durable at commit, undone
//! by ROLLBACK. Comments are read back by `system::comments`.
//!
//! Objects: tables, columns, indexes, sequences, views (sargdb has none, so
//! only the errors), schemas, table constraints, databases and roles.
//! Functions, types and the other kinds Postgres can comment on are 0A000.

use sargdb_catalog::catalog::{
    PG_AUTHID_OID, PG_CLASS_OID, PG_CONSTRAINT_OID, PG_DATABASE_OID, PG_NAMESPACE_OID,
};
use sargdb_catalog::Catalog;

use crate::binder::{ident_name, object_parts};
use crate::error::{Result, SqlError};
use crate::parser::{ast, CommentTarget};
use crate::session::{Session, StatementResult};

/// What kind of relation a name found.
#[derive(Clone, Copy, PartialEq)]
enum RelKind {
    Table,
    Index,
    Sequence,
}

/// The key a comment is stored under.
struct Key {
    classoid: u32,
    objoid: u32,
    objsubid: i32,
}

pub(crate) fn comment_on(
    s: &mut Session,
    kind: &ast::CommentObject,
    name: &ast::ObjectName,
    comment: Option<&str>,
    if_exists: bool,
) -> Result<StatementResult> {
    if if_exists {
        // Snowflake's `COMMENT IF EXISTS`, which sqlparser takes.
        return Err(SqlError::SyntaxNoPosition(
            "syntax error at or near \"IF\"".into(),
        ));
    }
    let sp = s.search_path();
    let session = s.system_session("");
    let key = {
        let cat = s.current_catalog();
        match crate::parser::comment_target(kind, name) {
            CommentTarget::Constraint(c, table) => {
                let (oid, _, table_name) = relation(&cat, &sp, &table)?;
                let c = ident_name(&c);
                let t = cat
                    .tables
                    .get(&oid)
                    .filter(|_| relation_kind(&cat, oid) == Some(RelKind::Table));
                let Some(found) =
                    t.and_then(|t| t.constraints.iter().find(|k| k.name == c).map(|k| k.oid))
                else {
                    return Err(SqlError::UndefinedObject(format!(
                        "constraint \"{c}\" for table \"{table_name}\" does not exist"
                    )));
                };
                Key {
                    classoid: PG_CONSTRAINT_OID,
                    objoid: found,
                    objsubid: 0,
                }
            }
            CommentTarget::Object(kind, name) => {
                match object_key(s, &cat, &sp, &session, &kind, &name)? {
                    Some(k) => k,
                    None => return cmd(),
                }
            }
        }
    };
    let st = s.ddl_catalog()?;
    let cat = st
        .catalog
        .as_mut()
        .ok_or_else(|| SqlError::Internal("catalog".into()))?;
    let has_builtin =
        crate::system::comments::has_builtin(cat, key.classoid, key.objoid, key.objsubid);
    cat.set_comment(
        key.classoid,
        key.objoid,
        key.objsubid,
        comment.map(str::to_string),
        has_builtin,
    );
    s.log_catalog()?;
    cmd()
}

fn cmd() -> Result<StatementResult> {
    Ok(StatementResult::Command {
        tag: "COMMENT".into(),
    })
}

/// The key of a table, column, index, sequence, view, schema, database or
/// role comment; None when Postgres only warns (an unknown database).
fn object_key(
    s: &mut Session,
    cat: &Catalog,
    sp: &[String],
    session: &crate::system::SessionInfo,
    kind: &ast::CommentObject,
    name: &ast::ObjectName,
) -> Result<Option<Key>> {
    use ast::CommentObject as K;
    let rel_key = |objoid: u32| Key {
        classoid: PG_CLASS_OID,
        objoid,
        objsubid: 0,
    };
    Ok(Some(match kind {
        K::Table | K::Index | K::Sequence | K::View => {
            let (oid, kind_found, n) = relation(cat, sp, name)?;
            let want = match kind {
                K::Table => Some(RelKind::Table),
                K::Index => Some(RelKind::Index),
                K::Sequence => Some(RelKind::Sequence),
                _ => None,
            };
            if want != Some(kind_found) {
                let what = match kind {
                    K::Table => "a table",
                    K::Index => "an index",
                    K::Sequence => "a sequence",
                    _ => "a view",
                };
                return Err(SqlError::WrongObjectType(format!("\"{n}\" is not {what}")));
            }
            rel_key(oid)
        }
        K::Column => {
            let parts = object_parts(name)?;
            let Some((col, rel)) = parts.split_last() else {
                return Err(SqlError::Internal("empty name".into()));
            };
            if rel.is_empty() {
                return Err(SqlError::SyntaxNoPosition(
                    "column name must be qualified".into(),
                ));
            }
            let rel_name = ast::ObjectName::from(
                name.0[..name.0.len() - 1]
                    .iter()
                    .filter_map(|p| p.as_ident().cloned())
                    .collect::<Vec<_>>(),
            );
            let (oid, found, n) = relation(cat, sp, &rel_name)?;
            if found != RelKind::Table {
                return Err(SqlError::WrongObjectType(format!(
                    "cannot set comment on relation \"{n}\""
                )));
            }
            let pos = cat
                .tables
                .get(&oid)
                .and_then(|t| t.column_index(col))
                .ok_or_else(|| SqlError::UndefinedColumnMsg {
                    message: format!("column \"{col}\" of relation \"{n}\" does not exist"),
                    position: None,
                })?;
            Key {
                classoid: PG_CLASS_OID,
                objoid: oid,
                objsubid: pos as i32 + 1,
            }
        }
        K::Schema => {
            let n = single_name(name)?;
            let oid = crate::system::schemas(cat)
                .into_iter()
                .find(|sc| sc.1 == n)
                .map(|sc| sc.0)
                .ok_or(SqlError::UndefinedSchema(n))?;
            Key {
                classoid: PG_NAMESPACE_OID,
                objoid: oid,
                objsubid: 0,
            }
        }
        K::Database => {
            let n = single_name(name)?;
            let Some(oid) = crate::system::databases(session)
                .into_iter()
                .find(|d| d.1 == n)
                .map(|d| d.0)
            else {
                s.warn("3D000", &format!("database \"{n}\" does not exist"));
                return Ok(None);
            };
            Key {
                classoid: PG_DATABASE_OID,
                objoid: oid,
                objsubid: 0,
            }
        }
        K::Role | K::User => {
            let n = single_name(name)?;
            let oid = crate::system::role_oid(&n, session)
                .ok_or_else(|| SqlError::UndefinedObject(format!("role \"{n}\" does not exist")))?;
            Key {
                classoid: PG_AUTHID_OID,
                objoid: oid,
                objsubid: 0,
            }
        }
        other => return Err(SqlError::FeatureNotSupported(format!("COMMENT ON {other}"))),
    }))
}

/// A schema, database or role name (one part).
fn single_name(name: &ast::ObjectName) -> Result<String> {
    let parts = object_parts(name)?;
    match parts.as_slice() {
        [n] => Ok(n.clone()),
        _ => Err(SqlError::SyntaxNoPosition(format!(
            "improper qualified name (too many dotted names): {}",
            parts.join(".")
        ))),
    }
}

fn relation_kind(cat: &Catalog, oid: u32) -> Option<RelKind> {
    if cat.tables.contains_key(&oid) {
        Some(RelKind::Table)
    } else if cat.indexes.contains_key(&oid) {
        Some(RelKind::Index)
    } else if cat.sequences.contains_key(&oid) {
        Some(RelKind::Sequence)
    } else {
        None
    }
}

/// A relation named `[[db.]schema.]name` as Postgres's RangeVarGetRelid
/// finds it: (oid, kind, name as the errors print it).
fn relation(
    cat: &Catalog,
    sp: &[String],
    name: &ast::ObjectName,
) -> Result<(u32, RelKind, String)> {
    let parts = object_parts(name)?;
    let (schema, n) = match parts.as_slice() {
        [n] => (None, n.clone()),
        [s, n] => (Some(s.clone()), n.clone()),
        [_, s, n] => (Some(s.clone()), n.clone()),
        _ => {
            return Err(SqlError::SyntaxNoPosition(format!(
                "improper relation name (too many dotted names): {}",
                parts.join(".")
            )))
        }
    };
    if parts.len() == 3 {
        // Postgres refuses another database's name.
        return Err(SqlError::FeatureNotSupported(format!(
            "cross-database references are not implemented: \"{}\"",
            parts.join(".")
        )));
    }
    let find = |schema: &str| -> Option<u32> {
        cat.table_in(schema, &n)
            .map(|t| t.oid)
            .or_else(|| cat.index_in(schema, &n).map(|i| i.oid))
            .or_else(|| cat.sequence_in(schema, &n).map(|q| q.oid))
    };
    let found = match &schema {
        Some(sc) => {
            if crate::system::schema_oid(cat, sc) == 0 {
                return Err(SqlError::UndefinedSchema(sc.clone()));
            }
            find(sc)
        }
        None => std::iter::once("pg_catalog")
            .chain(sp.iter().map(String::as_str))
            .find_map(find),
    };
    let shown = parts[parts.len().saturating_sub(2)..].join(".");
    let Some(oid) = found else {
        if schema.as_deref().is_none_or(|s| s == "pg_catalog")
            && crate::system::system_relation_oid(&n).is_some()
        {
            return Err(SqlError::FeatureNotSupported(
                "comments on system catalogs".into(),
            ));
        }
        return Err(SqlError::UndefinedTable {
            name: shown,
            position: None,
        });
    };
    let kind = relation_kind(cat, oid).ok_or_else(|| SqlError::Internal("relation".into()))?;
    Ok((oid, kind, n))
}
