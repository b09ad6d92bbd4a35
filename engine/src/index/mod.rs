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
//! kind can do from `Capabilities` and what a scan costs from the kind's
//! `scan_cost`, and never tests the kind itself.
//!
//! Lossy kinds (`Capabilities::lossy_pages`, BRIN) keep no entry per row:
//! they answer a scan with the heap pages that may hold matches
//! (`scan_pages`), which the caller reads and rechecks.
//!
//! A bulk build (CREATE INDEX, REINDEX) streams: the heap pass asks the index
//! for a `BuildSink` per part of the heap it reads (one per thread) and feeds
//! each entry to it as the row is read; `build_from` then fills the index from
//! the sinks. The B+Tree keeps each sink's keys packed in one buffer and
//! sorts the run on the sink's own thread (`BuildSink::finish`), then merges
//! the runs; hash needs every entry at once to distribute them over buckets
//! (`CollectSink`); BRIN folds each row into its range's summary and keeps
//! nothing per row.

pub mod brin;
pub mod btree;
pub mod hash;

use std::any::Any;
use std::ops::Bound;
use std::sync::Arc;

use crate::error::{EngineError, Result};
use crate::heap::TupleId;
use crate::RelFileId;

/// The index kinds sargdb knows (`CREATE INDEX ... USING <name>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IndexKind {
    BTree,
    Hash,
    Brin,
}

impl IndexKind {
    /// The access method name as `pg_am.amname` / `USING` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            IndexKind::BTree => "btree",
            IndexKind::Hash => "hash",
            IndexKind::Brin => "brin",
        }
    }
    pub fn from_name(name: &str) -> Option<IndexKind> {
        // Every index use looks its kind up: no lowercased copy.
        [
            ("btree", IndexKind::BTree),
            ("hash", IndexKind::Hash),
            ("brin", IndexKind::Brin),
        ]
        .into_iter()
        .find(|(n, _)| name.eq_ignore_ascii_case(n))
        .map(|(_, k)| k)
    }
    /// What the kind can serve (the same as its handles' `capabilities`).
    pub fn capabilities(&self) -> Capabilities {
        match self {
            IndexKind::BTree => btree::CAPABILITIES,
            IndexKind::Hash => hash::CAPABILITIES,
            IndexKind::Brin => brin::CAPABILITIES,
        }
    }
    /// What reading the index itself costs for one scan (the planner adds
    /// the heap fetches).
    pub fn scan_cost(&self, input: &CostInput) -> IndexCost {
        match self {
            IndexKind::BTree => btree::scan_cost(input),
            IndexKind::Hash => hash::scan_cost(input),
            IndexKind::Brin => brin::scan_cost(input),
        }
    }
}

/// What the planner knows when it costs a scan through an index.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostInput {
    /// Rows the scan's conditions are estimated to match.
    pub matched_rows: f64,
    pub table_rows: f64,
    pub table_pages: f64,
    /// Correlation of the key column with the physical row order (-1..1).
    pub correlation: f64,
    /// The index's `pages_per_range` (lossy page-range kinds).
    pub pages_per_range: u32,
}

/// The work of reading an index for one scan, in the planner's units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IndexCost {
    /// Index pages read at random (descent, bucket).
    pub random_pages: f64,
    /// Index pages read in order (a summary scan).
    pub seq_pages: f64,
    /// Comparisons to find the first entry (search, hashing, summaries).
    pub operators: f64,
    /// Index entries (or summaries) returned or examined per matched row.
    pub entries: f64,
    /// Lossy kinds: heap pages the scan hands back; None when it returns
    /// the tids of matching entries.
    pub heap_pages: Option<f64>,
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
    /// Scans return heap page ranges (`scan_pages`), not entries.
    pub lossy_pages: bool,
    /// Entries may carry INCLUDE columns after the key (a byte suffix the
    /// index orders by but never interprets), and scans return each
    /// entry's stored key: index-only scans are possible.
    pub covering: bool,
    /// Each key column is searchable on its own (BRIN: one summary per
    /// column): a multi-column key is given as the columns' keys framed
    /// by `frame_column_keys`, and a scan may constrain any one column
    /// (`ScanKey::Column`). Single-column keys are given as they are.
    pub column_keys: bool,
}

