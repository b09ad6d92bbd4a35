//! The BRIN access method: one small summary per range of heap pages.
//!
//! A range is `pages_per_range` consecutive heap blocks; its summary holds
//! the smallest and largest key of the rows in it and whether it has NULLs.
//! Scans are lossy: `scan_pages` returns the heap block ranges whose summary
//! may match, and the caller reads those pages and rechecks every row.
//!
//! A multi-column index keeps one summary per column per range, and a scan
//! constrains one column (`ScanKey::Column`); its keys arrive framed per
//! column (`frame_column_keys`). Keys are the catalog's order-preserving
//! encoding of a column; the one
//! thing this module relies on beyond `memcmp` order is that a NULL encodes
//! as a lone marker byte and every value as at least two bytes (see
//! `types::key`). Summaries keep at most `KEY_BYTES` (16) bytes of each bound: a
//! longer minimum is cut to a prefix (never larger), a longer maximum to the
//! successor of its prefix (never smaller), so a summary stays a superset.
//!
//! Summarized or not: every row version gets an `insert`, so a range's
//! summary is always widened to cover what lands in it; but, as in
//! Postgres, a range only serves scans once it has been summarized (by
//! CREATE INDEX, which also summarizes range 0 of an empty table, by VACUUM
//! for full ranges, by `brin_summarize_new_values`, or, with `autosummarize`,
//! as soon as inserts move on to a later range). An unsummarized range is
//! always a candidate. Summaries are never narrowed: deletes leave them as
//! they are (VACUUM removes nothing here).
//!
//! Layout (`u32`s little-endian):
//!
//! ```text
//! meta page (block 0), kind 8:
//!   24  4 pages_per_range
//!   28  4 autosummarize position: ranges below it were summarized
//!   32  1 autosummarize (0/1)
//!   33  1 key columns (0 in indexes older than multi-column BRIN: 1)
//! summary page (block 1 + r / R), kind 9, where R = PER_PAGE / columns
//! ranges share a page: after the header, PER_PAGE slots of SLOT bytes;
//! range r's summary of column c is slot (r % R) * columns + c:
//!    0  1 flags: 1 summarized, 2 has NULLs, 4 has values, 8 no upper bound
//!    1  1 minimum length     2 16 minimum
//!   18  1 maximum length    19 16 maximum
//!   35  1 unused
//! ```
//! A slot of zeroes (or a slot past the end of the index) is an
//! unsummarized, empty range. Each change to a slot is logged as a byte
//! patch (`WalRecord::PagePatch`).

use std::ops::{Bound, Range};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::{
    AccessMethod, BrinStats, BuildSink, Capabilities, IndexEntry, IndexKind, IndexOptions,
    IndexScanIter, IndexStats, KindStats, ScanKey,
};
use crate::engine::Shared;
use crate::error::{EngineError, Result};
use crate::heap::TupleId;
use crate::page::{page_kind, PAGE_HEADER_SIZE, PAGE_SIZE};
use crate::wal::WalRecord;
use crate::RelFileId;

const KIND_META: u16 = 8;
const KIND_SUMMARY: u16 = 9;
const META_BLOCK: u32 = 0;
const KEY_BYTES: usize = 16;
const SLOT: usize = 36;
/// Offset of the maximum's length byte in a slot.
const MAX_AT: usize = 2 + KEY_BYTES;
const PER_PAGE: usize = (PAGE_SIZE - PAGE_HEADER_SIZE) / SLOT;
const F_SUMMARIZED: u8 = 1;
const F_NULLS: u8 = 2;
const F_VALUES: u8 = 4;
const F_MAX_INF: u8 = 8;

/// Lossy: ranges and equality, answered with heap page ranges.
pub const CAPABILITIES: Capabilities = Capabilities {
    ordered: false,
    range: true,
    equality: true,
    unique: false,
    backward: false,
    multi_column: true,
    exact: false,
    lossy_pages: true,
    covering: false,
    column_keys: true,
};

