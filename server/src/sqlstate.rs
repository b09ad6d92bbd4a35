//! SQLSTATE assignment: the one place where errors get their wire codes.
//!
//! Every `SqlError`, `TypeError` and `EngineError` variant is matched
//! exhaustively with no wildcard arm, so adding a variant anywhere does not
//! compile until it has a code here (the habit taken from Materialize's
//! `adapter/src/error.rs`). This module also owns the server's own protocol
//! errors (`ProtocolError`). It must not decide *whether* something is an
//! error, only how it is reported.

use sargdb_catalog::TypeError;
use sargdb_engine::EngineError;
use sargdb_sql::SqlError;

/// Everything an ErrorResponse carries besides the severity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorReport {
    pub code: &'static str,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// 1-based character offset into the query text.
    pub position: Option<usize>,
    /// The CONTEXT field (`COPY t, line 3, column a: "x"`).
    pub context: Option<String>,
}

impl ErrorReport {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        ErrorReport {
            code,
            message: message.into(),
            detail: None,
            hint: None,
            position: None,
            context: None,
        }
    }
}

/// Postgres's hint for 54001 (its default `max_stack_depth`).
pub const STACK_DEPTH_HINT: &str = "Increase the configuration parameter \"max_stack_depth\" (currently 2048kB), after ensuring the platform's stack depth limit is adequate.";

/// The report for a SQL-layer error.
pub fn report(err: &SqlError) -> ErrorReport {
    let mut r = ErrorReport::new(sql_error_code(err), err.to_string());
    r.position = err.position();
    r.detail = err.detail().map(str::to_owned);
    r.context = err.context().map(str::to_owned);
    r.hint = err.hint().map(str::to_owned);
    let mut inner = err;
    while let SqlError::WithContext { source, .. } | SqlError::WithHint { source, .. } = inner {
        inner = source;
    }
    if let SqlError::Engine(EngineError::DeadlockDetected { detail }) = inner {
        r.detail = Some(detail.clone());
    }
    if let SqlError::StackDepthLimitExceeded = err {
        r.hint = Some(STACK_DEPTH_HINT.to_owned());
    }
    r
}

/// SQLSTATE of a SQL-layer error.
pub fn sql_error_code(err: &SqlError) -> &'static str {
    match err {
        SqlError::Syntax { .. } => "42601",
        SqlError::SyntaxNoPosition(_) => "42601",
        SqlError::FeatureNotSupported(_) => "0A000",
        SqlError::OutOfMemory { .. } => "53200",
        SqlError::UndefinedTable { .. } => "42P01",
        SqlError::MissingFromEntry { .. } => "42P01",
        SqlError::InvalidFromReference { .. } => "42P01",
        SqlError::UndefinedColumn { .. } => "42703",
        SqlError::UndefinedColumnMsg { .. } => "42703",
        SqlError::UndefinedObjectOfKind { .. } => "42P01",
        SqlError::CantChangeRuntimeParam(_) => "55P02",
        SqlError::InvalidTableDefinition(_) => "42P16",
        SqlError::InFailedTransaction => "25P02",
        SqlError::Type(e) => type_error_code(e),
        SqlError::Engine(e) => engine_error_code(e),
        SqlError::DuplicateTable(_) => "42P07",
        SqlError::DuplicateSchema(_) => "42P06",
        SqlError::UndefinedSchema(_) => "3F000",
        SqlError::DuplicateColumn(_) => "42701",
        SqlError::DatatypeMismatch(_) => "42804",
        SqlError::UndefinedFunction(_) => "42883",
        SqlError::AmbiguousFunction(_) => "42725",
        SqlError::InvalidTextRepresentationMsg(_) => "22P02",
        SqlError::Grouping(_) => "42803",
        SqlError::AmbiguousColumn(_) => "42702",
        SqlError::DuplicateAlias(_) => "42712",
        SqlError::InvalidColumnReference(_) => "42P10",
        SqlError::UndefinedObject(_) => "42704",
        SqlError::WrongObjectType(_) => "42809",
        SqlError::DependentObjectsStillExist { .. } => "2BP01",
        SqlError::NotNullViolation { .. } => "23502",
        SqlError::ColumnContainsNulls { .. } => "23502",
        SqlError::CheckViolation { .. } => "23514",
        SqlError::UniqueViolation { .. } => "23505",
        SqlError::UniqueIndexBuild { .. } => "23505",
        SqlError::InvalidObjectDefinition(_) => "42P17",
        SqlError::CardinalityViolation(_) => "21000",
        SqlError::InvalidParameterValue(_) => "22023",
        SqlError::SequenceLimit(_) => "2200H",
        // 2201X invalid_row_count_in_result_offset_clause, 2201W ..._limit_clause
        SqlError::InvalidRowCount(m) if m.starts_with("OFFSET") => "2201X",
        SqlError::InvalidRowCount(_) => "2201W",
        SqlError::ObjectNotInPrerequisiteState(_) => "55000",
        SqlError::ReadOnlyTransaction(_) => "25006",
        SqlError::UndefinedSavepoint(_) => "3B001",
        SqlError::ActiveSqlTransaction(_) => "25001",
        SqlError::NoActiveSqlTransaction(_) => "25P01",
        SqlError::QueryCanceled => "57014",
        SqlError::IndeterminateDatatype(_) => "42P18",
        SqlError::ProtocolViolation(_) => "08P01",
        SqlError::GeneratedAlways(_) => "428C9",
        SqlError::GeneratedAlwaysUpdate(_) => "428C9",
        SqlError::NoMatchingConstraint => "42P10",
        SqlError::OnConflictTwice => "21000",
        SqlError::StackDepthLimitExceeded => "54001",
        SqlError::Internal(_) => "XX000",
        SqlError::FeatureNotSupportedMsg(_) => "0A000",
        SqlError::BadCopyFormat(_) => "22P04",
        SqlError::CopyFailed(_) => "57014",
        SqlError::WithContext { source, .. } => sql_error_code(source),
        SqlError::WithHint { source, .. } => sql_error_code(source),
    }
}

