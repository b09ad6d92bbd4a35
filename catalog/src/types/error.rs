//! Errors of the type layer. Each variant maps to one SQLSTATE in the server.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TypeError {
    /// 22P02
    #[error("invalid input syntax for type {type_name}: \"{value}\"")]
    InvalidTextRepresentation { type_name: String, value: String },
    /// 22003
    #[error("{0}")]
    NumericValueOutOfRange(String),
    /// 22012
    #[error("division by zero")]
    DivisionByZero,
    /// 22001
    #[error("value too long for type {0}")]
    StringDataRightTruncation(String),
    /// 22008
    #[error("{0}")]
    DatetimeFieldOverflow(String),
    /// 22007
    #[error("invalid input syntax for type {type_name}: \"{value}\"")]
    InvalidDatetimeFormat { type_name: String, value: String },
    /// 22P03
    #[error("{0}")]
    InvalidBinaryRepresentation(String),
    /// 42846
    #[error("cannot cast type {from} to {to}")]
    CannotCoerce { from: String, to: String },
    /// 42883
    #[error("operator does not exist: {0}")]
    UndefinedOperator(String),
    /// 22021
    #[error("invalid byte sequence for encoding \"UTF8\": {0}")]
    CharacterNotInRepertoire(String),
    /// 22023
    #[error("{0}")]
    InvalidParameterValue(String),
    /// 2201F (invalid argument for power function: sqrt/pow domain errors)
    #[error("{0}")]
    InvalidArgumentForPower(String),
    /// 2201E (invalid argument for logarithm)
    #[error("{0}")]
    InvalidArgumentForLog(String),
    /// 22011 (substring error: negative length)
    #[error("{0}")]
    SubstringError(String),
    /// 54000 (program limit exceeded, e.g. chr(0), oversized strings)
    #[error("{0}")]
    ProgramLimitExceeded(String),
    /// 2201B (invalid regular expression)
    #[error("invalid regular expression: {0}")]
    InvalidRegex(String),
}