/// Postgres's brincostestimate in spirit: every summary is read; the heap
/// ranges that match are at least the selected fraction of them, spread
/// over more ranges the less the column follows the physical order.
pub fn scan_cost(c: &super::CostInput) -> super::IndexCost {
    let ppr = c.pages_per_range.max(1) as f64;
    let ranges = (c.table_pages / ppr).ceil().max(1.0);
    let sel = (c.matched_rows / c.table_rows.max(1.0)).clamp(0.0, 1.0);
    let minimal = (ranges * sel).ceil();
    let corr = c.correlation.abs();
    let estimated = if corr < 1e-10 {
        ranges
    } else {
        (minimal / corr).min(ranges)
    };
    super::IndexCost {
        random_pages: 0.0,
        seq_pages: 1.0 + (ranges / PER_PAGE as f64).ceil(),
        operators: ranges * 2.0,
        entries: 0.0,
        heap_pages: Some((estimated * ppr).min(c.table_pages.max(1.0)).max(1.0)),
    }
}

/// One range's summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Summary {
    summarized: bool,
    has_nulls: bool,
    has_values: bool,
    max_inf: bool,
    min: Vec<u8>,
    max: Vec<u8>,
}

fn is_null_key(k: &[u8]) -> bool {
    k.len() == 1
}

/// `a.cmp(b)` by 8-byte words: the build compares every row's key with its
/// range's bounds, and for keys this short the word loop beats a `memcmp`
/// call.
#[inline]
fn key_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let x = u64::from_be_bytes(a[i..i + 8].try_into().expect("8 bytes"));
        let y = u64::from_be_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        if x != y {
            return x.cmp(&y);
        }
        i += 8;
    }
    while i < n {
        if a[i] != b[i] {
            return a[i].cmp(&b[i]);
        }
        i += 1;
    }
    a.len().cmp(&b.len())
}

impl Summary {
    fn decode(b: &[u8]) -> Summary {
        let f = b[0];
        let ml = (b[1] as usize).min(KEY_BYTES);
        let xl = (b[MAX_AT] as usize).min(KEY_BYTES);
        Summary {
            summarized: f & F_SUMMARIZED != 0,
            has_nulls: f & F_NULLS != 0,
            has_values: f & F_VALUES != 0,
            max_inf: f & F_MAX_INF != 0,
            min: b[2..2 + ml].to_vec(),
            max: b[MAX_AT + 1..MAX_AT + 1 + xl].to_vec(),
        }
    }
    fn encode(&self) -> [u8; SLOT] {
        let mut b = [0u8; SLOT];
        b[0] = (self.summarized as u8 * F_SUMMARIZED)
            | (self.has_nulls as u8 * F_NULLS)
            | (self.has_values as u8 * F_VALUES)
            | (self.max_inf as u8 * F_MAX_INF);
        b[1] = self.min.len() as u8;
        b[2..2 + self.min.len()].copy_from_slice(&self.min);
        b[MAX_AT] = self.max.len() as u8;
        b[MAX_AT + 1..MAX_AT + 1 + self.max.len()].copy_from_slice(&self.max);
        b
    }

    /// Cover `key` too (the build's per-row step: no allocation, no
    /// library call for the short keys summaries hold).
    fn widen(&mut self, key: &[u8]) {
        if is_null_key(key) {
            self.has_nulls = true;
            return;
        }
        let lo = &key[..key.len().min(KEY_BYTES)];
        if !self.has_values {
            self.has_values = true;
            self.min.clear();
            self.min.extend_from_slice(lo);
            self.set_max(key);
            return;
        }
        if key_cmp(lo, &self.min).is_lt() {
            self.min.clear();
            self.min.extend_from_slice(lo);
        }
        // A key no greater than the maximum has its bound (`set_max`) no
        // greater either (the maximum is a bound of at most KEY_BYTES
        // bytes above every key with the key's prefix).
        if !self.max_inf && key_cmp(key, &self.max).is_gt() {
            self.set_max(key);
        }
    }

    /// Make the maximum the smallest key of `KEY_BYTES` or fewer bytes that
    /// is >= every key starting with `key[..KEY_BYTES]` (none if those are
    /// all 0xFF: no upper bound).
    fn set_max(&mut self, key: &[u8]) {
        self.max.clear();
        if key.len() <= KEY_BYTES {
            self.max.extend_from_slice(key);
            return;
        }
        self.max.extend_from_slice(&key[..KEY_BYTES]);
        while let Some(last) = self.max.pop() {
            if last < 0xFF {
                self.max.push(last + 1);
                return;
            }
        }
        self.max_inf = true;
    }