/// SQLSTATE of a value/type error.
pub fn type_error_code(err: &TypeError) -> &'static str {
    match err {
        TypeError::InvalidTextRepresentation { .. } => "22P02",
        TypeError::NumericValueOutOfRange(_) => "22003",
        TypeError::DivisionByZero => "22012",
        TypeError::StringDataRightTruncation(_) => "22001",
        TypeError::DatetimeFieldOverflow(_) => "22008",
        TypeError::InvalidDatetimeFormat { .. } => "22007",
        TypeError::InvalidBinaryRepresentation(_) => "22P03",
        TypeError::CannotCoerce { .. } => "42846",
        TypeError::UndefinedOperator(_) => "42883",
        TypeError::CharacterNotInRepertoire(_) => "22021",
        TypeError::InvalidParameterValue(_) => "22023",
        TypeError::InvalidArgumentForPower(_) => "2201F",
        TypeError::InvalidArgumentForLog(_) => "2201E",
        TypeError::SubstringError(_) => "22011",
        TypeError::ProgramLimitExceeded(_) => "54000",
        TypeError::InvalidRegex(_) => "2201B",
    }
}

/// SQLSTATE of a storage-engine error.
pub fn engine_error_code(err: &EngineError) -> &'static str {
    match err {
        // io_error
        EngineError::Io { .. } => "58030",
        // data_corrupted
        EngineError::CorruptPage { .. } => "XX001",
        EngineError::CorruptWal(_) => "XX001",
        // lock_file_exists
        EngineError::DataDirLocked(_) => "F0001",
        // Postgres's "database files are incompatible with server" (FATAL
        // at startup, internal_error)
        EngineError::IncompatibleDataDir { .. } => "XX000",
        EngineError::SerializationFailure => "40001",
        EngineError::DeadlockDetected { .. } => "40P01",
        // program_limit_exceeded
        EngineError::TupleTooLarge { .. } => "54000",
        // program_limit_exceeded, as Postgres reports an oversize btree key
        EngineError::IndexKeyTooLarge { .. } => "54000",
        // insufficient_resources
        EngineError::BufferPoolExhausted => "53000",
        // query_canceled
        EngineError::Canceled => "57014",
        // invalid_transaction_state
        EngineError::TransactionEnded => "25000",
        EngineError::IndexUnsupported { .. } => "0A000",
        EngineError::DuplicateKey { .. } => "23505",
    }
}

