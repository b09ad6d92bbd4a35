//! The `Engine`: opening a data directory, recovery, checkpoints, vacuum.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Result;
use crate::txn::{IsolationLevel, Transaction};
use crate::RelFileId;

/// Engine settings (filled from the server's configuration).
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub data_dir: PathBuf,
    /// Buffer pool size in bytes (rounded down to whole 8 KiB pages).
    pub buffer_pool_bytes: usize,
    /// fsync WAL at commit and data files at checkpoint. Only tests of
    /// non-durable paths turn this off.
    pub fsync: bool,
    /// Time between automatic checkpoints.
    pub checkpoint_interval: Duration,
    /// WAL bytes written since the last checkpoint that trigger a new one.
    pub checkpoint_wal_bytes: u64,
}

impl EngineConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        EngineConfig {
            data_dir: data_dir.into(),
            buffer_pool_bytes: 128 << 20,
            fsync: true,
            checkpoint_interval: Duration::from_secs(300),
            checkpoint_wal_bytes: 256 << 20,
        }
    }
}

/// What VACUUM did to one relation.
#[derive(Clone, Debug, Default)]
pub struct VacuumStats {
    pub pages_scanned: u64,
    pub tuples_removed: u64,
    pub tuples_remaining: u64,
}

/// Counters for observability views.
#[derive(Clone, Debug, Default)]
pub struct EngineStats {
    pub buffer_hits: u64,
    pub buffer_misses: u64,
    pub buffer_evictions: u64,
    pub buffer_dirty: u64,
    pub buffer_frames: u64,
    pub wal_bytes: u64,
    pub wal_fsyncs: u64,
    pub checkpoints: u64,
}

pub struct Engine {}

impl Engine {
    /// Open (creating if needed) the data directory and run recovery.
    pub fn open(cfg: EngineConfig) -> Result<Arc<Engine>> {
        let _ = cfg;
        todo!()
    }

    /// Start a transaction. Its xid is assigned at its first write.
    pub fn begin(self: &Arc<Self>, isolation: IsolationLevel) -> Transaction {
        let _ = isolation;
        todo!()
    }

    /// The catalog blob as of the last committed `Transaction::log_catalog`.
    pub fn catalog_blob(&self) -> Option<Vec<u8>> {
        todo!()
    }

    /// Current value of a sequence (`value`, `is_called`), if ever set.
    pub fn sequence_get(&self, seq: u32) -> Option<(i64, bool)> {
        let _ = seq;
        todo!()
    }

    /// Set a sequence's state. Not transactional (like Postgres's nextval);
    /// WAL-logged, so durable once any later commit is flushed.
    pub fn sequence_set(&self, seq: u32, value: i64, is_called: bool) -> Result<()> {
        let _ = (seq, value, is_called);
        todo!()
    }

    /// Write all dirty pages and the catalog, then log a checkpoint.
    pub fn checkpoint(&self) -> Result<()> {
        todo!()
    }

    /// Remove row versions no snapshot can see any more.
    pub fn vacuum(&self, rel: RelFileId) -> Result<VacuumStats> {
        let _ = rel;
        todo!()
    }

    /// Number of pages in a relation.
    pub fn relation_pages(&self, rel: RelFileId) -> Result<u32> {
        let _ = rel;
        todo!()
    }

    pub fn stats(&self) -> EngineStats {
        todo!()
    }

    /// Clean shutdown: checkpoint and release the data directory.
    pub fn shutdown(&self) -> Result<()> {
        todo!()
    }
}
