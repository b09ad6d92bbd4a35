//! Sessions: one per client connection; and the shared `Database`.
//!
//! A session owns its transaction state machine (Idle / InBlock / Failed),
//! the implicit transaction of a simple-query message, savepoints, settings,
//! prepared statements' plans and currval state. DDL is transactional: the
//! first DDL of a transaction takes the global DDL lock (held to commit or
//! abort) and works on a private copy of the catalog, logged with the
//! transaction and published at commit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use sargdb_catalog::types::{parse_timezone, TypeContext};
use sargdb_catalog::{Catalog, DataType, Value};
use sargdb_engine::stats::ThreadIo;
use sargdb_engine::{CommitStart, Engine, EngineConfig, IsolationLevel, Transaction};

use crate::binder::{Binder, OutCol};
use crate::error::{Result, SqlError};
use crate::executor::{self, ExecContext};
use crate::functions::CallContext;
use crate::locks::{LockManager, LockMode, DDL_LOCK};
use crate::memory::MEMORY;
use crate::parser::{self, ast, SqlStatement};
use crate::planner::{self, plan::Plan};
use crate::settings::Settings;
use crate::statements::{StatementEntry, STATEMENTS};

/// Everything needed to open a database.
#[derive(Clone, Debug)]
pub struct DatabaseConfig {
    pub engine: EngineConfig,
}

/// The shared state of one running server: engine, catalog, settings.
pub struct Database {
    pub(crate) engine: Arc<Engine>,
    catalog: RwLock<Arc<Catalog>>,
    pub(crate) locks: Arc<LockManager>,
    pub(crate) seq_lock: Mutex<()>,
    /// Stops the auto-analyze thread.
    stop: Arc<AtomicBool>,
}

impl Database {
    pub fn open(cfg: DatabaseConfig) -> Result<Arc<Database>> {
        let engine = Engine::open(cfg.engine)?;
        // Spill files are unlinked when made; one a crash caught between
        // creating and unlinking it would be left here, and nothing else
        // uses the directory (executor::spill).
        crate::executor::remove_spill_files(&engine.config().data_dir);
        let catalog = match engine.catalog_blob() {
            Some(b) => Catalog::from_blob(&b).map_err(|e| SqlError::Internal(e.to_string()))?,
            None => Catalog::default(),
        };
        // Open every index now: VACUUM (and autovacuum) of a table must clean
        // all its indexes before freeing heap slots, even indexes no
        // statement has touched since the server started.
        for ix in catalog.indexes.values() {
            let (Some(table), Some(kind)) = (
                catalog.tables.get(&ix.table),
                sargdb_engine::IndexKind::from_name(&ix.method),
            ) else {
                continue;
            };
            engine.open_index(
                table.storage,
                ix.storage,
                kind,
                crate::executor::index_maint::index_options(ix),
            )?;
        }
        // Nothing runs yet: every relation absent from the catalog is gone.
        sync_relation_stats(&engine, &catalog, u32::MAX);
        // pg_stat_statements is saved with the counters at checkpoints.
        let reg = engine.relation_stats();
        if let Some(blob) = reg.take_loaded_extension() {
            if let Err(e) = STATEMENTS.restore(&blob) {
                tracing::warn!("statement statistics ignored: {e}");
            }
        }
        reg.set_extension(Arc::new(|| STATEMENTS.encode()));
        let db = Arc::new(Database {
            engine,
            catalog: RwLock::new(Arc::new(catalog)),
            locks: Arc::new(LockManager::default()),
            seq_lock: Mutex::new(()),
            stop: Arc::new(AtomicBool::new(false)),
        });
        let weak = Arc::downgrade(&db);
        let stop = db.stop.clone();
        std::thread::Builder::new()
            .name("sargdb-autoanalyze".into())
            .spawn(move || auto_analyze(weak, stop))
            .map_err(|e| SqlError::Internal(format!("could not start auto-analyze: {e}")))?;
        Ok(db)
    }
    /// Clean shutdown: final checkpoint.
    pub fn shutdown(&self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        self.engine.shutdown()?;
        Ok(())
    }
    /// The committed catalog.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.read().clone()
    }
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Optimize a bound plan with the tables' current sizes, and the plans
    /// of the subqueries in its expressions likewise (so a correlated
    /// subquery probes an index with its outer values).
    pub(crate) fn plan(&self, mut p: Plan) -> Plan {
        p.annotate_sizes(&|storage| {
            (
                self.engine.relation_pages(storage).unwrap_or(0),
                self.engine.all_visible_pages(storage),
            )
        });
        p.map_subquery_plans(&|sub| self.plan(sub));
        planner::plan(p)
    }
}

/// Add one execution to a pg_stat_statements entry: time since `started`
/// (of which `planned` went to binding and planning), rows returned or
/// changed, buffer and WAL activity of this thread since `io`.
fn record_statement(
    e: &StatementEntry,
    started: Instant,
    planned: Option<Duration>,
    io: &ThreadIo,
    res: &StatementResult,
) {
    let elapsed = started.elapsed();
    let now = sargdb_engine::stats::thread_io();
    let rows = match res {
        StatementResult::Rows { rows, .. } => rows.len() as u64,
        StatementResult::Command { tag } => {
            let counted = ["INSERT", "UPDATE", "DELETE", "MERGE", "COPY", "SELECT"];
            if counted.iter().any(|k| tag.starts_with(k)) {
                tag.rsplit(' ')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0)
            } else {
                0
            }
        }
        StatementResult::Empty => 0,
    };
    e.record(planned, elapsed, rows, &now.since(io));
}

/// Tell the statistics registry which relations exist and where they are
/// stored (VACUUM counts by storage); relations with an oid below
/// `dropped_below` that the catalog lacks were dropped.
fn sync_relation_stats(engine: &Engine, catalog: &Catalog, dropped_below: u32) {
    use sargdb_engine::stats::KnownRelation;
    let known: Vec<KnownRelation> = catalog
        .tables
        .values()
        .map(|t| KnownRelation {
            id: t.oid,
            storage: t.storage,
            is_index: false,
        })
        .chain(catalog.indexes.values().map(|i| KnownRelation {
            id: i.oid,
            storage: i.storage,
            is_index: true,
        }))
        .collect();
    engine.relation_stats().sync(&known, dropped_below);
}

/// Auto-analyze, the ANALYZE half of autovacuum: every few seconds, ANALYZE
/// each table whose rows changed by more than Postgres's default threshold
/// (50 rows + 10% of the table) since its last analysis.
fn auto_analyze(db: std::sync::Weak<Database>, stop: Arc<AtomicBool>) {
    const PERIOD: std::time::Duration = std::time::Duration::from_secs(5);
    loop {
        let mut slept = std::time::Duration::ZERO;
        while slept < PERIOD {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            slept += std::time::Duration::from_millis(100);
        }
        let Some(db) = db.upgrade() else { return };
        let catalog = db.catalog();
        let due: Vec<(String, String, u32)> = catalog
            .tables
            .values()
            .filter(|t| {
                let rows = catalog
                    .stats
                    .get(&t.oid)
                    .map(|s| s.reltuples)
                    .unwrap_or(0.0);
                db.engine.modifications(t.storage) as f64 > 50.0 + 0.1 * rows
            })
            .map(|t| (t.schema.clone(), t.name.clone(), t.storage))
            .collect();
        if due.is_empty() {
            continue;
        }
        let mut s = Session::new(db.clone(), "sargdb", "sargdb");
        s.autovacuum_worker = true;
        for (schema, name, storage) in due {
            db.engine.take_modifications(storage);
            let q = |x: &str| format!("\"{}\"", x.replace('"', "\"\""));
            for r in s.simple_query(&format!("ANALYZE {}.{}", q(&schema), q(&name))) {
                if let Err(e) = r {
                    tracing::debug!("auto-analyze of {schema}.{name}: {e}");
                }
            }
        }
    }
}

