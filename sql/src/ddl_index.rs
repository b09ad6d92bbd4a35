//! Index DDL and maintenance commands: CREATE INDEX, DROP INDEX, ALTER INDEX
//! RENAME, REINDEX, the indexes behind PRIMARY KEY / UNIQUE constraints,
//! ANALYZE and VACUUM.
//!
//! Constraint indexes are kept in step with the constraints by `reconcile`,
//! which runs after every DDL statement: it builds the index of a new
//! PRIMARY KEY / UNIQUE constraint (checking existing rows, so ALTER TABLE ADD
//! PRIMARY KEY on duplicates fails with 23505 and leaves nothing behind) and
//! drops indexes whose table, constraint or column is gone. Index storage is
//! created and removed through the engine's on-commit/on-abort hooks, so DDL
//! stays transactional.

use sargdb_catalog::types::key::{encode_exact_hint, encode_key_value, has_exact_hint, KeyColumn};
use sargdb_catalog::{
    Catalog, ColumnDef, ColumnStats, ConstraintDef, ConstraintKind, IndexColumnDef, IndexDef,
    TableDef, TableStats, Value,
};
use sargdb_engine::index::btree::key_prefix;
use sargdb_engine::{BuildSink, IndexHandle};

use crate::binder::bound::BoundExpr;
use crate::binder::index::BoundIndex;
use crate::binder::{ident_name, object_parts, Binder, Scope};
use crate::error::{Result, SqlError};
use crate::executor::index_maint::{handle, index_entry_key};
use crate::executor::ExecContext;
use crate::locks::LockMode;
use crate::parser::{ast, Maintenance, ReindexKind};
use crate::session::{Session, StatementResult};

fn cmd(tag: &str) -> Result<StatementResult> {
    Ok(StatementResult::Command {
        tag: tag.to_string(),
    })
}

/// Access methods sargdb accepts in `USING`, and whether they exist yet.
fn check_method(name: &str) -> Result<String> {
    let n = name.to_ascii_lowercase();
    match n.as_str() {
        "btree" | "hash" | "brin" => Ok(n),
        "gist" | "gin" | "lsm" | "bitmap" | "spgist" => Err(SqlError::FeatureNotSupported(
            format!("access method \"{n}\""),
        )),
        _ => Err(SqlError::UndefinedObject(format!(
            "access method \"{n}\" does not exist"
        ))),
    }
}

/// Postgres's generated index name: `<table>_<col>[_<col>...]_<suffix>`,
/// expressions named by their function (`t_lower_idx`) or `expr`.
fn choose_index_name(
    cat: &Catalog,
    schema: &str,
    table: &str,
    parts: &[String],
    suffix: &str,
) -> String {
    let cols = index_column_names(parts);
    let base = if cols.is_empty() {
        format!("{table}_{suffix}")
    } else {
        format!("{table}_{cols}_{suffix}")
    };
    choose_relation_name(cat, schema, &base)
}

/// The column part of a generated index or key-constraint name, as
/// Postgres's ChooseIndexColumnNames builds it: the names joined with `_`, a
/// name that repeats an earlier one numbered (`a, a` -> `a_a1`).
pub(crate) fn index_column_names(parts: &[String]) -> String {
    let mut out: Vec<String> = Vec::with_capacity(parts.len());
    for p in parts {
        let mut n = p.clone();
        let mut i = 1;
        while out.contains(&n) {
            n = format!("{p}{i}");
            i += 1;
        }
        out.push(n);
    }
    out.join("_")
}

/// The key copies (`IndexDef::key_copies`) a new storage of an index with
/// these columns gets: only kinds that store a tail and can serve
/// index-only scans (B+Tree) keep them.
pub(crate) fn key_copies_for(
    method: &str,
    columns: &[IndexColumnDef],
    include: &[usize],
) -> Vec<usize> {
    let tail = sargdb_engine::IndexKind::from_name(method).is_some_and(|k| {
        let c = k.capabilities();
        c.covering && !c.lossy_pages && !c.column_keys
    });
    if tail {
        IndexDef::exact_copies_for(columns, include)
    } else {
        vec![]
    }
}

/// `base`, or `base1`, `base2`, ... if taken.
fn choose_relation_name(cat: &Catalog, schema: &str, base: &str) -> String {
    if !cat.relation_exists(schema, base) {
        return base.to_string();
    }
    (1..)
        .map(|i| format!("{base}{i}"))
        .find(|n| !cat.relation_exists(schema, n))
        .unwrap_or_else(|| base.to_string())
}

fn find_table_oid(cat: &Catalog, sp: &[String], name: &ast::ObjectName) -> Result<Option<u32>> {
    let parts = object_parts(name)?;
    Ok(match parts.as_slice() {
        [n] => cat.resolve_table(sp, n).map(|t| t.oid),
        [s, n] | [_, s, n] => cat.table_in(s, n).map(|t| t.oid),
        _ => None,
    })
}

fn find_index_oid(cat: &Catalog, sp: &[String], name: &ast::ObjectName) -> Result<Option<u32>> {
    let parts = object_parts(name)?;
    Ok(match parts.as_slice() {
        [n] => cat.resolve_index(sp, n).map(|i| i.oid),
        [s, n] | [_, s, n] => cat.index_in(s, n).map(|i| i.oid),
        _ => None,
    })
}

/// `WITH (...)` storage parameters of a new index, checked against what
/// its access method accepts (Postgres's names, bounds and messages).
#[derive(Default)]
struct IndexParams {
    fillfactor: Option<u8>,
    pages_per_range: Option<u32>,
    autosummarize: Option<bool>,
}

fn int_param(name: &str, right: &ast::Expr, lo: i64, hi: i64) -> Result<i64> {
    let v: i64 = right.to_string().trim_matches('\'').parse().map_err(|_| {
        SqlError::InvalidParameterValue(format!(
            "invalid value for integer option \"{name}\": {}",
            right.to_string().trim_matches('\'')
        ))
    })?;
    if !(lo..=hi).contains(&v) {
        return Err(SqlError::InvalidParameterValue(format!(
            "value {v} out of bounds for option \"{name}\""
        )));
    }
    Ok(v)
}

fn index_params(method: &str, with: &[ast::Expr]) -> Result<IndexParams> {
    let mut p = IndexParams::default();
    for w in with {
        let ast::Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::Eq,
            right,
        } = w
        else {
            return Err(SqlError::SyntaxNoPosition(format!(
                "invalid index option {w}"
            )));
        };
        let key = left.to_string().to_lowercase();
        match (method, key.as_str()) {
            ("btree" | "hash", "fillfactor") => {
                p.fillfactor = Some(int_param(&key, right, 10, 100)? as u8);
            }
            ("brin", "pages_per_range") => {
                p.pages_per_range = Some(int_param(&key, right, 1, 131072)? as u32);
            }
            ("brin", "autosummarize") => {
                let v = right.to_string().trim_matches('\'').to_lowercase();
                p.autosummarize = Some(match v.as_str() {
                    "on" | "true" | "yes" | "1" => true,
                    "off" | "false" | "no" | "0" => false,
                    _ => {
                        return Err(SqlError::InvalidParameterValue(format!(
                            "invalid value for boolean option \"autosummarize\": {v}"
                        )))
                    }
                });
            }
            _ => {
                return Err(SqlError::InvalidParameterValue(format!(
                    "unrecognized parameter \"{key}\""
                )))
            }
        }
    }
    Ok(p)
}

/// The fillfactor an index of `method` gets when none is given.
pub fn default_fillfactor(method: &str) -> u8 {
    match method {
        "hash" => 75,
        _ => 90,
    }
}

