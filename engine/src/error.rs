//! The engine's one error type. SQLSTATE codes are assigned in `sargdb-server`.

use std::path::PathBuf;

pub type Result<T> = std::result::Result<T, EngineError>;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("could not access file \"{path}\": {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid page in block {block} of relation {rel}: {reason}")]
    CorruptPage {
        rel: u32,
        block: u32,
        reason: String,
    },
    #[error("corrupt write-ahead log: {0}")]
    CorruptWal(String),
    #[error(
        "database files are incompatible with server: the data directory was written in storage format version {found}, this sargdb reads version {supported}"
    )]
    IncompatibleDataDir { found: u64, supported: u64 },
    #[error("data directory \"{0}\" is locked by another running sargdb")]
    DataDirLocked(PathBuf),
    #[error("could not serialize access due to concurrent update")]
    SerializationFailure,
    #[error("deadlock detected")]
    DeadlockDetected { detail: String },
    #[error("row is too big: size {size}, maximum size {max}")]
    TupleTooLarge { size: usize, max: usize },
    #[error("index row size {size} exceeds btree version 4 maximum {max} for index")]
    IndexKeyTooLarge { size: usize, max: usize },
    #[error("no unpinned buffers available")]
    BufferPoolExhausted,
    #[error("canceling statement due to user request")]
    Canceled,
    #[error("access method \"{method}\" does not support {what}")]
    IndexUnsupported { method: &'static str, what: String },
    #[error("the transaction has already ended")]
    TransactionEnded,
    /// A unique index's bulk build found two entries with equal key
    /// columns; `tid` is one of the two rows (the SQL layer reads its values
    /// back for Postgres's detail text).
    #[error("could not create unique index: a key is duplicated")]
    DuplicateKey { tid: crate::heap::TupleId },
}

impl EngineError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EngineError::Io {
            path: path.into(),
            source,
        }
    }
}
