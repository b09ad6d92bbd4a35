//! Heap relations: slotted pages of MVCC tuples (layout in `page`).
//!
//! Inserts go to the relation's current insertion page, then to pages VACUUM
//! found free space on, then to a new page at the end. Every change is
//! WAL-logged under the page's write latch (the first change to a page after
//! a checkpoint, and a new page, as a full image).

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::engine::Shared;
use crate::error::{EngineError, Result};
use crate::page::{
    page_kind, HeapPage, HeapPageMut, TupleHeader, LINE_POINTER_SIZE, MAX_TUPLE_SIZE,
    OVERFLOW_CHUNK, OVERFLOW_HEADER, PAGE_KIND_OVERFLOW, TUPLE_EXTERNAL, TUPLE_HEADER_SIZE,
};
use crate::txn::{is_visible, VisibilityContext, Xid};
use crate::wal::WalRecord;
use crate::RelFileId;

/// Physical address of a tuple version: (page number, slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TupleId {
    pub page: u32,
    pub slot: u16,
}

/// Largest row sargdb stores (Postgres's limit for one field is 1 GB).
pub const MAX_ROW_SIZE: usize = 1 << 30;

/// Write `data` into a chain of new overflow pages; returns the first block.
fn write_overflow(shared: &Shared, xid: Xid, rel: RelFileId, data: &[u8]) -> Result<u32> {
    let chunks: Vec<&[u8]> = data.chunks(OVERFLOW_CHUNK).collect();
    let mut blocks = Vec::with_capacity(chunks.len());
    for _ in &chunks {
        blocks.push(shared.pool.extend(rel)?.block);
    }
    for (i, chunk) in chunks.iter().enumerate() {
        let page = shared.pool.fetch(rel, blocks[i])?;
        let mut g = page.write();
        let lsn = crate::page::page_lsn(&g[..]);
        g.fill(0);
        crate::page::set_page_lsn(&mut g[..], lsn);
        g[12..14].copy_from_slice(&PAGE_KIND_OVERFLOW.to_le_bytes());
        let next = blocks.get(i + 1).copied().unwrap_or(u32::MAX);
        g[24..28].copy_from_slice(&next.to_le_bytes());
        g[28..30].copy_from_slice(&(chunk.len() as u16).to_le_bytes());
        g[OVERFLOW_HEADER..OVERFLOW_HEADER + chunk.len()].copy_from_slice(chunk);
        shared
            .wal
            .append_page_image(xid, rel, blocks[i], &mut g[..]);
        page.mark_dirty();
    }
    Ok(blocks[0])
}

/// The row bytes of a stored tuple: inline, or reassembled from its
/// overflow pages.
pub(crate) fn row_of(
    shared: &Shared,
    rel: RelFileId,
    infomask: u16,
    data: Vec<u8>,
) -> Result<Vec<u8>> {
    if infomask & TUPLE_EXTERNAL == 0 {
        return Ok(data);
    }
    let bad = |block: u32| EngineError::CorruptPage {
        rel,
        block,
        reason: "broken overflow chain".into(),
    };
    if data.len() < 8 {
        return Err(bad(0));
    }
    let total = u32::from_le_bytes(data[0..4].try_into().expect("4")) as usize;
    let mut block = u32::from_le_bytes(data[4..8].try_into().expect("4"));
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        if block == u32::MAX {
            return Err(bad(block));
        }
        let page = shared.pool.fetch(rel, block)?;
        let g = page.read();
        if page_kind(&g[..]) != PAGE_KIND_OVERFLOW {
            return Err(bad(block));
        }
        let next = u32::from_le_bytes(g[24..28].try_into().expect("4"));
        let len = u16::from_le_bytes([g[28], g[29]]) as usize;
        if len > OVERFLOW_CHUNK {
            return Err(bad(block));
        }
        out.extend_from_slice(&g[OVERFLOW_HEADER..OVERFLOW_HEADER + len]);
        block = next;
    }
    out.truncate(total);
    Ok(out)
}

