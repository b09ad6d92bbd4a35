//! `CREATE TABLE name [(columns)] AS query [WITH [NO] DATA]` and
//! `SELECT ... INTO name`: a table whose columns are the query's output
//! columns (their names, or the names given, and their types), filled by the
//! query in the same transaction. It owns no storage logic of its own: the
//! table is made by the ordinary CREATE TABLE and filled by an ordinary
//! INSERT ... query, so defaults, statistics and WAL are theirs.

use sargdb_catalog::DataType;

use crate::binder::{ident_name, Binder};
use crate::error::{Result, SqlError};
use crate::functions::string::quote_ident;
use crate::parser::{ast, SqlStatement};
use crate::session::{Session, StatementResult};

/// `CREATE TABLE ... AS query`.
pub fn create_table_as(s: &mut Session, ct: &ast::CreateTable) -> Result<StatementResult> {
    let query = ct
        .query
        .as_deref()
        .ok_or_else(|| SqlError::Internal("CREATE TABLE AS without a query".into()))?;
    let names: Vec<String> = ct.columns.iter().map(|c| ident_name(&c.name)).collect();
    let with_data = ct.with_data.is_none_or(|w| w.data);
    create_from_query(s, &ct.name, &names, ct.if_not_exists, query, with_data)
}

/// `SELECT ... INTO name FROM ...`: CREATE TABLE name AS the same SELECT.
pub fn select_into(s: &mut Session, q: &ast::Query) -> Result<StatementResult> {
    let mut q = q.clone();
    let ast::SetExpr::Select(sel) = q.body.as_mut() else {
        return Err(SqlError::Internal("SELECT INTO without a SELECT".into()));
    };
    let into = sel
        .into
        .take()
        .ok_or_else(|| SqlError::Internal("SELECT INTO without INTO".into()))?;
    let name = match into.targets.as_slice() {
        [ast::Expr::Identifier(i)] => ast::ObjectName::from(vec![i.clone()]),
        [ast::Expr::CompoundIdentifier(parts)] => ast::ObjectName::from(parts.clone()),
        _ => {
            return Err(SqlError::FeatureNotSupported(format!(
                "SELECT INTO {}",
                into.targets
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    };
    create_from_query(s, &name, &[], false, &q, true)
}

/// Whether a query is `SELECT ... INTO name` (a table-creating statement).
pub fn is_select_into(q: &ast::Query) -> bool {
    matches!(q.body.as_ref(), ast::SetExpr::Select(sel) if sel.into.is_some())
}

fn create_from_query(
    s: &mut Session,
    name: &ast::ObjectName,
    names: &[String],
    if_not_exists: bool,
    query: &ast::Query,
    with_data: bool,
) -> Result<StatementResult> {
    // The query's output columns, as the INSERT below will bind it.
    let cols = {
        let cat = s.current_catalog();
        let sp = s.search_path();
        let tctx = s.type_context();
        let text = query.to_string();
        let mut b = Binder::new(&cat, &sp, &tctx, &text, vec![]);
        b.session = s.system_session(&text);
        b.bind_query(query)?.1
    };
    if names.len() > cols.len() {
        return Err(SqlError::SyntaxNoPosition(
            "too many column names were specified".into(),
        ));
    }
    let (schema, table) = crate::ddl::target(&s.current_catalog(), &s.search_path(), name)?;
    if if_not_exists && s.current_catalog().relation_exists(&schema, &table) {
        s.notice(format!("relation \"{table}\" already exists, skipping"));
        return Ok(StatementResult::Command {
            tag: "CREATE TABLE AS".into(),
        });
    }
    // Postgres makes a column of an untyped literal text.
    let defs: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let n = names.get(i).unwrap_or(&c.name);
            format!("{} {}", quote_ident(n), column_type(&c.ty))
        })
        .collect();
    let create = format!("CREATE TABLE {name} ({})", defs.join(", "));
    run(s, &create)?;
    if !with_data {
        return Ok(StatementResult::Command {
            tag: "CREATE TABLE AS".into(),
        });
    }
    let insert = format!("INSERT INTO {name} {query}");
    let rows = match run(s, &insert)? {
        StatementResult::Command { tag } => tag
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0),
        _ => 0,
    };
    Ok(StatementResult::Command {
        tag: format!("SELECT {rows}"),
    })
}

/// The column type a CREATE TABLE takes for a query column of type `ty`.
fn column_type(ty: &DataType) -> String {
    match ty {
        DataType::Unknown => "text".into(),
        DataType::Array(e) if **e == DataType::Unknown => "text[]".into(),
        t => t.display_name(),
    }
}

/// Run one generated statement in the session's current transaction.
fn run(s: &mut Session, sql: &str) -> Result<StatementResult> {
    let stmts = crate::parser::parse(sql)?;
    let [stmt] = stmts.as_slice() else {
        return Err(SqlError::Internal(format!("generated statement {sql}")));
    };
    match stmt {
        SqlStatement::CreateTable(ct) => crate::ddl::create_table(s, ct),
        other => s.exec_dml_or_query(other, sql, &[], None),
    }
}