/// A result column as RowDescription describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnDesc {
    pub name: String,
    pub data_type: DataType,
    /// OID of the table the column comes from, or 0.
    pub table_oid: u32,
    /// Attribute number in that table, or 0.
    pub column_id: i16,
}

/// A statement parsed and planned for the extended protocol.
pub struct PreparedStatement {
    pub sql: String,
    /// Parameter types, with those the client left unspecified inferred.
    pub param_types: Vec<DataType>,
    /// Result columns; empty for statements that return no rows.
    pub columns: Vec<ColumnDesc>,
    stmt: Option<SqlStatement>,
    cached: Mutex<Option<(u64, Arc<Plan>)>>,
    /// Its pg_stat_statements entry (text normalized once, at Parse).
    stat: Option<Arc<StatementEntry>>,
}

impl Drop for PreparedStatement {
    fn drop(&mut self) {
        if self.cached.get_mut().is_some() {
            MEMORY.plans.sub(0, 1);
        }
    }
}

/// The outcome of one executed statement.
#[derive(Debug)]
pub enum StatementResult {
    /// A statement that returns rows; `tag` is e.g. `SELECT 3` or `INSERT 0 2`
    /// (INSERT ... RETURNING).
    Rows {
        columns: Vec<ColumnDesc>,
        rows: Vec<Vec<Value>>,
        tag: String,
    },
    /// A statement without rows: `CREATE TABLE`, `INSERT 0 1`, `BEGIN`.
    Command { tag: String },
    /// The query string had no statement.
    Empty,
}

/// Transaction state as ReadyForQuery reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnStatus {
    Idle,
    InBlock,
    Failed,
}

/// A NOTICE or WARNING for the client.
#[derive(Clone, Debug)]
pub struct Notice {
    pub severity: &'static str,
    pub code: &'static str,
    pub message: String,
}

pub(crate) struct TxnState {
    pub(crate) txn: Transaction,
    /// Started implicitly for one message / one extended-protocol execute.
    implicit: bool,
    failed: bool,
    read_only: bool,
    /// Private catalog after this transaction's DDL.
    pub(crate) catalog: Option<Catalog>,
    /// Releases this transaction's table locks when the state is dropped
    /// (commit, rollback): declared after `txn`, so it drops after it.
    locks: Option<LockRelease>,
    savepoints: Vec<(String, Option<Catalog>)>,
    started_statement: bool,
    start_ts: i64,
}

/// Releases a transaction's table locks when dropped.
pub(crate) struct LockRelease {
    mgr: Arc<LockManager>,
    session: u64,
    /// Holds the DDL lock.
    ddl: bool,
}

impl Drop for LockRelease {
    fn drop(&mut self) {
        self.mgr.release_all(self.session);
    }
}

/// One client's session.
pub struct Session {
    id: u64,
    db: Arc<Database>,
    user: String,
    #[allow(dead_code)]
    database: String,
    settings: Settings,
    notices: Vec<Notice>,
    cancel: Arc<AtomicBool>,
    txn: Option<TxnState>,
    /// Parsed statements by SQL text (extended-protocol Parse); see `stmt_cache`.
    parsed: crate::stmt_cache::StatementCache,
    /// `txn_defaults` as of a settings generation.
    txn_defaults: Option<(u64, IsolationLevel, bool)>,
    currval: HashMap<u32, i64>,
    tctx: TypeContext,
    /// The background auto-analyze's session (its ANALYZEs count as
    /// autoanalyze in the statistics).
    autovacuum_worker: bool,
    /// Time the running statement spent binding and planning, if it was
    /// planned (pg_stat_statements' plans / plan time).
    planned: Option<Duration>,
    /// Running a simple-query message of several statements: they share an
    /// implicit transaction block, which VACUUM and the CONCURRENTLY
    /// commands refuse, as in Postgres.
    multi_statement: bool,
    /// The protocol layer takes deferred commits for the message it is
    /// handling (`set_commit_deferral`).
    defer_commits: bool,
    /// A commit that returned before it was durable (`commit_pending`).
    pending_commit: Option<Arc<CommitSlot>>,
}

/// The outcome of a deferred commit, and whom to tell when it is known.
#[derive(Default)]
struct CommitSlot {
    state: Mutex<CommitSlotState>,
    known: parking_lot::Condvar,
}

#[derive(Default)]
struct CommitSlotState {
    result: Option<Result<()>>,
    wake: Option<Box<dyn FnOnce() + Send>>,
}

impl CommitSlot {
    /// The commit is over: keep the outcome, call the waker if one waits.
    fn complete(&self, result: Result<()>) {
        let wake = {
            let mut st = self.state.lock();
            st.result = Some(result);
            self.known.notify_all();
            st.wake.take()
        };
        if let Some(w) = wake {
            w();
        }
    }

    /// The outcome, if known.
    fn take(&self) -> Option<Result<()>> {
        self.state.lock().result.take()
    }

    /// Keeps `wake` to be called when the outcome is known; false, with
    /// `wake` dropped, if it already is.
    fn wake_later(&self, wake: Box<dyn FnOnce() + Send>) -> bool {
        let mut st = self.state.lock();
        if st.result.is_some() {
            return false;
        }
        st.wake = Some(wake);
        true
    }

    /// Waits for the outcome.
    fn wait(&self) -> Result<()> {
        let mut st = self.state.lock();
        if st.result.is_none() {
            drop(st);
            sargdb_engine::blocking::about_to_wait();
            st = self.state.lock();
        }
        loop {
            if let Some(r) = st.result.take() {
                return r;
            }
            self.known.wait(&mut st);
        }
    }
}

/// Microseconds since 2000-01-01 UTC (Postgres's timestamp epoch), read
/// from the system clock without building a calendar date (every statement
/// takes one, and chrono's `Utc::now` cost ~400 instructions).
fn now_micros() -> i64 {
    const EPOCH2000: i64 = 946_684_800;
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64 - EPOCH2000) * 1_000_000 + i64::from(d.subsec_micros()),
        // A clock set before 1970.
        Err(e) => {
            let d = e.duration();
            -((d.as_secs() as i64 + EPOCH2000) * 1_000_000 + i64::from(d.subsec_micros()))
        }
    }
}

fn columns_of(cols: &[OutCol]) -> Vec<ColumnDesc> {
    cols.iter()
        .map(|c| ColumnDesc {
            name: c.name.clone(),
            data_type: if c.ty == DataType::Unknown {
                DataType::Text
            } else {
                c.ty.clone()
            },
            table_oid: c.origin.map(|o| o.0).unwrap_or(0),
            column_id: c.origin.map(|o| o.1).unwrap_or(0),
        })
        .collect()
}

fn isolation_of(modes: &[ast::TransactionMode]) -> (Option<IsolationLevel>, Option<bool>) {
    let mut iso = None;
    let mut ro = None;
    for m in modes {
        match m {
            ast::TransactionMode::IsolationLevel(l) => {
                iso = Some(match l {
                    ast::TransactionIsolationLevel::RepeatableRead => {
                        IsolationLevel::RepeatableRead
                    }
                    ast::TransactionIsolationLevel::Serializable
                    | ast::TransactionIsolationLevel::Snapshot => IsolationLevel::Serializable,
                    _ => IsolationLevel::ReadCommitted,
                })
            }
            ast::TransactionMode::AccessMode(a) => {
                ro = Some(matches!(a, ast::TransactionAccessMode::ReadOnly))
            }
        }
    }
    (iso, ro)
}

fn iso_name(l: IsolationLevel) -> &'static str {
    match l {
        IsolationLevel::ReadCommitted => "read committed",
        IsolationLevel::RepeatableRead => "repeatable read",
        IsolationLevel::Serializable => "serializable",
    }
}

