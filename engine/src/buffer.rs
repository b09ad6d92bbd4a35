//! The buffer pool: a fixed number of 8 KiB frames caching relation pages.
//!
//! A page is used through a `PinnedPage`, which keeps its frame from being
//! evicted until dropped; its contents are behind the frame's `RwLock` (the
//! page latch). Eviction is CLOCK over unpinned frames.
//!
//! Invariants relied on elsewhere:
//! - WAL before page: a dirty page is written only after the WAL is flushed
//!   up to the page's LSN (`write_run`).
//! - A page is modified only under its write latch, and marked dirty before
//!   that latch is released; the flusher clears the dirty flag while holding
//!   the read latch and then copies, so no change is ever lost.
//! - The page table is split into `SHARDS` shards, each a mutex over its part
//!   of the map, so lookups of different pages rarely meet. A hit takes one
//!   shard mutex and the frame's state mutex, nothing global.
//! - Misses (victim choice, the read, the map insert) and `extend` are
//!   serialized by the `miss` mutex; it may be held across I/O, but a hit
//!   never takes it. A victim is taken out of the map before its frame is
//!   refilled, and the new page is put in the map only once it is read, so a
//!   looker-up either misses (and queues behind `miss`) or finds it whole.
//! - Large sequential reads (a heap scan of a relation larger than a
//!   quarter of the pool: seq scans, index builds' heap pass, VACUUM,
//!   ANALYZE) go through a `BulkRing`: the pages they bring in replace the
//!   ring's own earlier pages (32 frames, 256 kB, Postgres's BAS_BULKREAD)
//!   instead of evicting the rest of the pool. A ring frame that somebody
//!   else used meanwhile (pinned, or referenced since) is left to the pool
//!   and replaced by an ordinary victim; a dirty one is written out first,
//!   WAL before page, like any victim.
//! - Latch order: `miss` before any shard mutex; a shard mutex may be held
//!   while taking a frame's state mutex, never the reverse; no page latch is
//!   taken while holding a shard mutex.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::error::{EngineError, Result};
use crate::page::{page_lsn, set_checksum, verify_checksum, PageBuf, PAGE_SIZE};
use crate::storage::Storage;
use crate::wal::Wal;
use crate::RelFileId;

type PageKey = (RelFileId, u32);

struct FrameState {
    key: Option<PageKey>,
    dirty: bool,
}

/// A frame's pin count and CLOCK reference bit are atomics, so a hit and
/// an unpin take no frame mutex (the root page of a B+Tree is pinned by
/// every lookup of every backend). A pin is only ever added under the
/// shard mutex that maps the frame (or, for a frame in no map, under
/// `miss`), so a victim search that holds that mutex and sees zero pins
/// may take the frame: nobody can pin it meanwhile.
struct Frame {
    page: RwLock<Box<PageBuf>>,
    state: Mutex<FrameState>,
    pins: AtomicU32,
    referenced: AtomicBool,
}

/// One shard of the page table.
#[derive(Default)]
struct Shard {
    map: HashMap<PageKey, usize, BuildPageHasher>,
    /// Hits served by this shard (the pool's total is the sum; one global
    /// counter would be a cache line every hit of every core writes).
    hits: u64,
    /// Pages served from the pool (hits) and read from disk (reads) per
    /// relation, counted under the shard lock the lookup holds anyway (a
    /// relation's counts are the sum over shards).
    io: HashMap<RelFileId, (u64, u64), BuildPageHasher>,
}

/// Most pages `write_blocks` puts in one write (512 kB).
const MAX_WRITE_RUN: usize = 64;

thread_local! {
    /// The copies of the pages a write puts out, checksummed there (reused:
    /// zeroing a new buffer per write showed in bulk loads' profiles).
    static WRITE_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Number of page-table shards (a power of two).
const SHARDS: usize = 64;

fn shard_of(key: PageKey) -> usize {
    // Middle bits of a multiplicative hash: independent of the bits the
    // shard's own map uses (see PageHasher).
    let x = ((key.0 as u64) << 32 | key.1 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 40) as usize & (SHARDS - 1)
}

/// A fast hasher for small integer keys (page keys, relation ids): a
/// multiply per word and a final avalanche, instead of SipHash.
#[derive(Default)]
pub struct PageHasher(u64);

impl std::hash::Hasher for PageHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(23) ^ n).wrapping_mul(0xff51_afd7_ed55_8ccd);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

