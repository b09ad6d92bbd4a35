//! COPY: bulk load and unload in Postgres's text, CSV and binary formats.
//!
//! `COPY t [(cols)] FROM STDIN` and `COPY {t [(cols)] | (query)} TO STDOUT`
//! with Postgres's options (FORMAT, DELIMITER, NULL, HEADER, QUOTE, ESCAPE,
//! FORCE_QUOTE, FORCE_NOT_NULL, FORCE_NULL, FREEZE, ENCODING) and the
//! pre-9.0 option syntax psql's `\copy` still passes through. The statement
//! is parsed here by hand because sqlparser's COPY wants inline data after
//! `FROM STDIN;`, which the wire protocol never sends.
//!
//! Incoming data is decoded as it arrives (`Session::copy_data`) and handed
//! to the normal INSERT plan in batches of `BATCH_ROWS`, so defaults,
//! sequences, constraints and index maintenance all apply and a 100 MB load
//! never sits in memory at once. This module owns no protocol framing: the
//! server turns `CopyStart` into CopyInResponse / CopyOutResponse and feeds
//! CopyData payloads in.

mod from;
mod statement;
mod to;

use std::sync::Arc;

use sargdb_catalog::{DataType, TableDef};

use crate::binder::Binder;
use crate::error::{Result, SqlError};
use crate::executor;
use crate::locks::LockMode;
use crate::parser::{self, SqlStatement};
use crate::planner::{self, plan::Plan};
use crate::session::{Session, StatementResult, TxnStatus};

pub use from::CopyIn;
pub use statement::CopyFormat;
use statement::{parse_copy, process_options, CopyOptions, CopyStmt, ForceList, Source};
pub use to::CopyOut;

/// Rows decoded before they are inserted as one batch.
const BATCH_ROWS: usize = 1000;
/// Postgres's MAX_COPY_DATA_DISPLAY: longer values are cut in CONTEXT lines.
const MAX_DISPLAY: usize = 100;
/// The binary format's signature (11 bytes).
const BINARY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// Whether a query string is a COPY statement (its first word is COPY).
pub fn is_copy(sql: &str) -> bool {
    let b = sql.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if b[i..].starts_with(b"--") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            match sql[i + 2..].find("*/") {
                Some(e) => i = i + 2 + e + 2,
                None => return false,
            }
        } else {
            break;
        }
    }
    b.len() >= i + 4
        && b[i..i + 4].eq_ignore_ascii_case(b"copy")
        && b.get(i + 4)
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'_' || *c == b'$'))
}

/// What the server must do next for a COPY statement.
pub enum CopyStart {
    /// COPY ... FROM STDIN: send CopyInResponse, then feed the data.
    In(CopyIn),
    /// COPY ... TO STDOUT: send CopyOutResponse and the chunks.
    Out(CopyOut),
}