/// About to change heap page `block` of `rel` (caller holds its write
/// latch, and has not yet changed or logged anything): the page is no longer
/// all-visible. Clears the page flag and the visibility-map bit, in that
/// order of importance: the bit is what index-only scans trust.
pub(crate) fn clear_all_visible(shared: &Shared, rel: RelFileId, block: u32, page: &mut [u8]) {
    let flags = crate::page::page_flags(page);
    if flags & crate::page::PAGE_ALL_VISIBLE != 0 {
        crate::page::set_page_flags(page, flags & !crate::page::PAGE_ALL_VISIBLE);
    }
    shared.vm.clear(rel, block);
}

/// Place a full tuple (MVCC header + row) in `rel`, filling in its ctid.
/// A row too large for a page goes to overflow pages first.
pub(crate) fn insert(
    shared: &Shared,
    xid: Xid,
    rel: RelFileId,
    full: &mut [u8],
) -> Result<TupleId> {
    if full.len() > MAX_TUPLE_SIZE {
        let data = &full[TUPLE_HEADER_SIZE..];
        if data.len() > MAX_ROW_SIZE {
            return Err(EngineError::TupleTooLarge {
                size: data.len(),
                max: MAX_ROW_SIZE,
            });
        }
        let first = write_overflow(shared, xid, rel, data)?;
        let mut small = vec![0u8; TUPLE_HEADER_SIZE + 8];
        let mut h = TupleHeader::read(full);
        h.infomask |= TUPLE_EXTERNAL;
        h.write(&mut small);
        small[TUPLE_HEADER_SIZE..TUPLE_HEADER_SIZE + 4]
            .copy_from_slice(&(data.len() as u32).to_le_bytes());
        small[TUPLE_HEADER_SIZE + 4..].copy_from_slice(&first.to_le_bytes());
        return insert(shared, xid, rel, &mut small);
    }
    let mut tried_new = false;
    loop {
        let page = insert_target(shared, rel, full.len(), &mut tried_new)?;
        let mut g = page.write();
        let kind = page_kind(&g[..]);
        if kind != 0 && kind != crate::page::PAGE_KIND_HEAP {
            // An overflow page: never a place for tuples.
            drop(g);
            shared.fsm_page_full(rel, page.block);
            continue;
        }
        let is_new = !HeapPage::new(&g[..]).is_initialized();
        let mut hp = HeapPageMut::new(&mut g[..]);
        if is_new {
            hp.init();
        }
        let Some(slot) = hp.view().slot_for_insert(full.len()) else {
            drop(g);
            shared.fsm_page_full(rel, page.block);
            continue;
        };
        drop(hp);
        clear_all_visible(shared, rel, page.block, &mut g[..]);
        let mut hp = HeapPageMut::new(&mut g[..]);
        let mut h = TupleHeader::read(full);
        h.ctid_page = page.block;
        h.ctid_slot = slot;
        h.write(full);
        if !hp.insert_at(slot, full) {
            return Err(EngineError::CorruptPage {
                rel,
                block: page.block,
                reason: "insert did not fit".into(),
            });
        }
        if is_new {
            shared
                .wal
                .append_page_image(xid, rel, page.block, &mut g[..]);
        } else {
            let rec = WalRecord::HeapInsert {
                rel,
                block: page.block,
                slot,
                tuple: full.to_vec(),
            };
            shared
                .wal
                .append_page_change(xid, rel, page.block, &mut g[..], rec);
        }
        page.mark_dirty();
        return Ok(TupleId {
            page: page.block,
            slot,
        });
    }
}

/// Rows to insert together (COPY, INSERT ... SELECT into a table without
/// indexes), packed in one buffer: each row is preceded by room for its
/// tuple header, so neither the rows nor the full tuples cost an
/// allocation each.
#[derive(Default)]
pub struct TupleBatch {
    buf: Vec<u8>,
    /// (start, end) of each full tuple in `buf`.
    spans: Vec<(usize, usize)>,
}