fn parse_iso(s: &str) -> Option<IsolationLevel> {
    match s.to_lowercase().as_str() {
        "read committed" | "read uncommitted" => Some(IsolationLevel::ReadCommitted),
        "repeatable read" => Some(IsolationLevel::RepeatableRead),
        "serializable" => Some(IsolationLevel::Serializable),
        _ => None,
    }
}

impl Session {
    pub fn new(db: Arc<Database>, user: &str, database: &str) -> Session {
        static NEXT_SESSION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        MEMORY.sessions.add(Session::footprint(), 1);
        Session {
            id: NEXT_SESSION.fetch_add(1, Ordering::Relaxed),
            db,
            user: user.to_string(),
            database: database.to_string(),
            settings: Settings::new(user),
            notices: vec![],
            cancel: Arc::new(AtomicBool::new(false)),
            txn: None,
            parsed: Default::default(),
            txn_defaults: None,
            currval: HashMap::new(),
            tctx: TypeContext::default(),
            autovacuum_worker: false,
            planned: None,
            multi_statement: false,
            defer_commits: false,
            pending_commit: None,
        }
    }

    /// Lets a commit of the messages handled from now on return before its
    /// record is durable (only a commit that ends a protocol message: not
    /// one inside a simple query of several statements, nor one that
    /// changes the catalog). The commit then shows in `commit_pending`, and
    /// `finish_commit` gives its outcome. The caller must not send the
    /// commit's reply before that.
    pub fn set_commit_deferral(&mut self, on: bool) {
        self.defer_commits = on;
    }

    /// A commit returned before it was durable; `finish_commit` ends it.
    pub fn commit_pending(&self) -> bool {
        self.pending_commit.is_some()
    }

    /// Has `wake` called (on another thread) once the pending commit's
    /// outcome is known. False, and `wake` dropped, if it already is, or
    /// no commit is pending.
    pub fn wake_when_committed(&mut self, wake: Box<dyn FnOnce() + Send>) -> bool {
        self.pending_commit
            .as_ref()
            .is_some_and(|slot| slot.wake_later(wake))
    }

    /// The pending commit's outcome, waiting for it if it is not known
    /// yet; Ok if no commit is pending. On an error the transaction has
    /// rolled back. The protocol layer calls this before it hands the
    /// session its next message; the session's entry points call it too,
    /// as a backstop, so nothing runs before a pending commit is over.
    pub fn finish_commit(&mut self) -> Result<()> {
        match self.pending_commit.take() {
            Some(slot) => slot.wait(),
            None => Ok(()),
        }
    }

    /// The fixed memory of a session, for memory_stats.
    fn footprint() -> u64 {
        std::mem::size_of::<Session>() as u64
    }

    /// Simple query protocol: run every statement in `sql` in order and stop at
    /// the first error (which is the last element). Statements outside an
    /// explicit block run in one implicit transaction, as in Postgres.
    pub fn simple_query(&mut self, sql: &str) -> Vec<Result<StatementResult>> {
        self.cancel.store(false, Ordering::Relaxed);
        if let Err(e) = self.finish_commit() {
            return vec![Err(e)];
        }
        let stmts = match parser::parse(sql) {
            Ok(s) => s,
            Err(e) => {
                self.fail_current();
                return vec![Err(e)];
            }
        };
        if stmts.is_empty() {
            return vec![Ok(StatementResult::Empty)];
        }
        let mut out = vec![];
        let single = stmts.len() == 1;
        self.multi_statement = !single;
        let out_of_message = |s: &mut Session| s.multi_statement = false;
        for s in &stmts {
            let started = Instant::now();
            let io = sargdb_engine::stats::thread_io();
            self.planned = None;
            let r = self.execute_statement(s, sql, &[], None);
            if let (Ok(res), true) = (&r, sargdb_engine::stats::tracking()) {
                let entry = if single {
                    STATEMENTS.entry_for(sql)
                } else {
                    STATEMENTS.entry_for(&s.to_string())
                };
                if let Some(e) = entry {
                    record_statement(&e, started, self.planned, &io, res);
                }
            }
            let failed = r.is_err();
            out.push(r);
            if failed {
                out_of_message(self);
                self.fail_current();
                return out;
            }
        }
        out_of_message(self);
        if let Err(e) = self.finish_implicit() {
            out.push(Err(e));
        }
        out
    }

    /// Extended protocol Parse: one statement; `param_oids` are the types the
    /// client gave (0 = infer).
    pub fn prepare(&mut self, sql: &str, param_oids: &[u32]) -> Result<Arc<PreparedStatement>> {
        // Inside a transaction that changed the catalog, versions are not
        // comparable with the committed catalog's: no caching.
        if self.txn.as_ref().is_some_and(|t| t.catalog.is_some()) {
            return self.prepare_uncached(sql, param_oids);
        }
        let search_path = self.search_path();
        let catalog_version = self.db.catalog().version;
        let cx = crate::stmt_cache::Context {
            catalog_version,
            // Cached statements bound under other settings are not reused.
            settings_gen: self.settings.generation(),
            search_path: &search_path,
        };
        if let Some(hit) = self.parsed.get(sql, param_oids, &cx) {
            // In a failed block Postgres refuses to parse anything but
            // ROLLBACK / COMMIT.
            if matches!(&self.txn, Some(t) if t.failed)
                && !matches!(
                    &hit.stmt,
                    Some(SqlStatement::Rollback { .. } | SqlStatement::Commit { .. })
                )
            {
                return Err(SqlError::InFailedTransaction);
            }
            return Ok(hit);
        }
        let stmt = self.prepare_uncached(sql, param_oids)?;
        self.parsed.put(sql, param_oids, stmt.clone(), &cx);
        Ok(stmt)
    }

    fn prepare_uncached(
        &mut self,
        sql: &str,
        param_oids: &[u32],
    ) -> Result<Arc<PreparedStatement>> {
        let mut stmts = parser::parse(sql)?;
        if stmts.len() > 1 {
            return Err(SqlError::SyntaxNoPosition(
                "cannot insert multiple commands into a prepared statement".into(),
            ));
        }
        let stmt = stmts.pop();
        // In a failed block Postgres refuses to parse anything but ROLLBACK / COMMIT.
        if matches!(&self.txn, Some(t) if t.failed)
            && !matches!(
                &stmt,
                Some(SqlStatement::Rollback { .. } | SqlStatement::Commit { .. })
            )
        {
            return Err(SqlError::InFailedTransaction);
        }
        let mut params: Vec<DataType> = param_oids
            .iter()
            .map(|o| DataType::from_oid(*o).unwrap_or(DataType::Unknown))
            .collect();
        let mut columns = vec![];
        if let Some(s) = &stmt {
            if let Some((_, cols, p)) = self.bind_for_describe(s, sql, params.clone())? {
                params = p;
                columns = columns_of(&cols);
            }
        }
        let param_types = params
            .into_iter()
            .map(|t| {
                if t == DataType::Unknown {
                    DataType::Text
                } else {
                    t
                }
            })
            .collect();
        Ok(Arc::new(PreparedStatement {
            sql: sql.to_string(),
            param_types,
            columns,
            stat: stmt.as_ref().and_then(|_| STATEMENTS.entry_for(sql)),
            stmt,
            cached: Mutex::new(None),
        }))
    }

