//! Index access methods: the one interface every index kind implements.
//!
//! Keys are byte strings whose `memcmp` order is the SQL order (the catalog's
//! `types::key` encodes values so; DESC and NULLS FIRST/LAST are part of the
//! encoding, and each column's encoding is prefix-free, so a leading-column
//! prefix is a byte prefix). The engine therefore never interprets a key.
//!
//! An index maps keys to heap tuple ids and holds no visibility information:
//! every version of a row has its own entry, scans return candidates that the
//! caller checks against the heap with its snapshot, and VACUUM removes entries
//! whose heap tuple is gone (`bulk_delete`). Index pages go through the buffer
//! pool and the WAL like heap pages, so every index is crash safe.
//!
//! A new kind adds a module here and an `IndexKind`; the planner learns what a
//! kind can do from `Capabilities` and never tests the kind itself.

pub mod btree;

use std::ops::Bound;
use std::sync::Arc;

use crate::error::Result;
use crate::heap::TupleId;
use crate::RelFileId;

/// The index kinds sargdb knows (`CREATE INDEX ... USING <name>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IndexKind {
    BTree,
}

impl IndexKind {
    /// The access method name as `pg_am.amname` / `USING` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            IndexKind::BTree => "btree",
        }
    }
    pub fn from_name(name: &str) -> Option<IndexKind> {
        match name.to_ascii_lowercase().as_str() {
            "btree" => Some(IndexKind::BTree),
            _ => None,
        }
    }
}

/// What an access method can serve; the planner's only source of truth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Entries come back in key order (ORDER BY without a sort, min/max).
    pub ordered: bool,
    /// Range and prefix scans (<, <=, >, >=, BETWEEN, LIKE 'p%').
    pub range: bool,
    /// Equality scans.
    pub equality: bool,
    /// Can enforce UNIQUE.
    pub unique: bool,
    /// Can scan backward (ORDER BY ... DESC on an ASC index).
    pub backward: bool,
    /// Multi-column keys.
    pub multi_column: bool,
    /// Results are exact (false: lossy, the caller must recheck the condition).
    pub exact: bool,
}

/// Which entries a scan wants, in key bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanKey {
    /// Every entry, in index order.
    All,
    /// Entries whose key equals this.
    Eq(Vec<u8>),
    /// Entries whose key starts with this (leading columns, LIKE 'p%').
    Prefix(Vec<u8>),
    /// Entries whose key lies within the bounds.
    Range {
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
    },
}

/// One index entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct IndexEntry {
    pub key: Vec<u8>,
    pub tid: TupleId,
}

/// Options given at CREATE INDEX time (`WITH (...)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexOptions {
    /// Percentage of each leaf page filled by a bulk build (10-100).
    pub fillfactor: u8,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions { fillfactor: 90 }
    }
}

/// Physical statistics (the pgstatindex figures plus entries).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IndexStats {
    pub version: u32,
    pub tree_level: u32,
    pub index_size: u64,
    pub root_block_no: u32,
    pub internal_pages: u64,
    pub leaf_pages: u64,
    pub empty_pages: u64,
    pub deleted_pages: u64,
    /// Percentage of leaf page space used by entries.
    pub avg_leaf_density: f64,
    /// Percentage of leaf pages whose right sibling has a lower block number.
    pub leaf_fragmentation: f64,
    pub entries: u64,
    pub splits: u64,
    pub merges: u64,
}

/// An open scan: entries in index order (reverse order if backward).
pub type IndexScanIter = Box<dyn Iterator<Item = Result<IndexEntry>> + Send>;

/// The interface every index kind implements.
pub trait AccessMethod: Send + Sync {
    fn kind(&self) -> IndexKind;
    fn capabilities(&self) -> Capabilities;
    /// The storage this index lives in.
    fn rel(&self) -> RelFileId;
    /// Fill an empty index from `entries` (sorted by (key, tid) if `sorted`).
    fn build(&self, entries: Vec<IndexEntry>, sorted: bool) -> Result<()>;
    fn insert(&self, key: &[u8], tid: TupleId) -> Result<()>;
    /// Remove one entry; false if it was not there.
    fn delete(&self, key: &[u8], tid: TupleId) -> Result<bool>;
    /// Remove these entries, those still present, because their tuples are
    /// dead to every transaction (found so by a scan); returns how many went.
    /// Unlike `delete`, nothing is rebalanced: it must be cheap.
    fn kill(&self, entries: &[IndexEntry]) -> Result<u64> {
        let mut n = 0;
        for e in entries {
            n += self.delete(&e.key, e.tid)? as u64;
        }
        Ok(n)
    }
    /// Remove every entry whose tuple `dead` says is gone (VACUUM).
    fn bulk_delete(&self, dead: &dyn Fn(TupleId) -> bool) -> Result<u64>;
    fn scan(&self, key: &ScanKey, backward: bool) -> Result<IndexScanIter>;
    /// Problems found by a structural check (empty when healthy).
    fn verify(&self) -> Result<Vec<String>>;
    fn stats(&self) -> Result<IndexStats>;
    /// Serializes uniqueness checks: hold while checking and inserting.
    fn unique_lock(&self) -> parking_lot::ArcMutexGuard<parking_lot::RawMutex, ()>;
}

/// Largest key an index entry may have (Postgres's btree limit).
pub const MAX_KEY_SIZE: usize = 2704;

pub type IndexHandle = Arc<dyn AccessMethod>;