/// Refuse definitions the access method cannot serve, with Postgres's
/// messages (0A000).
fn check_capabilities(method: &str, ci: &ast::CreateIndex) -> Result<()> {
    let Some(kind) = sargdb_engine::IndexKind::from_name(method) else {
        return Ok(());
    };
    let caps = kind.capabilities();
    let refuse = |what: &str| {
        Err(SqlError::FeatureNotSupportedMsg(format!(
            "access method \"{method}\" does not support {what}"
        )))
    };
    if ci.unique && !caps.unique {
        return refuse("unique indexes");
    }
    if ci.columns.len() > 1 && !caps.multi_column {
        return refuse("multicolumn indexes");
    }
    if !ci.include.is_empty() && !caps.covering {
        return refuse("included columns");
    }
    if !caps.ordered
        && ci
            .columns
            .iter()
            .any(|c| c.column.options.sort.is_some() || c.column.options.nulls_first.is_some())
    {
        return refuse("ASC/DESC options");
    }
    Ok(())
}

/// Lock the named tables (those that exist) exclusively for this
/// transaction: DDL that reads or rewrites them must not race with writers.
pub fn lock_tables_exclusive(s: &mut Session, names: &[&ast::ObjectName]) -> Result<()> {
    // The DDL lock first, then tables: the same order in every DDL session.
    s.ddl_catalog()?;
    let cat = s.current_catalog();
    let sp = s.search_path();
    for n in names {
        if let Some(oid) = find_table_oid(&cat, &sp, n)? {
            s.lock_table(oid, LockMode::Exclusive, &object_parts(n)?.join("."))?;
        }
    }
    Ok(())
}

/// CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] [name] ON t ...
///
/// A plain build holds writers off the table until the creating transaction
/// ends. CONCURRENTLY never blocks them (see `build_concurrently`).
pub fn create_index(s: &mut Session, ci: &ast::CreateIndex) -> Result<StatementResult> {
    let sp = s.search_path();
    if ci.concurrently {
        if s.in_transaction_block() {
            return Err(SqlError::ActiveSqlTransaction(
                "CREATE INDEX CONCURRENTLY cannot run inside a transaction block".into(),
            ));
        }
        s.ddl_catalog()?;
    } else {
        lock_tables_exclusive(s, &[&ci.table_name])?;
    }
    let tctx = s.tctx().clone();
    let method = check_method(
        &ci.using
            .as_ref()
            .map(|u| u.to_string())
            .unwrap_or_else(|| "btree".into()),
    )?;
    check_capabilities(&method, ci)?;
    let st = s.ddl_catalog()?;
    let cat = st
        .catalog
        .as_mut()
        .ok_or_else(|| SqlError::Internal("catalog".into()))?;
    let Some(toid) = find_table_oid(cat, &sp, &ci.table_name)? else {
        return Err(SqlError::UndefinedTable {
            name: object_parts(&ci.table_name)?.join("."),
            position: None,
        });
    };
    let table = cat
        .tables
        .get(&toid)
        .cloned()
        .ok_or_else(|| SqlError::Internal("table".into()))?;
    // Key columns.
    let mut columns = vec![];
    let mut name_parts = vec![];
    {
        let scope = Scope::for_table(&table, &table.name);
        let mut b = Binder::new(cat, &sp, &tctx, "", vec![]);
        for ic in &ci.columns {
            let o = &ic.column;
            let descending = matches!(o.options.sort, Some(ast::OrderBySort::Desc));
            let nulls_first = o.options.nulls_first.unwrap_or(descending);
            let (column, expr, ty, part) = match &o.expr {
                ast::Expr::Identifier(i) => {
                    let n = ident_name(i);
                    let pos = table
                        .column_index(&n)
                        .ok_or_else(|| SqlError::UndefinedColumn {
                            name: n.clone(),
                            position: None,
                        })?;
                    (Some(pos), None, table.columns[pos].data_type.clone(), n)
                }
                e => {
                    let bound = b.bind_expr(e, &scope)?;
                    if bound.is_volatile() {
                        return Err(SqlError::InvalidObjectDefinition(
                            "functions in index expression must be marked IMMUTABLE".into(),
                        ));
                    }
                    let part = match e {
                        ast::Expr::Function(f) => object_parts(&f.name)?
                            .last()
                            .cloned()
                            .unwrap_or_else(|| "expr".into()),
                        ast::Expr::Nested(inner) => match &**inner {
                            ast::Expr::Function(f) => object_parts(&f.name)?
                                .last()
                                .cloned()
                                .unwrap_or_else(|| "expr".into()),
                            _ => "expr".into(),
                        },
                        _ => "expr".into(),
                    };
                    (None, Some(strip_parens(e).to_string()), bound.ty(), part)
                }
            };
            columns.push(IndexColumnDef {
                column,
                expr,
                data_type: ty,
                descending,
                nulls_first,
            });
            name_parts.push(part);
        }
        if let Some(p) = &ci.predicate {
            b.bind_condition(p, &scope, "WHERE")?;
        }
    }
    let include = ci
        .include
        .iter()
        .map(|i| {
            let n = ident_name(i);
            table.column_index(&n).ok_or(SqlError::UndefinedColumn {
                name: n,
                position: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // Postgres names an index after its INCLUDE columns too (`t_a_b_c_idx`).
    name_parts.extend(include.iter().map(|&c| table.columns[c].name.clone()));
    let name = match &ci.name {
        Some(n) => object_parts(n)?.last().cloned().unwrap_or_default(),
        None => choose_index_name(cat, &table.schema, &table.name, &name_parts, "idx"),
    };
    if cat.relation_exists(&table.schema, &name) {
        if ci.if_not_exists {
            s.notice(format!("relation \"{name}\" already exists, skipping"));
            return cmd("CREATE INDEX");
        }
        return Err(SqlError::DuplicateTable(name));
    }
    let params = index_params(&method, &ci.with)?;
    let fillfactor = params
        .fillfactor
        .unwrap_or_else(|| default_fillfactor(&method));
    let oid = cat.alloc_oid();
    let storage = cat.alloc_oid();
    let key_copies = key_copies_for(&method, &columns, &include);
    let def = IndexDef {
        oid,
        schema: table.schema.clone(),
        name,
        table: toid,
        method,
        unique: ci.unique,
        primary: false,
        key_copies,
        columns,
        include,
        predicate: ci.predicate.as_ref().map(|p| p.to_string()),
        fillfactor,
        pages_per_range: params.pages_per_range,
        autosummarize: params.autosummarize,
        storage,
        constraint: None,
        valid: !ci.concurrently,
    };
    cat.indexes.insert(oid, def);
    st.txn.drop_relation_on_abort(storage);
    s.log_catalog()?;
    if ci.concurrently {
        build_concurrently(s, oid, toid)?;
    } else {
        build(s, oid)?;
    }
    cmd("CREATE INDEX")
}

/// CREATE INDEX CONCURRENTLY, in Postgres's phases, without blocking writers:
/// 1. commit the index as not yet valid: from then on every write maintains
///    it (writers bind after taking their table lock), but no query reads it;
/// 2. wait until every transaction that held a lock on the table before that
///    commit has ended (they may have planned without the index);
/// 3. add an entry for every row version present (inserts are idempotent, so
///    entries concurrent writers add meanwhile do no harm), then check
///    uniqueness among live versions, and wait for every transaction holding
///    a snapshot (it may still see versions deleted before the fill, which
///    got no entry);
/// 4. mark the index valid.
///
/// A failure after step 1 leaves an invalid index behind, as in Postgres:
/// drop it and try again.
fn build_concurrently(s: &mut Session, index_oid: u32, table_oid: u32) -> Result<()> {
    fill_concurrently(s, index_oid, table_oid)?;
    let st = s.ddl_catalog()?;
    let cat = st
        .catalog
        .as_mut()
        .ok_or_else(|| SqlError::Internal("catalog".into()))?;
    if let Some(d) = cat.indexes.get_mut(&index_oid) {
        d.valid = true;
    }
    s.log_catalog()
}

/// Steps 1 to 3 of `build_concurrently`: the index (in the session's
/// catalog, not valid) is committed, filled without blocking writers, and
/// the filling committed.
fn fill_concurrently(s: &mut Session, index_oid: u32, table_oid: u32) -> Result<()> {
    s.commit_now()?;
    s.wait_for_table_lock_holders(table_oid)?;
    let (table, ix) = bound(s, index_oid)?;
    s.with_exec(|ctx| {
        let h = handle(ctx, &table, &ix)?;
        let mut keyed: Vec<(Vec<u8>, Vec<Value>, sargdb_engine::TupleId)> = vec![];
        for (tid, bytes, _) in ctx.txn.scan_dirty(table.storage)? {
            ctx.check_cancel()?;
            let row = crate::executor::decode_row_of(&table, &bytes, ctx)?;
            let Some(ek) = index_entry_key(&ix, &row, ctx)? else {
                continue;
            };
            h.insert(&ek.stored, tid)?;
            if ix.def.unique && !ek.vals.iter().any(|v| v.is_null()) {
                keyed.push((ek.key_part().to_vec(), ek.vals, tid));
            }
        }
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        for w in keyed.windows(2) {
            if w[0].0 == w[1].0 {
                let live = |tid| -> Result<bool> {
                    Ok(!matches!(
                        ctx.txn.unique_status(table.storage, tid)?,
                        sargdb_engine::UniqueStatus::Dead | sargdb_engine::UniqueStatus::DeadToAll
                    ))
                };
                if live(w[0].2)? && live(w[1].2)? {
                    let vals: Vec<String> =
                        w[0].1.iter().map(|v| v.to_text(&ctx.call.types)).collect();
                    return Err(SqlError::UniqueIndexBuild {
                        index: ix.def.name.clone(),
                        detail: Some(format!(
                            "Key ({})=({}) is duplicated.",
                            ix.key_names.join(", "),
                            vals.join(", ")
                        )),
                    });
                }
            }
        }
        Ok(())
    })?;
    s.commit_now()?;
    // Versions deleted before the fill have no entries; a transaction whose
    // snapshot still sees them must not read the index (Postgres waits for
    // older snapshots too).
    s.wait_for_current_snapshots()
}

fn strip_parens(e: &ast::Expr) -> &ast::Expr {
    match e {
        ast::Expr::Nested(inner) => strip_parens(inner),
        other => other,
    }
}

/// Bind an index of the session's current catalog.
fn bound(s: &mut Session, index_oid: u32) -> Result<(TableDef, BoundIndex)> {
    let cat = s.current_catalog();
    let sp = s.search_path();
    let tctx = s.tctx().clone();
    let def = cat
        .indexes
        .get(&index_oid)
        .cloned()
        .ok_or_else(|| SqlError::Internal("index vanished".into()))?;
    let table = cat
        .tables
        .get(&def.table)
        .cloned()
        .ok_or_else(|| SqlError::Internal("indexed table vanished".into()))?;
    let mut b = Binder::new(&cat, &sp, &tctx, "", vec![]);
    let bi = b.bind_index(&table, &def)?;
    Ok((table, bi))
}

/// Fill a new (empty) index from its table: every row version present,
/// duplicates of a unique index among them refused.
fn build(s: &mut Session, index_oid: u32) -> Result<()> {
    let (table, ix) = bound(s, index_oid)?;
    s.with_exec(|ctx| build_in(ctx, &table, &ix))
}

/// What one pass over (part of) the heap gathers for an index build: the
/// entries go to the index's build sink as the rows are read (BRIN folds
/// them into summaries; the B+Tree keeps a packed run that its thread sorts
/// at the end, `BuildSink::finish`; hash collects them). A unique index's
/// entries without NULLs go through `add_unique`: the build itself finds
/// duplicates on its sorted stream.
struct BuildInput {
    sink: Box<dyn BuildSink>,
    /// A primary-key column found NULL.
    null_in: Option<usize>,
    /// Reused from row to row: the decoded row and its encoded key.
    row: Vec<Value>,
    key: Vec<u8>,
}

impl BuildInput {
    fn new(h: &IndexHandle) -> Result<BuildInput> {
        Ok(BuildInput {
            sink: h.build_sink()?,
            null_in: None,
            row: vec![],
            key: vec![],
        })
    }

    /// The row decoded in `self.row`, for an index of plain columns: its key
    /// is encoded into a reused buffer.
    fn add_plain(&mut self, ix: &BoundIndex, tid: sargdb_engine::TupleId) -> Result<()> {
        let key_len = crate::executor::index_maint::plain_key_into(ix, &self.row, &mut self.key)?;
        if !(ix.def.unique || ix.def.primary) {
            return Ok(self.sink.add(&self.key, tid)?);
        }
        let row = &self.row;
        let null_at = ix.keys.iter().find_map(|k| match k {
            BoundExpr::Column(c, _) => row.get(*c).is_none_or(|v| v.is_null()).then_some(*c),
            _ => None,
        });
        self.add_keyed(ix, null_at, key_len, tid)
    }

    /// The key in `self.key` (`key_len` bytes of key columns) of a unique
    /// or primary-key index; `null_at`: a key column that is NULL.
    fn add_keyed(
        &mut self,
        ix: &BoundIndex,
        null_at: Option<usize>,
        key_len: usize,
        tid: sargdb_engine::TupleId,
    ) -> Result<()> {
        match null_at {
            Some(c) => {
                if ix.def.primary {
                    self.null_in = self.null_in.or(Some(c));
                }
                Ok(self.sink.add(&self.key, tid)?)
            }
            None if ix.def.unique => Ok(self.sink.add_unique(&self.key, key_len, tid)?),
            None => Ok(self.sink.add(&self.key, tid)?),
        }
    }

    /// A row of an index with expressions or a predicate, and its key.
    fn add(
        &mut self,
        ix: &BoundIndex,
        row: &[Value],
        tid: sargdb_engine::TupleId,
        key: Option<crate::executor::index_maint::EntryKey>,
    ) -> Result<()> {
        if ix.def.primary && self.null_in.is_none() {
            self.null_in = ix
                .def
                .columns
                .iter()
                .filter_map(|c| c.column)
                .find(|&c| row[c].is_null());
        }
        let Some(ek) = key else { return Ok(()) };
        if ix.def.unique && !ek.vals.iter().any(|v| v.is_null()) {
            return Ok(self.sink.add_unique(&ek.stored, ek.key_len, tid)?);
        }
        Ok(self.sink.add_owned(ek.stored, tid)?)
    }
}

/// Tables at least this large are read by two threads when the index's
/// keys are plain columns (no expression or predicate needs the executor).
const PARALLEL_BUILD_PAGES: u32 = 1024;

fn build_in(ctx: &mut ExecContext, table: &TableDef, ix: &BoundIndex) -> Result<()> {
    match build_from_table(ctx, table, ix)? {
        Some(dup) => {
            let vals = key_values_of(ctx, table, ix, dup)?;
            let vals: Vec<String> = vals.iter().map(|v| v.to_text(&ctx.call.types)).collect();
            Err(SqlError::UniqueIndexBuild {
                index: ix.def.name.clone(),
                detail: Some(format!(
                    "Key ({})=({}) is duplicated.",
                    ix.key_names.join(", "),
                    vals.join(", ")
                )),
            })
        }
        None => Ok(()),
    }
}

/// Fill the empty index `ix` from its table's rows; for a unique index
/// whose key two rows share, the tid of one of them (nothing is reported
/// for it yet: CREATE INDEX and COPY word it differently).
pub(crate) fn build_from_table(
    ctx: &mut ExecContext,
    table: &TableDef,
    ix: &BoundIndex,
) -> Result<Option<sargdb_engine::TupleId>> {
    let h = handle(ctx, table, ix)?;
    let needed = ix.columns_read(table.columns.len());
    let pages = ctx.txn.relation_pages(table.storage)?;
    let plain =
        ix.predicate.is_none() && ix.keys.iter().all(|k| matches!(k, BoundExpr::Column(..)));
    let txn: &sargdb_engine::Transaction = ctx.txn;
    let types = &ctx.call.types;
    // One part of the heap, for a plain-column index: keys are encoded from
    // the decoded columns directly.
    // A one-column key: only that column is decoded, straight from the
    // row's bytes.
    let single = crate::executor::index_maint::single_key_column(ix);
    // Rows per page as the last ANALYZE saw them, to size each sink.
    let density = ctx
        .catalog
        .stats
        .get(&table.oid)
        .filter(|s| s.relpages > 0)
        .map_or(0.0, |s| s.reltuples / s.relpages as f64);
    // The rows are read in place, under each page's read latch.
    let plain_part = |mut out: BuildInput, blocks: std::ops::Range<u32>| -> Result<BuildInput> {
        out.sink
            .reserve((density * blocks.len() as f64 * 1.05).min(1e9) as usize);
        txn.dirty_visit_blocks(table.storage, blocks, |tid, bytes| -> Result<()> {
            if let Some(c) = single {
                // None: the row predates the column (its default applies).
                if let Some(v) = sargdb_catalog::types::decode_column(bytes, c)? {
                    crate::executor::index_maint::value_key_into(ix, &v, &mut out.key)?;
                    if ix.def.unique || ix.def.primary {
                        let key_len = out.key.len();
                        out.add_keyed(ix, v.is_null().then_some(c), key_len, tid)?;
                    } else {
                        out.sink.add(&out.key, tid)?;
                    }
                    return Ok(());
                }
            }
            crate::executor::decode_masked_into(table, bytes, Some(&needed), types, &mut out.row)?;
            out.add_plain(ix, tid)
        })?;
        out.sink.finish()?;
        Ok(out)
    };
    let parts = if plain && pages >= PARALLEL_BUILD_PAGES {
        // Two halves of the heap, one per core.
        let (a, b) = (BuildInput::new(&h)?, BuildInput::new(&h)?);
        let mid = pages / 2;
        let (a, b) = std::thread::scope(|s| {
            let first = s.spawn(|| plain_part(a, 0..mid));
            let second = plain_part(b, mid..pages);
            (first.join(), second)
        });
        let a = a.map_err(|_| SqlError::Internal("index build thread panicked".into()))??;
        vec![a, b?]
    } else if plain {
        vec![plain_part(BuildInput::new(&h)?, 0..pages)?]
    } else {
        let mut out = BuildInput::new(&h)?;
        let mut scan = ctx.txn.dirty_scan(table.storage)?;
        while let Some(item) = scan.next(ctx.txn) {
            let (tid, bytes, _) = item?;
            let row = crate::executor::decode_masked(table, &bytes, Some(&needed), ctx)?;
            let key = index_entry_key(ix, &row, ctx)?;
            out.add(ix, &row, tid, key)?;
        }
        out.sink.finish()?;
        vec![out]
    };
    let mut null_in = None;
    let mut sinks = vec![];
    for p in parts {
        null_in = null_in.or(p.null_in);
        sinks.push(p.sink);
    }
    // A duplicate is reported before a NULL in a primary key, as Postgres
    // builds the index before it checks NOT NULL. Storage this transaction
    // created is filled without WAL and fsynced at commit.
    let unlogged = ctx.txn.begin_unlogged_build(ix.def.storage);
    let built = h.build_from(sinks);
    if unlogged {
        ctx.txn.end_unlogged_build(ix.def.storage);
    }
    match built {
        Err(sargdb_engine::EngineError::DuplicateKey { tid }) => return Ok(Some(tid)),
        r => r?,
    }
    if let Some(c) = null_in {
        return Err(SqlError::ColumnContainsNulls {
            column: table.columns[c].name.clone(),
            table: table.name.clone(),
        });
    }
    Ok(None)
}

/// The key values of the row version at `tid` in index `ix` (for a
/// duplicate-key message: found again by a scan, as the build keeps only
/// the encoded keys).
pub(crate) fn key_values_of(
    ctx: &mut ExecContext,
    table: &TableDef,
    ix: &BoundIndex,
    tid: sargdb_engine::TupleId,
) -> Result<Vec<Value>> {
    let needed = ix.columns_read(table.columns.len());
    let mut scan = ctx.txn.dirty_scan(table.storage)?;
    while let Some(item) = scan.next(ctx.txn) {
        let (t, bytes, _) = item?;
        if t == tid {
            let row = crate::executor::decode_masked(table, &bytes, Some(&needed), ctx)?;
            if let Some(ek) = index_entry_key(ix, &row, ctx)? {
                return Ok(ek.vals);
            }
        }
    }
    Err(SqlError::Internal(
        "index build: a duplicated key's row vanished".into(),
    ))
}

/// Keep constraint indexes in step with constraints (see the module docs).
pub fn reconcile(s: &mut Session) -> Result<()> {
    let mut to_build = vec![];
    {
        let Ok(st) = s.ddl_catalog_if_open() else {
            return Ok(());
        };
        let Some(st) = st else { return Ok(()) };
        let cat = st
            .catalog
            .as_mut()
            .ok_or_else(|| SqlError::Internal("catalog".into()))?;
        // Drop indexes whose table, constraint or columns are gone.
        let doomed: Vec<u32> = cat
            .indexes
            .values()
            .filter(|ix| match cat.tables.get(&ix.table) {
                None => true,
                Some(t) => {
                    ix.constraint
                        .is_some_and(|c| !t.constraints.iter().any(|k| k.oid == c))
                        || ix
                            .columns
                            .iter()
                            .filter_map(|c| c.column)
                            .chain(ix.include.iter().copied())
                            .any(|c| t.columns.get(c).is_none_or(|col| col.dropped))
                }
            })
            .map(|ix| ix.oid)
            .collect();
        let mut changed = !doomed.is_empty();
        for oid in doomed {
            if let Some(ix) = cat.indexes.remove(&oid) {
                st.txn.drop_relation_on_commit(ix.storage);
            }
        }
        // Create the index of every PRIMARY KEY / UNIQUE constraint lacking one.
        let mut missing: Vec<(u32, ConstraintDef)> = vec![];
        for t in cat.tables.values() {
            for c in &t.constraints {
                if matches!(
                    c.kind,
                    ConstraintKind::PrimaryKey(_) | ConstraintKind::Unique(_)
                ) && !cat.indexes.values().any(|ix| ix.constraint == Some(c.oid))
                {
                    missing.push((t.oid, c.clone()));
                }
            }
        }
        for (toid, c) in missing {
            let (cols, primary) = match &c.kind {
                ConstraintKind::PrimaryKey(k) => (k.clone(), true),
                ConstraintKind::Unique(k) => (k.clone(), false),
                ConstraintKind::Check(_) => continue,
            };
            let Some(t) = cat.tables.get(&toid) else {
                continue;
            };
            let columns: Vec<IndexColumnDef> = cols
                .iter()
                .map(|&p| IndexColumnDef {
                    column: Some(p),
                    expr: None,
                    data_type: t.columns[p].data_type.clone(),
                    descending: false,
                    nulls_first: false,
                })
                .collect();
            let schema = t.schema.clone();
            let oid = cat.alloc_oid();
            let storage = cat.alloc_oid();
            cat.indexes.insert(
                oid,
                IndexDef {
                    oid,
                    schema,
                    name: c.name.clone(),
                    table: toid,
                    method: "btree".into(),
                    unique: true,
                    primary,
                    key_copies: key_copies_for("btree", &columns, &c.include),
                    columns,
                    include: c.include.clone(),
                    predicate: None,
                    fillfactor: 90,
                    pages_per_range: None,
                    autosummarize: None,
                    storage,
                    constraint: Some(c.oid),
                    valid: true,
                },
            );
            st.txn.drop_relation_on_abort(storage);
            to_build.push(oid);
            changed = true;
        }
        if !changed {
            return Ok(());
        }
    }
    s.log_catalog()?;
    for oid in to_build {
        build(s, oid)?;
    }
    Ok(())
}

/// Give every index of a truncated table new, empty storage.
pub fn truncate_indexes(cat: &mut Catalog, txn: &mut sargdb_engine::Transaction, table_oid: u32) {
    let oids: Vec<u32> = cat.indexes_of(table_oid).map(|i| i.oid).collect();
    for oid in oids {
        let new_id = cat.alloc_oid();
        if let Some(ix) = cat.indexes.get_mut(&oid) {
            txn.drop_relation_on_commit(ix.storage);
            txn.drop_relation_on_abort(new_id);
            ix.storage = new_id;
            // New, empty storage: it takes the current entry format.
            ix.key_copies = key_copies_for(&ix.method, &ix.columns, &ix.include);
        }
    }
}

/// DROP INDEX [CONCURRENTLY] [IF EXISTS] name [, ...]
pub fn drop_indexes(
    s: &mut Session,
    if_exists: bool,
    names: &[ast::ObjectName],
) -> Result<StatementResult> {
    let sp = s.search_path();
    let mut notices = vec![];
    {
        let st = s.ddl_catalog()?;
        let cat = st
            .catalog
            .as_mut()
            .ok_or_else(|| SqlError::Internal("catalog".into()))?;
        let mut targets = vec![];
        for n in names {
            let display = object_parts(n)?.join(".");
            match find_index_oid(cat, &sp, n)? {
                Some(oid) => targets.push(oid),
                None if if_exists => {
                    notices.push(format!("index \"{display}\" does not exist, skipping"))
                }
                None => {
                    return Err(SqlError::UndefinedObject(format!(
                        "index \"{display}\" does not exist"
                    )))
                }
            }
        }
        for oid in &targets {
            let ix = &cat.indexes[oid];
            if let Some(c) = ix.constraint {
                let t = cat.tables.get(&ix.table);
                let cname = t
                    .and_then(|t| t.constraints.iter().find(|k| k.oid == c))
                    .map(|k| k.name.clone())
                    .unwrap_or_default();
                let tname = t.map(|t| t.name.clone()).unwrap_or_default();
                return Err(SqlError::DependentObjectsStillExist {
                    message: format!("cannot drop index {} because constraint {cname} on table {tname} requires it", ix.name),
                    detail: None,
                });
            }
        }
        for oid in targets {
            if let Some(ix) = cat.indexes.remove(&oid) {
                st.txn.drop_relation_on_commit(ix.storage);
            }
        }
    }
    for n in notices {
        s.notice(n);
    }
    s.log_catalog()?;
    cmd("DROP INDEX")
}

/// ALTER INDEX name RENAME TO new
pub fn alter_index(
    s: &mut Session,
    name: &ast::ObjectName,
    op: &ast::AlterIndexOperation,
) -> Result<StatementResult> {
    let sp = s.search_path();
    let st = s.ddl_catalog()?;
    let cat = st
        .catalog
        .as_mut()
        .ok_or_else(|| SqlError::Internal("catalog".into()))?;
    let Some(oid) = find_index_oid(cat, &sp, name)? else {
        return Err(SqlError::UndefinedTable {
            name: object_parts(name)?.join("."),
            position: None,
        });
    };
    match op {
        ast::AlterIndexOperation::RenameIndex { index_name } => {
            let new = object_parts(index_name)?
                .last()
                .cloned()
                .unwrap_or_default();
            let (schema, table, constraint) = {
                let ix = &cat.indexes[&oid];
                (ix.schema.clone(), ix.table, ix.constraint)
            };
            if cat.relation_exists(&schema, &new) {
                return Err(SqlError::DuplicateTable(new));
            }
            if let Some(ix) = cat.indexes.get_mut(&oid) {
                ix.name = new.clone();
            }
            // Renaming a constraint's index renames the constraint, as in Postgres.
            if let (Some(c), Some(t)) = (constraint, cat.tables.get_mut(&table)) {
                if let Some(k) = t.constraints.iter_mut().find(|k| k.oid == c) {
                    k.name = new;
                }
            }
        }
    }
    s.log_catalog()?;
    cmd("ALTER INDEX")
}

/// The indexes a REINDEX names, by oid.
fn reindex_targets(
    cat: &Catalog,
    sp: &[String],
    kind: ReindexKind,
    name: &ast::ObjectName,
) -> Result<Vec<u32>> {
    let display = object_parts(name)?.join(".");
    Ok(match kind {
        ReindexKind::Index => match find_index_oid(cat, sp, name)? {
            Some(o) => vec![o],
            None => {
                return Err(SqlError::UndefinedTable {
                    name: display,
                    position: None,
                })
            }
        },
        ReindexKind::Table => match find_table_oid(cat, sp, name)? {
            Some(t) => cat.indexes_of(t).map(|i| i.oid).collect(),
            None => {
                return Err(SqlError::UndefinedTable {
                    name: display,
                    position: None,
                })
            }
        },
        ReindexKind::Schema => {
            if cat.schema(&display).is_none() {
                return Err(SqlError::UndefinedSchema(display));
            }
            cat.indexes
                .values()
                .filter(|i| i.schema == display)
                .map(|i| i.oid)
                .collect()
        }
        ReindexKind::Database | ReindexKind::System => cat.indexes.keys().copied().collect(),
    })
}

/// REINDEX INDEX | TABLE | SCHEMA | DATABASE name: rebuild into new storage
/// (an invalid index left by a failed concurrent build becomes valid).
fn reindex(s: &mut Session, kind: ReindexKind, name: &ast::ObjectName) -> Result<StatementResult> {
    let sp = s.search_path();
    let oids: (Vec<u32>, Vec<u32>) = {
        let st = s.ddl_catalog()?;
        let cat = st
            .catalog
            .as_mut()
            .ok_or_else(|| SqlError::Internal("catalog".into()))?;
        let oids = reindex_targets(cat, &sp, kind, name)?;
        let tables: Vec<u32> = oids
            .iter()
            .filter_map(|o| cat.indexes.get(o))
            .map(|i| i.table)
            .collect();
        for oid in &oids {
            let new_id = cat.alloc_oid();
            if let Some(ix) = cat.indexes.get_mut(oid) {
                st.txn.drop_relation_on_commit(ix.storage);
                st.txn.drop_relation_on_abort(new_id);
                ix.storage = new_id;
                ix.valid = true;
                // The rebuilt storage takes the current entry format (an
                // index built before key copies existed gains them).
                ix.key_copies = key_copies_for(&ix.method, &ix.columns, &ix.include);
            }
        }
        (oids, tables)
    };
    let (oids, tables) = oids;
    for t in tables {
        s.lock_table(t, LockMode::Exclusive, "the indexed table")?;
    }
    s.log_catalog()?;
    for oid in oids {
        build(s, oid)?;
        s.engine()
            .relation_stats()
            .get(oid)
            .touch(sargdb_engine::stats::Counter::LastRebuilt);
    }
    cmd("REINDEX")
}

/// REINDEX ... CONCURRENTLY, in Postgres's phases, one index at a time,
/// without blocking writers:
/// 1. a copy of the index, `<name>_ccnew`, not valid, is committed; from then
///    on writers maintain both, and queries keep using the original;
/// 2. the copy is filled like CREATE INDEX CONCURRENTLY (`fill_concurrently`);
/// 3. one transaction swaps them: the original index (same oid, name and
///    constraint) takes the copy's storage and becomes valid, the copy's
///    catalog entry goes;
/// 4. after every transaction that locked the table before the swap has
///    ended (writers planned then still add entries to the old storage), the
///    old storage is dropped.
///
/// A failure in step 2 (duplicates in a unique index) leaves the invalid
/// `<name>_ccnew` behind, as Postgres does; the original stays as it was.
fn reindex_concurrently(
    s: &mut Session,
    kind: ReindexKind,
    name: &ast::ObjectName,
) -> Result<StatementResult> {
    let sp = s.search_path();
    let oids = {
        let cat = s.current_catalog();
        reindex_targets(&cat, &sp, kind, name)?
    };
    // Postgres rebuilds no system catalogs concurrently; sargdb's catalog
    // has no index storage of its own, so every target is a user index.
    for oid in oids {
        let (copy_oid, table_oid, old_storage) = {
            let st = s.ddl_catalog()?;
            let cat = st
                .catalog
                .as_mut()
                .ok_or_else(|| SqlError::Internal("catalog".into()))?;
            let Some(orig) = cat.indexes.get(&oid).cloned() else {
                continue; // dropped meanwhile
            };
            let table = cat
                .tables
                .get(&orig.table)
                .ok_or_else(|| SqlError::Internal("indexed table vanished".into()))?;
            let copy_name =
                choose_relation_name(cat, &table.schema, &format!("{}_ccnew", orig.name));
            let copy_oid = cat.alloc_oid();
            let storage = cat.alloc_oid();
            let copy = IndexDef {
                oid: copy_oid,
                name: copy_name,
                storage,
                primary: false,
                constraint: None,
                valid: false,
                key_copies: key_copies_for(&orig.method, &orig.columns, &orig.include),
                ..orig.clone()
            };
            cat.indexes.insert(copy_oid, copy);
            st.txn.drop_relation_on_abort(storage);
            (copy_oid, orig.table, orig.storage)
        };
        s.log_catalog()?;
        fill_concurrently(s, copy_oid, table_oid)?;
        {
            let st = s.ddl_catalog()?;
            let cat = st
                .catalog
                .as_mut()
                .ok_or_else(|| SqlError::Internal("catalog".into()))?;
            let Some(copy) = cat.indexes.remove(&copy_oid) else {
                return Err(SqlError::Internal("index copy vanished".into()));
            };
            match cat.indexes.get_mut(&oid) {
                Some(orig) => {
                    orig.storage = copy.storage;
                    orig.key_copies = copy.key_copies;
                    orig.valid = true;
                }
                // The original was dropped meanwhile: the copy goes too.
                None => st.txn.drop_relation_on_commit(copy.storage),
            }
        }
        s.log_catalog()?;
        s.commit_now()?;
        s.wait_for_table_lock_holders(table_oid)?;
        // Queries planned before the swap may still be reading the old
        // storage (readers take no table lock).
        s.wait_for_current_snapshots()?;
        s.ddl_catalog()?.txn.drop_relation_on_commit(old_storage);
        s.commit_now()?;
        s.engine()
            .relation_stats()
            .get(oid)
            .touch(sargdb_engine::stats::Counter::LastRebuilt);
    }
    cmd("REINDEX")
}

/// VACUUM / REINDEX given as `parser::Maintenance`.
pub fn maintenance(s: &mut Session, m: &Maintenance) -> Result<StatementResult> {
    match m {
        Maintenance::Checkpoint => {
            s.engine().checkpoint()?;
            cmd("CHECKPOINT")
        }
        Maintenance::Reindex {
            kind,
            name,
            concurrently,
        } => {
            if *concurrently && s.in_transaction_block() {
                return Err(SqlError::ActiveSqlTransaction(
                    "REINDEX CONCURRENTLY cannot run inside a transaction block".into(),
                ));
            }
            if *concurrently {
                reindex_concurrently(s, *kind, name)
            } else {
                reindex(s, *kind, name)
            }
        }
        Maintenance::Vacuum {
            table,
            analyze: also_analyze,
            ..
        } => {
            if s.in_transaction_block() {
                return Err(SqlError::ActiveSqlTransaction(
                    "VACUUM cannot run inside a transaction block".into(),
                ));
            }
            let cat = s.current_catalog();
            let sp = s.search_path();
            let tables: Vec<TableDef> = match table {
                Some(n) => match find_table_oid(&cat, &sp, n)? {
                    Some(o) => vec![cat.tables[&o].clone()],
                    None => {
                        return Err(SqlError::UndefinedTable {
                            name: object_parts(n)?.join("."),
                            position: None,
                        })
                    }
                },
                None => cat.tables.values().cloned().collect(),
            };
            let engine = s.engine().clone();
            // Make sure every index of the table is open so VACUUM cleans it.
            for t in &tables {
                let sp2 = sp.clone();
                let tctx = s.tctx().clone();
                let mut b = Binder::new(&cat, &sp2, &tctx, "", vec![]);
                let access = b.table_access(t)?;
                s.with_exec(|ctx| {
                    for ix in &access.indexes {
                        handle(ctx, t, ix)?;
                    }
                    Ok(())
                })?;
            }
            for t in &tables {
                engine.vacuum(t.storage)?;
            }
            if *also_analyze {
                analyze_tables(s, &tables)?;
            }
            cmd("VACUUM")
        }
    }
}

/// ANALYZE [table]
pub fn analyze(s: &mut Session, a: &ast::Analyze) -> Result<StatementResult> {
    let cat = s.current_catalog();
    let sp = s.search_path();
    let tables: Vec<TableDef> = match &a.table_name {
        Some(n) => match find_table_oid(&cat, &sp, n)? {
            Some(o) => vec![cat.tables[&o].clone()],
            None => {
                return Err(SqlError::UndefinedTable {
                    name: object_parts(n)?.join("."),
                    position: None,
                })
            }
        },
        None => cat.tables.values().cloned().collect(),
    };
    analyze_tables(s, &tables)?;
    cmd("ANALYZE")
}

/// Rows ANALYZE samples per table (Postgres: 300 x default_statistics_target).
const SAMPLE_ROWS: usize = 30_000;
const STATS_TARGET: usize = 100;

fn analyze_tables(s: &mut Session, tables: &[TableDef]) -> Result<()> {
    let engine = s.engine().clone();
    let mut results = vec![];
    for t in tables {
        // What auto-analyze counts restarts from this analysis.
        engine.take_modifications(t.storage);
        let pages = engine.relation_pages(t.storage)?;
        let stats = s.with_exec(|ctx| {
            // A reservoir sample in physical order (so the correlation with
            // physical order, which decides BRIN and index-order costs, does
            // not see the reservoir's shuffling); only the chosen rows are
            // copied and decoded.
            let (raw, seen) = ctx.txn.sample(t.storage, SAMPLE_ROWS)?;
            ctx.check_cancel()?;
            // Decoded a column at a time: the sample is never held decoded
            // whole (30,000 rows of values and strings, fresh memory the
            // kernel must first zero, was half of a first ANALYZE's time).
            let types = &ctx.call.types;
            let column = |ci: usize, each: &mut dyn FnMut(usize, Value)| -> Result<()> {
                let mut row = Vec::new();
                let mut mask = vec![false; t.columns.len()];
                mask[ci] = true;
                for (pos, bytes) in raw.iter().enumerate() {
                    crate::executor::decode_masked_into(t, bytes, Some(&mask), types, &mut row)?;
                    each(pos, std::mem::replace(&mut row[ci], Value::Null));
                }
                Ok(())
            };
            let seen = seen as usize;
            Ok((
                table_stats(t, raw.len(), &column, seen as f64, pages)?,
                seen,
            ))
        })?;
        let (stats, seen) = stats;
        note_analyze(&engine, t.oid, seen as u64, s.is_autovacuum_worker());
        results.push((t.oid, stats));
    }
    let st = s.ddl_catalog()?;
    let cat = st
        .catalog
        .as_mut()
        .ok_or_else(|| SqlError::Internal("catalog".into()))?;
    for (oid, stats) in results {
        cat.stats.insert(oid, std::sync::Arc::new(stats));
    }
    s.log_catalog()
}

/// What a finished ANALYZE tells the table's activity counters.
fn note_analyze(engine: &sargdb_engine::Engine, table: u32, live: u64, auto: bool) {
    use sargdb_engine::stats::Counter;
    let st = engine.relation_stats().get(table);
    st.set(Counter::LiveTup, live);
    st.set(Counter::ModSinceAnalyze, 0);
    if auto {
        st.touch(Counter::LastAutoanalyze);
        st.add(Counter::AutoanalyzeCount, 1);
    } else {
        st.touch(Counter::LastAnalyze);
        st.add(Counter::AnalyzeCount, 1);
    }
}

/// How many of the most common value candidates (counts, most frequent
/// first) are worth keeping when the sample is not the whole table:
/// Postgres's analyze_mcv_list, which keeps a value only if its count is
/// well above (two standard errors) what an average other value would have.
fn mcv_worth_keeping(
    counts: &[usize],
    n_distinct: f64,
    null_frac: f64,
    n: f64,
    total: f64,
) -> usize {
    let nd_table = if n_distinct < 0.0 {
        -n_distinct * total
    } else {
        n_distinct
    };
    let mut keep = counts.len();
    let mut sum: f64 = counts[..keep - 1].iter().map(|&c| c as f64).sum();
    while keep > 0 {
        let last = counts[keep - 1] as f64;
        let mut selec = (1.0 - sum / n - null_frac).clamp(0.0, 1.0);
        let other = nd_table - (keep as f64 - 1.0);
        if other > 1.0 {
            selec /= other;
        }
        if last > selec * n {
            let k = total * last / n;
            let variance = n * k * (total - k) * (total - n) / (total * total * (total - 1.0));
            if last > selec * n + 2.0 * variance.sqrt() + 0.5 {
                break;
            }
        }
        keep -= 1;
        if keep == 0 {
            break;
        }
        sum -= counts[keep - 1] as f64;
    }
    keep
}

/// Bytes a value takes in a Postgres heap tuple (pg_stats.avg_width):
/// the fixed length of fixed-width types; for variable-length ones the
/// data plus a 1-byte header (4 bytes past 126 bytes of data). Numeric is
/// counted as Postgres stores it (a 2-byte header and 2 bytes per group
/// of 4 decimal digits); json/jsonb and arrays by their text form.
fn stored_width(v: &Value, ty: &sargdb_catalog::DataType) -> usize {
    let len = ty.type_len();
    if len > 0 {
        return len as usize;
    }
    let data = match v {
        Value::Text(s) => s.len(),
        Value::Bytea(b) => b.len(),
        Value::Numeric(sargdb_catalog::types::Numeric::Finite(_)) => {
            2 + 2 * numeric_groups(&v.to_text(&Default::default()))
        }
        Value::Numeric(_) => 2,
        other => other.to_text(&Default::default()).len(),
    };
    data + if data < 127 { 1 } else { 4 }
}

/// Base-10000 digit groups Postgres keeps for a decimal number (leading
/// and trailing zero groups dropped).
fn numeric_groups(text: &str) -> usize {
    let t = text.trim_start_matches('-');
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let int = int.trim_start_matches('0');
    let mut digits = String::new();
    // Pad the integer part on the left and the fraction on the right to
    // whole groups, aligned at the decimal point.
    let pad = (4 - int.len() % 4) % 4;
    digits.extend(std::iter::repeat_n('0', pad));
    digits.push_str(int);
    digits.push_str(frac);
    let fpad = (4 - frac.len() % 4) % 4;
    digits.extend(std::iter::repeat_n('0', fpad));
    let groups: Vec<&str> = digits
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or("0000"))
        .collect();
    let first = groups.iter().position(|g| *g != "0000");
    let last = groups.iter().rposition(|g| *g != "0000");
    match (first, last) {
        (Some(a), Some(b)) => b - a + 1,
        _ => 0,
    }
}

/// One sampled value of a column in `table_stats`: its key encoding at
/// `at..at + len` of the column's arena, that key's first eight bytes
/// (`key_prefix`, compared first), the row's position in the sample, and
/// the value's rank among the column's non-null values in physical order.
struct SampleKey {
    prefix: u64,
    at: u32,
    len: u32,
    pos: u32,
    rank: u32,
}

/// Samples at least this large have their columns' statistics computed by
/// two threads (each column is independent of the others).
const PARALLEL_ANALYZE_ROWS: usize = 4096;

/// The statistics of `t` from a sample of `rows` rows, `column(ci, each)`
/// visiting column `ci`'s sampled values with their sample positions.
/// With a large sample and more than one column, two threads share the
/// columns, the widest first (a column's cost grows with its values'
/// size).
fn table_stats(
    t: &TableDef,
    rows: usize,
    column: &(dyn Fn(usize, &mut dyn FnMut(usize, Value)) -> Result<()> + Sync),
    total: f64,
    pages: u32,
) -> Result<TableStats> {
    let n = rows as f64;
    let mut todo: Vec<usize> = (0..t.columns.len())
        .filter(|&ci| !t.columns[ci].dropped && n > 0.0)
        .collect();
    let mut done: Vec<Option<Result<ColumnStats>>> = (0..t.columns.len()).map(|_| None).collect();
    if rows >= PARALLEL_ANALYZE_ROWS && todo.len() >= 2 {
        // Variable-length types (type_len < 0) first, then wider ones.
        todo.sort_by_key(|&ci| {
            let len = t.columns[ci].data_type.type_len();
            if len < 0 {
                i32::MIN
            } else {
                -i32::from(len)
            }
        });
        let next = std::sync::atomic::AtomicUsize::new(0);
        let work = || {
            let mut out = vec![];
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&ci) = todo.get(i) else {
                    return out;
                };
                let r = column_stats(&t.columns[ci], ci, rows, column, total);
                let failed = r.is_err();
                out.push((ci, r));
                if failed {
                    // Let the other thread run out of columns too.
                    next.store(todo.len(), std::sync::atomic::Ordering::Relaxed);
                    return out;
                }
            }
        };
        let (a, b) = std::thread::scope(|s| {
            let first = s.spawn(work);
            let second = work();
            (first.join(), second)
        });
        let a = a.map_err(|_| SqlError::Internal("ANALYZE thread panicked".into()))?;
        for (ci, r) in a.into_iter().chain(b) {
            done[ci] = Some(r);
        }
    } else {
        for &ci in &todo {
            done[ci] = Some(column_stats(&t.columns[ci], ci, rows, column, total));
        }
    }
    let mut columns = Vec::with_capacity(done.len());
    for r in done {
        columns.push(match r {
            Some(r) => r?,
            None => ColumnStats::default(),
        });
    }
    Ok(TableStats {
        reltuples: total,
        relpages: pages,
        columns,
    })
}

/// One column's statistics (`table_stats`).
fn column_stats(
    c: &ColumnDef,
    ci: usize,
    rows: usize,
    column: &(dyn Fn(usize, &mut dyn FnMut(usize, Value)) -> Result<()> + Sync),
    total: f64,
) -> Result<ColumnStats> {
    let n = rows as f64;
    {
        // Encoded values (ascending key order = sort order), packed in one
        // arena, each with its sample position and its rank in physical
        // order (the order they are found in). One sort by (key, position)
        // then gives the distinct values as runs (their counts, and the
        // first position of each: of equal values that print differently,
        // 1.5 and 1.50, Postgres keeps that one), the histogram's order and
        // the value ranks for the correlation, with no hashing and no
        // allocation per value.
        // The column's values are visited one at a time and dropped (only
        // a type with exact hints keeps them, for the hints below), so the
        // sample is never held decoded.
        let hinted = has_exact_hint(&c.data_type);
        let mut kept: Vec<Value> = Vec::new();
        let mut arena: Vec<u8> = Vec::new();
        let mut vals: Vec<SampleKey> = Vec::with_capacity(rows);
        let mut nulls = 0usize;
        let mut widths = 0usize;
        column(ci, &mut |pos, v| {
            if v.is_null() {
                nulls += 1;
            } else {
                widths += stored_width(&v, &c.data_type);
                let at = arena.len();
                if encode_key_value(&v, &c.data_type, KeyColumn::ASC, &mut arena).is_ok() {
                    if vals.is_empty() {
                        // Room for every key at twice the first one's
                        // length (at most 16 MB): growing by doubling from
                        // nothing would copy the keys again and again, each
                        // time into memory not touched before (page faults
                        // are much of a first ANALYZE's time). What is not
                        // used is never touched.
                        let first = arena.len() - at;
                        let room = rows.saturating_mul(first.max(8)).saturating_mul(2);
                        arena.reserve(room.min(16 << 20));
                    }
                    let key = &arena[at..];
                    vals.push(SampleKey {
                        prefix: key_prefix(key),
                        at: at as u32,
                        len: key.len() as u32,
                        pos: pos as u32,
                        rank: vals.len() as u32,
                    });
                } else {
                    arena.truncate(at);
                }
            }
            if hinted {
                kept.push(v);
            }
        })?;
        let key_of = |k: &SampleKey| &arena[k.at as usize..(k.at + k.len) as usize];
        vals.sort_unstable_by(|a, b| {
            a.prefix
                .cmp(&b.prefix)
                .then_with(|| key_of(a).cmp(key_of(b)))
                .then(a.pos.cmp(&b.pos))
        });
        // The distinct values: (first index in `vals`, count), in value order.
        let mut runs: Vec<(usize, usize)> = Vec::with_capacity(vals.len());
        for (i, k) in vals.iter().enumerate() {
            match runs.last_mut() {
                Some((first, count))
                    if vals[*first].prefix == k.prefix && key_of(&vals[*first]) == key_of(k) =>
                {
                    *count += 1
                }
                _ => runs.push((i, 1)),
            }
        }
        let nonnull = vals.len() as f64;
        let hint_of = |pos: u32| {
            let mut h = vec![];
            encode_exact_hint(&kept[pos as usize], &c.data_type, &mut h);
            h
        };
        let distinct = runs.len() as f64;
        let singles = runs.iter().filter(|r| r.1 == 1).count() as f64;
        let multiple = distinct - singles;
        // Postgres's compute_scalar_stats: all values distinct -> scales
        // with the table; every value repeated -> we saw them all;
        // otherwise the Haas-Stokes estimator.
        // (Postgres keeps the null fraction as a float4 before using it.)
        let null_frac_f4 = f64::from((nulls as f64 / n) as f32);
        let mut n_distinct = if vals.is_empty() {
            0.0
        } else if multiple == 0.0 {
            -(1.0 - null_frac_f4)
        } else if singles == 0.0 {
            distinct
        } else {
            let d = n * distinct / (n - singles + singles * n / total.max(n));
            d.clamp(distinct, total.max(distinct)).round()
        };
        if n_distinct > 0.1 * total {
            n_distinct = -(n_distinct / total.max(1.0));
        }
        // Most common values (Postgres's rule): candidates are the values
        // seen more than once, most frequent first (ties in value order:
        // the runs are in value order and the sort is stable).
        // If they are every distinct value and fit, all are kept; otherwise
        // (and unless the whole table was read) only those clearly more
        // common than the rest (analyze_mcv_list).
        let mut common: Vec<(usize, usize)> = runs.iter().copied().filter(|r| r.1 > 1).collect();
        common.sort_by_key(|r| std::cmp::Reverse(r.1));
        common.truncate(STATS_TARGET);
        let all_fit = common.len() as f64 == distinct && n_distinct > 0.0;
        if !all_fit && !common.is_empty() && n < total {
            let keep = mcv_worth_keeping(
                &common.iter().map(|c| c.1).collect::<Vec<_>>(),
                n_distinct,
                nulls as f64 / n,
                n,
                total,
            );
            common.truncate(keep);
        }
        let mcv: Vec<(Vec<u8>, f64)> = common
            .iter()
            .map(|&(first, count)| (key_of(&vals[first]).to_vec(), count as f64 / n))
            .collect();
        let mcv_hints: Vec<Vec<u8>> = if hinted {
            common
                .iter()
                .map(|&(first, _)| hint_of(vals[first].pos))
                .collect()
        } else {
            vec![]
        };
        // Histogram over the rest: up to STATS_TARGET + 1 bounds, no more
        // than the distinct values left, equally spaced over those values
        // in order (duplicates included), as Postgres picks them.
        // Sorted by value, equal values in sample order (as Postgres's
        // compare_scalars breaks ties), so a bound is a sampled value.
        let mut in_common = vec![false; vals.len()];
        for &(first, count) in &common {
            in_common[first..first + count].fill(true);
        }
        let rest: Vec<&SampleKey> = vals
            .iter()
            .zip(&in_common)
            .filter(|(_, &c)| !c)
            .map(|(k, _)| k)
            .collect();
        let rest_distinct = runs.len().saturating_sub(common.len());
        let num_hist = rest_distinct.min(STATS_TARGET + 1);
        let mut histogram = vec![];
        let mut histogram_hints = vec![];
        if num_hist >= 2 {
            for i in 0..num_hist {
                let k = rest[i * (rest.len() - 1) / (num_hist - 1)];
                histogram.push(key_of(k).to_vec());
                if hinted {
                    histogram_hints.push(hint_of(k.pos));
                }
            }
        }
        // Average stored width of the non-null values.
        let avg_width = if c.data_type.type_len() > 0 {
            i32::from(c.data_type.type_len())
        } else if vals.is_empty() {
            0
        } else {
            (widths as f64 / nonnull) as i32
        };
        // Correlation between physical position and value rank (`vals`
        // is in value order; `rank` is the physical one).
        let m = vals.len() as f64;
        let correlation = if m > 1.0 {
            let mean = (m - 1.0) / 2.0;
            let (mut sxy, mut sxx) = (0.0, 0.0);
            for (vr, k) in vals.iter().enumerate() {
                let pr = k.rank as f64;
                sxy += (vr as f64 - mean) * (pr - mean);
                sxx += (vr as f64 - mean) * (vr as f64 - mean);
            }
            if sxx > 0.0 {
                sxy / sxx
            } else {
                1.0
            }
        } else {
            1.0
        };
        Ok(ColumnStats {
            null_frac: nulls as f64 / n,
            n_distinct,
            mcv,
            histogram,
            correlation,
            avg_width,
            mcv_hints,
            histogram_hints,
        })
    }
}
