//! Sessions: one per client connection; and the shared `Database`.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use sargdb_catalog::{DataType, Value};
use sargdb_engine::EngineConfig;

use crate::error::Result;

/// Everything needed to open a database.
#[derive(Clone, Debug)]
pub struct DatabaseConfig {
    pub engine: EngineConfig,
}

/// The shared state of one running server: engine, catalog, settings.
pub struct Database {}

impl Database {
    pub fn open(cfg: DatabaseConfig) -> Result<Arc<Database>> {
        let _ = cfg;
        todo!()
    }
    /// Clean shutdown: final checkpoint.
    pub fn shutdown(&self) -> Result<()> {
        todo!()
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
}

/// The outcome of one executed statement.
#[derive(Debug)]
pub enum StatementResult {
    /// A statement that returns rows; `tag` is e.g. `SELECT 3` or `INSERT 0 2`
    /// (INSERT ... RETURNING).
    Rows { columns: Vec<ColumnDesc>, rows: Vec<Vec<Value>>, tag: String },
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

/// One client's session.
pub struct Session {}

impl Session {
    pub fn new(db: Arc<Database>, user: &str, database: &str) -> Session {
        let _ = (db, user, database);
        todo!()
    }
    /// Simple query protocol: run every statement in `sql` in order and stop at
    /// the first error (which is the last element). Statements outside an
    /// explicit block run in one implicit transaction, as in Postgres.
    pub fn simple_query(&mut self, sql: &str) -> Vec<Result<StatementResult>> {
        let _ = sql;
        todo!()
    }
    /// Extended protocol Parse: one statement; `param_oids` are the types the
    /// client gave (0 = infer).
    pub fn prepare(&mut self, sql: &str, param_oids: &[u32]) -> Result<Arc<PreparedStatement>> {
        let _ = (sql, param_oids);
        todo!()
    }
    /// Extended protocol Execute of a bound statement (all rows).
    pub fn execute_prepared(
        &mut self,
        stmt: &PreparedStatement,
        params: &[Value],
    ) -> Result<StatementResult> {
        let _ = (stmt, params);
        todo!()
    }
    pub fn transaction_status(&self) -> TxnStatus {
        todo!()
    }
    /// Set to true (from another task) to cancel the running statement (57014).
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        todo!()
    }
    /// Notices produced since the last call.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        todo!()
    }
    /// Settings whose change the client must be told of (ParameterStatus).
    pub fn take_changed_parameters(&mut self) -> Vec<(String, String)> {
        todo!()
    }
    /// Type context for encoding values to text for this session.
    pub fn type_context(&self) -> sargdb_catalog::types::TypeContext {
        todo!()
    }
}
