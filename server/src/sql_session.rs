//! The seam between the protocol and the SQL layer.
//!
//! `SqlSession` is exactly the part of `sargdb_sql::Session` the protocol
//! uses. The real server runs `Session`; the protocol's unit tests run a small
//! fake, so the wire behaviour can be tested without storage. This module
//! must not add behaviour: every method delegates.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use sargdb_catalog::types::TypeContext;
use sargdb_catalog::Value;
use sargdb_sql::{Notice, PreparedStatement, Session, StatementResult, TxnStatus};

/// What the wire protocol needs from a session.
pub trait SqlSession {
    fn simple_query(&mut self, sql: &str) -> Vec<sargdb_sql::Result<StatementResult>>;
    fn prepare(
        &mut self,
        sql: &str,
        param_oids: &[u32],
    ) -> sargdb_sql::Result<Arc<PreparedStatement>>;
    fn execute_prepared(
        &mut self,
        stmt: &PreparedStatement,
        params: &[Value],
    ) -> sargdb_sql::Result<StatementResult>;
    fn transaction_status(&self) -> TxnStatus;
    fn cancel_flag(&self) -> Arc<AtomicBool>;
    fn take_notices(&mut self) -> Vec<Notice>;
    fn take_changed_parameters(&mut self) -> Vec<(String, String)>;
    fn type_context(&self) -> TypeContext;
}

impl SqlSession for Session {
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
}