/// A multi-column key for a `column_keys` kind: each column's encoded key
/// prefixed by its length (u16, little-endian).
pub fn frame_column_keys(columns: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(columns.iter().map(|c| c.len() + 2).sum());
    for c in columns {
        out.extend_from_slice(&(c.len().min(u16::MAX as usize) as u16).to_le_bytes());
        out.extend_from_slice(&c[..c.len().min(u16::MAX as usize)]);
    }
    out
}

/// The column keys of a framed key; None if it is malformed or does not
/// have exactly `n` columns.
pub fn split_column_keys(key: &[u8], n: usize) -> Option<Vec<&[u8]>> {
    let mut out = Vec::with_capacity(n);
    let mut rest = key;
    while !rest.is_empty() {
        let len = u16::from_le_bytes([*rest.first()?, *rest.get(1)?]) as usize;
        out.push(rest.get(2..2 + len)?);
        rest = &rest[2 + len..];
    }
    (out.len() == n).then_some(out)
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
    /// `key` applied to key column `column` alone (kinds with
    /// `column_keys`; others refuse it).
    Column { column: usize, key: Box<ScanKey> },
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
    /// Percentage of each leaf page filled by a bulk build (10-100); hash:
    /// how full buckets get before one splits.
    pub fillfactor: u8,
    /// BRIN: heap pages summarized by one summary.
    pub pages_per_range: u32,
    /// BRIN: summarize a range as soon as inserts move past it.
    pub autosummarize: bool,
    /// Key columns (BRIN keeps a summary per column; fixed at creation).
    pub columns: u16,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            fillfactor: 90,
            pages_per_range: 128,
            autosummarize: false,
            columns: 1,
        }
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
    /// Figures only one kind has.
    pub detail: KindStats,
}

/// Kind-specific physical statistics.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum KindStats {
    #[default]
    None,
    Hash(HashStats),
    Brin(BrinStats),
}

/// `pgstathashindex` figures plus the split count.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HashStats {
    pub bucket_pages: u64,
    pub overflow_pages: u64,
    /// sargdb keeps no free-space bitmap; its bucket directory pages are
    /// the equivalent bookkeeping and are reported here.
    pub bitmap_pages: u64,
    pub unused_pages: u64,
    /// Entries whose heap tuple is not (yet) known dead.
    pub live_items: u64,
    /// Entries whose heap tuple is dead to every transaction: the entries
    /// the next VACUUM removes (counted by `stats_counting_dead`; 0 from
    /// `stats`).
    pub dead_items: u64,
    pub free_percent: f64,
    pub splits: u64,
}

/// BRIN figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BrinStats {
    pub pages_per_range: u32,
    /// Ranges the heap has now.
    pub ranges: u64,
    pub summarized_ranges: u64,
    pub unsummarized_ranges: u64,
}

