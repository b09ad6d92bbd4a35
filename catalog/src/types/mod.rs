//! SQL data types and values with PostgreSQL 15 semantics.
//!
//! Representation choices (they make binary I/O a copy, like Postgres's):
//! dates are days since 2000-01-01, timestamps microseconds since
//! 2000-01-01 00:00:00 (timestamptz in UTC), with i32/i64 MIN/MAX as -infinity /
//! infinity. All character types are `Value::Text`; the column's `DataType`
//! carries the length limit.

mod error;

pub use error::TypeError;

use std::cmp::Ordering;

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
    /// Offset of the session time zone from UTC, in seconds (east positive).
    pub tz_offset_secs: i32,
    /// Name of the session time zone as SHOW TimeZone prints it.
    pub tz_name: String,
}

impl Default for TypeContext {
    fn default() -> Self {
        TypeContext { tz_offset_secs: 0, tz_name: "UTC".into() }
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

impl DataType {
    /// The Postgres type OID (`pg_type.oid`), e.g. 23 for int4.
    pub fn oid(&self) -> u32 {
        todo!()
    }
    /// The type for an OID, with no modifier.
    pub fn from_oid(oid: u32) -> Option<DataType> {
        let _ = oid;
        todo!()
    }
    /// `pg_type.typlen`: fixed size in bytes, or -1 for variable length.
    pub fn type_len(&self) -> i16 {
        todo!()
    }
    /// `atttypmod` as Postgres computes it (-1 when there is none).
    pub fn typmod(&self) -> i32 {
        todo!()
    }
    /// Name as Postgres's `format_type` prints it: `integer`,
    /// `character varying(20)`, `numeric(10,2)`, `timestamp without time zone`.
    pub fn display_name(&self) -> String {
        todo!()
    }
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Postgres's text output for this value (the form psql prints).
    pub fn to_text(&self, ctx: &TypeContext) -> String {
        let _ = ctx;
        todo!()
    }

    /// Postgres's binary send format for this value as type `ty`.
    pub fn to_binary(&self, ty: &DataType) -> Result<Vec<u8>> {
        let _ = ty;
        todo!()
    }
}

/// Parse Postgres's text input for `ty` (what `'...'::ty` accepts). Applies the
/// type modifier (numeric scale, char padding) as an assignment would.
pub fn parse_text(s: &str, ty: &DataType, ctx: &TypeContext) -> Result<Value> {
    let _ = (s, ty, ctx);
    todo!()
}

/// Decode Postgres's binary receive format for `ty`.
pub fn parse_binary(bytes: &[u8], ty: &DataType) -> Result<Value> {
    let _ = (bytes, ty);
    todo!()
}

/// Cast `v` to `to`. `explicit` is true for CAST/`::` (varchar(n) truncates,
/// numeric rounds) and false for assignment (too long is error 22001).
pub fn cast(v: Value, to: &DataType, explicit: bool, ctx: &TypeContext) -> Result<Value> {
    let _ = (v, to, explicit, ctx);
    todo!()
}

/// Total order used by ORDER BY, comparisons, DISTINCT and GROUP BY for two
/// non-NULL values of the same type (after the binder has coerced them).
/// Floats follow Postgres: NaN is equal to NaN and greater than everything.
pub fn compare(a: &Value, b: &Value) -> Ordering {
    let _ = (a, b);
    todo!()
}

/// Arithmetic on two non-NULL values with Postgres's result types and errors
/// (integer overflow 22003, division by zero 22012, numeric scale rules,
/// date/timestamp/interval arithmetic).
pub fn arith(op: ArithOp, a: &Value, b: &Value) -> Result<Value> {
    let _ = (op, a, b);
    todo!()
}

/// Encode a row (one value per column, NULLs included) into tuple bytes.
pub fn encode_row(values: &[Value], out: &mut Vec<u8>) {
    let _ = (values, out);
    todo!()
}

/// Decode tuple bytes written by `encode_row`. `types` lists the columns now in
/// the table; a tuple written before ALTER TABLE ADD COLUMN has fewer values and
/// the missing trailing columns decode as `None` so the caller can supply the
/// column's default.
pub fn decode_row(bytes: &[u8], types: &[DataType]) -> Result<Vec<Option<Value>>> {
    let _ = (bytes, types);
    todo!()
}