    /// Cover everything `other` covers too.
    fn absorb(&mut self, other: &Summary) {
        self.has_nulls |= other.has_nulls;
        if !other.has_values {
            return;
        }
        if !self.has_values || other.min < self.min {
            self.min.clone_from(&other.min);
        }
        if !self.has_values || other.max_inf || (!self.max_inf && other.max > self.max) {
            self.max.clone_from(&other.max);
            self.max_inf |= other.max_inf;
        }
        self.has_values = true;
    }

    fn max_at_least(&self, k: &[u8]) -> bool {
        self.max_inf || &self.max[..] >= k
    }

    /// Whether rows of this range may match `key` (true for an
    /// unsummarized range).
    fn may_match(&self, key: &ScanKey) -> bool {
        if !self.summarized {
            return true;
        }
        let values = self.has_values;
        match key {
            ScanKey::All => values || self.has_nulls,
            // Handled by `Inner::may_match` (which picks the column's summary).
            ScanKey::Column { key, .. } => self.may_match(key),
            ScanKey::Eq(k) if is_null_key(k) => self.has_nulls,
            ScanKey::Eq(k) => values && self.min[..] <= k[..] && self.max_at_least(k),
            ScanKey::Prefix(p) if is_null_key(p) => self.has_nulls,
            ScanKey::Prefix(p) => {
                values && self.max_at_least(p) && (self.min[..] <= p[..] || self.min.starts_with(p))
            }
            ScanKey::Range { lower, upper } => {
                let in_bounds = |k: &[u8]| {
                    (match lower {
                        Bound::Unbounded => true,
                        Bound::Included(l) => k >= &l[..],
                        Bound::Excluded(l) => k > &l[..],
                    }) && (match upper {
                        Bound::Unbounded => true,
                        Bound::Included(u) => k <= &u[..],
                        Bound::Excluded(u) => k < &u[..],
                    })
                };
                let nulls =
                    self.has_nulls && [0x01u8, 0x03, 0xFC, 0xFE].iter().any(|m| in_bounds(&[*m]));
                let vals = values
                    && (match lower {
                        Bound::Unbounded => true,
                        Bound::Included(l) => self.max_at_least(l),
                        Bound::Excluded(l) => self.max_inf || self.max[..] > l[..],
                    })
                    && (match upper {
                        Bound::Unbounded => true,
                        Bound::Included(u) => self.min[..] <= u[..],
                        Bound::Excluded(u) => self.min[..] < u[..],
                    });
                nulls || vals
            }
        }
    }
}

struct Inner {
    shared: Arc<Shared>,
    heap: RelFileId,
    rel: RelFileId,
    pages_per_range: u32,
    autosummarize: bool,
    /// Key columns: summaries per range (fixed at creation, in the meta page).
    ncols: usize,
    latch: RwLock<()>,
    unique: Arc<Mutex<()>>,
}

impl Inner {
    /// Ranges whose summaries share a summary page.
    fn ranges_per_page(&self) -> usize {
        PER_PAGE / self.ncols
    }

    /// Block and byte offset of range `range`'s summary of column `col`.
    fn slot_of(&self, range: u32, col: usize) -> (u32, usize) {
        let rpp = self.ranges_per_page() as u32;
        (
            1 + range / rpp,
            PAGE_HEADER_SIZE + ((range % rpp) as usize * self.ncols + col) * SLOT,
        )
    }

