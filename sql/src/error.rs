//! The SQL layer's error enum. Every variant gets its SQLSTATE in
//! `sargdb-server` (an exhaustive match, no catch-all).

use sargdb_catalog::TypeError;
use sargdb_engine::EngineError;

pub type Result<T> = std::result::Result<T, SqlError>;

#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// 42601; `position` is the 1-based character offset into the query text.
    #[error("{message}")]
    Syntax {
        message: String,
        position: Option<usize>,
    },
    /// 0A000
    #[error("{0} is not supported")]
    FeatureNotSupported(String),
    /// 42P01
    #[error("relation \"{name}\" does not exist")]
    UndefinedTable {
        name: String,
        position: Option<usize>,
    },
    /// 42703
    #[error("column \"{name}\" does not exist")]
    UndefinedColumn {
        name: String,
        position: Option<usize>,
    },
    /// 42P01 as well: a qualifier that names no table in FROM.
    #[error("missing FROM-clause entry for table \"{table}\"")]
    MissingFromEntry {
        table: String,
        position: Option<usize>,
    },
    /// 42P01: a qualifier naming a FROM item this part of the query cannot
    /// see (an item to the left of a subquery that is not LATERAL).
    #[error("invalid reference to FROM-clause entry for table \"{table}\"")]
    InvalidFromReference {
        table: String,
        position: Option<usize>,
    },
    /// 42703 with a message of its own.
    #[error("{message}")]
    UndefinedColumnMsg {
        message: String,
        position: Option<usize>,
    },
    /// 42P01 for DROP TABLE/SEQUENCE of a missing relation (`table "t" does not exist`).
    #[error("{message}")]
    UndefinedObjectOfKind { message: String },
    /// 25P02
    #[error("current transaction is aborted, commands ignored until end of transaction block")]
    InFailedTransaction,
    #[error(transparent)]
    Type(#[from] TypeError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// 42P07 (relation) / 42P06 is `DuplicateSchema`
    #[error("relation \"{0}\" already exists")]
    DuplicateTable(String),
    /// 42P06
    #[error("schema \"{0}\" already exists")]
    DuplicateSchema(String),
    /// 3F000
    #[error("schema \"{0}\" does not exist")]
    UndefinedSchema(String),
    /// 42701
    #[error("{0}")]
    DuplicateColumn(String),
    /// 42804 (datatype mismatch)
    #[error("{0}")]
    DatatypeMismatch(String),
    /// 42883 (undefined function or operator)
    #[error("{0}")]
    UndefinedFunction(String),
    /// 42725: a function name several functions share (`'abs'::regproc`).
    #[error("{0}")]
    AmbiguousFunction(String),
    /// 22P02 with a message of its own (`'f'::regprocedure`: "expected a
    /// left parenthesis").
    #[error("{0}")]
    InvalidTextRepresentationMsg(String),
    /// 42803
    #[error("{0}")]
    Grouping(String),
    /// 42702
    #[error("column reference \"{0}\" is ambiguous")]
    AmbiguousColumn(String),
    /// 42712 / 42P09 family: duplicate table alias etc.; sent as 42712.
    #[error("{0}")]
    DuplicateAlias(String),
    /// 42P10
    #[error("{0}")]
    InvalidColumnReference(String),
    /// 42601 without position: a statement that parses but is malformed.
    #[error("{0}")]
    SyntaxNoPosition(String),
    /// 42704 (undefined object: configuration parameter, sequence, type, ...)
    #[error("{0}")]
    UndefinedObject(String),
    /// 42809 (wrong object type)
    #[error("{0}")]
    WrongObjectType(String),
    /// 2BP01
    #[error("{message}")]
    DependentObjectsStillExist {
        message: String,
        detail: Option<String>,
    },
    /// 23502
    #[error(
        "null value in column \"{column}\" of relation \"{table}\" violates not-null constraint"
    )]
    NotNullViolation {
        column: String,
        table: String,
        detail: Option<String>,
    },
    /// 23502 from ALTER TABLE: existing rows would violate a new NOT NULL.
    #[error("column \"{column}\" of relation \"{table}\" contains null values")]
    ColumnContainsNulls { column: String, table: String },
    /// 23514
    #[error("new row for relation \"{table}\" violates check constraint \"{constraint}\"")]
    CheckViolation {
        table: String,
        constraint: String,
        detail: Option<String>,
    },
    /// 23505
    #[error("duplicate key value violates unique constraint \"{constraint}\"")]
    UniqueViolation {
        constraint: String,
        detail: Option<String>,
    },
    /// 23505 when CREATE UNIQUE INDEX / ADD PRIMARY KEY meets duplicates.
    #[error("could not create unique index \"{index}\"")]
    UniqueIndexBuild {
        index: String,
        detail: Option<String>,
    },
    /// 42P17
    #[error("{0}")]
    InvalidObjectDefinition(String),
    /// 21000
    #[error("{0}")]
    CardinalityViolation(String),
    /// 22023 (invalid parameter value, e.g. SET to a bad value)
    #[error("{0}")]
    InvalidParameterValue(String),
    /// 2201W / 2201X (negative LIMIT / OFFSET)
    #[error("{0}")]
    InvalidRowCount(String),
    /// 55P02 (a parameter that cannot be changed)
    #[error("{0}")]
    CantChangeRuntimeParam(String),
    /// 42P16 (invalid table definition)
    #[error("{0}")]
    InvalidTableDefinition(String),
    /// 2200H (sequence generator limit exceeded)
    #[error("{0}")]
    SequenceLimit(String),
    /// 55000 (object not in prerequisite state: currval before nextval)
    #[error("{0}")]
    ObjectNotInPrerequisiteState(String),
    /// 25006
    #[error("cannot execute {0} in a read-only transaction")]
    ReadOnlyTransaction(String),
    /// 3B001
    #[error("savepoint \"{0}\" does not exist")]
    UndefinedSavepoint(String),
    /// 25001 active_sql_transaction (SET TRANSACTION ISOLATION LEVEL after a query)
    #[error("{0}")]
    ActiveSqlTransaction(String),
    /// 25P01 (no_active_sql_transaction: SAVEPOINT outside a block)
    #[error("{0} can only be used in transaction blocks")]
    NoActiveSqlTransaction(String),
    /// 57014
    #[error("canceling statement due to user request")]
    QueryCanceled,
    /// 42P18 (indeterminate datatype: `$1` whose type cannot be inferred)
    #[error("could not determine data type of parameter ${0}")]
    IndeterminateDatatype(usize),
    /// 08P01 (wrong number of parameters at Bind)
    #[error("{0}")]
    ProtocolViolation(String),
    /// 428C9 (generated_always: explicit value for an identity column)
    #[error("cannot insert a non-DEFAULT value into column \"{0}\"")]
    GeneratedAlways(String),
    /// 428C9 (UPDATE of a GENERATED ALWAYS identity column)
    #[error("column \"{0}\" can only be updated to DEFAULT")]
    GeneratedAlwaysUpdate(String),
    /// 42P10: no unique index matches the ON CONFLICT target.
    #[error("there is no unique or exclusion constraint matching the ON CONFLICT specification")]
    NoMatchingConstraint,
    /// 21000 ON CONFLICT DO UPDATE touching a row twice
    #[error("ON CONFLICT DO UPDATE command cannot affect row a second time")]
    OnConflictTwice,
    /// 53200: query work memory would pass its limit (`--memory-limit`).
    #[error("out of memory")]
    OutOfMemory { detail: Option<String> },
    /// 54001: a statement nested too deeply to bind and run safely.
    #[error("stack depth limit exceeded")]
    StackDepthLimitExceeded,
    /// XX000 internal error: a bug, never a user mistake.
    #[error("internal error: {0}")]
    Internal(String),
    /// 0A000 with a message of its own (no " is not supported" suffix).
    #[error("{0}")]
    FeatureNotSupportedMsg(String),
    /// 22P04 (bad_copy_file_format): malformed COPY data.
    #[error("{0}")]
    BadCopyFormat(String),
    /// 57014: the client sent CopyFail with this message.
    #[error("COPY from stdin failed: {0}")]
    CopyFailed(String),
    /// Another error with Postgres's CONTEXT line (`COPY t, line 3, column a: "x"`);
    /// code, detail and position are the inner error's.
    #[error("{source}")]
    WithContext {
        source: Box<SqlError>,
        context: String,
    },
    /// Another error with Postgres's HINT line (what the user can do about
    /// it); code, detail, position and context are the inner error's.
    #[error("{source}")]
    WithHint { source: Box<SqlError>, hint: String },
}