    /// Bind a row-returning statement without running it.
    fn bind_for_describe(
        &mut self,
        s: &SqlStatement,
        sql: &str,
        params: Vec<DataType>,
    ) -> Result<Option<(Plan, Vec<OutCol>, Vec<DataType>)>> {
        let catalog = self.current_catalog();
        let sp = self.search_path();
        let tctx = self.tctx.clone();
        let mut b = Binder::new(&catalog, &sp, &tctx, sql, params);
        b.session = self.system_session(sql);
        let r = match s {
            SqlStatement::Query(q) => b.bind_query(q)?,
            SqlStatement::Insert(i) => b.bind_insert(i)?,
            SqlStatement::Update(u) => b.bind_update(u)?,
            SqlStatement::Delete(d) => b.bind_delete(d)?,
            SqlStatement::ShowVariable { variable } => {
                let name = variable
                    .iter()
                    .map(|i| i.value.to_lowercase())
                    .collect::<Vec<_>>()
                    .join(" ");
                return Ok(Some((
                    Plan::OneRow,
                    vec![OutCol {
                        name,
                        ty: DataType::Text,
                        origin: None,
                    }],
                    b.params,
                )));
            }
            SqlStatement::Explain { .. } => {
                return Ok(Some((
                    Plan::OneRow,
                    vec![OutCol {
                        name: "QUERY PLAN".into(),
                        ty: DataType::Text,
                        origin: None,
                    }],
                    b.params,
                )));
            }
            _ => return Ok(None),
        };
        let params = b.params.clone();
        let has_rows = !matches!(
            s,
            SqlStatement::Insert(_) | SqlStatement::Update(_) | SqlStatement::Delete(_)
        ) || !r.1.is_empty();
        Ok(Some((r.0, if has_rows { r.1 } else { vec![] }, params)))
    }

    /// Extended protocol Execute of a bound statement (all rows).
    pub fn execute_prepared(
        &mut self,
        stmt: &PreparedStatement,
        params: &[Value],
    ) -> Result<StatementResult> {
        self.cancel.store(false, Ordering::Relaxed);
        self.finish_commit()?;
        if params.len() != stmt.param_types.len() {
            return Err(SqlError::ProtocolViolation(format!(
                "bind message supplies {} parameters, but prepared statement \"\" requires {}",
                params.len(),
                stmt.param_types.len()
            )));
        }
        let Some(s) = &stmt.stmt else {
            return Ok(StatementResult::Empty);
        };
        let started = Instant::now();
        let io = sargdb_engine::stats::thread_io();
        self.planned = None;
        let r = self.execute_statement(s, &stmt.sql, params, Some(stmt));
        if let (Ok(res), Some(e), true) = (&r, &stmt.stat, sargdb_engine::stats::tracking()) {
            record_statement(e, started, self.planned, &io, res);
        }
        match r {
            Ok(res) => {
                // Outside a block, the Executes up to Sync share one implicit
                // transaction, committed by `sync`; a transaction-control
                // statement ends it at once, as in Postgres.
                match s {
                    SqlStatement::Rollback {
                        savepoint: None, ..
                    } if matches!(&self.txn, Some(t) if t.implicit) => self.rollback_txn(),
                    SqlStatement::Commit { .. }
                    | SqlStatement::Rollback { .. }
                    | SqlStatement::StartTransaction { .. } => self.finish_implicit()?,
                    _ => {}
                }
                Ok(res)
            }
            Err(e) => {
                self.fail_current();
                Err(e)
            }
        }
    }

    /// Extended protocol Sync: commits the implicit transaction that the
    /// Executes since the last Sync ran in (nothing inside a block).
    pub fn sync(&mut self) -> Result<()> {
        self.finish_commit()?;
        self.finish_implicit()
    }

    /// An error the protocol layer raised (at Parse, Bind, Describe,
    /// Execute ...): as after any error, an implicit transaction rolls back
    /// and an explicit block enters the failed state (25P02 until ROLLBACK).
    pub fn fail_transaction(&mut self) {
        if let Err(e) = self.finish_commit() {
            tracing::warn!("a deferred commit failed: {e}");
        }
        self.fail_current();
    }

