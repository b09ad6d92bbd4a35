//! sargdb-engine: the storage engine.
//!
//! Owns everything below SQL: 8 KiB checksummed pages in relation files, the
//! buffer pool, the write-ahead log (group commit, checkpoints, recovery), slotted
//! heap pages with MVCC tuple headers, the transaction manager (xids, snapshots,
//! commit log, subtransactions for savepoints, row-lock waits, deadlock
//! detection) and the durable storage of the catalog blob and sequence values.
//!
//! It must not know SQL: relations are numbered storage (`RelFileId`), tuples are
//! opaque byte strings, and the catalog is an opaque blob that the catalog crate
//! serializes. Every page change goes through the WAL before the page may reach
//! disk (see `wal` and `buffer`).

pub mod blocking;
pub mod buffer;
pub mod error;
pub mod heap;
pub mod index;
pub mod page;
pub mod stats;
pub mod txn;
pub mod visibility_map;
pub mod wal;

mod engine;
mod storage;

pub use buffer::{BuildPageHasher, BULK_RING_FRAMES};
pub use engine::{Engine, EngineConfig, EngineStats, VacuumStats, STORAGE_FORMAT_VERSION};
pub use error::{EngineError, Result};
pub use heap::{HeapScan, TupleBatch, TupleId};
pub use index::{
    frame_column_keys, split_column_keys, AccessMethod, BrinStats, BuildSink, Capabilities,
    CostInput, HashStats, IndexCost, IndexEntry, IndexHandle, IndexKind, IndexOptions, IndexStats,
    KindStats, ScanKey,
};
pub use txn::{
    CommitStart, DirtyScan, Fetched, IsolationLevel, LockOutcome, Transaction, UniqueStatus, Xid,
};

/// Identifies the storage of one relation (a file under `base/`). The catalog
/// maps tables to storage ids; TRUNCATE gives a table a new one, like
/// Postgres's relfilenode.
pub type RelFileId = u32;