    /// The column keys of an entry's key.
    fn column_keys<'k>(&self, key: &'k [u8]) -> Result<Vec<&'k [u8]>> {
        if self.ncols == 1 {
            return Ok(vec![key]);
        }
        super::split_column_keys(key, self.ncols).ok_or_else(|| malformed_key(self.ncols))
    }

    fn corrupt(&self, block: u32, reason: &str) -> EngineError {
        EngineError::CorruptPage {
            rel: self.rel,
            block,
            reason: reason.to_string(),
        }
    }

    fn write_page(&self, block: u32, f: impl FnOnce(&mut [u8])) -> Result<()> {
        let p = self.shared.pool.fetch(self.rel, block)?;
        let mut g = p.write();
        f(&mut g[..]);
        self.shared
            .wal
            .append_page_image(0, self.rel, block, &mut g[..]);
        p.mark_dirty();
        Ok(())
    }

    fn init_empty(&self) -> Result<()> {
        let b = self.shared.pool.extend(self.rel)?.block;
        debug_assert_eq!(b, META_BLOCK);
        let (ppr, auto, ncols) = (self.pages_per_range, self.autosummarize, self.ncols);
        self.write_page(META_BLOCK, |g| {
            g[12..14].copy_from_slice(&KIND_META.to_le_bytes());
            g[24..28].copy_from_slice(&ppr.to_le_bytes());
            g[28..32].copy_from_slice(&0u32.to_le_bytes());
            g[32] = auto as u8;
            g[33] = ncols as u8;
        })
    }

    /// (pages_per_range, autosummarize position, autosummarize).
    fn meta(&self) -> Result<(u32, u32, bool)> {
        let p = self.shared.pool.fetch(self.rel, META_BLOCK)?;
        let g = p.read();
        if page_kind(&g[..]) != KIND_META {
            return Err(self.corrupt(META_BLOCK, "not a BRIN meta page"));
        }
        let ppr = u32::from_le_bytes(g[24..28].try_into().expect("4"));
        if ppr == 0 {
            return Err(self.corrupt(META_BLOCK, "pages_per_range is 0"));
        }
        Ok((
            ppr,
            u32::from_le_bytes(g[28..32].try_into().expect("4")),
            g[32] != 0,
        ))
    }

    /// Ranges the heap has now.
    fn heap_ranges(&self, ppr: u32) -> Result<u32> {
        Ok(self.shared.pool.relation_size(self.heap)?.div_ceil(ppr))
    }

    /// Make sure the summary page holding `range`'s slots exists.
    fn ensure_page(&self, range: u32) -> Result<()> {
        let (block, _) = self.slot_of(range, 0);
        while self.shared.pool.relation_size(self.rel)? <= block {
            let b = self.shared.pool.extend(self.rel)?.block;
            self.write_page(b, |g| {
                g[12..14].copy_from_slice(&KIND_SUMMARY.to_le_bytes());
            })?;
        }
        Ok(())
    }

    /// The summaries (one per column) of every range in `0..n` (missing
    /// slots: unsummarized).
    fn summaries(&self, n: u32) -> Result<Vec<Vec<Summary>>> {
        let nblocks = self.shared.pool.relation_size(self.rel)?;
        let rpp = self.ranges_per_page();
        let mut out = Vec::with_capacity(n as usize);
        let mut block = 1u32;
        while (out.len() as u32) < n {
            if block >= nblocks {
                out.resize(n as usize, vec![Summary::default(); self.ncols]);
                break;
            }
            let p = self.shared.pool.fetch(self.rel, block)?;
            let g = p.read();
            if page_kind(&g[..]) != KIND_SUMMARY {
                return Err(self.corrupt(block, "not a BRIN summary page"));
            }
            for i in 0..rpp {
                if out.len() as u32 >= n {
                    break;
                }
                let cols = (0..self.ncols)
                    .map(|c| {
                        let o = PAGE_HEADER_SIZE + (i * self.ncols + c) * SLOT;
                        Summary::decode(&g[o..o + SLOT])
                    })
                    .collect();
                out.push(cols);
            }
            block += 1;
        }
        Ok(out)
    }

    /// The summaries of one range (missing slots: unsummarized).
    fn summary_of(&self, range: u32) -> Result<Vec<Summary>> {
        let (block, off) = self.slot_of(range, 0);
        if block >= self.shared.pool.relation_size(self.rel)? {
            return Ok(vec![Summary::default(); self.ncols]);
        }
        let p = self.shared.pool.fetch(self.rel, block)?;
        let g = p.read();
        if page_kind(&g[..]) != KIND_SUMMARY {
            return Err(self.corrupt(block, "not a BRIN summary page"));
        }
        Ok((0..self.ncols)
            .map(|c| Summary::decode(&g[off + c * SLOT..off + (c + 1) * SLOT]))
            .collect())
    }

    /// Summarize ranges `0..n`; how many were not summarized yet.
    fn summarize(&self, n: u32) -> Result<u64> {
        let _w = self.latch.write();
        let mut count = 0;
        for r in 0..n {
            let sums = self.summary_of(r)?;
            let mut changed = false;
            for (c, s) in sums.iter().enumerate() {
                if !s.summarized {
                    changed |= self.update_slot(r, c, |s| s.summarized = true)?;
                }
            }
            count += changed as u64;
        }
        Ok(count)
    }

    /// Whether a range with these summaries may hold rows matching `key`
    /// (a key without a column is for the first).
    fn may_match(&self, sums: &[Summary], key: &ScanKey) -> bool {
        match key {
            ScanKey::Column { column, key } => sums.get(*column).is_none_or(|s| s.may_match(key)),
            k => sums.first().is_none_or(|s| s.may_match(k)),
        }
    }

    /// Read-modify-write one slot; logs a patch when it changed.
    fn update_slot(&self, range: u32, col: usize, f: impl FnOnce(&mut Summary)) -> Result<bool> {
        self.ensure_page(range)?;
        let (block, off) = self.slot_of(range, col);
        let p = self.shared.pool.fetch(self.rel, block)?;
        let mut g = p.write();
        if page_kind(&g[..]) != KIND_SUMMARY {
            return Err(self.corrupt(block, "not a BRIN summary page"));
        }
        let old = Summary::decode(&g[off..off + SLOT]);
        let mut s = old.clone();
        f(&mut s);
        if s == old {
            return Ok(false);
        }
        let bytes = s.encode();
        g[off..off + SLOT].copy_from_slice(&bytes);
        let rec = WalRecord::PagePatch {
            rel: self.rel,
            block,
            patches: vec![(off as u16, bytes.to_vec())],
        };
        self.shared
            .wal
            .append_page_change(0, self.rel, block, &mut g[..], rec);
        p.mark_dirty();
        Ok(true)
    }

    fn set_autosummarized(&self, upto: u32) -> Result<()> {
        let p = self.shared.pool.fetch(self.rel, META_BLOCK)?;
        let mut g = p.write();
        g[28..32].copy_from_slice(&upto.to_le_bytes());
        let rec = WalRecord::PagePatch {
            rel: self.rel,
            block: META_BLOCK,
            patches: vec![(28, upto.to_le_bytes().to_vec())],
        };
        self.shared
            .wal
            .append_page_change(0, self.rel, META_BLOCK, &mut g[..], rec);
        p.mark_dirty();
        Ok(())
    }
}