impl TupleBatch {
    pub fn new() -> TupleBatch {
        TupleBatch::default()
    }
    /// Append one row: `write` appends the row's bytes to the buffer it
    /// is given (and nothing else).
    pub fn push_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.buf.len();
        self.buf.resize(start + TUPLE_HEADER_SIZE, 0);
        write(&mut self.buf);
        self.spans.push((start, self.buf.len()));
    }
    /// `push_with` for a writer that may fail or decline (false): then
    /// the batch is left as it was.
    pub fn try_push_with<E>(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> std::result::Result<bool, E>,
    ) -> std::result::Result<bool, E> {
        let start = self.buf.len();
        self.buf.resize(start + TUPLE_HEADER_SIZE, 0);
        let r = write(&mut self.buf);
        if matches!(r, Ok(true)) {
            self.spans.push((start, self.buf.len()));
        } else {
            self.buf.truncate(start);
        }
        r
    }
    pub fn len(&self) -> usize {
        self.spans.len()
    }
    /// Make room for `rows` more rows as large on average as those so far.
    pub fn reserve(&mut self, rows: usize) {
        if let Some(avg) = self.buf.len().checked_div(self.spans.len()) {
            self.buf.reserve(avg * rows);
            self.spans.reserve(rows);
        }
    }
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
    pub fn clear(&mut self) {
        self.buf.clear();
        self.spans.clear();
    }
    /// Write `header` into every tuple (the inserting transaction's).
    pub(crate) fn set_headers(&mut self, header: &TupleHeader) {
        for &(s, e) in &self.spans {
            header.write(&mut self.buf[s..e]);
        }
    }
}

/// The page an insert of `len` bytes tries next: the free-space map's
/// candidate, or a new page at the end (`tried_new` says one was already
/// tried for this tuple: a fresh page always fits a tuple of legal size).
fn insert_target<'a>(
    shared: &'a Shared,
    rel: RelFileId,
    len: usize,
    tried_new: &mut bool,
) -> Result<crate::buffer::PinnedPage<'a>> {
    if let Some(block) = shared.fsm_candidate(rel) {
        return shared.pool.fetch(rel, block);
    }
    if *tried_new {
        return Err(EngineError::TupleTooLarge {
            size: len,
            max: MAX_TUPLE_SIZE,
        });
    }
    *tried_new = true;
    let p = shared.pool.extend(rel)?;
    shared.fsm_set_current(rel, p.block);
    Ok(p)
}
/// How `insert_many` may treat the relation (see
/// `Transaction::insert_many_with`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BulkMode {
    /// The storage is the inserting transaction's own: a page that has
    /// never been WAL-logged (LSN 0) is filled without WAL. Once a page
    /// has a logged change, every later change to it is logged, so a
    /// page image replayed in recovery never misses unlogged rows.
    pub skip_wal: bool,
    /// COPY FREEZE: unlogged pages that are new or still all-visible stay
    /// flagged all-visible with the new rows on them.
    pub freeze: bool,
}