pub type BuildPageHasher = std::hash::BuildHasherDefault<PageHasher>;

thread_local! {
    /// This thread's buffer hits and reads (EXPLAIN (ANALYZE, BUFFERS)).
    static THREAD_HITS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    static THREAD_READS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Buffer hits and reads by the calling thread so far.
pub fn thread_counters() -> (u64, u64) {
    (
        THREAD_HITS.with(|c| c.get()),
        THREAD_READS.with(|c| c.get()),
    )
}

#[derive(Default)]
pub struct BufferCounters {
    pub misses: AtomicU64,
    pub evictions: AtomicU64,
    /// Most frames ever holding a page at once.
    pub peak_resident: AtomicU64,
}

pub struct BufferPool {
    frames: Vec<Frame>,
    shards: Box<[Mutex<Shard>]>,
    /// The CLOCK hand; its mutex serializes misses and extends.
    miss: Mutex<usize>,
    /// Number of pages of each relation (file pages plus pages created in
    /// the pool and not yet written).
    sizes: Mutex<HashMap<RelFileId, u32, BuildPageHasher>>,
    /// Frames holding a page.
    resident: AtomicU64,
    storage: Arc<Storage>,
    wal: Arc<Wal>,
    pub counters: BufferCounters,
}

/// A pinned page. Drop unpins.
pub struct PinnedPage<'a> {
    pool: &'a BufferPool,
    frame: usize,
    pub rel: RelFileId,
    pub block: u32,
}

impl<'a> PinnedPage<'a> {
    pub fn read(&self) -> RwLockReadGuard<'_, Box<PageBuf>> {
        self.pool.frames[self.frame].page.read()
    }
    /// Take the write latch. The caller must call `mark_dirty` before
    /// releasing it if it changed the page.
    pub fn write(&self) -> RwLockWriteGuard<'_, Box<PageBuf>> {
        self.pool.frames[self.frame].page.write()
    }
    pub fn mark_dirty(&self) {
        let mut st = self.pool.frames[self.frame].state.lock();
        if !st.dirty {
            st.dirty = true;
            crate::stats::note_dirtied();
        }
    }
}

impl Drop for PinnedPage<'_> {
    fn drop(&mut self) {
        self.pool.frames[self.frame]
            .pins
            .fetch_sub(1, Ordering::Release);
    }
}

/// Frames of a bulk read's ring (256 kB, as Postgres's BAS_BULKREAD).
pub const BULK_RING_FRAMES: usize = 32;

/// The frames one large sequential read reuses (see the module docs):
/// each slot remembers the frame it filled and the page it put there.
#[derive(Debug)]
pub struct BulkRing {
    slots: Vec<(usize, PageKey)>,
    next: usize,
    cap: usize,
}

impl BulkRing {
    pub fn new(frames: usize) -> BulkRing {
        BulkRing {
            slots: Vec::with_capacity(frames),
            next: 0,
            cap: frames.max(1),
        }
    }
}

impl BufferPool {
    pub fn new(nframes: usize, storage: Arc<Storage>, wal: Arc<Wal>) -> BufferPool {
        let nframes = nframes.max(16);
        let frames = (0..nframes)
            .map(|_| Frame {
                page: RwLock::new(Box::new([0u8; PAGE_SIZE])),
                state: Mutex::new(FrameState {
                    key: None,
                    dirty: false,
                }),
                pins: AtomicU32::new(0),
                referenced: AtomicBool::new(false),
            })
            .collect();
        BufferPool {
            frames,
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            miss: Mutex::new(0),
            sizes: Mutex::new(HashMap::default()),
            resident: AtomicU64::new(0),
            storage,
            wal,
            counters: BufferCounters::default(),
        }
    }

    pub fn frame_count(&self) -> usize {
        self.frames.len()
    }

    /// Number of pages in a relation.
    pub fn relation_size(&self, rel: RelFileId) -> Result<u32> {
        let mut sizes = self.sizes.lock();
        if let Some(&n) = sizes.get(&rel) {
            return Ok(n);
        }
        let n = self.storage.nblocks(rel)?;
        sizes.insert(rel, n);
        Ok(n)
    }

    /// Write a frame's page to disk (WAL first). The frame must be pinned
    /// by the caller.
    fn write_frame(&self, idx: usize, key: PageKey) -> Result<()> {
        WRITE_BUF.with(|b| self.write_run(key.0, key.1, &[idx], &mut b.borrow_mut()))
    }