    pub fn transaction_status(&self) -> TxnStatus {
        match &self.txn {
            None => TxnStatus::Idle,
            Some(t) if t.failed => TxnStatus::Failed,
            Some(t) if t.implicit => TxnStatus::Idle,
            Some(_) => TxnStatus::InBlock,
        }
    }
    /// Set to true (from another task) to cancel the running statement (57014).
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }
    /// Notices produced since the last call.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }
    /// Settings whose change the client must be told of (ParameterStatus).
    pub fn take_changed_parameters(&mut self) -> Vec<(String, String)> {
        self.settings.take_changed()
    }
    /// The text of a `regclass` / `regtype` value (the relation's or type's
    /// name, as Postgres prints them) or of an `int2vector` / `oidvector`
    /// (blank-separated); None for any other type. The protocol layer asks
    /// for columns of those types, whose values print differently from
    /// the `Value` they are held in.
    pub fn oid_alias_text(&self, ty: &DataType, v: &Value) -> Option<String> {
        if ty.vector_element().is_some() {
            return Some(sargdb_catalog::types::format_as(v, ty, &self.tctx));
        }
        let Value::Oid(oid) = v else { return None };
        if !ty.is_reg_alias() {
            return None;
        }
        let catalog = self.current_catalog();
        let search_path = self.search_path();
        let ctx = crate::system::reg::RegContext {
            catalog: &catalog,
            search_path: &search_path,
            user: &self.user,
        };
        Some(crate::system::reg::output(ty, *oid, &ctx))
    }

    /// Type context for encoding values to text for this session.
    pub fn type_context(&self) -> TypeContext {
        self.tctx.clone()
    }

    // ----- transaction machinery -----

    pub(crate) fn warn(&mut self, code: &'static str, message: &str) {
        self.notices.push(Notice {
            severity: "WARNING",
            code,
            message: message.to_string(),
        });
    }

    pub(crate) fn notice(&mut self, message: String) {
        self.notices.push(Notice {
            severity: "NOTICE",
            code: "00000",
            message,
        });
    }

    pub(crate) fn search_path(&self) -> Arc<Vec<String>> {
        self.settings.search_path(&self.user)
    }

    pub(crate) fn current_catalog(&self) -> Arc<Catalog> {
        match self.txn.as_ref().and_then(|t| t.catalog.as_ref()) {
            Some(c) => Arc::new(c.clone()),
            None => self.db.catalog(),
        }
    }

    fn default_isolation(&self) -> IsolationLevel {
        self.settings
            .get("default_transaction_isolation")
            .ok()
            .and_then(|s| parse_iso(&s))
            .unwrap_or(IsolationLevel::ReadCommitted)
    }

    /// default_transaction_isolation and default_transaction_read_only,
    /// read from the settings once per change of them.
    fn txn_defaults(&mut self) -> (IsolationLevel, bool) {
        let generation = self.settings.generation();
        if let Some((g, iso, ro)) = self.txn_defaults {
            if g == generation {
                return (iso, ro);
            }
        }
        let iso = self.default_isolation();
        let ro = self
            .settings
            .get("default_transaction_read_only")
            .map(|v| v == "on")
            .unwrap_or(false);
        self.txn_defaults = Some((generation, iso, ro));
        (iso, ro)
    }

    pub(crate) fn ensure_txn(&mut self) -> &mut TxnState {
        if self.txn.is_none() {
            let (iso, ro) = self.txn_defaults();
            let mut txn = self.db.engine.begin(iso);
            txn.set_cancel_flag(self.cancel.clone());
            self.txn = Some(TxnState {
                txn,
                implicit: true,
                failed: false,
                read_only: ro,
                catalog: None,
                locks: None,
                savepoints: vec![],
                started_statement: false,
                start_ts: now_micros(),
            });
        }
        self.txn.as_mut().expect("just ensured")
    }

    /// After an error: an implicit transaction rolls back; a block fails.
    fn fail_current(&mut self) {
        match self.txn.take() {
            Some(t) if t.implicit => t.txn.rollback(),
            Some(mut t) => {
                t.failed = true;
                self.txn = Some(t);
            }
            None => {}
        }
    }

    fn finish_implicit(&mut self) -> Result<()> {
        if matches!(&self.txn, Some(t) if t.implicit) {
            return self.commit_txn();
        }
        Ok(())
    }

    fn commit_txn(&mut self) -> Result<()> {
        let Some(t) = self.txn.take() else {
            return Ok(());
        };
        let TxnState {
            txn,
            catalog,
            locks,
            ..
        } = t;
        // (Read-only transactions have nothing to flush: no deferral.)
        if self.defer_commits && !self.multi_statement && catalog.is_none() && txn.xid().is_some() {
            let slot = Arc::new(CommitSlot::default());
            let then = {
                let slot = slot.clone();
                Box::new(move |r: sargdb_engine::Result<()>| {
                    // Table locks go when the transaction has ended.
                    drop(locks);
                    slot.complete(r.map_err(SqlError::from));
                })
            };
            return match txn.commit_deferred(then) {
                CommitStart::Done(r) => r.map_err(SqlError::from),
                CommitStart::Deferred => match slot.take() {
                    Some(r) => r,
                    None => {
                        self.pending_commit = Some(slot);
                        Ok(())
                    }
                },
            };
        }
        txn.commit()?;
        if let Some(c) = catalog {
            let mut published = self.db.catalog.write();
            sync_relation_stats(&self.db.engine, &c, c.next_oid);
            *published = Arc::new(c);
        }
        drop(locks);
        Ok(())
    }

    fn rollback_txn(&mut self) {
        if let Some(t) = self.txn.take() {
            t.txn.rollback();
        }
    }

    /// Take the DDL lock and a private catalog copy for this transaction.
    pub(crate) fn ddl_catalog(&mut self) -> Result<&mut TxnState> {
        let db = self.db.clone();
        let self_id = self.id;
        let cancel = self.cancel.clone();
        let st = self.ensure_txn();
        if st.read_only {
            return Err(SqlError::ReadOnlyTransaction("CREATE/ALTER/DROP".into()));
        }
        if st.locks.as_ref().is_none_or(|l| !l.ddl) {
            db.locks.lock(
                DDL_LOCK,
                self_id,
                LockMode::Exclusive,
                &cancel,
                "the catalog",
            )?;
            match st.locks.as_mut() {
                Some(l) => l.ddl = true,
                None => {
                    st.locks = Some(LockRelease {
                        mgr: db.locks.clone(),
                        session: self_id,
                        ddl: true,
                    })
                }
            }
        }
        if st.catalog.is_none() {
            st.catalog = Some((*db.catalog()).clone());
        }
        Ok(st)
    }

    /// Log the private catalog with the transaction.
    pub(crate) fn log_catalog(&mut self) -> Result<()> {
        if let Some(st) = self.txn.as_mut() {
            if let Some(c) = st.catalog.as_mut() {
                c.touch();
                let blob = c.to_blob();
                st.txn.log_catalog(blob)?;
            }
        }
        Ok(())
    }

    fn execute_statement(
        &mut self,
        s: &SqlStatement,
        sql: &str,
        params: &[Value],
        prepared: Option<&PreparedStatement>,
    ) -> Result<StatementResult> {
        // In a failed block only ROLLBACK / COMMIT / ROLLBACK TO pass.
        if matches!(&self.txn, Some(t) if t.failed) {
            match s {
                SqlStatement::Rollback { .. } | SqlStatement::Commit { .. } => {}
                _ => return Err(SqlError::InFailedTransaction),
            }
        }
        match s {
            SqlStatement::StartTransaction { modes, .. } => {
                let (iso, ro) = isolation_of(modes);
                let in_block = matches!(&self.txn, Some(t) if !t.implicit);
                if in_block {
                    self.warn("25001", "there is already a transaction in progress");
                } else {
                    let st = self.ensure_txn();
                    st.implicit = false;
                    if let Some(l) = iso {
                        st.txn.set_isolation(l);
                    }
                    if let Some(r) = ro {
                        st.read_only = r;
                    }
                }
                Ok(StatementResult::Command {
                    tag: "BEGIN".into(),
                })
            }
            SqlStatement::Commit { .. } => {
                match &self.txn {
                    Some(t) if !t.implicit => {
                        if t.failed {
                            self.rollback_txn();
                            return Ok(StatementResult::Command {
                                tag: "ROLLBACK".into(),
                            });
                        }
                        self.commit_txn()?;
                    }
                    _ => self.warn("25P01", "there is no transaction in progress"),
                }
                Ok(StatementResult::Command {
                    tag: "COMMIT".into(),
                })
            }
            SqlStatement::Rollback {
                savepoint: None, ..
            } => {
                match &self.txn {
                    Some(t) if !t.implicit => self.rollback_txn(),
                    _ => self.warn("25P01", "there is no transaction in progress"),
                }
                Ok(StatementResult::Command {
                    tag: "ROLLBACK".into(),
                })
            }
            SqlStatement::Rollback {
                savepoint: Some(name),
                ..
            } => {
                let n = crate::binder::ident_name(name);
                let Some(st) = self.txn.as_mut().filter(|t| !t.implicit) else {
                    return Err(SqlError::NoActiveSqlTransaction(
                        "ROLLBACK TO SAVEPOINT".into(),
                    ));
                };
                let Some(i) = st.savepoints.iter().rposition(|(s, _)| *s == n) else {
                    return Err(SqlError::UndefinedSavepoint(n));
                };
                st.txn.rollback_to_savepoint(i + 1)?;
                let cat = st.savepoints[i].1.clone();
                st.savepoints.truncate(i + 1);
                st.catalog = cat;
                st.failed = false;
                Ok(StatementResult::Command {
                    tag: "ROLLBACK".into(),
                })
            }
            SqlStatement::Savepoint { name } => {
                let n = crate::binder::ident_name(name);
                let Some(st) = self.txn.as_mut().filter(|t| !t.implicit) else {
                    return Err(SqlError::NoActiveSqlTransaction("SAVEPOINT".into()));
                };
                st.txn.savepoint();
                let cat = st.catalog.clone();
                st.savepoints.push((n, cat));
                Ok(StatementResult::Command {
                    tag: "SAVEPOINT".into(),
                })
            }
            SqlStatement::ReleaseSavepoint { name } => {
                let n = crate::binder::ident_name(name);
                let Some(st) = self.txn.as_mut().filter(|t| !t.implicit) else {
                    return Err(SqlError::NoActiveSqlTransaction("RELEASE SAVEPOINT".into()));
                };
                let Some(i) = st.savepoints.iter().rposition(|(s, _)| *s == n) else {
                    return Err(SqlError::UndefinedSavepoint(n));
                };
                st.txn.release_savepoint(i + 1);
                st.savepoints.truncate(i);
                Ok(StatementResult::Command {
                    tag: "RELEASE".into(),
                })
            }
            SqlStatement::Set(set) => self.exec_set(set),
            SqlStatement::ShowVariable { variable } => {
                let name = variable
                    .iter()
                    .map(|i| i.value.to_lowercase())
                    .collect::<Vec<_>>()
                    .join(" ");
                let v = match name.as_str() {
                    "transaction isolation level" | "transaction_isolation" => {
                        let l = self
                            .txn
                            .as_ref()
                            .map(|t| t.txn.isolation())
                            .unwrap_or(self.default_isolation());
                        iso_name(l).to_string()
                    }
                    "all" => return Err(SqlError::FeatureNotSupported("SHOW ALL".into())),
                    n => self.settings.get(n)?,
                };
                let col = if name == "transaction isolation level" {
                    "transaction_isolation".to_string()
                } else {
                    name
                };
                Ok(StatementResult::Rows {
                    columns: vec![ColumnDesc {
                        name: col,
                        data_type: DataType::Text,
                        table_oid: 0,
                        column_id: 0,
                    }],
                    rows: vec![vec![Value::Text(v)]],
                    tag: "SHOW".into(),
                })
            }
            SqlStatement::Reset(r) => {
                match &r.reset {
                    ast::Reset::ALL => self.settings.reset_all(),
                    ast::Reset::ConfigurationParameter(n) => {
                        let name = crate::binder::object_parts(n)?.join(".");
                        self.settings.reset(&name)?;
                        self.apply_setting(&name)?;
                    }
                    ast::Reset::SessionAuthorization => {}
                }
                Ok(StatementResult::Command {
                    tag: "RESET".into(),
                })
            }
            SqlStatement::Query(q) if crate::ddl_create_as::is_select_into(q) => {
                crate::ddl_create_as::select_into(self, q)
            }
            SqlStatement::Query(_)
            | SqlStatement::Insert(_)
            | SqlStatement::Update(_)
            | SqlStatement::Delete(_) => self.exec_dml_or_query(s, sql, params, prepared),
            SqlStatement::Explain {
                statement,
                analyze,
                options,
                ..
            } => {
                let opt = |name: &str| -> Option<bool> {
                    let o = options
                        .as_ref()?
                        .iter()
                        .find(|o| o.name.value.eq_ignore_ascii_case(name))?;
                    Some(match &o.arg {
                        None => true,
                        Some(a) => {
                            !matches!(a.to_string().to_lowercase().as_str(), "false" | "off" | "0")
                        }
                    })
                };
                let analyze = *analyze || opt("analyze") == Some(true);
                // Postgres 15 accepts BUFFERS without ANALYZE (it then reports
                // planning buffers, which sargdb does not count).
                let buffers = opt("buffers").unwrap_or(false);
                let timing = opt("timing").unwrap_or(true);
                let summary = opt("summary").unwrap_or(analyze);
                let costs = opt("costs").unwrap_or(true);
                let planning = std::time::Instant::now();
                let catalog = self.current_catalog();
                let sp = self.search_path();
                let tctx = self.tctx.clone();
                let mut b = Binder::new(&catalog, &sp, &tctx, sql, vec![]);
                b.session = self.system_session(sql);
                let (plan, _) = match &**statement {
                    SqlStatement::Query(q) => b.bind_query(q)?,
                    SqlStatement::Insert(i) => b.bind_insert(i)?,
                    SqlStatement::Update(u) => b.bind_update(u)?,
                    SqlStatement::Delete(d) => b.bind_delete(d)?,
                    other => {
                        return Err(SqlError::FeatureNotSupported(format!(
                            "EXPLAIN of {}",
                            statement_kind(other)
                        )))
                    }
                };
                let plan = self.db.plan(plan);
                let planning = planning.elapsed();
                let mut opts = planner::explain::ExplainOptions {
                    analyze: None,
                    buffers,
                    timing,
                };
                let mut execution = std::time::Duration::ZERO;
                if analyze {
                    // EXPLAIN ANALYZE runs the statement (with its effects,
                    // as in Postgres) and discards the rows.
                    let started = std::time::Instant::now();
                    executor::instrument::begin();
                    let r = self.with_exec(|ctx| {
                        let mut ex = executor::build(&plan)?;
                        while ex.next(ctx)?.is_some() {}
                        Ok(())
                    });
                    let stats = executor::instrument::end();
                    r?;
                    execution = started.elapsed();
                    opts.analyze = Some(stats);
                }
                let mut lines = planner::explain::explain_with(&plan, &opts);
                if summary {
                    lines.push(format!(
                        "Planning Time: {:.3} ms",
                        planning.as_secs_f64() * 1e3
                    ));
                    if analyze {
                        lines.push(format!(
                            "Execution Time: {:.3} ms",
                            execution.as_secs_f64() * 1e3
                        ));
                    }
                }
                let rows = lines
                    .into_iter()
                    .map(|l| {
                        if costs {
                            l
                        } else {
                            planner::explain::without_costs(&l)
                        }
                    })
                    .map(|l| vec![Value::Text(l)])
                    .collect::<Vec<_>>();
                Ok(StatementResult::Rows {
                    columns: vec![ColumnDesc {
                        name: "QUERY PLAN".into(),
                        data_type: DataType::Text,
                        table_oid: 0,
                        column_id: 0,
                    }],
                    tag: "EXPLAIN".to_string(),
                    rows,
                })
            }
            SqlStatement::CreateIndex(ci) => crate::ddl_index::create_index(self, ci),
            SqlStatement::AlterIndex { name, operation } => {
                crate::ddl_index::alter_index(self, name, operation)
            }
            SqlStatement::Drop {
                object_type: ast::ObjectType::Index,
                if_exists,
                names,
                ..
            } => crate::ddl_index::drop_indexes(self, *if_exists, names),
            SqlStatement::Analyze(a) => crate::ddl_index::analyze(self, a),
            SqlStatement::Vacuum(_) => match crate::parser::maintenance(s) {
                Some(m) => crate::ddl_index::maintenance(self, &m),
                None => Err(SqlError::Internal("vacuum".into())),
            },
            other => {
                let r = crate::ddl::execute_ddl(self, other)?;
                crate::ddl_index::reconcile(self)?;
                Ok(r)
            }
        }
    }

    fn exec_set(&mut self, set: &ast::Set) -> Result<StatementResult> {
        let value_text = |e: &ast::Expr| -> String {
            match e {
                ast::Expr::Value(v) => match &v.value {
                    ast::Value::SingleQuotedString(s) => s.clone(),
                    ast::Value::Number(n, _) => n.clone(),
                    ast::Value::Boolean(b) => {
                        if *b {
                            "on".into()
                        } else {
                            "off".into()
                        }
                    }
                    other => other.to_string(),
                },
                ast::Expr::Identifier(i) => i.value.clone(),
                other => other.to_string(),
            }
        };
        match set {
            ast::Set::SingleAssignment {
                variable, values, ..
            } => {
                let name = crate::binder::object_parts(variable)?.join(".");
                let is_default = values.len() == 1
                    && matches!(&values[0], ast::Expr::Identifier(i) if i.value.eq_ignore_ascii_case("default"));
                if is_default {
                    self.settings.reset(&name)?;
                } else {
                    let v = values.iter().map(value_text).collect::<Vec<_>>().join(", ");
                    self.set_param(&name, v)?;
                }
                self.apply_setting(&name)?;
            }
            ast::Set::SetTimeZone { value, .. } => {
                let v = value_text(value);
                self.set_param("timezone", v)?;
                self.apply_setting("timezone")?;
            }
            ast::Set::SetNames { charset_name, .. } => {
                self.set_param("client_encoding", charset_name.value.clone())?;
            }
            ast::Set::SetTransaction { modes, .. } => {
                let (iso, ro) = isolation_of(modes);
                if let Some(st) = self.txn.as_mut() {
                    if let Some(l) = iso {
                        if st.started_statement {
                            return Err(SqlError::ActiveSqlTransaction(
                                "SET TRANSACTION ISOLATION LEVEL must be called before any query"
                                    .into(),
                            ));
                        }
                        st.txn.set_isolation(l);
                    }
                    if let Some(r) = ro {
                        st.read_only = r;
                    }
                }
            }
            ast::Set::MultipleAssignments { assignments } => {
                for a in assignments {
                    let name = crate::binder::object_parts(&a.name)?.join(".");
                    self.set_param(&name, value_text(&a.value))?;
                    self.apply_setting(&name)?;
                }
            }
            other => return Err(SqlError::FeatureNotSupported(format!("{other}"))),
        }
        Ok(StatementResult::Command { tag: "SET".into() })
    }

    fn set_param(&mut self, name: &str, v: String) -> Result<()> {
        let n = name.to_lowercase();
        let v = match n.as_str() {
            "timezone" => match parse_timezone(&v) {
                Some(tz) => tz.name().to_string(),
                None => {
                    return Err(SqlError::InvalidParameterValue(format!(
                        "invalid value for parameter \"TimeZone\": \"{v}\""
                    )))
                }
            },
            "transaction_isolation" | "default_transaction_isolation" => match parse_iso(&v) {
                Some(l) => {
                    if n == "transaction_isolation" {
                        if let Some(st) = self.txn.as_mut() {
                            st.txn.set_isolation(l);
                        }
                    }
                    iso_name(l).to_string()
                }
                None => {
                    return Err(SqlError::InvalidParameterValue(format!(
                        "invalid value for parameter \"{n}\": \"{v}\""
                    )))
                }
            },
            "datestyle" => {
                let u = v.to_uppercase();
                if u.contains("ISO") || u.contains("MDY") || u.contains("DMY") || u.contains("YMD")
                {
                    if u.contains("DMY") {
                        "ISO, DMY".into()
                    } else if u.contains("YMD") {
                        "ISO, YMD".into()
                    } else {
                        "ISO, MDY".into()
                    }
                } else {
                    return Err(SqlError::FeatureNotSupported(format!("DateStyle \"{v}\"")));
                }
            }
            "extra_float_digits" => match v.parse::<i32>() {
                Ok(x) if (-15..=3).contains(&x) => v,
                _ => {
                    return Err(SqlError::InvalidParameterValue(format!(
                        "invalid value for parameter \"extra_float_digits\": \"{v}\""
                    )))
                }
            },
            "statement_timeout" | "lock_timeout" | "idle_in_transaction_session_timeout" => v,
            "standard_conforming_strings" => match v.to_lowercase().as_str() {
                "on" | "true" => "on".into(),
                _ => {
                    return Err(SqlError::FeatureNotSupported(
                        "standard_conforming_strings = off".into(),
                    ))
                }
            },
            _ => v,
        };
        self.settings.set(&n, v)
    }

    fn apply_setting(&mut self, name: &str) -> Result<()> {
        if name.eq_ignore_ascii_case("timezone") {
            let v = self.settings.get("timezone")?;
            if let Some(tz) = parse_timezone(&v) {
                self.tctx = TypeContext::new(tz);
            }
        }
        Ok(())
    }

    /// Whether a table has any row visible to this transaction (ALTER TABLE
    /// ADD COLUMN ... NOT NULL without a default fails only then).
    /// Run `f` with an executor context over this session's transaction
    /// (started if needed) and its current catalog: what DDL that reads or
    /// writes table data (index builds, ANALYZE) needs.
    pub(crate) fn with_exec<R>(
        &mut self,
        f: impl FnOnce(&mut ExecContext) -> Result<R>,
    ) -> Result<R> {
        let catalog = self.current_catalog();
        let sp = self.search_path();
        let tctx = self.tctx.clone();
        let db = self.db.clone();
        let st = self.ensure_txn();
        st.txn.start_command();
        let start_ts = st.start_ts;
        let call = CallContext {
            types: tctx,
            transaction_timestamp: start_ts,
            statement_timestamp: now_micros(),
        };
        let Session {
            txn,
            currval,
            cancel,
            ..
        } = self;
        let st = txn
            .as_mut()
            .ok_or_else(|| SqlError::Internal("no transaction".into()))?;
        let mut ctx = ExecContext {
            txn: &mut st.txn,
            engine: &db.engine,
            catalog: &catalog,
            search_path: &sp,
            params: &[],
            outer: vec![],
            cancel,
            call,
            currval,
            seq_lock: &db.seq_lock,
            subquery_cache: HashMap::new(),
            worktables: HashMap::new(),
            affected: 0,
            sequence_advanced: false,
            copy_freeze: false,
        };
        f(&mut ctx)
    }

    /// Who and where this session runs, for the system relations.
    pub(crate) fn system_session(&self, sql: &str) -> crate::system::SessionInfo {
        // Only a statement that can read pg_settings pays for its rows.
        let settings = sql
            .as_bytes()
            .windows(11)
            .any(|w| w.eq_ignore_ascii_case(b"pg_settings"))
            .then(|| Arc::new(self.settings.rows()));
        crate::system::SessionInfo {
            user: self.user.clone(),
            database: self.database.clone(),
            pid: self.id as i32,
            db: Some(crate::system::DbRef(self.db.clone())),
            settings,
            types: self.tctx.clone(),
        }
    }

    /// Commit the current (implicit) transaction in the middle of a
    /// statement: multi-phase commands like CREATE INDEX CONCURRENTLY.
    pub(crate) fn commit_now(&mut self) -> Result<()> {
        self.commit_txn()
    }

    /// Wait until every other session holding a lock on `table` right now
    /// has ended its transaction.
    pub(crate) fn wait_for_table_lock_holders(&mut self, table: u32) -> Result<()> {
        self.db.locks.wait_for_holders(table, self.id, &self.cancel)
    }

    /// Wait until every transaction (of any session) holding a snapshot
    /// now has ended. This session must not be in a transaction.
    pub(crate) fn wait_for_current_snapshots(&mut self) -> Result<()> {
        Ok(self.db.engine.wait_for_current_snapshots(&self.cancel)?)
    }

    /// Lock a table for this transaction (until it ends).
    pub(crate) fn lock_table(&mut self, table: u32, mode: LockMode, what: &str) -> Result<()> {
        let db = self.db.clone();
        let id = self.id;
        let cancel = self.cancel.clone();
        let st = self.ensure_txn();
        db.locks.lock(table, id, mode, &cancel, what)?;
        if st.locks.is_none() {
            st.locks = Some(LockRelease {
                mgr: db.locks.clone(),
                session: id,
                ddl: false,
            });
        }
        Ok(())
    }

    /// The transaction's state if it already has a private (DDL) catalog.
    pub(crate) fn ddl_catalog_if_open(&mut self) -> Result<Option<&mut TxnState>> {
        match self.txn.as_mut() {
            Some(t) if t.catalog.is_some() => Ok(Some(t)),
            _ => Ok(None),
        }
    }

    pub(crate) fn engine(&self) -> &Arc<Engine> {
        &self.db.engine
    }

    /// Whether this is the background auto-analyze session.
    pub(crate) fn is_autovacuum_worker(&self) -> bool {
        self.autovacuum_worker
    }

    /// The type context of this session (for binding DDL expressions).
    pub(crate) fn tctx(&self) -> &TypeContext {
        &self.tctx
    }

    /// Whether an explicit transaction block is open.
    pub(crate) fn in_block(&self) -> bool {
        matches!(&self.txn, Some(t) if !t.implicit)
    }

    /// Whether a command that cannot run in a transaction (VACUUM, the
    /// CONCURRENTLY commands) must refuse: in an explicit block, or as one of several
    /// statements of a simple-query message (Postgres's implicit block).
    pub(crate) fn in_transaction_block(&self) -> bool {
        self.in_block() || self.multi_statement
    }

    pub(crate) fn table_has_rows(&mut self, schema: &str, table: &str) -> Result<bool> {
        let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let sql = format!("SELECT 1 FROM {}.{} LIMIT 1", q(schema), q(table));
        let stmts = crate::parser::parse(&sql)?;
        let stmt = stmts
            .first()
            .ok_or_else(|| SqlError::Internal("empty probe".into()))?;
        match self.exec_dml_or_query(stmt, &sql, &[], None)? {
            StatementResult::Rows { rows, .. } => Ok(!rows.is_empty()),
            _ => Ok(false),
        }
    }

    pub(crate) fn exec_dml_or_query(
        &mut self,
        s: &SqlStatement,
        sql: &str,
        params: &[Value],
        prepared: Option<&PreparedStatement>,
    ) -> Result<StatementResult> {
        // Writers lock their table before binding, so they plan against the
        // catalog any concurrent DDL on it committed (see `locks`).
        let inner = match s {
            SqlStatement::Query(q) => match &*q.body {
                ast::SetExpr::Insert(st) | ast::SetExpr::Update(st) | ast::SetExpr::Delete(st) => {
                    st
                }
                _ => s,
            },
            _ => s,
        };
        let target = match inner {
            SqlStatement::Insert(i) => match &i.table {
                ast::TableObject::TableName(n) => Some(n.clone()),
                _ => None,
            },
            SqlStatement::Update(u) => match &u.table.relation {
                ast::TableFactor::Table { name, .. } => Some(name.clone()),
                _ => None,
            },
            SqlStatement::Delete(d) => {
                let from = match &d.from {
                    ast::FromTable::WithFromKeyword(f) | ast::FromTable::WithoutKeyword(f) => {
                        f.first()
                    }
                };
                match from.map(|f| &f.relation) {
                    Some(ast::TableFactor::Table { name, .. }) => Some(name.clone()),
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some(name) = target {
            let cat = self.current_catalog();
            let sp = self.search_path();
            let parts = crate::binder::object_parts(&name)?;
            let oid = match parts.as_slice() {
                [n] => cat.resolve_table(&sp, n).map(|t| t.oid),
                [sc, n] | [_, sc, n] => cat.table_in(sc, n).map(|t| t.oid),
                _ => None,
            };
            if let Some(oid) = oid {
                self.lock_table(oid, LockMode::Shared, &parts.join("."))?;
            }
        }
        // The statement's snapshot is registered before the catalog is
        // read: a REINDEX CONCURRENTLY (or a DROP) that swaps an index's
        // storage waits for the snapshots registered after its commit
        // before it removes the old storage, so a statement either holds
        // one of those or reads the catalog that names the new storage.
        // (Read the other way round, a statement could plan with the old
        // catalog, take its snapshot after that wait, and read storage that
        // is gone: XX001 "not a B+Tree node page".)
        self.ensure_txn().txn.start_command();
        let catalog = self.current_catalog();
        let sp = self.search_path();
        let tctx = self.tctx.clone();
        let dml_body = match s {
            SqlStatement::Query(q) => match &*q.body {
                ast::SetExpr::Insert(_) => Some("INSERT"),
                ast::SetExpr::Update(_) => Some("UPDATE"),
                ast::SetExpr::Delete(_) => Some("DELETE"),
                _ => None,
            },
            _ => None,
        };
        // A data-modifying WITH query under a SELECT writes too.
        let writing_cte = matches!(s, SqlStatement::Query(q) if q.with.as_ref().is_some_and(|w| w.cte_tables.iter().any(|c| {
            matches!(&*c.query.body, ast::SetExpr::Insert(_) | ast::SetExpr::Update(_) | ast::SetExpr::Delete(_))
        })));
        let is_write = !matches!(s, SqlStatement::Query(_)) || dml_body.is_some() || writing_cte;
        let (plan, cols) = {
            let cached = prepared
                .and_then(|p| p.cached.lock().clone())
                .filter(|(v, _)| *v == catalog.version)
                .map(|(_, p)| p);
            match cached {
                Some(p) => (p, prepared.map(|p| p.columns.clone()).unwrap_or_default()),
                None => {
                    let ptypes: Vec<DataType> =
                        prepared.map(|p| p.param_types.clone()).unwrap_or_default();
                    let planning = Instant::now();
                    let mut b = Binder::new(&catalog, &sp, &tctx, sql, ptypes);
                    b.session = self.system_session(sql);
                    let (plan, cols) = match s {
                        SqlStatement::Query(q) => b.bind_query(q)?,
                        SqlStatement::Insert(i) => b.bind_insert(i)?,
                        SqlStatement::Update(u) => b.bind_update(u)?,
                        SqlStatement::Delete(d) => b.bind_delete(d)?,
                        _ => return Err(SqlError::Internal("not a query".into())),
                    };
                    if prepared.is_none() {
                        if let Some(i) = b.params.iter().position(|_| true) {
                            let _ = i;
                            if params.is_empty() && !b.params.is_empty() {
                                return Err(SqlError::Syntax {
                                    message: "there is no parameter $1".to_string(),
                                    position: None,
                                });
                            }
                        }
                    }
                    let plan = Arc::new(self.db.plan(plan));
                    self.planned = Some(planning.elapsed());
                    // A plan holding catalog or statistics rows read at bind
                    // time is bound again at every execution.
                    if let Some(p) = prepared.filter(|_| !b.materialized.get()) {
                        if p.cached
                            .lock()
                            .replace((catalog.version, plan.clone()))
                            .is_none()
                        {
                            MEMORY.plans.add(0, 1);
                        }
                    }
                    (plan, columns_of(&cols))
                }
            }
        };
        let db = self.db.clone();
        let st = self.ensure_txn();
        if is_write && st.read_only {
            return Err(SqlError::ReadOnlyTransaction(statement_kind(s).into()));
        }
        st.started_statement = true;
        let call = CallContext {
            types: tctx.clone(),
            transaction_timestamp: st.start_ts,
            statement_timestamp: now_micros(),
        };
        let Session {
            txn,
            currval,
            cancel,
            ..
        } = self;
        let st = txn
            .as_mut()
            .ok_or_else(|| SqlError::Internal("no transaction".into()))?;
        let mut ctx = ExecContext {
            txn: &mut st.txn,
            engine: &db.engine,
            catalog: &catalog,
            search_path: &sp,
            params,
            outer: vec![],
            cancel,
            call,
            currval,
            seq_lock: &db.seq_lock,
            subquery_cache: HashMap::new(),
            worktables: HashMap::new(),
            affected: 0,
            sequence_advanced: false,
            copy_freeze: false,
        };
        let rows = executor::run(&plan, &mut ctx);
        if ctx.sequence_advanced {
            // A crash must never hand out a sequence value twice: make the
            // sequence's WAL record durable before anyone sees the value
            // (a transaction that writes nothing else flushes nothing at commit).
            db.engine.flush_wal()?;
        }
        let rows = rows?;
        let affected = ctx.affected;
        let tag = match (s, dml_body) {
            (_, Some("INSERT")) => count_tag("INSERT 0", affected),
            (_, Some(k)) => count_tag(k, affected),
            (SqlStatement::Query(_), None) => count_tag("SELECT", rows.len() as u64),
            (SqlStatement::Insert(_), _) => count_tag("INSERT 0", affected),
            (SqlStatement::Update(_), _) => count_tag("UPDATE", affected),
            _ => count_tag("DELETE", affected),
        };
        if (!is_write || !cols.is_empty()) && !(dml_body.is_some() && cols.is_empty()) {
            Ok(StatementResult::Rows {
                columns: cols,
                rows,
                tag,
            })
        } else {
            Ok(StatementResult::Command { tag })
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        MEMORY.sessions.sub(Session::footprint(), 1);
    }
}

pub(crate) fn statement_kind(s: &SqlStatement) -> &'static str {
    match s {
        SqlStatement::Insert(_) => "INSERT",
        SqlStatement::Update(_) => "UPDATE",
        SqlStatement::Delete(_) => "DELETE",
        SqlStatement::Query(_) => "SELECT",
        _ => "this statement",
    }
}

/// A command tag with a row count ("SELECT 1", "INSERT 0 5"), built without
/// the formatting machinery (every statement of a prepared point lookup
/// makes one, and `format!` was a few percent of its instructions).
pub fn count_tag(prefix: &str, n: u64) -> String {
    let mut buf = [0u8; 20];
    let digits = decimal_digits(n, &mut buf);
    let mut s = String::with_capacity(prefix.len() + 1 + digits.len());
    s.push_str(prefix);
    s.push(' ');
    s.push_str(std::str::from_utf8(digits).unwrap_or_default());
    s
}

/// The decimal digits of `n`, written at the end of `buf` (no allocation,
/// no formatting machinery: command tags and integer reply fields).
pub fn decimal_digits(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod count_tag_tests {
    #[test]
    fn count_tag_matches_format() {
        for n in [0u64, 1, 9, 10, 99, 100, 12345, u64::MAX] {
            assert_eq!(super::count_tag("SELECT", n), format!("SELECT {n}"));
            assert_eq!(super::count_tag("INSERT 0", n), format!("INSERT 0 {n}"));
        }
    }
}
