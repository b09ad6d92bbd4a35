//! Built-in scalar functions with Postgres semantics (string, math, date/time,
//! conversion). The binder asks `resolve` for a call's result type and the
//! argument types to coerce to; the executor calls `call` with evaluated
//! arguments.

use sargdb_catalog::types::{DataType, TypeContext, TypeError, Value};

/// A resolved function call: what to coerce each argument to, and the type of
/// the result.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionSignature {
    pub arg_types: Vec<DataType>,
    pub return_type: DataType,
    /// True when NULL in any argument gives NULL without calling the function.
    pub strict: bool,
    /// True for functions whose result changes within a transaction (random,
    /// clock_timestamp); now() is stable, not volatile.
    pub volatile: bool,
}

/// Per-call context: the session's type settings and the statement/transaction
/// timestamps that now() and friends return.
#[derive(Clone, Debug, Default)]
pub struct CallContext {
    pub types: TypeContext,
    /// Start of the current transaction, microseconds since 2000-01-01 UTC.
    pub transaction_timestamp: i64,
    /// Start of the current statement, same unit.
    pub statement_timestamp: i64,
}

/// Resolve `name` (lower case, unqualified) for argument types `args`
/// (`DataType::Unknown` for untyped literals and NULL). None: no such function.
pub fn resolve(name: &str, args: &[DataType]) -> Option<FunctionSignature> {
    let _ = (name, args);
    None
}

/// Call a resolved function on already-coerced arguments.
pub fn call(name: &str, args: &[Value], ctx: &CallContext) -> Result<Value, TypeError> {
    let _ = (args, ctx);
    Err(TypeError::UndefinedOperator(format!("function {name} is not implemented")))
}