/// Statements after the COPY in the same query string, to run after it.
pub type Rest = Option<String>;

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn display_limited(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    if s.len() <= MAX_DISPLAY {
        return s.into_owned();
    }
    let mut end = MAX_DISPLAY;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

// ---------------------------------------------------------------------------
// The session side
// ---------------------------------------------------------------------------

impl Session {
    /// Starts a COPY statement (`is_copy(sql)` holds). COPY TO runs its
    /// query here; COPY FROM returns the decoder to feed with `copy_data`.
    /// An error leaves the transaction as any failed statement does.
    pub fn copy_begin(&mut self, sql: &str) -> Result<CopyStart> {
        self.finish_commit()?;
        self.cancel_flag()
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let r = self.copy_begin_inner(sql);
        if r.is_err() {
            self.fail_transaction();
        }
        r
    }

    fn copy_begin_inner(&mut self, sql: &str) -> Result<CopyStart> {
        if self.transaction_status() == TxnStatus::Failed {
            return Err(SqlError::InFailedTransaction);
        }
        let stmt = parse_copy(sql)?;
        let opts = process_options(&stmt.options, stmt.from)?;
        if !stmt.std {
            let what = if stmt.from {
                "COPY FROM a file or program"
            } else {
                "COPY TO a file or program"
            };
            return Err(SqlError::FeatureNotSupportedMsg(format!(
                "{what} is not supported: use COPY ... {} (psql's \\copy)",
                if stmt.from { "FROM STDIN" } else { "TO STDOUT" }
            )));
        }
        if stmt.from {
            return self.copy_in_begin(stmt, opts).map(CopyStart::In);
        }
        let query = match &stmt.source {
            Source::Query(q) => {
                if !parser::parse(q)?.iter().all(|s| {
                    matches!(
                        s,
                        SqlStatement::Query(_)
                            | SqlStatement::Insert(_)
                            | SqlStatement::Update(_)
                            | SqlStatement::Delete(_)
                    )
                }) {
                    return Err(SqlError::SyntaxNoPosition(
                        "COPY query must be a SELECT, VALUES, INSERT, UPDATE or DELETE".into(),
                    ));
                }
                q.clone()
            }
            Source::Table { name, columns } => {
                let table = self.copy_table(name)?;
                let cols = match columns {
                    Some(c) => {
                        for n in c {
                            if table.column_index(n).is_none() {
                                return Err(SqlError::UndefinedColumnMsg {
                                    message: format!(
                                        "column \"{n}\" of relation \"{}\" does not exist",
                                        table.name
                                    ),
                                    position: None,
                                });
                            }
                        }
                        c.clone()
                    }
                    None => table.live_columns().map(|(_, c)| c.name.clone()).collect(),
                };
                if cols.is_empty() {
                    format!(
                        "SELECT FROM {}.{}",
                        quote_ident(&table.schema),
                        quote_ident(&table.name)
                    )
                } else {
                    format!(
                        "SELECT {} FROM {}.{}",
                        cols.iter()
                            .map(|c| quote_ident(c))
                            .collect::<Vec<_>>()
                            .join(", "),
                        quote_ident(&table.schema),
                        quote_ident(&table.name)
                    )
                }
            }
        };
        let mut results = self.simple_query(&query);
        if results.len() != 1 {
            return Err(SqlError::SyntaxNoPosition(
                "COPY query must be a single statement".into(),
            ));
        }
        let (columns, rows) = match results.pop() {
            Some(Ok(StatementResult::Rows { columns, rows, .. })) => (columns, rows),
            Some(Ok(_)) => {
                return Err(SqlError::FeatureNotSupportedMsg(
                    "COPY query must have a RETURNING clause".into(),
                ))
            }
            Some(Err(e)) => return Err(e),
            None => return Err(SqlError::Internal("COPY query produced nothing".into())),
        };
        let force_quote = match &opts.force_quote {
            ForceList::None => vec![false; columns.len()],
            ForceList::All => vec![true; columns.len()],
            ForceList::Cols(names) => {
                for n in names {
                    if !columns.iter().any(|c| &c.name == n) {
                        return Err(SqlError::InvalidColumnReference(format!(
                            "FORCE_QUOTE column \"{n}\" not referenced by COPY"
                        )));
                    }
                }
                columns.iter().map(|c| names.contains(&c.name)).collect()
            }
        };
        let count = rows.len();
        Ok(CopyStart::Out(CopyOut {
            opts,
            columns,
            rows: rows.into_iter(),
            count,
            force_quote,
            started: false,
            finished: false,
            rest: stmt.rest,
        }))
    }

    fn copy_table(&self, name: &[String]) -> Result<Arc<TableDef>> {
        let cat = self.current_catalog();
        let sp = self.search_path();
        let t = match name {
            [n] => cat.resolve_table(&sp, n),
            [s, n] | [_, s, n] => cat.table_in(s, n),
            _ => None,
        };
        match t {
            Some(t) => Ok(Arc::new(t.clone())),
            None => Err(SqlError::UndefinedTable {
                name: name.join("."),
                position: None,
            }),
        }
    }

    fn copy_in_begin(&mut self, stmt: CopyStmt, opts: CopyOptions) -> Result<CopyIn> {
        let Source::Table { name, columns } = &stmt.source else {
            return Err(SqlError::Internal("COPY FROM a query".into()));
        };
        // Lock before reading the catalog (writers plan against what
        // concurrent DDL committed; see `locks`).
        let table = self.copy_table(name)?;
        self.lock_table(table.oid, LockMode::Shared, &name.join("."))?;
        let table = self.copy_table(name)?;
        if opts.freeze
            && !self
                .ensure_txn()
                .txn
                .created_in_subtransaction(table.storage)
        {
            return Err(SqlError::ObjectNotInPrerequisiteState(
                "cannot perform COPY FREEZE because the table was not created or truncated in the current subtransaction".into(),
            ));
        }
        let targets: Vec<usize> = match columns {
            None => table.live_columns().map(|(i, _)| i).collect(),
            Some(cols) => {
                let mut v = vec![];
                for n in cols {
                    let i = table
                        .column_index(n)
                        .ok_or_else(|| SqlError::UndefinedColumnMsg {
                            message: format!(
                                "column \"{n}\" of relation \"{}\" does not exist",
                                table.name
                            ),
                            position: None,
                        })?;
                    if v.contains(&i) {
                        return Err(SqlError::DuplicateColumn(format!(
                            "column \"{n}\" specified more than once"
                        )));
                    }
                    v.push(i);
                }
                v
            }
        };
        let names: Vec<String> = targets
            .iter()
            .map(|&i| table.columns[i].name.clone())
            .collect();
        let types: Vec<DataType> = targets
            .iter()
            .map(|&i| table.columns[i].data_type.clone())
            .collect();
        let flags = |list: &[String], what: &str| -> Result<Vec<bool>> {
            for n in list {
                if !names.contains(n) {
                    return Err(SqlError::InvalidColumnReference(format!(
                        "{what} column \"{n}\" not referenced by COPY"
                    )));
                }
            }
            Ok(names.iter().map(|n| list.contains(n)).collect())
        };
        let force_not_null = flags(&opts.force_not_null, "FORCE_NOT_NULL")?;
        let force_null = flags(&opts.force_null, "FORCE_NULL")?;
        // The normal INSERT plan, its SELECT replaced by the decoded rows.
        let plan = if targets.is_empty() {
            None
        } else {
            let ins_sql = format!(
                "INSERT INTO {}.{} ({}) OVERRIDING SYSTEM VALUE SELECT {}",
                quote_ident(&table.schema),
                quote_ident(&table.name),
                names
                    .iter()
                    .map(|n| quote_ident(n))
                    .collect::<Vec<_>>()
                    .join(", "),
                (1..=types.len())
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let stmts = parser::parse(&ins_sql)?;
            let Some(SqlStatement::Insert(ins)) = stmts.first() else {
                return Err(SqlError::Internal("COPY: INSERT did not parse".into()));
            };
            let catalog = self.current_catalog();
            let sp = self.search_path();
            let tctx = self.type_context();
            let mut b = Binder::new(&catalog, &sp, &tctx, &ins_sql, types.clone());
            let (mut plan, _) = b.bind_insert(ins)?;
            match &mut plan {
                Plan::Insert { input, .. } => match &mut **input {
                    Plan::Project { input: select, .. } => {
                        **select = Plan::Values {
                            rows: vec![],
                            types: types.clone(),
                        };
                    }
                    _ => return Err(SqlError::Internal("COPY: unexpected INSERT plan".into())),
                },
                _ => return Err(SqlError::Internal("COPY: unexpected INSERT plan".into())),
            }
            let engine = self.engine().clone();
            plan.annotate_sizes(&|s| {
                (
                    engine.relation_pages(s).unwrap_or(0),
                    engine.all_visible_pages(s),
                )
            });
            Some(planner::plan(plan))
        };
        let Some(plan) = plan else {
            return Err(SqlError::FeatureNotSupportedMsg(
                "COPY FROM into a table without columns is not supported".into(),
            ));
        };
        let direct = if opts.format == CopyFormat::Binary {
            None
        } else {
            let fresh = match &plan {
                Plan::Insert { access, table, .. } => {
                    let engine = self.engine().clone();
                    let txn = &self.ensure_txn().txn;
                    txn.created_here(table.storage)
                        && engine.relation_pages(table.storage).is_ok_and(|n| n == 0)
                        && access
                            .indexes
                            .iter()
                            .all(|ix| txn.created_here(ix.def.storage))
                }
                _ => false,
            };
            from::direct_target(&plan, types.len(), fresh)
        };
        Ok(CopyIn {
            header_pending: opts.header && opts.format != CopyFormat::Binary,
            binary_header: opts.format == CopyFormat::Binary,
            opts,
            table_name: table.name.clone(),
            names,
            types,
            force_not_null,
            force_null,
            plan,
            tctx: self.type_context(),
            buf: Vec::new(),
            line_no: 0,
            eof: false,
            batch: Vec::with_capacity(BATCH_ROWS),
            direct,
            scratch: Vec::new(),
            spans: Vec::new(),
            rows: 0,
            sequence_advanced: false,
            rest: stmt.rest,
        })
    }

    /// Feeds one CopyData payload. On error the caller reports it and calls
    /// `fail_transaction` (or `copy_abort`).
    pub fn copy_data(&mut self, c: &mut CopyIn, data: &[u8]) -> Result<()> {
        c.buf.extend_from_slice(data);
        loop {
            c.decode(false)?;
            if c.pending() >= BATCH_ROWS {
                self.copy_flush(c)?;
                continue;
            }
            return Ok(());
        }
    }

    /// CopyDone: decodes what is left, inserts it, and ends the statement
    /// (an implicit transaction commits). Returns the tag `COPY n`.
    pub fn copy_done(&mut self, mut c: CopyIn) -> Result<String> {
        let r = (|| {
            loop {
                c.decode(true)?;
                let more = !c.buf.is_empty() && !c.eof;
                self.copy_flush(&mut c)?;
                if !more {
                    break;
                }
            }
            if c.direct.as_ref().is_some_and(|d| d.build_indexes) && c.rows > 0 {
                self.copy_build_indexes(&c)?;
            }
            if c.sequence_advanced {
                self.engine().flush_wal()?;
            }
            self.sync()?;
            Ok(format!("COPY {}", c.rows))
        })();
        if r.is_err() {
            self.fail_transaction();
        }
        r
    }

    /// CopyFail (or an error): the statement fails with the client's message.
    pub fn copy_fail(&mut self, _c: CopyIn, message: &str) -> SqlError {
        self.fail_transaction();
        SqlError::CopyFailed(message.to_string())
    }

    /// Ends a COPY FROM that failed (`copy_data` returned an error).
    pub fn copy_abort(&mut self, _c: CopyIn) {
        self.fail_transaction();
    }

    /// The indexes of a table this transaction created and COPY filled
    /// (`Direct::build_indexes`), built from its rows. A duplicate key is
    /// the unique violation inserting the rows one by one would have met
    /// first (`first_conflict`).
    fn copy_build_indexes(&mut self, c: &CopyIn) -> Result<()> {
        let Plan::Insert { access, table, .. } = &c.plan else {
            return Ok(());
        };
        let first_line = 1 + u64::from(c.opts.header);
        self.with_exec(|ctx| {
            for ix in &access.indexes {
                if crate::ddl_index::build_from_table(ctx, table, ix)?.is_some() {
                    let (row, ix, vals) = first_conflict(ctx, table, &access.indexes)?;
                    return Err(SqlError::WithContext {
                        source: Box::new(crate::executor::index_maint::unique_error(
                            &ix, &vals, ctx,
                        )),
                        context: format!("COPY {}, line {}", c.table_name, first_line + row),
                    });
                }
                let stats = ix.stats.get(ctx, ix.def.oid).clone();
                if sargdb_engine::stats::tracking() {
                    // As inserting row by row counts: a partial index
                    // only the rows it took.
                    let n = if ix.predicate.is_some() {
                        crate::executor::index_maint::handle(ctx, table, ix)?
                            .stats()?
                            .entries
                    } else {
                        c.rows
                    };
                    stats.add(sargdb_engine::stats::Counter::Inserts, n);
                }
            }
            Ok(())
        })
    }

    fn copy_flush(&mut self, c: &mut CopyIn) -> Result<()> {
        if c.pending() == 0 {
            return Ok(());
        }
        if self
            .cancel_flag()
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Err(SqlError::QueryCanceled);
        }
        let plan = &c.plan;
        let freeze = c.opts.freeze;
        if let Some(d) = c.direct.as_mut().filter(|d| !d.tuples.is_empty()) {
            let n = d.tuples.len() as u64;
            self.with_exec(|ctx| {
                ctx.copy_freeze = freeze;
                executor::insert_tuples(plan, &mut d.tuples, ctx)
            })?;
            d.tuples.clear();
            c.rows += n;
        }
        if c.batch.is_empty() {
            return Ok(());
        }
        let rows = std::mem::replace(&mut c.batch, Vec::with_capacity(BATCH_ROWS));
        let n = rows.len() as u64;
        let seq = self.with_exec(|ctx| {
            ctx.copy_freeze = freeze;
            executor::insert_rows(plan, rows, ctx)?;
            Ok(ctx.sequence_advanced)
        })?;
        c.sequence_advanced |= seq;
        c.rows += n;
        Ok(())
    }
}

/// For a table one COPY filled whose unique index met a duplicate key:
/// the first row (0-based, in the table's order, which is the data's)
/// whose key some earlier row already had, in the first of the table's
/// unique indexes where it had (the indexes' order, Postgres's order of
/// checking them), and that key's values. Found by going through the rows
/// again, as inserting them one by one would have.
fn first_conflict(
    ctx: &mut crate::executor::ExecContext,
    table: &sargdb_catalog::TableDef,
    indexes: &[std::sync::Arc<crate::binder::index::BoundIndex>],
) -> Result<(
    u64,
    std::sync::Arc<crate::binder::index::BoundIndex>,
    Vec<sargdb_catalog::Value>,
)> {
    use crate::executor::index_maint::index_entry_key;
    let unique: Vec<_> = indexes.iter().filter(|i| i.def.unique).collect();
    let mut seen: Vec<std::collections::HashSet<Vec<u8>>> = vec![Default::default(); unique.len()];
    let mut scan = ctx.txn.dirty_scan(table.storage)?;
    let mut n = 0;
    while let Some(item) = scan.next(ctx.txn) {
        let (_, bytes, _) = item?;
        let row = crate::executor::decode_masked(table, &bytes, None, ctx)?;
        for (ix, seen) in unique.iter().zip(seen.iter_mut()) {
            let Some(ek) = index_entry_key(ix, &row, ctx)? else {
                continue;
            };
            if ek.vals.iter().any(|v| v.is_null()) {
                continue;
            }
            if !seen.insert(ek.stored[..ek.key_len].to_vec()) {
                return Ok((n, (*ix).clone(), ek.vals));
            }
        }
        n += 1;
    }
    Err(SqlError::Internal(
        "COPY: an index build found a duplicate key that the rows do not have".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_copy() {
        assert!(is_copy("copy t from stdin"));
        assert!(is_copy("  -- c\n COPY t to stdout"));
        assert!(!is_copy("copyx"));
        assert!(!is_copy("select 1"));
    }
}