/// Insert the tuples of `batch` (headers written) for one transaction: as
/// many per page latch as fit. A page this call starts is WAL-logged once,
/// as an image after it is filled, instead of once per tuple (Postgres's
/// heap_multi_insert); see `BulkMode` for pages logged not at all.
///
/// Unlogged pages this call filled and left (the next tuple did not fit)
/// are added to `filled`: nothing but this transaction will add to them,
/// so they can be written out before the commit (`Transaction`'s write-
/// behind).
pub(crate) fn insert_many(
    shared: &Shared,
    xid: Xid,
    rel: RelFileId,
    batch: &mut TupleBatch,
    mode: BulkMode,
    filled: &mut Vec<u32>,
) -> Result<Vec<TupleId>> {
    let TupleBatch { buf, spans } = batch;
    let len_of = |i: usize| spans[i].1 - spans[i].0;
    let n = spans.len();
    let mut tids = Vec::with_capacity(n);
    let mut next = 0;
    let mut tried_new = false;
    while next < n {
        if len_of(next) > MAX_TUPLE_SIZE {
            let (s, e) = spans[next];
            tids.push(insert(shared, xid, rel, &mut buf[s..e])?);
            next += 1;
            continue;
        }
        let page = insert_target(shared, rel, len_of(next), &mut tried_new)?;
        let mut g = page.write();
        let kind = page_kind(&g[..]);
        if kind != 0 && kind != crate::page::PAGE_KIND_HEAP {
            drop(g);
            shared.fsm_page_full(rel, page.block);
            continue;
        }
        let is_new = !HeapPage::new(&g[..]).is_initialized();
        let unlogged = mode.skip_wal && crate::page::page_lsn(&g[..]) == 0;
        let frozen = mode.freeze && unlogged && (is_new || crate::page::is_all_visible(&g[..]));
        if !frozen {
            // Before any tuple lands here (see `visibility_map`).
            clear_all_visible(shared, rel, page.block, &mut g[..]);
        }
        let mut hp = HeapPageMut::new(&mut g[..]);
        if is_new {
            hp.init();
        }
        let first = next;
        while next < n && len_of(next) <= MAX_TUPLE_SIZE {
            let (s, e) = spans[next];
            let full = &mut buf[s..e];
            // A page this call formatted has no unused slots to look for.
            let slot = if is_new {
                let v = hp.view();
                (v.free_space() >= full.len() + LINE_POINTER_SIZE).then(|| v.slot_count())
            } else {
                hp.view().slot_for_insert(full.len())
            };
            let Some(slot) = slot else {
                break;
            };
            let mut h = TupleHeader::read(full);
            h.ctid_page = page.block;
            h.ctid_slot = slot;
            h.write(full);
            if !hp.insert_at(slot, full) {
                return Err(EngineError::CorruptPage {
                    rel,
                    block: page.block,
                    reason: "insert did not fit".into(),
                });
            }
            tids.push(TupleId {
                page: page.block,
                slot,
            });
            if !is_new && !unlogged {
                let rec = WalRecord::HeapInsert {
                    rel,
                    block: page.block,
                    slot,
                    tuple: full.to_vec(),
                };
                shared
                    .wal
                    .append_page_change(xid, rel, page.block, &mut g[..], rec);
                hp = HeapPageMut::new(&mut g[..]);
            }
            next += 1;
        }
        if frozen && next > first {
            let flags = crate::page::page_flags(&g[..]);
            crate::page::set_page_flags(&mut g[..], flags | crate::page::PAGE_ALL_VISIBLE);
            shared.vm.set(rel, page.block);
        }
        if is_new && next > first && !unlogged {
            shared
                .wal
                .append_page_image(xid, rel, page.block, &mut g[..]);
        }
        if next > first {
            page.mark_dirty();
            tried_new = false;
        }
        if next < n {
            // The next tuple did not fit here.
            drop(g);
            shared.fsm_page_full(rel, page.block);
            if unlogged {
                filled.push(page.block);
            }
        }
    }
    Ok(tids)
}

