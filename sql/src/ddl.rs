//! DDL: CREATE/DROP/ALTER TABLE, TRUNCATE, CREATE/DROP SCHEMA, CREATE/DROP
//! SEQUENCE. Each statement edits the transaction's private catalog (under
//! the DDL lock) and logs it with the transaction; storage is created and
//! dropped through the engine's on-commit/on-abort hooks.

use sargdb_catalog::{
    Catalog, ColumnDef, ConstraintDef, ConstraintKind, DataType, IdentityKind, SequenceDef,
    TableDef,
};

use crate::binder::{convert_type, ident_name, object_parts, serial_type};
use crate::error::{Result, SqlError};
use crate::parser::{ast, SqlStatement};
use crate::session::{Session, StatementResult};

fn cmd(tag: &str) -> Result<StatementResult> {
    Ok(StatementResult::Command {
        tag: tag.to_string(),
    })
}

/// Split `[schema.]name` and pick the schema (creation schema if unqualified).
pub(crate) fn target(
    cat: &Catalog,
    sp: &[String],
    name: &ast::ObjectName,
) -> Result<(String, String)> {
    let parts = object_parts(name)?;
    match parts.as_slice() {
        [n] => {
            let s = cat.creation_schema(sp).ok_or_else(|| {
                SqlError::UndefinedSchema("no schema has been selected to create in".into())
            })?;
            Ok((s, n.clone()))
        }
        [s, n] | [_, s, n] => {
            if cat.schema(s).is_none() {
                return Err(SqlError::UndefinedSchema(s.clone()));
            }
            Ok((s.clone(), n.clone()))
        }
        _ => Err(SqlError::SyntaxNoPosition(format!(
            "improper qualified name (too many dotted names): {name}"
        ))),
    }
}

fn find_table(cat: &Catalog, sp: &[String], name: &ast::ObjectName) -> Result<Option<u32>> {
    let parts = object_parts(name)?;
    Ok(match parts.as_slice() {
        [n] => cat.resolve_table(sp, n).map(|t| t.oid),
        [s, n] | [_, s, n] => cat.table_in(s, n).map(|t| t.oid),
        _ => None,
    })
}

fn seq_options(opts: &[ast::SequenceOptions], ty: &DataType, seq: &mut SequenceDef) -> Result<()> {
    let num = |e: &ast::Expr| -> Result<i64> {
        let s = e.to_string().replace(' ', "");
        s.parse::<i64>()
            .map_err(|_| SqlError::SyntaxNoPosition(format!("invalid sequence option value {s}")))
    };
    let (tmin, tmax) = match ty {
        DataType::Int2 => (i16::MIN as i64, i16::MAX as i64),
        DataType::Int4 => (i32::MIN as i64, i32::MAX as i64),
        _ => (i64::MIN, i64::MAX),
    };
    let mut min = None;
    let mut max = None;
    let mut start = None;
    for o in opts {
        match o {
            ast::SequenceOptions::IncrementBy(e, _) => seq.increment = num(e)?,
            ast::SequenceOptions::MinValue(Some(e)) => min = Some(num(e)?),
            ast::SequenceOptions::MaxValue(Some(e)) => max = Some(num(e)?),
            ast::SequenceOptions::StartWith(e, _) => start = Some(num(e)?),
            ast::SequenceOptions::Cycle(c) => seq.cycle = !*c,
            _ => {}
        }
    }
    if seq.increment == 0 {
        return Err(SqlError::InvalidParameterValue(
            "INCREMENT must not be zero".into(),
        ));
    }
    seq.min = min.unwrap_or(if seq.increment > 0 { 1 } else { tmin });
    seq.max = max.unwrap_or(if seq.increment > 0 { tmax } else { -1 });
    seq.start = start.unwrap_or(if seq.increment > 0 { seq.min } else { seq.max });
    if seq.start < seq.min || seq.start > seq.max {
        return Err(SqlError::InvalidParameterValue(format!(
            "START value ({}) cannot be {} than MINVALUE ({})",
            seq.start,
            if seq.start < seq.min {
                "less"
            } else {
                "greater"
            },
            seq.min
        )));
    }
    Ok(())
}