    /// Find a victim frame (unpinned), write it out if dirty, detach it from
    /// its old page and return it pinned once, in no shard's map. Called with
    /// the `miss` mutex held (`hand` is its content).
    fn take_victim(&self, hand: &mut usize) -> Result<usize> {
        let n = self.frames.len();
        for _ in 0..(3 * n) {
            let idx = *hand;
            *hand = (idx + 1) % n;
            let frame = &self.frames[idx];
            let state = &frame.state;
            if frame.pins.load(Ordering::Acquire) > 0 {
                continue;
            }
            if frame.referenced.swap(false, Ordering::Relaxed) {
                continue;
            }
            let key = state.lock().key;
            let Some(k) = key else {
                // Frames outside every map are only taken here, under `miss`.
                let mut st = state.lock();
                if frame.pins.load(Ordering::Acquire) == 0 && st.key.is_none() {
                    frame.pins.store(1, Ordering::Relaxed);
                    st.dirty = false;
                    self.resident.fetch_add(1, Ordering::Relaxed);
                    return Ok(idx);
                }
                continue;
            };
            if self.try_evict(idx, k)? {
                return Ok(idx);
            }
        }
        Err(EngineError::BufferPoolExhausted)
    }

    /// Detach frame `idx` from page `k` if it still holds `k` unpinned and
    /// unreferenced, writing it out first if dirty; then it is pinned once
    /// and in no shard's map (true). Called with the `miss` mutex held.
    fn try_evict(&self, idx: usize, k: PageKey) -> Result<bool> {
        let frame = &self.frames[idx];
        let state = &frame.state;
        let shard = &self.shards[shard_of(k)];
        let mut sh = shard.lock();
        let mut st = state.lock();
        // Pins are only added under this shard's mutex: zero pins seen
        // here stay zero until it is released.
        let taken = |st: &FrameState| {
            st.key != Some(k)
                || frame.pins.load(Ordering::Acquire) > 0
                || frame.referenced.load(Ordering::Relaxed)
        };
        if taken(&st) {
            return Ok(false);
        }
        if st.dirty {
            // Write it out pinned, without the shard locked, then look
            // again: somebody may have used or dirtied it meanwhile.
            frame.pins.fetch_add(1, Ordering::Acquire);
            drop(st);
            drop(sh);
            let started = std::time::Instant::now();
            let res = self.write_frame(idx, k);
            if res.is_ok() {
                crate::stats::note_written(started.elapsed());
            }
            frame.pins.fetch_sub(1, Ordering::Release);
            res?;
            sh = shard.lock();
            st = state.lock();
            if taken(&st) || st.dirty {
                return Ok(false);
            }
        }
        sh.map.remove(&k);
        st.key = None;
        frame.pins.store(1, Ordering::Relaxed);
        st.dirty = false;
        self.counters.evictions.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// A victim for a page a bulk read brings in: the ring's oldest frame
    /// when nobody else has used it since, else an ordinary victim (which
    /// then joins the ring). Called with the `miss` mutex held.
    fn take_ring_victim(&self, hand: &mut usize, ring: &mut BulkRing) -> Result<usize> {
        if ring.slots.len() == ring.cap {
            let (idx, k) = ring.slots[ring.next];
            if self.try_evict(idx, k)? {
                return Ok(idx);
            }
        }
        self.take_victim(hand)
    }

    /// Remember that the ring's current slot now holds `key` in `idx`.
    fn ring_record(ring: &mut BulkRing, idx: usize, key: PageKey) {
        if ring.slots.len() < ring.cap {
            ring.slots.push((idx, key));
        } else {
            ring.slots[ring.next] = (idx, key);
            ring.next = (ring.next + 1) % ring.cap;
        }
    }

    /// Pin the frame holding `key` if it is in the pool.
    fn pin_resident(&self, key: PageKey) -> Option<PinnedPage<'_>> {
        let mut sh = self.shards[shard_of(key)].lock();
        let idx = *sh.map.get(&key)?;
        let frame = &self.frames[idx];
        frame.pins.fetch_add(1, Ordering::Acquire);
        if !frame.referenced.load(Ordering::Relaxed) {
            frame.referenced.store(true, Ordering::Relaxed);
        }
        sh.hits += 1;
        if crate::stats::tracking() {
            sh.io.entry(key.0).or_default().0 += 1;
        }
        drop(sh);
        THREAD_HITS.with(|c| c.set(c.get() + 1));
        Some(PinnedPage {
            pool: self,
            frame: idx,
            rel: key.0,
            block: key.1,
        })
    }