/// Errors the protocol layer raises itself (no SQL involved).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// 08P01; a framing error: the connection cannot continue.
    #[error("invalid message length")]
    InvalidMessageLength,
    /// 08P01; the connection cannot continue.
    #[error("invalid frontend message type {0}")]
    InvalidMessageType(u8),
    /// 08P01; a message body that does not match its type.
    #[error("{0}")]
    Malformed(String),
    /// 08P01
    #[error("bind message supplies {supplied} parameters, but prepared statement \"{name}\" requires {required}")]
    BindParamCount {
        supplied: usize,
        name: String,
        required: usize,
    },
    /// 08P01
    #[error("bind message has {formats} parameter formats but {params} parameters")]
    BindParamFormats { formats: usize, params: usize },
    /// 08P01
    #[error("bind message has {formats} result formats but query has {columns} columns")]
    BindResultFormats { formats: usize, columns: usize },
    /// 22P03; bytes left over after a binary Bind parameter (1-based).
    #[error("incorrect binary data format in bind parameter {0}")]
    BindParamFormat(usize),
    /// 22023
    #[error("unsupported format code: {0}")]
    UnsupportedFormat(i16),
    /// 22021; the bytes from the first invalid sequence, as `0xff 0xfe`.
    #[error("invalid byte sequence for encoding \"UTF8\": {0}")]
    InvalidUtf8(String),
    /// 26000
    #[error("prepared statement \"{0}\" does not exist")]
    UnknownStatement(String),
    /// 42P05
    #[error("prepared statement \"{0}\" already exists")]
    DuplicateStatement(String),
    /// 34000
    #[error("portal \"{0}\" does not exist")]
    UnknownPortal(String),
    /// 42P03
    #[error("portal \"{0}\" already exists")]
    DuplicatePortal(String),
    /// 08P01
    #[error("unsupported frontend protocol {major}.{minor}: server supports 3.0 to 3.0")]
    UnsupportedProtocol { major: u16, minor: u16 },
    /// 28000
    #[error("no PostgreSQL user name specified in startup packet")]
    NoUserName,
    /// 57P01
    #[error("terminating connection due to administrator command")]
    AdminShutdown,
    /// 53000; the server could not get what a new connection needs.
    #[error("{0}")]
    OutOfResources(String),
    /// XX000; a bug in sargdb, caught at the connection boundary.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ProtocolError {
    pub fn code(&self) -> &'static str {
        match self {
            ProtocolError::InvalidMessageLength
            | ProtocolError::InvalidMessageType(_)
            | ProtocolError::Malformed(_)
            | ProtocolError::BindParamCount { .. }
            | ProtocolError::BindParamFormats { .. }
            | ProtocolError::BindResultFormats { .. }
            | ProtocolError::UnsupportedProtocol { .. } => "08P01",
            ProtocolError::BindParamFormat(_) => "22P03",
            ProtocolError::UnsupportedFormat(_) => "22023",
            ProtocolError::InvalidUtf8(_) => "22021",
            ProtocolError::UnknownStatement(_) => "26000",
            ProtocolError::DuplicateStatement(_) => "42P05",
            ProtocolError::UnknownPortal(_) => "34000",
            ProtocolError::DuplicatePortal(_) => "42P03",
            ProtocolError::NoUserName => "28000",
            ProtocolError::AdminShutdown => "57P01",
            ProtocolError::OutOfResources(_) => "53000",
            ProtocolError::Internal(_) => "XX000",
        }
    }

    pub fn report(&self) -> ErrorReport {
        ErrorReport::new(self.code(), self.to_string())
    }
}

/// Formats the bytes of an invalid UTF-8 sequence the way Postgres's
/// `report_invalid_encoding` does: as many bytes as the lead byte announces
/// (at least one, at most what is left), each as `0x%02x`.
pub fn invalid_utf8_bytes(bytes: &[u8]) -> String {
    let want = match bytes.first() {
        Some(b) if *b < 0x80 => 1,
        Some(b) if (b & 0xe0) == 0xc0 => 2,
        Some(b) if (b & 0xf0) == 0xe0 => 3,
        Some(b) if (b & 0xf8) == 0xf0 => 4,
        _ => 1,
    };
    bytes
        .iter()
        .take(want.min(bytes.len()))
        .map(|b| format!("0x{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Decodes client text as UTF-8 or reports 22021 with Postgres's wording.
pub fn decode_utf8(bytes: &[u8]) -> Result<&str, ProtocolError> {
    std::str::from_utf8(bytes)
        .map_err(|e| ProtocolError::InvalidUtf8(invalid_utf8_bytes(&bytes[e.valid_up_to()..])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_errors_get_their_codes() {
        let e = SqlError::Syntax {
            message: "syntax error at or near \"x\"".into(),
            position: Some(8),
        };
        let r = report(&e);
        assert_eq!(r.code, "42601");
        assert_eq!(r.position, Some(8));
        assert_eq!(sql_error_code(&SqlError::InFailedTransaction), "25P02");
        assert_eq!(
            sql_error_code(&SqlError::Type(TypeError::DivisionByZero)),
            "22012"
        );
        assert_eq!(
            sql_error_code(&SqlError::Engine(EngineError::SerializationFailure)),
            "40001"
        );
        assert_eq!(
            sql_error_code(&SqlError::Engine(EngineError::Canceled)),
            "57014"
        );
        let d = report(&SqlError::Engine(EngineError::DeadlockDetected {
            detail: "Process 1".into(),
        }));
        assert_eq!((d.code, d.detail.as_deref()), ("40P01", Some("Process 1")));
    }

    #[test]
    fn invalid_utf8_is_reported_like_postgres() {
        assert_eq!(decode_utf8(b"select 1").ok(), Some("select 1"));
        let e = decode_utf8(b"select '\xff'").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid byte sequence for encoding \"UTF8\": 0xff"
        );
        assert_eq!(e.code(), "22021");
        // A three-byte lead followed by a bad continuation: Postgres prints the
        // bytes the lead announced.
        let e = decode_utf8(b"a\xe2\x28\xa1b").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid byte sequence for encoding \"UTF8\": 0xe2 0x28 0xa1"
        );
        // Truncated at the end of the string.
        let e = decode_utf8(b"a\xe2").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid byte sequence for encoding \"UTF8\": 0xe2"
        );
    }

    #[test]
    fn bind_count_message_matches_postgres() {
        let e = ProtocolError::BindParamCount {
            supplied: 2,
            name: String::new(),
            required: 1,
        };
        assert_eq!(
            e.to_string(),
            "bind message supplies 2 parameters, but prepared statement \"\" requires 1"
        );
        assert_eq!(e.code(), "08P01");
    }
}