pub fn execute_ddl(s: &mut Session, stmt: &SqlStatement) -> Result<StatementResult> {
    match stmt {
        SqlStatement::CreateTable(ct) => create_table(s, ct),
        SqlStatement::Drop {
            object_type,
            if_exists,
            names,
            cascade,
            ..
        } => drop(s, *object_type, *if_exists, names, *cascade),
        SqlStatement::Truncate(t) => {
            let names: Vec<&ast::ObjectName> = t.table_names.iter().map(|tt| &tt.name).collect();
            crate::ddl_index::lock_tables_exclusive(s, &names)?;
            let sp = s.search_path();
            let st = s.ddl_catalog()?;
            let cat = st
                .catalog
                .as_mut()
                .ok_or_else(|| SqlError::Internal("catalog".into()))?;
            for tt in &t.table_names {
                let Some(oid) = find_table(cat, &sp, &tt.name)? else {
                    return Err(SqlError::UndefinedTable {
                        name: object_parts(&tt.name)?.join("."),
                        position: None,
                    });
                };
                let new_id = cat.alloc_oid();
                if let Some(tab) = cat.tables.get_mut(&oid) {
                    st.txn.drop_relation_on_commit(tab.storage);
                    st.txn.drop_relation_on_abort(new_id);
                    tab.storage = new_id;
                }
                crate::ddl_index::truncate_indexes(cat, &mut st.txn, oid);
            }
            s.log_catalog()?;
            cmd("TRUNCATE TABLE")
        }
        SqlStatement::CreateSchema {
            schema_name,
            if_not_exists,
            ..
        } => {
            let name = match schema_name {
                ast::SchemaName::Simple(n) | ast::SchemaName::NamedAuthorization(n, _) => {
                    object_parts(n)?.join(".")
                }
                ast::SchemaName::UnnamedAuthorization(i) => ident_name(i),
            };
            let st = s.ddl_catalog()?;
            let cat = st
                .catalog
                .as_mut()
                .ok_or_else(|| SqlError::Internal("catalog".into()))?;
            if cat.schema(&name).is_some() {
                if *if_not_exists {
                    s.notice(format!("schema \"{name}\" already exists, skipping"));
                    return cmd("CREATE SCHEMA");
                }
                return Err(SqlError::DuplicateSchema(name));
            }
            let oid = cat.alloc_oid();
            cat.schemas.push(sargdb_catalog::SchemaDef { oid, name });
            s.log_catalog()?;
            cmd("CREATE SCHEMA")
        }
        SqlStatement::CreateSequence {
            if_not_exists,
            name,
            data_type,
            sequence_options,
            ..
        } => {
            let sp = s.search_path();
            let ty = match data_type {
                Some(t) => convert_type(t)?,
                None => DataType::Int8,
            };
            let st = s.ddl_catalog()?;
            let cat = st
                .catalog
                .as_mut()
                .ok_or_else(|| SqlError::Internal("catalog".into()))?;
            let (schema, n) = target(cat, &sp, name)?;
            if cat.relation_exists(&schema, &n) {
                if *if_not_exists {
                    s.notice(format!("relation \"{n}\" already exists, skipping"));
                    return cmd("CREATE SEQUENCE");
                }
                return Err(SqlError::DuplicateTable(n));
            }
            let oid = cat.alloc_oid();
            let mut seq = SequenceDef {
                oid,
                schema,
                name: n,
                data_type: ty.clone(),
                start: 1,
                increment: 1,
                min: 1,
                max: i64::MAX,
                cycle: false,
                owned_by: None,
            };
            seq_options(sequence_options, &ty, &mut seq)?;
            cat.sequences.insert(oid, seq);
            s.log_catalog()?;
            cmd("CREATE SEQUENCE")
        }
        SqlStatement::AlterTable(at) => alter_table(s, at),
        SqlStatement::Comment {
            object_type,
            object_name,
            comment,
            if_exists,
        } => crate::ddl_comment::comment_on(
            s,
            object_type,
            object_name,
            comment.as_deref(),
            *if_exists,
        ),
        other => Err(SqlError::FeatureNotSupported(format!(
            "statement {}",
            first_words(&other.to_string())
        ))),
    }
}

