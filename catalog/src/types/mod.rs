//! SQL data types and values with PostgreSQL 15 semantics.
//!
//! Representation choices (they make binary I/O a copy, like Postgres's):
//! dates are days since 2000-01-01, timestamps microseconds since
//! 2000-01-01 00:00:00 (timestamptz in UTC), with i32/i64 MIN/MAX as -infinity /
//! infinity. All character types are `Value::Text`; the column's `DataType`
//! carries the length limit.

mod arith;
mod binary_io;
mod cast;
mod compare;
mod datatype;
pub mod datetime;
mod error;
pub mod json;
pub mod key;
pub mod numeric;
mod row;
mod text_io;
pub mod timezone;

pub use arith::{arith, arith_in_zone, concat, negate};
pub use binary_io::{parse_binary, value_type};
pub use cast::{cast, cast_from};
pub use compare::{compare, hash_value};
pub use datetime::parse_timezone;
pub use error::TypeError;
pub use key::{
    decode_key, decode_key_prefix, decodes_exactly, encode_key, encode_key_value, prefix_successor,
    KeyColumn,
};
pub use row::{
    begin_row, decode_all, decode_column, decode_row, decode_row_masked, encode_plain_int,
    encode_row, encode_text_value, set_row_null,
};
pub use text_io::parse_text;
pub use text_io::{format_as, format_float4, format_float8, format_vector};
pub use timezone::TimeZone;

pub type Result<T> = std::result::Result<T, TypeError>;

/// A SQL data type, with its type modifier where Postgres has one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DataType {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    /// numeric(precision, scale); None = unconstrained numeric.
    Numeric(Option<(u32, i32)>),
    Text,
    /// varchar(n); None = no limit.
    Varchar(Option<u32>),
    /// char(n) (Postgres's bpchar); blank padded. None only for the bare type.
    Char(Option<u32>),
    /// Postgres's `name` (63-byte identifiers in the catalogs).
    Name,
    Bytea,
    Date,
    Time,
    Timestamp,
    Timestamptz,
    Interval,
    Uuid,
    Json,
    Jsonb,
    Oid,
    /// One-dimensional arrays of an element type.
    Array(Box<DataType>),
    /// The type of an untyped string literal or NULL before resolution.
    Unknown,
    /// Postgres's object identifier aliases: an oid (`Value::Oid`) that
    /// prints as the name of the relation / type it identifies. (Declared
    /// last: the catalog is serialized with variant indexes.)
    Regclass,
    Regtype,
    /// Postgres's `int2vector` and `oidvector` (pg_index.indkey,
    /// pg_proc.proargtypes): one-dimensional arrays of int2 / oid that
    /// print as space-separated numbers and subscript from 0. Values are
    /// `Value::Array`.
    Int2Vector,
    OidVector,
    /// More oid aliases: a function (by name, or with its argument types),
    /// a schema, a role.
    Regproc,
    Regprocedure,
    Regnamespace,
    Regrole,
}

/// Interval as Postgres stores it: months, days and microseconds kept apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

/// Arbitrary-precision numeric, including Postgres's NaN and +-Infinity.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Numeric {
    Finite(bigdecimal::BigDecimal),
    NaN,
    PosInf,
    NegInf,
}

/// A SQL value. NULL is `Value::Null` for every type.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int2(i16),
    Int4(i32),
    Int8(i64),
    Float4(f32),
    Float8(f64),
    Numeric(Numeric),
    /// text, varchar, char, name, and json's text form are all strings.
    Text(String),
    Bytea(Vec<u8>),
    /// Days since 2000-01-01.
    Date(i32),
    /// Microseconds since midnight.
    Time(i64),
    /// Microseconds since 2000-01-01 00:00:00.
    Timestamp(i64),
    /// Microseconds since 2000-01-01 00:00:00 UTC.
    Timestamptz(i64),
    Interval(Interval),
    Uuid([u8; 16]),
    Json(String),
    /// jsonb is kept in its normalized text form (Postgres's output form).
    Jsonb(String),
    Oid(u32),
    Array(Vec<Value>),
}

/// Session settings that change how values are read and printed.
#[derive(Clone, Debug)]
pub struct TypeContext {
    /// The session time zone (`SET TimeZone`); offsets depend on the instant.
    pub tz: std::sync::Arc<TimeZone>,
}

impl Default for TypeContext {
    fn default() -> Self {
        TypeContext {
            tz: TimeZone::utc(),
        }
    }
}

impl TypeContext {
    pub fn new(tz: std::sync::Arc<TimeZone>) -> Self {
        TypeContext { tz }
    }

    /// Name of the session time zone as SHOW TimeZone prints it.
    pub fn tz_name(&self) -> &str {
        self.tz.name()
    }

    /// Offset east of UTC, in seconds, in force at a (finite) timestamptz.
    pub fn offset_at(&self, utc_usecs: i64) -> i32 {
        self.tz.offset_at(datetime::usecs_to_unix_secs(utc_usecs))
    }

    /// Abbreviation (`EST`, `+0530`) in force at a (finite) timestamptz.
    pub fn abbrev_at(&self, utc_usecs: i64) -> String {
        self.tz
            .type_at(datetime::usecs_to_unix_secs(utc_usecs))
            .abbrev
    }

    /// Local wall-clock time of a timestamptz (infinities unchanged).
    pub fn to_local(&self, utc_usecs: i64) -> i64 {
        datetime::utc_to_local(utc_usecs, &self.tz)
    }

    /// The timestamptz meaning a local wall-clock time, with Postgres's rule
    /// for nonexistent and ambiguous times (infinities unchanged).
    pub fn to_utc(&self, local_usecs: i64) -> i64 {
        datetime::local_to_utc(local_usecs, &self.tz)
    }
}

/// Binary operators the evaluator asks the type layer to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}