/// ANALYZE's sample of `rel`: a reservoir of up to `n` row versions visible
/// under `vis` (their row bytes, in physical order) and how many visible
/// versions there are.
///
/// Two passes. The first counts the visible versions and keeps only the
/// reservoir's tuple ids: on a page flagged all-visible no tuple is even
/// read (every stored tuple is visible to every snapshot there, as for
/// Postgres's page-at-a-time visibility), only its line pointers. The
/// reservoir is Li's Algorithm L: after it is full, the number of
/// versions to pass over before the next replacement is drawn at once,
/// so most versions cost no random number at all. The second pass copies
/// just the chosen versions, in physical order. Copying every version that
/// entered the reservoir on the way (about n * (1 + ln(N / n)) of them,
/// each a cache miss into a cold page) was most of ANALYZE's time on a
/// large table. The generator has a fixed seed: the same table gives the
/// same sample.
///
/// A relation larger than the buffer pool is sampled in one pass instead:
/// its pages are mostly gone by the end of the first pass, and reading up
/// to `n` of them again would cost more than copying each version as it
/// enters the reservoir.
///
/// A version chosen in the first pass is visible to this snapshot, so no
/// VACUUM can remove it (or reuse its slot) before the second pass; the
/// second pass checks visibility again all the same and leaves out what
/// it does not see.
pub(crate) fn sample(
    shared: &Shared,
    rel: RelFileId,
    n: usize,
    vis: &VisibilityContext,
    cancel: Option<&AtomicBool>,
) -> Result<(Vec<Vec<u8>>, u64)> {
    let nblocks = shared.pool.relation_size(rel)?;
    // One pass for a relation larger than the pool: the chosen versions'
    // (infomask, row bytes), by reservoir slot.
    let one_pass = nblocks as usize > shared.pool.frame_count();
    if one_pass {
        let (reservoir, mut copies) = choose(shared, rel, 0..nblocks, n, vis, cancel, SEED, true)?;
        let seen = reservoir.seen;
        let chosen = reservoir.chosen;
        let mut order: Vec<usize> = (0..chosen.len()).collect();
        order.sort_unstable_by_key(|&i| (chosen[i].page, chosen[i].slot));
        let mut rows = Vec::with_capacity(order.len());
        for i in order {
            let (infomask, data) = std::mem::take(&mut copies[i]);
            rows.push(row_of(shared, rel, infomask, data)?);
        }
        return Ok((rows, seen));
    }
    let parallel = nblocks >= PARALLEL_SAMPLE_PAGES;
    let (mut chosen, seen) = if parallel {
        // Two halves of the heap, one per core, each with its own
        // reservoir; the two samples are then merged into one.
        let mid = nblocks / 2;
        let (a, b) = std::thread::scope(|s| {
            let first = s.spawn(|| choose(shared, rel, 0..mid, n, vis, cancel, SEED, false));
            let second = choose(shared, rel, mid..nblocks, n, vis, cancel, SEED_2, false);
            // A panic in the helper thread goes on in this one, as it
            // would have had this thread sampled alone.
            (first.join(), second)
        });
        let (a, _) = a.unwrap_or_else(|e| std::panic::resume_unwind(e))?;
        let (b, _) = b?;
        let seen = a.seen + b.seen;
        (merge_samples(a, b, n), seen)
    } else {
        let (r, _) = choose(shared, rel, 0..nblocks, n, vis, cancel, SEED, false)?;
        (r.chosen, r.seen)
    };
    chosen.sort_unstable_by_key(|t| (t.page, t.slot));
    if !parallel {
        return Ok((copy_chosen(shared, rel, &chosen, vis, cancel)?, seen));
    }
    // The second pass in two halves too, split between pages.
    let mut mid = chosen.len() / 2;
    while mid > 0 && mid < chosen.len() && chosen[mid].page == chosen[mid - 1].page {
        mid += 1;
    }
    let (lo, hi) = chosen.split_at(mid);
    let (a, b) = std::thread::scope(|s| {
        let first = s.spawn(|| copy_chosen(shared, rel, lo, vis, cancel));
        let second = copy_chosen(shared, rel, hi, vis, cancel);
        (first.join(), second)
    });
    let mut rows = a.unwrap_or_else(|e| std::panic::resume_unwind(e))?;
    rows.extend(b?);
    Ok((rows, seen))
}

/// Relations at least this large are sampled by two threads, each over
/// half of the blocks.
const PARALLEL_SAMPLE_PAGES: u32 = 1024;

/// The reservoirs' fixed seeds (the second for the second half of a
/// relation sampled by two threads).
const SEED: u64 = 0x2545_F491_4F6C_DD1D;
const SEED_2: u64 = 0x9E37_79B9_7F4A_7C15;

