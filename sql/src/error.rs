//! The SQL layer's error enum. Every variant gets its SQLSTATE in
//! `sargdb-server` (an exhaustive match, no catch-all).

use sargdb_catalog::TypeError;
use sargdb_engine::EngineError;

pub type Result<T> = std::result::Result<T, SqlError>;

#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// 42601; `position` is the 1-based character offset into the query text.
    #[error("{message}")]
    Syntax { message: String, position: Option<usize> },
    /// 0A000
    #[error("{0} is not supported")]
    FeatureNotSupported(String),
    /// 42P01
    #[error("relation \"{name}\" does not exist")]
    UndefinedTable { name: String, position: Option<usize> },
    /// 42703
    #[error("column \"{name}\" does not exist")]
    UndefinedColumn { name: String, position: Option<usize> },
    /// 25P02
    #[error("current transaction is aborted, commands ignored until end of transaction block")]
    InFailedTransaction,
    #[error(transparent)]
    Type(#[from] TypeError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}