/// A bulk build's summaries so far: one per column of every range reached
/// (range r's column c at `r * ncols + c`).
struct BrinSink {
    ppr: u32,
    ncols: usize,
    sums: Vec<Summary>,
}

impl BuildSink for BrinSink {
    fn add(&mut self, key: &[u8], tid: TupleId) -> Result<()> {
        let base = (tid.page / self.ppr) as usize * self.ncols;
        if self.sums.len() < base + self.ncols {
            self.sums.resize(base + self.ncols, Summary::default());
        }
        if self.ncols == 1 {
            self.sums[base].widen(key);
            return Ok(());
        }
        let mut rest = key;
        for c in 0..self.ncols {
            let col = match rest {
                [a, b, tail @ ..] if tail.len() >= u16::from_le_bytes([*a, *b]) as usize => {
                    let (col, after) = tail.split_at(u16::from_le_bytes([*a, *b]) as usize);
                    rest = after;
                    col
                }
                _ => return Err(malformed_key(self.ncols)),
            };
            self.sums[base + c].widen(col);
        }
        if !rest.is_empty() {
            return Err(malformed_key(self.ncols));
        }
        Ok(())
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

fn malformed_key(ncols: usize) -> EngineError {
    EngineError::IndexUnsupported {
        method: "brin",
        what: format!("a key that is not {ncols} framed column keys"),
    }
}

/// Handle returned to callers.
pub struct BrinIndex {
    inner: Arc<Inner>,
}

impl BrinIndex {
    /// Open the BRIN index stored in `rel` over the heap `heap`, creating an
    /// empty one if the relation has no meta page yet.
    pub(crate) fn open(
        shared: Arc<Shared>,
        heap: RelFileId,
        rel: RelFileId,
        options: IndexOptions,
    ) -> Result<BrinIndex> {
        let mut inner = Inner {
            shared,
            heap,
            rel,
            pages_per_range: options.pages_per_range.max(1),
            autosummarize: options.autosummarize,
            ncols: (options.columns as usize).clamp(1, PER_PAGE),
            latch: RwLock::new(()),
            unique: Arc::new(Mutex::new(())),
        };
        if inner.shared.pool.relation_size(rel)? == 0 {
            let _w = inner.latch.write();
            inner.init_empty()?;
        } else {
            // The page decides (an index made before multi-column BRIN has 0).
            let p = inner.shared.pool.fetch(rel, META_BLOCK)?;
            let n = p.read()[33];
            inner.ncols = (n as usize).clamp(1, PER_PAGE);
        }
        Ok(BrinIndex {
            inner: Arc::new(inner),
        })
    }
}

impl AccessMethod for BrinIndex {
    fn kind(&self) -> IndexKind {
        IndexKind::Brin
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    fn rel(&self) -> RelFileId {
        self.inner.rel
    }

    /// Summarize every range of the heap from the rows present.
    fn build(&self, entries: Vec<IndexEntry>, _sorted: bool) -> Result<()> {
        let mut sink = self.build_sink()?;
        for e in entries {
            sink.add(&e.key, e.tid)?;
        }
        self.build_from(vec![sink])
    }

    /// Rows fold into their range's summary as the heap pass reads them.
    fn build_sink(&self) -> Result<Box<dyn BuildSink>> {
        let (ppr, _, _) = self.inner.meta()?;
        Ok(Box::new(BrinSink {
            ppr,
            ncols: self.inner.ncols,
            sums: vec![],
        }))
    }

    fn build_from(&self, parts: Vec<Box<dyn BuildSink>>) -> Result<()> {
        let t = &*self.inner;
        let _w = t.latch.write();
        // Summary pages may exist already: a VACUUM of the table (autovacuum
        // included, which takes no table lock) summarizes the ranges of
        // every open index of it, this one too while CREATE INDEX reads the
        // heap. The build rewrites them all from its own complete pass.
        let existing = t.shared.pool.relation_size(t.rel)?.saturating_sub(1) as usize;
        let mut parts = super::take_sinks::<BrinSink>("brin", parts)?.into_iter();
        let mut sums = parts.next().map(|p| p.sums).unwrap_or_default();
        for p in parts {
            if p.sums.len() > sums.len() {
                sums.resize(p.sums.len(), Summary::default());
            }
            for (s, o) in sums.iter_mut().zip(&p.sums) {
                s.absorb(o);
            }
        }
        let (ppr, _, _) = t.meta()?;
        // Every range of the heap, and at least range 0, as Postgres: on an
        // empty table the first range starts out summarized (empty) and
        // inserts widen it.
        let n = (t.heap_ranges(ppr)? as usize)
            .max(sums.len() / t.ncols)
            .max(1);
        sums.resize(n * t.ncols, Summary::default());
        for s in &mut sums {
            s.summarized = true;
        }
        // Slots in range order, each range's columns together; a page that
        // was there is rewritten whole (slots past the summaries cleared).
        let per_page = t.ranges_per_page() * t.ncols;
        let chunks: Vec<&[Summary]> = sums.chunks(per_page).collect();
        for pi in 0..chunks.len().max(existing) {
            let b = 1 + pi as u32;
            if pi >= existing {
                let nb = t.shared.pool.extend(t.rel)?.block;
                if nb != b {
                    return Err(t.corrupt(b, "summary pages out of sequence"));
                }
            }
            let chunk = chunks.get(pi).copied().unwrap_or(&[]);
            t.write_page(b, |g| {
                g[12..14].copy_from_slice(&KIND_SUMMARY.to_le_bytes());
                g[PAGE_HEADER_SIZE..PAGE_HEADER_SIZE + per_page * SLOT].fill(0);
                for (i, s) in chunk.iter().enumerate() {
                    let o = PAGE_HEADER_SIZE + i * SLOT;
                    g[o..o + SLOT].copy_from_slice(&s.encode());
                }
            })?;
        }
        t.set_autosummarized(n as u32)
    }

    fn insert(&self, key: &[u8], tid: TupleId) -> Result<()> {
        let t = &*self.inner;
        let _w = t.latch.write();
        let (ppr, auto_pos, auto) = t.meta()?;
        let range = tid.page / ppr;
        for (c, k) in t.column_keys(key)?.into_iter().enumerate() {
            t.update_slot(range, c, |s| s.widen(k))?;
        }
        if auto && range > auto_pos {
            // Inserts moved past these ranges: they are full, summarize them.
            for r in auto_pos..range {
                for c in 0..t.ncols {
                    t.update_slot(r, c, |s| s.summarized = true)?;
                }
            }
            t.set_autosummarized(range)?;
        }
        Ok(())
    }

    /// Summaries are never narrowed; the entry is simply forgotten.
    fn delete(&self, _key: &[u8], _tid: TupleId) -> Result<bool> {
        Ok(false)
    }

    /// A BRIN scan returns page ranges, never entries to kill.
    fn kill(&self, _entries: &[IndexEntry], _unchanged: &dyn Fn() -> bool) -> Result<u64> {
        Ok(0)
    }

    fn bulk_delete(&self, _dead: &dyn Fn(TupleId) -> bool) -> Result<u64> {
        Ok(0)
    }

    fn scan(&self, _key: &ScanKey, _backward: bool) -> Result<IndexScanIter> {
        Err(EngineError::IndexUnsupported {
            method: "brin",
            what: "entry scans (it returns page ranges)".into(),
        })
    }

    fn scan_pages(&self, key: &ScanKey) -> Result<Vec<Range<u32>>> {
        let t = &*self.inner;
        let _r = t.latch.read();
        let (ppr, _, _) = t.meta()?;
        let heap_pages = t.shared.pool.relation_size(t.heap)?;
        let n = heap_pages.div_ceil(ppr);
        let mut out: Vec<Range<u32>> = vec![];
        for (r, s) in t.summaries(n)?.iter().enumerate() {
            if !t.may_match(s, key) {
                continue;
            }
            let start = r as u32 * ppr;
            let end = (start + ppr).min(heap_pages);
            match out.last_mut() {
                Some(last) if last.end == start => last.end = end,
                _ => out.push(start..end),
            }
        }
        Ok(out)
    }

    fn covers(&self, key: &[u8], tid: TupleId) -> Result<bool> {
        let t = &*self.inner;
        let _r = t.latch.read();
        let (ppr, _, _) = t.meta()?;
        let sums = t.summary_of(tid.page / ppr)?;
        let keys = t.column_keys(key)?;
        Ok(sums
            .iter()
            .zip(keys)
            .all(|(s, k)| s.may_match(&ScanKey::Eq(k.to_vec()))))
    }

    fn summarize_new_values(&self) -> Result<u64> {
        let (ppr, _, _) = self.inner.meta()?;
        let n = self.inner.heap_ranges(ppr)?;
        self.inner.summarize(n)
    }

    /// Postgres's VACUUM summarizes the full ranges only (the last one may
    /// still be filling).
    fn vacuum_cleanup(&self) -> Result<()> {
        let (ppr, _, _) = self.inner.meta()?;
        let full = self.inner.shared.pool.relation_size(self.inner.heap)? / ppr;
        self.inner.summarize(full).map(|_| ())
    }

    fn verify(&self) -> Result<Vec<String>> {
        let t = &*self.inner;
        let _r = t.latch.read();
        let mut problems = vec![];
        let (ppr, _, _) = t.meta()?;
        let nblocks = t.shared.pool.relation_size(t.rel)?;
        for block in 1..nblocks {
            let p = t.shared.pool.fetch(t.rel, block)?;
            let g = p.read();
            if page_kind(&g[..]) != KIND_SUMMARY {
                problems.push(format!("block {block}: not a BRIN summary page"));
                continue;
            }
            for i in 0..t.ranges_per_page() * t.ncols {
                let o = PAGE_HEADER_SIZE + i * SLOT;
                let raw = &g[o..o + SLOT];
                let range = (block - 1) as usize * t.ranges_per_page() + i / t.ncols;
                if raw[0] & !(F_SUMMARIZED | F_NULLS | F_VALUES | F_MAX_INF) != 0
                    || raw[1] as usize > KEY_BYTES
                    || raw[MAX_AT] as usize > KEY_BYTES
                {
                    problems.push(format!(
                        "range {range} (heap block {}): malformed summary",
                        range as u64 * ppr as u64
                    ));
                    continue;
                }
                let s = Summary::decode(raw);
                if s.has_values && !s.max_inf && s.min > s.max {
                    problems.push(format!("range {range}: minimum above maximum"));
                }
                if !s.has_values && (!s.min.is_empty() || !s.max.is_empty()) {
                    problems.push(format!("range {range}: bounds without values"));
                }
            }
        }
        Ok(problems)
    }

    fn stats(&self) -> Result<IndexStats> {
        let t = &*self.inner;
        let _r = t.latch.read();
        let (ppr, _, _) = t.meta()?;
        let nblocks = t.shared.pool.relation_size(t.rel)?;
        let n = t.heap_ranges(ppr)?;
        let sums = t.summaries(n)?;
        let summarized = sums
            .iter()
            .filter(|s| s.iter().all(|c| c.summarized))
            .count() as u64;
        Ok(IndexStats {
            version: 1,
            index_size: nblocks as u64 * PAGE_SIZE as u64,
            root_block_no: META_BLOCK,
            leaf_pages: nblocks.saturating_sub(1) as u64,
            entries: summarized,
            detail: KindStats::Brin(BrinStats {
                pages_per_range: ppr,
                ranges: n as u64,
                summarized_ranges: summarized,
                unsummarized_ranges: n as u64 - summarized,
            }),
            ..Default::default()
        })
    }

    fn unique_lock(&self) -> parking_lot::ArcMutexGuard<parking_lot::RawMutex, ()> {
        self.inner.unique.lock_arc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summarized(keys: &[&[u8]]) -> Summary {
        let mut s = Summary {
            summarized: true,
            ..Default::default()
        };
        for k in keys {
            s.widen(k);
        }
        s
    }

    #[test]
    fn long_keys_keep_a_superset() {
        let long_lo = vec![5u8; 40];
        let mut long_hi = vec![9u8; 40];
        long_hi[KEY_BYTES - 1] = 0xFF;
        let s = summarized(&[&long_lo, &long_hi]);
        assert!(s.min.len() <= KEY_BYTES && s.max.len() <= KEY_BYTES);
        for k in [&long_lo, &long_hi] {
            assert!(s.may_match(&ScanKey::Eq(k.clone())));
        }
        assert!(!s.may_match(&ScanKey::Eq(vec![10u8; 3])));
        let round = Summary::decode(&s.encode());
        assert_eq!(round, s);
    }

    #[test]
    fn key_cmp_is_byte_order() {
        let keys: Vec<Vec<u8>> = (0..400u32)
            .map(|i| {
                let len = (i * 7 % 20) as usize;
                (0..len)
                    .map(|j| [0u8, 1, 0x7F, 0x80, 0xFF][(i as usize + j * 3) % 5])
                    .collect()
            })
            .collect();
        for a in &keys {
            for b in &keys {
                assert_eq!(key_cmp(a, b), a.cmp(b), "{a:?} {b:?}");
            }
        }
    }

    /// Summaries built from two halves of the rows and absorbed into one
    /// equal the summary of all of them.
    #[test]
    fn absorb_equals_widening_with_everything() {
        let keys: Vec<Vec<u8>> = (0..60u8)
            .map(|i| match i % 7 {
                0 => vec![0x03],
                1 => vec![0x02; 30],
                _ => vec![0x02, i.wrapping_mul(37), i],
            })
            .collect();
        for split in [0, 1, 7, 30, 59, 60] {
            let all = summarized(&keys.iter().map(|k| &k[..]).collect::<Vec<_>>());
            let mut a = summarized(&keys[..split].iter().map(|k| &k[..]).collect::<Vec<_>>());
            let b = summarized(&keys[split..].iter().map(|k| &k[..]).collect::<Vec<_>>());
            a.absorb(&b);
            assert_eq!(a, all, "split at {split}");
        }
    }

    #[test]
    fn nulls_are_flags_not_bounds() {
        let s = summarized(&[&[0x03], &[0x02, 10], &[0x02, 20]]);
        assert!(s.has_nulls);
        assert_eq!(s.max, vec![0x02, 20]);
        assert!(s.may_match(&ScanKey::Eq(vec![0x03])));
        assert!(!s.may_match(&ScanKey::Range {
            lower: Bound::Excluded(vec![0x02, 20]),
            upper: Bound::Excluded(vec![0x03]),
        }));
        let unsummarized = Summary::default();
        assert!(unsummarized.may_match(&ScanKey::Eq(vec![0x02, 99])));
    }
}
