//! sargdb-sql: from SQL text to rows.
//!
//! parser (the only place sqlparser is imported) -> binder (names resolved against
//! the catalog) -> planner -> optimizer -> executor, plus the `Session` that keeps
//! a connection's transaction, settings and prepared statements. It knows nothing
//! of the wire protocol: the server crate turns `StatementResult`s into messages.

#![forbid(unsafe_code)]

pub mod binder;
pub mod copy;
mod ddl;
mod ddl_comment;
mod ddl_create_as;
mod ddl_index;
pub mod error;
pub mod executor;
pub mod functions;
mod locks;
pub mod memory;
pub mod optimizer;
pub mod parser;
pub mod planner;
pub mod session;
mod settings;
pub mod statements;
mod stmt_cache;
pub mod system;
#[cfg(test)]
mod tests;

pub use copy::{is_copy, CopyIn, CopyOut, CopyStart};
pub use error::{Result, SqlError};
pub use session::{
    count_tag, decimal_digits, ColumnDesc, Database, DatabaseConfig, Notice, PreparedStatement,
    Session, StatementResult, TxnStatus,
};