/// Takes the entries of one part of a bulk build's heap pass, in heap order
/// within the part (`AccessMethod::build_sink`); what a sink keeps is the
/// kind's business.
pub trait BuildSink: Send {
    fn add(&mut self, key: &[u8], tid: TupleId) -> Result<()>;
    /// `add` for a caller that already owns the key (collecting kinds keep
    /// it without a copy).
    fn add_owned(&mut self, key: Vec<u8>, tid: TupleId) -> Result<()> {
        self.add(&key, tid)
    }
    /// `add` for an entry of a unique index whose first `key_len` bytes
    /// (the key columns) must differ from every other such entry's; the
    /// build fails with `EngineError::DuplicateKey` when two agree. Entries
    /// that take part in no check (a NULL among the key columns) come
    /// through `add`. Only kinds with `Capabilities::unique` take these.
    fn add_unique(&mut self, _key: &[u8], _key_len: usize, _tid: TupleId) -> Result<()> {
        Err(EngineError::IndexUnsupported {
            method: "this index kind",
            what: "unique indexes".into(),
        })
    }
    /// About `entries` more entries are coming (an estimate): room for
    /// them up front, instead of growing (and copying) as they arrive.
    fn reserve(&mut self, _entries: usize) {}
    /// Called once on the thread that fed the sink, after its last entry
    /// (a B+Tree sorts its run here, so each thread sorts its own).
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
    /// The sink as `Any`, for its kind's `build_from` to take back.
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

/// The build sink of kinds that build from the whole list of entries.
#[derive(Debug, Default)]
pub struct CollectSink {
    pub entries: Vec<IndexEntry>,
}

impl BuildSink for CollectSink {
    fn add(&mut self, key: &[u8], tid: TupleId) -> Result<()> {
        self.add_owned(key.to_vec(), tid)
    }
    fn add_owned(&mut self, key: Vec<u8>, tid: TupleId) -> Result<()> {
        self.entries.push(IndexEntry { key, tid });
        Ok(())
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

impl CollectSink {
    /// The entries of these parts, part after part.
    pub fn gather(method: &'static str, parts: Vec<Box<dyn BuildSink>>) -> Result<Vec<IndexEntry>> {
        let mut parts = take_sinks::<CollectSink>(method, parts)?.into_iter();
        let mut all = parts.next().map(|p| p.entries).unwrap_or_default();
        for p in parts {
            all.extend(p.entries);
        }
        Ok(all)
    }
}

/// The sinks of a build as the kind's own sink type (an error for a sink
/// some other index handed out).
pub fn take_sinks<S: 'static>(
    method: &'static str,
    parts: Vec<Box<dyn BuildSink>>,
) -> Result<Vec<S>> {
    parts
        .into_iter()
        .map(|p| {
            p.into_any()
                .downcast::<S>()
                .map(|b| *b)
                .map_err(|_| EngineError::IndexUnsupported {
                    method,
                    what: "a build sink of another index".into(),
                })
        })
        .collect()
}

/// An open scan: entries in index order (reverse order if backward).
pub type IndexScanIter = Box<dyn Iterator<Item = Result<IndexEntry>> + Send>;

/// An open scan that hands out one entry at a time from a buffer it
/// reuses, without an allocation per entry (`AccessMethod::cursor`).
pub trait IndexCursor: Send {
    /// Move to the next entry; false at the end.
    fn advance(&mut self) -> Result<bool>;
    /// The stored key and the tid of the entry `advance` moved to (an
    /// empty key and tid 0/0 before the first `advance` or after the end).
    fn current(&self) -> (&[u8], TupleId);
}

/// A cursor over an entry iterator, for kinds without their own.
struct IterCursor {
    iter: IndexScanIter,
    current: Option<IndexEntry>,
}

impl IndexCursor for IterCursor {
    fn advance(&mut self) -> Result<bool> {
        self.current = self.iter.next().transpose()?;
        Ok(self.current.is_some())
    }
    fn current(&self) -> (&[u8], TupleId) {
        match &self.current {
            Some(e) => (&e.key, e.tid),
            None => (&[], TupleId { page: 0, slot: 0 }),
        }
    }
}

/// The interface every index kind implements.
pub trait AccessMethod: Send + Sync {
    fn kind(&self) -> IndexKind;
    fn capabilities(&self) -> Capabilities;
    /// The storage this index lives in.
    fn rel(&self) -> RelFileId;
    /// Fill an empty index from `entries` (sorted by (key, tid) if `sorted`).
    fn build(&self, entries: Vec<IndexEntry>, sorted: bool) -> Result<()>;
    /// A sink for one part of a bulk build's heap pass; several may be fed
    /// at once (one per thread), each from its own part of the heap.
    fn build_sink(&self) -> Result<Box<dyn BuildSink>> {
        Ok(Box::new(CollectSink::default()))
    }
    /// Fill an empty index from the sinks (`build_sink`) of one heap pass,
    /// given in heap order.
    fn build_from(&self, parts: Vec<Box<dyn BuildSink>>) -> Result<()> {
        self.build(CollectSink::gather(self.kind().name(), parts)?, false)
    }
    fn insert(&self, key: &[u8], tid: TupleId) -> Result<()>;
    /// Remove one entry; false if it was not there.
    fn delete(&self, key: &[u8], tid: TupleId) -> Result<bool>;
    /// Remove these entries, those still present, because their tuples are
    /// dead to every transaction (found so by a scan); returns how many went.
    /// Unlike `delete`, nothing is rebalanced: it must be cheap.
    ///
    /// `unchanged` is asked while inserts that could add the same entries
    /// are latched out (the B+Tree asks per leaf, under the leaf's write
    /// latch), and nothing is removed unless it says yes. The caller passes "no VACUUM
    /// freed heap slots since I read these entries" (`vacuum_epoch`): a
    /// VACUUM may remove an entry, free its tuple's slot, and a new row
    /// with the same key may take that slot and add the very same (key,
    /// tid) entry, which is live and must stay. With the latch held while
    /// asking, such a new entry cannot be added between the answer and the
    /// removal.
    fn kill(&self, entries: &[IndexEntry], unchanged: &dyn Fn() -> bool) -> Result<u64>;
    /// Remove every entry whose tuple `dead` says is gone (VACUUM).
    fn bulk_delete(&self, dead: &dyn Fn(TupleId) -> bool) -> Result<u64>;
    fn scan(&self, key: &ScanKey, backward: bool) -> Result<IndexScanIter>;
    /// `scan` as a cursor: the same entries in the same order, borrowed
    /// from the scan's buffer one at a time.
    fn cursor(&self, key: &ScanKey, backward: bool) -> Result<Box<dyn IndexCursor>> {
        Ok(Box::new(IterCursor {
            iter: self.scan(key, backward)?,
            current: None,
        }))
    }
    /// Problems found by a structural check (empty when healthy).
    fn verify(&self) -> Result<Vec<String>>;
    fn stats(&self) -> Result<IndexStats>;
    /// `stats`, with the entries whose heap tuple `dead` says is dead to
    /// every transaction counted apart where the kind reports such entries
    /// (hash: `dead_items`, Postgres's LP_DEAD items); `dead` reads the
    /// heap on its first call, so kinds that do not report them never call
    /// it (`Engine::index_stats`).
    fn stats_counting_dead(&self, _dead: &dyn Fn(TupleId) -> bool) -> Result<IndexStats> {
        self.stats()
    }
    /// Lossy kinds: the heap block ranges that may hold entries matching
    /// `key`, sorted and disjoint.
    fn scan_pages(&self, _key: &ScanKey) -> Result<Vec<std::ops::Range<u32>>> {
        Err(EngineError::IndexUnsupported {
            method: self.kind().name(),
            what: "page-range scans".into(),
        })
    }
    /// Lossy kinds: the heap block ranges that may hold entries matching
    /// every group, where an entry matches a group if it matches any of its
    /// keys (conditions on several key columns of a `column_keys` kind, each
    /// column's keys one group): what a scan with all of them reads.
    /// Sorted and disjoint; no groups: every page a scan of `All` returns.
    fn scan_pages_all(&self, groups: &[Vec<ScanKey>]) -> Result<Vec<std::ops::Range<u32>>> {
        let mut acc: Option<Vec<std::ops::Range<u32>>> = None;
        for g in groups {
            let mut union = vec![];
            for k in g {
                union.extend(self.scan_pages(k)?);
            }
            let union = merge_ranges(union);
            acc = Some(match acc {
                None => union,
                Some(a) => intersect_ranges(&a, &union),
            });
        }
        match acc {
            Some(a) => Ok(a),
            None => self.scan_pages(&ScanKey::All),
        }
    }
    /// Whether a scan for `key` would reach the row at `tid` (verify's check
    /// that the index agrees with its table).
    fn covers(&self, key: &[u8], tid: TupleId) -> Result<bool> {
        if self.capabilities().lossy_pages {
            let pages = self.scan_pages(&ScanKey::Eq(key.to_vec()))?;
            return Ok(pages.iter().any(|r| r.contains(&tid.page)));
        }
        for e in self.scan(&ScanKey::Eq(key.to_vec()), false)? {
            if e?.tid == tid {
                return Ok(true);
            }
        }
        Ok(false)
    }
    /// End of a VACUUM of the heap (after `bulk_delete`, whether or not
    /// anything was dead): BRIN summarizes the full ranges still
    /// unsummarized, as Postgres's VACUUM does.
    fn vacuum_cleanup(&self) -> Result<()> {
        Ok(())
    }
    /// BRIN's `brin_summarize_new_values`: summarize every range of the heap
    /// that has no summary yet; the number summarized.
    fn summarize_new_values(&self) -> Result<u64> {
        Err(EngineError::IndexUnsupported {
            method: self.kind().name(),
            what: "range summarization".into(),
        })
    }
    /// Serializes uniqueness checks: hold while checking and inserting.
    fn unique_lock(&self) -> parking_lot::ArcMutexGuard<parking_lot::RawMutex, ()>;
}

/// Block ranges sorted, with overlapping and adjacent ones merged.
pub fn merge_ranges(mut ranges: Vec<std::ops::Range<u32>>) -> Vec<std::ops::Range<u32>> {
    ranges.retain(|r| r.start < r.end);
    ranges.sort_by_key(|r| r.start);
    let mut out: Vec<std::ops::Range<u32>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// The blocks in both lists of sorted, disjoint ranges.
pub fn intersect_ranges(
    a: &[std::ops::Range<u32>],
    b: &[std::ops::Range<u32>],
) -> Vec<std::ops::Range<u32>> {
    let (mut i, mut j, mut out) = (0, 0, vec![]);
    while i < a.len() && j < b.len() {
        let start = a[i].start.max(b[j].start);
        let end = a[i].end.min(b[j].end);
        if start < end {
            out.push(start..end);
        }
        if a[i].end <= b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Largest key an index entry may have (Postgres's btree limit).
pub const MAX_KEY_SIZE: usize = 2704;

pub type IndexHandle = Arc<dyn AccessMethod>;

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(r: &[std::ops::Range<u32>]) -> std::collections::BTreeSet<u32> {
        r.iter().flat_map(|r| r.clone()).collect()
    }

    /// Merging and intersecting agree with sets of blocks.
    #[test]
    fn range_lists_behave_like_block_sets() {
        let lists: Vec<Vec<std::ops::Range<u32>>> = vec![
            vec![],
            vec![0..4],
            vec![0..4, 4..6, 9..12],
            vec![3..5, 1..2, 2..3, 20..21, 5..5],
            vec![5..9, 11..30],
            vec![0..1, 2..3, 4..5, 6..7, 8..9, 10..11],
        ];
        for a in &lists {
            let ma = merge_ranges(a.clone());
            assert_eq!(blocks(&ma), blocks(a));
            assert!(ma.windows(2).all(|w| w[0].end < w[1].start), "{ma:?}");
            for b in &lists {
                let mb = merge_ranges(b.clone());
                let both: std::collections::BTreeSet<u32> =
                    blocks(a).intersection(&blocks(b)).copied().collect();
                let got = intersect_ranges(&ma, &mb);
                assert_eq!(blocks(&got), both, "{a:?} & {b:?}");
                assert!(got.windows(2).all(|w| w[0].end <= w[1].start));
            }
        }
    }
}