fn first_words(s: &str) -> String {
    s.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

fn column_def(
    cat: &mut Catalog,
    schema: &str,
    table: &str,
    table_oid: u32,
    pos: usize,
    cd: &ast::ColumnDef,
    cons: &mut Vec<ConstraintDef>,
) -> Result<(ColumnDef, Option<SequenceDef>)> {
    let name = ident_name(&cd.name);
    let serial = serial_type(&cd.data_type);
    let ty = match &serial {
        Some(t) => t.clone(),
        None => convert_type(&cd.data_type)?,
    };
    let mut col = ColumnDef::new(name.clone(), ty.clone());
    let mut seq = None;
    let make_seq = |cat: &mut Catalog, opts: &[ast::SequenceOptions]| -> Result<SequenceDef> {
        let sname = cat.choose_name(schema, table, &name, "seq");
        let oid = cat.alloc_oid();
        let mut s = SequenceDef {
            oid,
            schema: schema.to_string(),
            name: sname,
            data_type: ty.clone(),
            start: 1,
            increment: 1,
            min: 1,
            max: i64::MAX,
            cycle: false,
            owned_by: Some((table_oid, pos)),
        };
        seq_options(opts, &ty, &mut s)?;
        Ok(s)
    };
    if serial.is_some() {
        let s = make_seq(cat, &[])?;
        col.default = Some(format!("nextval('{}'::regclass)", s.name));
        col.not_null = true;
        seq = Some(s);
    }
    for o in &cd.options {
        let cname = o.name.as_ref().map(ident_name);
        match &o.option {
            ast::ColumnOption::NotNull => col.not_null = true,
            ast::ColumnOption::Null => {}
            ast::ColumnOption::Default(e) => col.default = Some(e.to_string()),
            ast::ColumnOption::PrimaryKey(_) => {
                col.not_null = true;
                let n = cname.unwrap_or_else(|| cat.choose_name(schema, table, "", "pkey"));
                if cons
                    .iter()
                    .any(|c| matches!(c.kind, ConstraintKind::PrimaryKey(_)))
                {
                    return Err(SqlError::InvalidTableDefinition(format!(
                        "multiple primary keys for table \"{table}\" are not allowed"
                    )));
                }
                cons.push(ConstraintDef {
                    oid: cat.alloc_oid(),
                    name: n,
                    kind: ConstraintKind::PrimaryKey(vec![pos]),
                    include: vec![],
                });
            }
            ast::ColumnOption::Unique(_) => {
                let n =
                    cname.unwrap_or_else(|| unique_name(cat, schema, table, &name, "key", cons));
                cons.push(ConstraintDef {
                    oid: cat.alloc_oid(),
                    name: n,
                    kind: ConstraintKind::Unique(vec![pos]),
                    include: vec![],
                });
            }
            ast::ColumnOption::Check(c) => {
                let n = cname
                    .or(c.name.as_ref().map(ident_name))
                    .unwrap_or_else(|| unique_name(cat, schema, table, &name, "check", cons));
                cons.push(ConstraintDef {
                    oid: cat.alloc_oid(),
                    name: n,
                    kind: ConstraintKind::Check(c.expr.to_string()),
                    include: vec![],
                });
            }
            ast::ColumnOption::Generated {
                generated_as,
                sequence_options,
                generation_expr: None,
                ..
            } => {
                let kind = match generated_as {
                    ast::GeneratedAs::Always => IdentityKind::Always,
                    _ => IdentityKind::ByDefault,
                };
                if !matches!(ty, DataType::Int2 | DataType::Int4 | DataType::Int8) {
                    return Err(SqlError::InvalidParameterValue(
                        "identity column type must be smallint, integer, or bigint".to_string(),
                    ));
                }
                let s = make_seq(cat, sequence_options.as_deref().unwrap_or(&[]))?;
                col.default = Some(format!("nextval('{}'::regclass)", s.name));
                col.identity = Some((kind, s.oid));
                col.not_null = true;
                seq = Some(s);
            }
            ast::ColumnOption::Collation(_) => {}
            // MySQL's column COMMENT, which sqlparser takes: Postgres has
            // COMMENT ON COLUMN instead.
            ast::ColumnOption::Comment(_) => {
                return Err(SqlError::SyntaxNoPosition(
                    "syntax error at or near \"COMMENT\"".into(),
                ))
            }
            ast::ColumnOption::ForeignKey(_) => {
                return Err(SqlError::FeatureNotSupported(
                    "FOREIGN KEY constraints".into(),
                ))
            }
            other => {
                return Err(SqlError::FeatureNotSupported(format!(
                    "column option {other}"
                )))
            }
        }
    }
    Ok((col, seq))
}

/// `t_a_key`, `t_a_check`: unique among the catalog and the constraints being made.
/// Positions of a key constraint's columns (`PRIMARY KEY (a, b)`); a name
/// that is not a column fails as in Postgres (42703, `column "x" named in key
/// does not exist`).
fn key_columns(
    lookup: &dyn Fn(&str) -> Option<usize>,
    ics: &[ast::IndexColumn],
) -> Result<Vec<usize>> {
    ics.iter()
        .map(|ic| {
            let n = match &ic.column.expr {
                ast::Expr::Identifier(i) => ident_name(i),
                other => {
                    return Err(SqlError::FeatureNotSupported(format!(
                        "expression in key {other}"
                    )))
                }
            };
            column_in_key(lookup, &n)
        })
        .collect()
}

/// Positions of a key constraint's `INCLUDE (...)` columns. Postgres reports
/// an unknown one with the same words as a key column.
fn include_columns(
    lookup: &dyn Fn(&str) -> Option<usize>,
    ids: &[ast::Ident],
) -> Result<Vec<usize>> {
    ids.iter()
        .map(|i| column_in_key(lookup, &ident_name(i)))
        .collect()
}

fn column_in_key(lookup: &dyn Fn(&str) -> Option<usize>, n: &str) -> Result<usize> {
    lookup(n).ok_or_else(|| {
        SqlError::UndefinedColumn {
            name: format!("{n}\" named in key does not exist"),
            position: None,
        }
        .key_column(n)
    })
}

/// The column part of a UNIQUE constraint's generated name: key columns,
/// then INCLUDE columns, a repeated name numbered as Postgres does
/// (`UNIQUE (a) INCLUDE (b, b)` -> `a_b_b1`).
fn constraint_column_names(cols: &[ColumnDef], key: &[usize], include: &[usize]) -> String {
    let names: Vec<String> = key
        .iter()
        .chain(include)
        .map(|&i| cols[i].name.clone())
        .collect();
    crate::ddl_index::index_column_names(&names)
}

fn unique_name(
    cat: &Catalog,
    schema: &str,
    table: &str,
    cols: &str,
    suffix: &str,
    pending: &[ConstraintDef],
) -> String {
    let base = cat.choose_name(schema, table, cols, suffix);
    if !pending.iter().any(|c| c.name == base) {
        return base;
    }
    let root = if cols.is_empty() {
        format!("{table}_{suffix}")
    } else {
        format!("{table}_{cols}_{suffix}")
    };
    (1..)
        .map(|i| format!("{root}{i}"))
        .find(|n| !pending.iter().any(|c| c.name == *n) && !cat.relation_exists(schema, n))
        .unwrap_or(base)
}

/// Errors from binding a stored expression text: positions would point into
/// that text, not the statement, so they are dropped.
fn without_position(e: SqlError) -> SqlError {
    match e {
        SqlError::UndefinedColumn { name, .. } => SqlError::UndefinedColumn {
            name,
            position: None,
        },
        SqlError::UndefinedColumnMsg { message, .. } => SqlError::UndefinedColumnMsg {
            message,
            position: None,
        },
        SqlError::MissingFromEntry { table, .. } => SqlError::MissingFromEntry {
            table,
            position: None,
        },
        SqlError::Syntax { message, .. } => SqlError::Syntax {
            message,
            position: None,
        },
        other => other,
    }
}

pub(crate) fn create_table(s: &mut Session, ct: &ast::CreateTable) -> Result<StatementResult> {
    if ct.query.is_some() {
        return crate::ddl_create_as::create_table_as(s, ct);
    }
    let sp = s.search_path();
    let tctx = s.type_context();
    let st = s.ddl_catalog()?;
    let cat = st
        .catalog
        .as_mut()
        .ok_or_else(|| SqlError::Internal("catalog".into()))?;
    let (schema, name) = target(cat, &sp, &ct.name)?;
    if cat.relation_exists(&schema, &name) {
        if ct.if_not_exists {
            s.notice(format!("relation \"{name}\" already exists, skipping"));
            return cmd("CREATE TABLE");
        }
        return Err(SqlError::DuplicateTable(name));
    }
    let oid = cat.alloc_oid();
    let mut cols: Vec<ColumnDef> = vec![];
    let mut cons: Vec<ConstraintDef> = vec![];
    let mut seqs = vec![];
    for (i, cd) in ct.columns.iter().enumerate() {
        let (c, seq) = column_def(cat, &schema, &name, oid, i, cd, &mut cons)?;
        if cols.iter().any(|x| x.name == c.name) {
            return Err(SqlError::DuplicateColumn(format!(
                "column \"{}\" specified more than once",
                c.name
            )));
        }
        cols.push(c);
        seqs.extend(seq);
    }
    for tc in &ct.constraints {
        let lookup = |n: &str| cols.iter().position(|c| c.name == n);
        match tc {
            ast::TableConstraint::PrimaryKey(pk) => {
                let k = key_columns(&lookup, &pk.columns)?;
                let include = include_columns(&lookup, &pk.include)?;
                for i in &k {
                    cols[*i].not_null = true;
                }
                if cons
                    .iter()
                    .any(|c| matches!(c.kind, ConstraintKind::PrimaryKey(_)))
                {
                    return Err(SqlError::InvalidTableDefinition(format!(
                        "multiple primary keys for table \"{name}\" are not allowed"
                    )));
                }
                let n = pk
                    .name
                    .as_ref()
                    .map(ident_name)
                    .unwrap_or_else(|| cat.choose_name(&schema, &name, "", "pkey"));
                cons.push(ConstraintDef {
                    oid: cat.alloc_oid(),
                    name: n,
                    kind: ConstraintKind::PrimaryKey(k),
                    include,
                });
            }
            ast::TableConstraint::Unique(u) => {
                let k = key_columns(&lookup, &u.columns)?;
                let include = include_columns(&lookup, &u.include)?;
                let cn = constraint_column_names(&cols, &k, &include);
                let n = u
                    .name
                    .as_ref()
                    .map(ident_name)
                    .unwrap_or_else(|| unique_name(cat, &schema, &name, &cn, "key", &cons));
                cons.push(ConstraintDef {
                    oid: cat.alloc_oid(),
                    name: n,
                    kind: ConstraintKind::Unique(k),
                    include,
                });
            }
            ast::TableConstraint::Check(c) => {
                // Postgres names a table-level CHECK after its column when the
                // expression references exactly one distinct column
                // (`<table>_<col>_check`), else `<table>_check`.
                let text = c.expr.to_string();
                let mut refs = vec![];
                let _ = ast::visit_expressions(&c.expr, |e| {
                    match e {
                        ast::Expr::Identifier(i) => refs.push(ident_name(i)),
                        ast::Expr::CompoundIdentifier(parts) => {
                            refs.extend(parts.last().map(ident_name))
                        }
                        _ => {}
                    }
                    std::ops::ControlFlow::<()>::Continue(())
                });
                refs.sort();
                refs.dedup();
                let col = if refs.len() == 1 {
                    refs[0].clone()
                } else {
                    String::new()
                };
                let n = c
                    .name
                    .as_ref()
                    .map(ident_name)
                    .unwrap_or_else(|| unique_name(cat, &schema, &name, &col, "check", &cons));
                cons.push(ConstraintDef {
                    oid: cat.alloc_oid(),
                    name: n,
                    kind: ConstraintKind::Check(text),
                    include: vec![],
                });
            }
            ast::TableConstraint::ForeignKey(_) => {
                return Err(SqlError::FeatureNotSupported(
                    "FOREIGN KEY constraints".into(),
                ))
            }
            other => return Err(SqlError::FeatureNotSupported(format!("constraint {other}"))),
        }
    }
    let storage = cat.alloc_oid();
    let def = TableDef {
        oid,
        schema,
        name,
        columns: cols,
        constraints: cons,
        storage,
    };
    // CHECK expressions must bind against the new table's columns now, as in
    // Postgres (`column "nosuch" does not exist` at CREATE TABLE).
    crate::binder::Binder::new(cat, &sp, &tctx, "", vec![])
        .checks(&def)
        .map_err(without_position)?;
    for sq in seqs {
        cat.sequences.insert(sq.oid, sq);
    }
    cat.tables.insert(oid, def);
    st.txn.drop_relation_on_abort(storage);
    s.log_catalog()?;
    cmd("CREATE TABLE")
}

fn drop(
    s: &mut Session,
    ot: ast::ObjectType,
    if_exists: bool,
    names: &[ast::ObjectName],
    cascade: bool,
) -> Result<StatementResult> {
    if ot == ast::ObjectType::Table {
        let refs: Vec<&ast::ObjectName> = names.iter().collect();
        crate::ddl_index::lock_tables_exclusive(s, &refs)?;
    }
    let sp = s.search_path();
    let (tag, what) = match ot {
        ast::ObjectType::Table => ("DROP TABLE", "table"),
        ast::ObjectType::Schema => ("DROP SCHEMA", "schema"),
        ast::ObjectType::Sequence => ("DROP SEQUENCE", "sequence"),
        ast::ObjectType::Index => return Err(SqlError::FeatureNotSupported("DROP INDEX".into())),
        ast::ObjectType::View => return Err(SqlError::FeatureNotSupported("views".into())),
        other => return Err(SqlError::FeatureNotSupported(format!("DROP {other}"))),
    };
    let mut notices = vec![];
    let st = s.ddl_catalog()?;
    let cat = st
        .catalog
        .as_mut()
        .ok_or_else(|| SqlError::Internal("catalog".into()))?;
    // Postgres checks every name before dropping any.
    let mut targets = vec![];
    for n in names {
        let parts = object_parts(n)?;
        let display = parts.last().cloned().unwrap_or_default();
        let found: Option<u32> = match ot {
            ast::ObjectType::Table => find_table(cat, &sp, n)?,
            ast::ObjectType::Sequence => match parts.as_slice() {
                [x] => cat.resolve_sequence(&sp, x).map(|q| q.oid),
                [sc, x] => cat.sequence_in(sc, x).map(|q| q.oid),
                _ => None,
            },
            _ => cat
                .schemas
                .iter()
                .find(|sc| sc.name == parts.join("."))
                .map(|sc| sc.oid),
        };
        match found {
            Some(o) => targets.push(o),
            None if if_exists => {
                notices.push(format!("{what} \"{display}\" does not exist, skipping"))
            }
            None if ot == ast::ObjectType::Schema => {
                return Err(SqlError::UndefinedSchema(display))
            }
            None => {
                return Err(SqlError::UndefinedObjectOfKind {
                    message: format!("{what} \"{display}\" does not exist"),
                })
            }
        }
    }
    for oid in targets {
        match ot {
            ast::ObjectType::Table => {
                if let Some(t) = cat.tables.remove(&oid) {
                    st.txn.drop_relation_on_commit(t.storage);
                    cat.sequences
                        .retain(|_, q| q.owned_by.map(|o| o.0) != Some(oid));
                }
            }
            ast::ObjectType::Sequence => {
                let used_by: Vec<String> = cat
                    .tables
                    .values()
                    .filter(|t| {
                        t.columns.iter().any(|c| {
                            c.default.as_deref().is_some_and(|d| {
                                cat.sequences
                                    .get(&oid)
                                    .is_some_and(|q| d.contains(&format!("'{}'", q.name)))
                            })
                        })
                    })
                    .map(|t| t.name.clone())
                    .collect();
                if !used_by.is_empty() && !cascade {
                    let qn = cat
                        .sequences
                        .get(&oid)
                        .map(|q| q.name.clone())
                        .unwrap_or_default();
                    return Err(SqlError::DependentObjectsStillExist {
                        message: format!(
                            "cannot drop sequence {qn} because other objects depend on it"
                        ),
                        detail: Some(format!(
                            "default value for column of table {} depends on sequence {qn}",
                            used_by[0]
                        )),
                    });
                }
                cat.sequences.remove(&oid);
            }
            _ => {
                let Some(sc) = cat.schemas.iter().find(|x| x.oid == oid).cloned() else {
                    continue;
                };
                let tables: Vec<u32> = cat
                    .tables
                    .values()
                    .filter(|t| t.schema == sc.name)
                    .map(|t| t.oid)
                    .collect();
                let has_objects =
                    !tables.is_empty() || cat.sequences.values().any(|q| q.schema == sc.name);
                if has_objects && !cascade {
                    return Err(SqlError::DependentObjectsStillExist {
                        message: format!(
                            "cannot drop schema {} because other objects depend on it",
                            sc.name
                        ),
                        detail: None,
                    });
                }
                for t in tables {
                    if let Some(t) = cat.tables.remove(&t) {
                        st.txn.drop_relation_on_commit(t.storage);
                    }
                }
                cat.sequences.retain(|_, q| q.schema != sc.name);
                cat.schemas.retain(|x| x.oid != oid);
            }
        }
    }
    s.log_catalog()?;
    for n in notices {
        s.notice(n);
    }
    cmd(tag)
}

fn alter_table(s: &mut Session, at: &ast::AlterTable) -> Result<StatementResult> {
    crate::ddl_index::lock_tables_exclusive(s, &[&at.name])?;
    let sp = s.search_path();
    // ADD COLUMN ... NOT NULL without a default is refused on a table with rows.
    let adds_required = at.operations.iter().any(|op| match op {
        ast::AlterTableOperation::AddColumn { column_def: cd, .. } => {
            let has =
                |f: &dyn Fn(&ast::ColumnOption) -> bool| cd.options.iter().any(|o| f(&o.option));
            has(&|o| matches!(o, ast::ColumnOption::NotNull) || is_primary_key(o))
                && !has(&|o| {
                    matches!(
                        o,
                        ast::ColumnOption::Default(_) | ast::ColumnOption::Generated { .. }
                    )
                })
                && serial_type(&cd.data_type).is_none()
        }
        _ => false,
    });
    let has_rows = if adds_required {
        let cat = s.current_catalog();
        match find_table(&cat, &sp, &at.name)?.and_then(|oid| cat.tables.get(&oid).cloned()) {
            Some(t) => s.table_has_rows(&t.schema, &t.name)?,
            None => false,
        }
    } else {
        false
    };
    let st = s.ddl_catalog()?;
    let cat = st
        .catalog
        .as_mut()
        .ok_or_else(|| SqlError::Internal("catalog".into()))?;
    let Some(oid) = find_table(cat, &sp, &at.name)? else {
        if at.if_exists {
            let n = object_parts(&at.name)?.join(".");
            s.notice(format!("relation \"{n}\" does not exist, skipping"));
            return cmd("ALTER TABLE");
        }
        return Err(SqlError::UndefinedTable {
            name: object_parts(&at.name)?.join("."),
            position: None,
        });
    };
    let mut skipped: Vec<String> = vec![];
    for op in &at.operations {
        let Some(mut t) = cat.tables.get(&oid).cloned() else {
            break;
        };
        match op {
            ast::AlterTableOperation::AddColumn {
                column_def: cd,
                if_not_exists,
                ..
            } => {
                let n = ident_name(&cd.name);
                if t.column_index(&n).is_some() {
                    if *if_not_exists {
                        continue;
                    }
                    return Err(SqlError::DuplicateColumn(format!(
                        "column \"{n}\" of relation \"{}\" already exists",
                        t.name
                    )));
                }
                let pos = t.columns.len();
                let (mut c, seq) = column_def(
                    cat,
                    &t.schema.clone(),
                    &t.name.clone(),
                    oid,
                    pos,
                    cd,
                    &mut t.constraints,
                )?;
                if let Some(d) = &c.default {
                    // Existing rows read the default's value (constants only).
                    let e = crate::parser::parse_expr(d)?;
                    let text = match &e {
                        ast::Expr::Value(v) => crate::binder::expr_value_text(&v.value),
                        ast::Expr::UnaryOp {
                            op: ast::UnaryOperator::Minus,
                            expr,
                        } => match &**expr {
                            ast::Expr::Value(v) => {
                                crate::binder::expr_value_text(&v.value).map(|x| format!("-{x}"))
                            }
                            _ => None,
                        },
                        _ => None,
                    };
                    if text.is_none()
                        && !matches!(&e, ast::Expr::Value(v) if matches!(v.value, ast::Value::Null))
                    {
                        return Err(SqlError::FeatureNotSupported(
                            "ADD COLUMN with a non-constant DEFAULT".into(),
                        ));
                    }
                    c.missing_text = text;
                }
                if c.not_null && c.missing_text.is_none() && c.identity.is_none() && has_rows {
                    return Err(SqlError::ColumnContainsNulls {
                        column: c.name.clone(),
                        table: t.name.clone(),
                    });
                }
                t.columns.push(c);
                if let Some(q) = seq {
                    cat.sequences.insert(q.oid, q);
                }
            }
            ast::AlterTableOperation::DropColumn {
                column_names,
                if_exists,
                ..
            } => {
                for cn in column_names {
                    let n = ident_name(cn);
                    let Some(i) = t.column_index(&n) else {
                        if *if_exists {
                            continue;
                        }
                        return Err(SqlError::UndefinedColumn {
                            name: format!("{n}\" of relation \"{}", t.name),
                            position: None,
                        });
                    };
                    t.columns[i].dropped = true;
                    t.columns[i].not_null = false;
                    t.constraints.retain(|c| match &c.kind {
                        ConstraintKind::PrimaryKey(k) | ConstraintKind::Unique(k) => {
                            !k.contains(&i) && !c.include.contains(&i)
                        }
                        ConstraintKind::Check(text) => !text
                            .split(|ch: char| !ch.is_alphanumeric() && ch != '_')
                            .any(|w| w.eq_ignore_ascii_case(&n)),
                    });
                    cat.sequences.retain(|_, q| q.owned_by != Some((oid, i)));
                }
            }
            ast::AlterTableOperation::RenameColumn {
                old_column_name,
                new_column_name,
            } => {
                let (o, n) = (ident_name(old_column_name), ident_name(new_column_name));
                let Some(i) = t.column_index(&o) else {
                    return Err(SqlError::UndefinedColumn {
                        name: o,
                        position: None,
                    });
                };
                if t.column_index(&n).is_some() {
                    return Err(SqlError::DuplicateColumn(format!(
                        "column \"{n}\" of relation \"{}\" already exists",
                        t.name
                    )));
                }
                t.columns[i].name = n;
            }
            ast::AlterTableOperation::RenameTable { table_name } => {
                let nn = match table_name {
                    ast::RenameTableNameKind::As(n) | ast::RenameTableNameKind::To(n) => {
                        object_parts(n)?.last().cloned().unwrap_or_default()
                    }
                };
                if cat.relation_exists(&t.schema, &nn) {
                    return Err(SqlError::DuplicateTable(nn));
                }
                t.name = nn;
            }
            ast::AlterTableOperation::AddConstraint { constraint, .. } => {
                add_constraint(cat, &mut t, constraint)?
            }
            ast::AlterTableOperation::DropConstraint {
                name, if_exists, ..
            } => {
                let n = ident_name(name);
                match t.constraints.iter().position(|c| c.name == n) {
                    Some(i) => {
                        t.constraints.remove(i);
                    }
                    None if *if_exists => {
                        skipped.push(format!(
                            "constraint \"{n}\" of relation \"{}\" does not exist, skipping",
                            t.name
                        ));
                        continue;
                    }
                    None => {
                        return Err(SqlError::UndefinedObject(format!(
                            "constraint \"{n}\" of relation \"{}\" does not exist",
                            t.name
                        )));
                    }
                }
            }
            other => {
                return Err(SqlError::FeatureNotSupported(format!(
                    "ALTER TABLE {}",
                    first_words(&other.to_string())
                )))
            }
        }
        cat.tables.insert(oid, t);
    }
    for n in skipped {
        s.notice(n);
    }
    s.log_catalog()?;
    cmd("ALTER TABLE")
}

fn is_primary_key(o: &ast::ColumnOption) -> bool {
    matches!(o, ast::ColumnOption::PrimaryKey(_))
}

/// ALTER TABLE ... ADD [CONSTRAINT name] PRIMARY KEY | UNIQUE | CHECK. The
/// index of a key constraint is built (and existing rows checked) by
/// `ddl_index::reconcile` after the statement.
fn add_constraint(cat: &mut Catalog, t: &mut TableDef, tc: &ast::TableConstraint) -> Result<()> {
    let lookup = |n: &str| t.column_index(n);
    match tc {
        ast::TableConstraint::PrimaryKey(pk) => {
            // Postgres resolves the columns before it looks for another key.
            let k = key_columns(&lookup, &pk.columns)?;
            let include = include_columns(&lookup, &pk.include)?;
            if t.constraints
                .iter()
                .any(|c| matches!(c.kind, ConstraintKind::PrimaryKey(_)))
            {
                return Err(SqlError::InvalidTableDefinition(format!(
                    "multiple primary keys for table \"{}\" are not allowed",
                    t.name
                )));
            }
            for i in &k {
                t.columns[*i].not_null = true;
            }
            let n = pk
                .name
                .as_ref()
                .map(ident_name)
                .unwrap_or_else(|| cat.choose_name(&t.schema, &t.name, "", "pkey"));
            if cat.relation_exists(&t.schema, &n) {
                return Err(SqlError::DuplicateTable(n));
            }
            t.constraints.push(ConstraintDef {
                oid: cat.alloc_oid(),
                name: n,
                kind: ConstraintKind::PrimaryKey(k),
                include,
            });
        }
        ast::TableConstraint::Unique(u) => {
            let k = key_columns(&lookup, &u.columns)?;
            let include = include_columns(&lookup, &u.include)?;
            let cn = constraint_column_names(&t.columns, &k, &include);
            let n = u.name.as_ref().map(ident_name).unwrap_or_else(|| {
                unique_name(cat, &t.schema, &t.name, &cn, "key", &t.constraints)
            });
            if cat.relation_exists(&t.schema, &n) {
                return Err(SqlError::DuplicateTable(n));
            }
            t.constraints.push(ConstraintDef {
                oid: cat.alloc_oid(),
                name: n,
                kind: ConstraintKind::Unique(k),
                include,
            });
        }
        ast::TableConstraint::ForeignKey(_) => {
            return Err(SqlError::FeatureNotSupported(
                "FOREIGN KEY constraints".into(),
            ))
        }
        other => {
            return Err(SqlError::FeatureNotSupported(format!(
                "ALTER TABLE ADD {}",
                first_words(&other.to_string())
            )))
        }
    }
    Ok(())
}