/// `sample`'s first pass over `blocks`: a reservoir of up to `n` tuple ids
/// of visible versions. With `one_pass`, the chosen versions' (infomask,
/// row bytes) too, by reservoir slot.
#[allow(clippy::too_many_arguments)]
fn choose(
    shared: &Shared,
    rel: RelFileId,
    blocks: std::ops::Range<u32>,
    n: usize,
    vis: &VisibilityContext,
    cancel: Option<&AtomicBool>,
    seed: u64,
    one_pass: bool,
) -> Result<(Reservoir, Vec<(u16, Vec<u8>)>)> {
    let mut reservoir = Reservoir::new(n, seed);
    let mut copies: Vec<(u16, Vec<u8>)> = Vec::new();
    let mut keep = |slot: Option<usize>, t: &[u8]| {
        if let (true, Some(i)) = (one_pass, slot) {
            if i == copies.len() {
                copies.push((0, Vec::new()));
            }
            let c = &mut copies[i];
            c.0 = TupleHeader::read(t).infomask;
            c.1.clear();
            c.1.extend_from_slice(&t[TUPLE_HEADER_SIZE..]);
        }
    };
    let canceled = || cancel.is_some_and(|c| c.load(Ordering::Relaxed));
    let mut ring = shared.pool.bulk_ring_for(rel)?;
    for block in blocks {
        if canceled() {
            return Err(EngineError::Canceled);
        }
        let page = shared.pool.fetch_bulk(rel, block, ring.as_mut())?;
        let g = page.read();
        let hp = HeapPage::new(&g[..]);
        if !hp.is_initialized() {
            continue;
        }
        if crate::page::is_all_visible(&g[..]) {
            for slot in 0..hp.slot_count() {
                if let Some(t) = hp.tuple(slot) {
                    let taken = reservoir.offer(TupleId { page: block, slot });
                    keep(taken, t);
                }
            }
            continue;
        }
        shared.txns.clog.with(|st| {
            for slot in 0..hp.slot_count() {
                let Some(t) = hp.tuple(slot) else {
                    continue;
                };
                if is_visible(&TupleHeader::read(t), vis, st) {
                    let taken = reservoir.offer(TupleId { page: block, slot });
                    keep(taken, t);
                }
            }
        });
    }
    Ok((reservoir, copies))
}

/// One uniform sample of up to `n` of the versions two reservoirs were
/// offered, from each reservoir's uniform sample of its own: how many come
/// from `a` is drawn as `n` draws without replacement from the union
/// would fall (hypergeometric), then that many of each reservoir's
/// choices are taken at random.
fn merge_samples(mut a: Reservoir, mut b: Reservoir, n: usize) -> Vec<TupleId> {
    if a.seen + b.seen <= n as u64 {
        a.chosen.extend(b.chosen);
        return a.chosen;
    }
    let (mut left_a, mut left_b) = (a.seen, b.seen);
    let mut from_a = 0usize;
    for _ in 0..n {
        if a.uniform() * ((left_a + left_b) as f64) < left_a as f64 {
            from_a += 1;
            left_a -= 1;
        } else {
            left_b -= 1;
        }
    }
    let from_b = n - from_a;
    let mut out = a.pick(from_a);
    out.extend(b.pick(from_b));
    out
}

/// `sample`'s second pass: the row bytes of the versions at `chosen`
/// (sorted by page) that are still visible, in that order.
fn copy_chosen(
    shared: &Shared,
    rel: RelFileId,
    chosen: &[TupleId],
    vis: &VisibilityContext,
    cancel: Option<&AtomicBool>,
) -> Result<Vec<Vec<u8>>> {
    let canceled = || cancel.is_some_and(|c| c.load(Ordering::Relaxed));
    let mut rows = Vec::with_capacity(chosen.len());
    let mut ring = shared.pool.bulk_ring_for(rel)?;
    let mut i = 0;
    while i < chosen.len() {
        if canceled() {
            return Err(EngineError::Canceled);
        }
        let block = chosen[i].page;
        let mut j = i;
        while j < chosen.len() && chosen[j].page == block {
            j += 1;
        }
        let page = shared.pool.fetch_bulk(rel, block, ring.as_mut())?;
        let g = page.read();
        let hp = HeapPage::new(&g[..]);
        let all_visible = crate::page::is_all_visible(&g[..]);
        let mut copies: Vec<(u16, Vec<u8>)> = Vec::with_capacity(j - i);
        shared.txns.clog.with(|st| {
            for tid in &chosen[i..j] {
                let Some(t) = hp.tuple(tid.slot) else {
                    continue;
                };
                let h = TupleHeader::read(t);
                if all_visible || is_visible(&h, vis, st) {
                    copies.push((h.infomask, t[TUPLE_HEADER_SIZE..].to_vec()));
                }
            }
        });
        drop(g);
        drop(page);
        for (infomask, data) in copies {
            rows.push(row_of(shared, rel, infomask, data)?);
        }
        i = j;
    }
    Ok(rows)
}

