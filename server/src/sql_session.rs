//! The seam between the protocol and the SQL layer.
//!
//! `SqlSession` is exactly the part of `sargdb_sql::Session` the protocol
//! uses, and `StatementInfo` the part of a prepared statement it reads. The
//! real server runs `Session`; the protocol's tests run a small fake, so the
//! wire behaviour can be tested without storage. This module must not add
//! behaviour: every method delegates.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use sargdb_catalog::types::TypeContext;
use sargdb_catalog::{DataType, Value};
use sargdb_sql::{
    ColumnDesc, CopyIn, CopyStart, Notice, PreparedStatement, Session, SqlError, StatementResult,
    TxnStatus,
};

/// What Describe and Bind read from a prepared statement.
pub trait StatementInfo {
    /// Parameter types, with those the client left unspecified inferred.
    fn param_types(&self) -> &[DataType];
    /// Result columns; empty for statements that return no rows.
    fn columns(&self) -> &[ColumnDesc];
}

impl StatementInfo for PreparedStatement {
    fn param_types(&self) -> &[DataType] {
        &self.param_types
    }
    fn columns(&self) -> &[ColumnDesc] {
        &self.columns
    }
}

/// What the wire protocol needs from a session.
pub trait SqlSession: Send {
    type Statement: StatementInfo + Send + Sync;
    fn simple_query(&mut self, sql: &str) -> Vec<sargdb_sql::Result<StatementResult>>;
    fn prepare(
        &mut self,
        sql: &str,
        param_oids: &[u32],
    ) -> sargdb_sql::Result<Arc<Self::Statement>>;
    fn execute_prepared(
        &mut self,
        stmt: &Self::Statement,
        params: &[Value],
    ) -> sargdb_sql::Result<StatementResult>;
    /// Sync: commit the implicit transaction of the Executes before it.
    fn sync(&mut self) -> sargdb_sql::Result<()>;
    /// An error outside the session (Parse, Bind, a malformed message) ends
    /// the transaction as any error does: rollback, or a failed block.
    fn fail_transaction(&mut self);
    fn transaction_status(&self) -> TxnStatus;
    fn cancel_flag(&self) -> Arc<AtomicBool>;
    fn take_notices(&mut self) -> Vec<Notice>;
    fn take_changed_parameters(&mut self) -> Vec<(String, String)>;
    fn type_context(&self) -> TypeContext;
    /// Starts a COPY statement (the query string begins with COPY).
    fn copy_begin(&mut self, _sql: &str) -> sargdb_sql::Result<CopyStart> {
        Err(SqlError::FeatureNotSupported("COPY".into()))
    }
    /// Feeds one CopyData payload to a COPY FROM STDIN.
    fn copy_data(&mut self, _copy: &mut CopyIn, _data: &[u8]) -> sargdb_sql::Result<()> {
        Err(SqlError::FeatureNotSupported("COPY".into()))
    }
    /// CopyDone: finishes the COPY; returns its tag.
    fn copy_done(&mut self, _copy: CopyIn) -> sargdb_sql::Result<String> {
        Err(SqlError::FeatureNotSupported("COPY".into()))
    }
    /// CopyFail: the error to report.
    fn copy_fail(&mut self, _copy: CopyIn, message: &str) -> SqlError {
        SqlError::CopyFailed(message.to_owned())
    }
    /// Ends a COPY whose data failed.
    fn copy_abort(&mut self, _copy: CopyIn) {}
    /// Lets a commit of the messages handled from now on return before it
    /// is durable (see `Session::set_commit_deferral`).
    fn set_commit_deferral(&mut self, _on: bool) {}
    /// A commit returned before it was durable: its reply must wait.
    fn commit_pending(&self) -> bool {
        false
    }
    /// Has `wake` called once the pending commit's outcome is known; false,
    /// and `wake` dropped, if it already is.
    fn wake_when_committed(&mut self, _wake: Box<dyn FnOnce() + Send>) -> bool {
        false
    }
    /// The pending commit's outcome (waiting for it); Ok if none.
    fn finish_commit(&mut self) -> sargdb_sql::Result<()> {
        Ok(())
    }
    /// The text form of a value whose printing needs the catalog
    /// (`regclass`, `regtype`); None to print it as the value itself.
    fn oid_alias_text(&self, _ty: &DataType, _v: &Value) -> Option<String> {
        None
    }
}

impl SqlSession for Session {
    type Statement = PreparedStatement;
    fn simple_query(&mut self, sql: &str) -> Vec<sargdb_sql::Result<StatementResult>> {
        Session::simple_query(self, sql)
    }
    fn prepare(
        &mut self,
        sql: &str,
        param_oids: &[u32],
    ) -> sargdb_sql::Result<Arc<PreparedStatement>> {
        Session::prepare(self, sql, param_oids)
    }
    fn execute_prepared(
        &mut self,
        stmt: &PreparedStatement,
        params: &[Value],
    ) -> sargdb_sql::Result<StatementResult> {
        Session::execute_prepared(self, stmt, params)
    }
    fn oid_alias_text(&self, ty: &DataType, v: &Value) -> Option<String> {
        Session::oid_alias_text(self, ty, v)
    }
    fn sync(&mut self) -> sargdb_sql::Result<()> {
        Session::sync(self)
    }
    fn fail_transaction(&mut self) {
        Session::fail_transaction(self)
    }
    fn transaction_status(&self) -> TxnStatus {
        Session::transaction_status(self)
    }
    fn cancel_flag(&self) -> Arc<AtomicBool> {
        Session::cancel_flag(self)
    }
    fn take_notices(&mut self) -> Vec<Notice> {
        Session::take_notices(self)
    }
    fn take_changed_parameters(&mut self) -> Vec<(String, String)> {
        Session::take_changed_parameters(self)
    }
    fn type_context(&self) -> TypeContext {
        Session::type_context(self)
    }
    fn copy_begin(&mut self, sql: &str) -> sargdb_sql::Result<CopyStart> {
        Session::copy_begin(self, sql)
    }
    fn copy_data(&mut self, copy: &mut CopyIn, data: &[u8]) -> sargdb_sql::Result<()> {
        Session::copy_data(self, copy, data)
    }
    fn copy_done(&mut self, copy: CopyIn) -> sargdb_sql::Result<String> {
        Session::copy_done(self, copy)
    }
    fn copy_fail(&mut self, copy: CopyIn, message: &str) -> SqlError {
        Session::copy_fail(self, copy, message)
    }
    fn copy_abort(&mut self, copy: CopyIn) {
        Session::copy_abort(self, copy)
    }
    fn set_commit_deferral(&mut self, on: bool) {
        Session::set_commit_deferral(self, on)
    }
    fn commit_pending(&self) -> bool {
        Session::commit_pending(self)
    }
    fn wake_when_committed(&mut self, wake: Box<dyn FnOnce() + Send>) -> bool {
        Session::wake_when_committed(self, wake)
    }
    fn finish_commit(&mut self) -> sargdb_sql::Result<()> {
        Session::finish_commit(self)
    }
}
