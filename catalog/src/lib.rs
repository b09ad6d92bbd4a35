//! sargdb-catalog: what the database contains and what its values are.
//!
//! `types` defines SQL data types and values with Postgres's semantics (text and
//! binary I/O, casts, comparison, arithmetic, row encoding). The rest of the crate
//! holds schemas, tables, columns, constraints and sequences, persisted as a blob
//! through the engine. It must not parse SQL: that belongs to `sargdb-sql`.

#![forbid(unsafe_code)]

pub mod catalog;
pub mod types;

pub use catalog::{
    Catalog, CatalogError, ColumnDef, ColumnStats, CommentDef, ConstraintDef, ConstraintKind,
    IdentityKind, IndexColumnDef, IndexDef, SchemaDef, SequenceDef, TableDef, TableStats,
};
pub use types::{DataType, TypeError, Value};