    /// `fetch` of a block that may lie past the relation's end (a tuple id
    /// from an index): `None` then. A resident page exists, so only a miss
    /// asks for the relation's size (a mutex and a map lookup).
    pub fn fetch_if_exists(&self, rel: RelFileId, block: u32) -> Result<Option<PinnedPage<'_>>> {
        if let Some(p) = self.pin_resident((rel, block)) {
            return Ok(Some(p));
        }
        if block >= self.relation_size(rel)? {
            return Ok(None);
        }
        self.fetch(rel, block).map(Some)
    }

    /// Pin an existing page, reading it from disk on a miss.
    pub fn fetch(&self, rel: RelFileId, block: u32) -> Result<PinnedPage<'_>> {
        self.fetch_or_new(rel, block, false, None)
    }

    /// `fetch` for a large sequential read: a miss reuses a frame of `ring`
    /// (see the module docs). Without a ring, a plain `fetch`.
    pub fn fetch_bulk(
        &self,
        rel: RelFileId,
        block: u32,
        ring: Option<&mut BulkRing>,
    ) -> Result<PinnedPage<'_>> {
        self.fetch_or_new(rel, block, false, ring)
    }

    /// A ring for a sequential read of all of `rel`, if the relation is
    /// larger than a quarter of the pool (smaller ones are read through the
    /// pool as usual, as Postgres does).
    pub fn bulk_ring_for(&self, rel: RelFileId) -> Result<Option<BulkRing>> {
        let pages = self.relation_size(rel)? as usize;
        Ok((pages > self.frames.len() / 4).then(|| self.bulk_ring()))
    }

    /// A ring of `BULK_RING_FRAMES` frames (fewer in a tiny pool).
    pub fn bulk_ring(&self) -> BulkRing {
        BulkRing::new(BULK_RING_FRAMES.min(self.frames.len() / 8))
    }

    /// `fetch`; with `new`, a block `extend` just added to the relation:
    /// not resident and not on disk yet, so it starts zeroed without a
    /// read. With a ring, a miss takes its frame from the ring.
    fn fetch_or_new(
        &self,
        rel: RelFileId,
        block: u32,
        new: bool,
        mut ring: Option<&mut BulkRing>,
    ) -> Result<PinnedPage<'_>> {
        if let Some(p) = self.pin_resident((rel, block)) {
            return Ok(p);
        }
        let mut hand = self.miss.lock();
        // Another miss may have brought the page in while we waited.
        if let Some(p) = self.pin_resident((rel, block)) {
            return Ok(p);
        }
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        THREAD_READS.with(|c| c.set(c.get() + 1));
        let idx = match ring.as_deref_mut() {
            Some(r) => self.take_ring_victim(&mut hand, r)?,
            None => self.take_victim(&mut hand)?,
        };
        self.counters
            .peak_resident
            .fetch_max(self.resident.load(Ordering::Relaxed), Ordering::Relaxed);
        let loaded = (|| {
            let mut g = self.frames[idx].page.write();
            let size = self.relation_size(rel)?;
            if new {
                self.storage.ensure_file(rel)?;
            }
            if block < size && !new {
                let started = std::time::Instant::now();
                self.storage.read_page(rel, block, &mut g[..])?;
                crate::stats::note_read(started.elapsed());
                if !verify_checksum(rel, block, &g[..]) {
                    g.fill(0);
                    return Err(EngineError::CorruptPage {
                        rel,
                        block,
                        reason: "page verification failed, calculated checksum does not match"
                            .into(),
                    });
                }
            } else {
                g.fill(0);
                if block >= size {
                    self.sizes.lock().insert(rel, block + 1);
                }
            }
            Ok(())
        })();
        if let Err(e) = loaded {
            // Give the frame back empty.
            self.frames[idx].pins.store(0, Ordering::Release);
            self.resident.fetch_sub(1, Ordering::Relaxed);
            return Err(e);
        }
        let mut sh = self.shards[shard_of((rel, block))].lock();
        {
            self.frames[idx].state.lock().key = Some((rel, block));
            // A ring's page starts cold: its frame is the ring's to reuse
            // unless somebody else uses it meanwhile.
            self.frames[idx]
                .referenced
                .store(ring.is_none(), Ordering::Relaxed);
        }
        if let Some(r) = ring {
            Self::ring_record(r, idx, (rel, block));
        }
        sh.map.insert((rel, block), idx);
        if crate::stats::tracking() {
            sh.io.entry(rel).or_default().1 += 1;
        }
        drop(sh);
        drop(hand);
        Ok(PinnedPage {
            pool: self,
            frame: idx,
            rel,
            block,
        })
    }

    /// Add a new zeroed page at the end of a relation and pin it.
    pub fn extend(&self, rel: RelFileId) -> Result<PinnedPage<'_>> {
        let block = {
            let _hand = self.miss.lock();
            let n = self.relation_size(rel)?;
            self.sizes.lock().insert(rel, n + 1);
            n
        };
        self.fetch_or_new(rel, block, true, None)
    }

    /// Write every dirty page (for checkpoints) and fsync the files.
    pub fn flush_all(&self) -> Result<()> {
        self.flush_where(|_| true)?;
        self.storage.sync_all()
    }

    /// Write every dirty page of one relation (no fsync).
    pub fn flush_relation(&self, rel: RelFileId) -> Result<()> {
        self.flush_where(|k| k.0 == rel)
    }

    /// Write one page if it is resident and dirty (no fsync).
    pub fn write_block(&self, rel: RelFileId, block: u32) -> Result<()> {
        self.write_blocks(rel, &[block])
    }

    /// Write every dirty page whose key passes `want`, in file order, so
    /// that neighbouring pages go out in one write (`write_blocks`).
    fn flush_where(&self, want: impl Fn(PageKey) -> bool) -> Result<()> {
        let mut keys: Vec<PageKey> = self
            .frames
            .iter()
            .filter_map(|frame| {
                let st = frame.state.lock();
                st.key.filter(|&k| st.dirty && want(k))
            })
            .collect();
        keys.sort_unstable();
        for chunk in keys.chunk_by(|a, b| a.0 == b.0) {
            let blocks: Vec<u32> = chunk.iter().map(|k| k.1).collect();
            self.write_blocks(chunk[0].0, &blocks)?;
        }
        Ok(())
    }

    /// Write the resident dirty pages among `blocks` (ascending) of `rel`
    /// (no fsync). Pages with consecutive numbers go out together, up to
    /// `MAX_WRITE_RUN` in one write: a bulk load's or an index build's
    /// pages, written one system call each, cost the kernel twice the CPU
    /// of the same bytes in large writes.
    pub fn write_blocks(&self, rel: RelFileId, blocks: &[u32]) -> Result<()> {
        // Pinned frames of the run being gathered, and its first block.
        let max = (self.frames.len() / 8).clamp(1, MAX_WRITE_RUN);
        let mut run: Vec<usize> = Vec::with_capacity(max);
        let mut first = 0u32;
        WRITE_BUF.with(|buf| {
            let buf = &mut buf.borrow_mut();
            let mut res = Ok(());
            for &block in blocks {
                let Some(idx) = self.pin_if_dirty((rel, block)) else {
                    continue;
                };
                let next = first.wrapping_add(run.len() as u32);
                if !run.is_empty() && (block != next || run.len() == max) {
                    res = res.and(self.write_run(rel, first, &run, buf));
                    self.unpin_all(&mut run);
                }
                if run.is_empty() {
                    first = block;
                }
                run.push(idx);
            }
            res = res.and(self.write_run(rel, first, &run, buf));
            self.unpin_all(&mut run);
            res
        })
    }

    /// Pin the frame holding `key` if it is resident and dirty.
    fn pin_if_dirty(&self, key: PageKey) -> Option<usize> {
        let sh = self.shards[shard_of(key)].lock();
        let &idx = sh.map.get(&key)?;
        if !self.frames[idx].state.lock().dirty {
            return None;
        }
        // Pinned under the shard lock: not reused meanwhile.
        self.frames[idx].pins.fetch_add(1, Ordering::Acquire);
        Some(idx)
    }

    fn unpin_all(&self, run: &mut Vec<usize>) {
        for idx in run.drain(..) {
            self.frames[idx].pins.fetch_sub(1, Ordering::Release);
        }
    }

    /// Write the pinned frames `run`, holding blocks `first..`, in one
    /// write: each page is copied under its read latch with its dirty flag
    /// cleared first, the WAL is flushed up to the newest page's LSN, and
    /// on failure the pages are dirty again.
    fn write_run(
        &self,
        rel: RelFileId,
        first: u32,
        run: &[usize],
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        if run.is_empty() {
            return Ok(());
        }
        buf.resize(run.len() * PAGE_SIZE, 0);
        let mut lsn = 0;
        for (i, &idx) in run.iter().enumerate() {
            let frame = &self.frames[idx];
            let g = frame.page.read();
            {
                let mut st = frame.state.lock();
                // A pinned frame leaves its page only when the relation is
                // dropped (`discard_relation`): nothing of it is written
                // then (a write would bring its file back).
                if st.key != Some((rel, first + i as u32)) {
                    return Ok(());
                }
                // Written even if somebody else wrote it meanwhile (then
                // it is clean): its bytes are what the file gets either way.
                st.dirty = false;
            }
            let copy = &mut buf[i * PAGE_SIZE..(i + 1) * PAGE_SIZE];
            copy.copy_from_slice(&g[..]);
            lsn = lsn.max(page_lsn(copy));
        }
        let res = (|| {
            self.wal.flush(lsn)?;
            for (i, page) in buf.chunks_exact_mut(PAGE_SIZE).enumerate() {
                set_checksum(rel, first + i as u32, page);
            }
            self.storage.write_page(rel, first, buf)
        })();
        if res.is_err() {
            for &idx in run {
                self.frames[idx].state.lock().dirty = true;
            }
        }
        res
    }

    /// Forget every page of a relation (its storage is being removed).
    pub fn discard_relation(&self, rel: RelFileId) {
        let _hand = self.miss.lock();
        for shard in self.shards.iter() {
            let mut sh = shard.lock();
            let keys: Vec<PageKey> = sh.map.keys().filter(|k| k.0 == rel).copied().collect();
            for k in keys {
                if let Some(idx) = sh.map.remove(&k) {
                    let mut st = self.frames[idx].state.lock();
                    st.key = None;
                    st.dirty = false;
                    self.resident.fetch_sub(1, Ordering::Relaxed);
                }
            }
            sh.io.remove(&rel);
        }
        self.sizes.lock().remove(&rel);
    }

    /// Pages served from the pool without a read since it started.
    pub fn hits(&self) -> u64 {
        self.shards.iter().map(|s| s.lock().hits).sum()
    }

    /// Pages served from the pool (hits) and read from storage (reads) per
    /// relation since the counts were loaded or reset.
    pub fn io_counts(&self) -> HashMap<RelFileId, (u64, u64)> {
        let mut out: HashMap<RelFileId, (u64, u64)> = HashMap::new();
        for shard in self.shards.iter() {
            for (&rel, &(h, r)) in shard.lock().io.iter() {
                let e = out.entry(rel).or_default();
                e.0 += h;
                e.1 += r;
            }
        }
        out
    }

    /// Replace the per-relation I/O counts (statistics loaded at startup).
    pub fn load_io_counts(&self, io: HashMap<RelFileId, (u64, u64)>) {
        for shard in self.shards.iter() {
            shard.lock().io.clear();
        }
        self.shards[0].lock().io.extend(io);
    }

    /// Zero the I/O counts of the given relations, or of all when None.
    pub fn reset_io_counts(&self, rels: Option<&[RelFileId]>) {
        for shard in self.shards.iter() {
            let mut sh = shard.lock();
            match rels {
                None => sh.io.clear(),
                Some(rels) => {
                    for r in rels {
                        sh.io.remove(r);
                    }
                }
            }
        }
    }

    /// Pages of each relation resident in the pool with how many of them
    /// are dirty, and the total of dirty frames.
    pub fn residency(&self) -> (HashMap<RelFileId, (u64, u64)>, u64) {
        let mut per: HashMap<RelFileId, (u64, u64)> = HashMap::new();
        let mut dirty = 0;
        for f in &self.frames {
            let st = f.state.lock();
            if let Some((rel, _)) = st.key {
                let e = per.entry(rel).or_default();
                e.0 += 1;
                if st.dirty {
                    e.1 += 1;
                    dirty += 1;
                }
            }
        }
        (per, dirty)
    }
}