/// The reservoir of `sample`'s first pass (Li's Algorithm L, "Reservoir
/// sampling algorithms of time complexity O(n(1 + log(N/n)))", 1994):
/// every offered tuple id ends up chosen with the same probability
/// n / (number offered).
struct Reservoir {
    n: usize,
    chosen: Vec<TupleId>,
    /// Versions offered so far.
    seen: u64,
    /// The `seen` count of the next version to enter the full reservoir.
    next: u64,
    /// Algorithm L's W.
    w: f64,
    rng: u64,
}

impl Reservoir {
    fn new(n: usize, seed: u64) -> Reservoir {
        Reservoir {
            n,
            chosen: Vec::with_capacity(n.min(1 << 16)),
            seen: 0,
            next: 0,
            w: 1.0,
            rng: seed,
        }
    }

    /// `k` of the chosen tuple ids at random (all of them if there are
    /// no more), by a partial Fisher-Yates shuffle.
    fn pick(&mut self, k: usize) -> Vec<TupleId> {
        let m = self.chosen.len();
        let k = k.min(m);
        for i in 0..k {
            let j = i + ((self.step() >> 33) % (m - i) as u64) as usize;
            self.chosen.swap(i, j);
        }
        self.chosen.truncate(k);
        std::mem::take(&mut self.chosen)
    }

    /// The fixed-seed generator's next state (a 64-bit LCG).
    fn step(&mut self) -> u64 {
        self.rng = self
            .rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.rng
    }

    /// A uniform number in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.step() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A uniform index below `n`.
    fn index(&mut self) -> usize {
        ((self.step() >> 33) % self.n as u64) as usize
    }

    /// Draw how many versions the reservoir passes over before the next
    /// one it takes, and update W.
    fn draw_next(&mut self) {
        let n = self.n as f64;
        self.w *= (self.uniform().ln() / n).exp();
        let skip = (self.uniform().ln() / (1.0 - self.w).ln()).floor();
        // W near 1 (tiny tables) or near 0 (W underflow after billions of
        // rows) make the logarithms degenerate: clamp to a finite skip.
        let skip = if skip.is_finite() && skip >= 0.0 {
            skip.min(u64::MAX as f64 / 2.0) as u64
        } else {
            u64::MAX / 2
        };
        self.next = self.seen.saturating_add(skip).saturating_add(1);
    }

    /// Offer one version; the reservoir slot it took, if it was taken.
    fn offer(&mut self, tid: TupleId) -> Option<usize> {
        self.seen += 1;
        if self.chosen.len() < self.n {
            self.chosen.push(tid);
            if self.chosen.len() == self.n {
                self.draw_next();
            }
            return Some(self.chosen.len() - 1);
        }
        if self.seen == self.next {
            let i = self.index();
            self.chosen[i] = tid;
            self.draw_next();
            return Some(i);
        }
        None
    }
}

/// Run `f` on the whole tuple at `tid`, if the slot holds one.
pub(crate) fn with_tuple<R>(
    shared: &Shared,
    rel: RelFileId,
    tid: TupleId,
    f: impl FnOnce(&[u8]) -> R,
) -> Result<Option<R>> {
    let Some(page) = shared.pool.fetch_if_exists(rel, tid.page)? else {
        return Ok(None);
    };
    let g = page.read();
    let hp = HeapPage::new(&g[..]);
    Ok(hp.tuple(tid.slot).map(f))
}