impl SqlError {
    /// The CONTEXT field, where Postgres sends one.
    pub fn context(&self) -> Option<&str> {
        match self {
            SqlError::WithContext { context, .. } => Some(context),
            SqlError::WithHint { source, .. } => source.context(),
            _ => None,
        }
    }

    /// The HINT field, where Postgres sends one.
    pub fn hint(&self) -> Option<&str> {
        match self {
            SqlError::WithHint { hint, .. } => Some(hint),
            SqlError::WithContext { source, .. } => source.hint(),
            _ => None,
        }
    }

    /// This error with a HINT.
    pub fn with_hint(self, hint: impl Into<String>) -> SqlError {
        SqlError::WithHint {
            source: Box::new(self),
            hint: hint.into(),
        }
    }

    /// `column "x" named in key does not exist` (42703).
    pub(crate) fn key_column(self, name: &str) -> SqlError {
        match self {
            SqlError::UndefinedColumn { position, .. } => SqlError::UndefinedColumnMsg {
                message: format!("column \"{name}\" named in key does not exist"),
                position,
            },
            other => other,
        }
    }

    /// The DETAIL field, where Postgres sends one.
    pub fn detail(&self) -> Option<&str> {
        match self {
            SqlError::NotNullViolation { detail, .. }
            | SqlError::CheckViolation { detail, .. }
            | SqlError::UniqueViolation { detail, .. }
            | SqlError::UniqueIndexBuild { detail, .. }
            | SqlError::DependentObjectsStillExist { detail, .. }
            | SqlError::OutOfMemory { detail } => detail.as_deref(),
            SqlError::WithContext { source, .. } | SqlError::WithHint { source, .. } => {
                source.detail()
            }
            _ => None,
        }
    }

    /// The 1-based character position, where known.
    pub fn position(&self) -> Option<usize> {
        match self {
            SqlError::Syntax { position, .. }
            | SqlError::UndefinedTable { position, .. }
            | SqlError::UndefinedColumn { position, .. }
            | SqlError::MissingFromEntry { position, .. }
            | SqlError::InvalidFromReference { position, .. }
            | SqlError::UndefinedColumnMsg { position, .. } => *position,
            SqlError::WithContext { source, .. } | SqlError::WithHint { source, .. } => {
                source.position()
            }
            _ => None,
        }
    }
}