/// Iterator over the tuples of a relation visible to one statement. Reads a
/// page at a time: the page is latched only while its visible tuples are
/// copied out.
pub struct HeapScan {
    shared: Arc<Shared>,
    rel: RelFileId,
    next_block: u32,
    nblocks: u32,
    vis: VisibilityContext,
    cancel: Option<Arc<AtomicBool>>,
    /// The visible tuples of the current page: their bytes back to back in
    /// `arena` (copied once per page, so the page latch is not held while
    /// the caller works), and where each starts and ends.
    arena: Vec<u8>,
    items: Vec<(TupleId, u16, u32, u32)>,
    pos: usize,
    /// The bulk-read ring of a scan of a large relation (`BulkRing`).
    ring: Option<crate::buffer::BulkRing>,
}

impl HeapScan {
    pub(crate) fn new(
        shared: Arc<Shared>,
        rel: RelFileId,
        nblocks: u32,
        vis: VisibilityContext,
        cancel: Option<Arc<AtomicBool>>,
    ) -> HeapScan {
        HeapScan {
            shared,
            rel,
            next_block: 0,
            nblocks,
            vis,
            cancel,
            arena: Vec::new(),
            items: Vec::new(),
            pos: 0,
            ring: None,
        }
    }

    /// Read through a bulk-read ring if the relation is large (whole-table
    /// scans: `Transaction::scan`).
    pub(crate) fn with_bulk_ring(mut self) -> Result<HeapScan> {
        self.ring = self.shared.pool.bulk_ring_for(self.rel)?;
        Ok(self)
    }

    /// A scan of the blocks in `blocks` only (a bitmap heap scan over the
    /// page ranges a lossy index returned).
    pub(crate) fn over_blocks(
        shared: Arc<Shared>,
        rel: RelFileId,
        blocks: std::ops::Range<u32>,
        vis: VisibilityContext,
        cancel: Option<Arc<AtomicBool>>,
    ) -> HeapScan {
        let mut s = HeapScan::new(shared, rel, blocks.end, vis, cancel);
        s.next_block = blocks.start;
        s
    }

    fn fill(&mut self) -> Result<()> {
        while self.pos >= self.items.len() && self.next_block < self.nblocks {
            if let Some(c) = &self.cancel {
                if c.load(Ordering::Relaxed) {
                    return Err(EngineError::Canceled);
                }
            }
            let block = self.next_block;
            self.next_block += 1;
            self.arena.clear();
            self.items.clear();
            self.pos = 0;
            let page = self
                .shared
                .pool
                .fetch_bulk(self.rel, block, self.ring.as_mut())?;
            let g = page.read();
            let hp = HeapPage::new(&g[..]);
            let vis = &self.vis;
            let (arena, items) = (&mut self.arena, &mut self.items);
            self.shared.txns.clog.with(|st| {
                for slot in 0..hp.slot_count() {
                    if let Some(t) = hp.tuple(slot) {
                        let h = TupleHeader::read(t);
                        if is_visible(&h, vis, st) {
                            let start = arena.len() as u32;
                            arena.extend_from_slice(&t[TUPLE_HEADER_SIZE..]);
                            items.push((
                                TupleId { page: block, slot },
                                h.infomask,
                                start,
                                arena.len() as u32,
                            ));
                        }
                    }
                }
            });
        }
        Ok(())
    }

    /// The next visible tuple, borrowed from the scan's page copy when it is
    /// stored inline (no allocation per tuple); an out-of-line tuple is
    /// reassembled into an owned buffer.
    pub fn next_tuple(&mut self) -> Option<Result<(TupleId, Cow<'_, [u8]>)>> {
        if self.pos >= self.items.len() {
            if let Err(e) = self.fill() {
                self.next_block = self.nblocks;
                return Some(Err(e));
            }
        }
        let &(tid, infomask, start, end) = self.items.get(self.pos)?;
        self.pos += 1;
        let data = &self.arena[start as usize..end as usize];
        if infomask & TUPLE_EXTERNAL == 0 {
            return Some(Ok((tid, Cow::Borrowed(data))));
        }
        Some(row_of(&self.shared, self.rel, infomask, data.to_vec()).map(|r| (tid, Cow::Owned(r))))
    }
}

impl Iterator for HeapScan {
    type Item = Result<(TupleId, Vec<u8>)>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_tuple()
            .map(|r| r.map(|(tid, bytes)| (tid, bytes.into_owned())))
    }
}
