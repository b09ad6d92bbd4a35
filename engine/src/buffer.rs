//! The buffer pool: a fixed number of 8 KiB frames caching relation pages.
//!
//! A page is used through a `PinnedPage`, which keeps its frame from being
//! evicted until dropped; its contents are behind the frame's `RwLock` (the
//! page latch). Eviction is CLOCK over unpinned frames.
//!
//! Invariants relied on elsewhere:
//! - WAL before page: a dirty page is written only after the WAL is flushed
//!   up to the page's LSN (`write_frame`).
//! - A page is modified only under its write latch, and marked dirty before
//!   that latch is released; the flusher clears the dirty flag while holding
//!   the read latch and then copies, so no change is ever lost.
//! - Latch order: the page table mutex may be held while taking a frame's
//!   state mutex, never the reverse; no page latch is taken while holding the
//!   page table mutex except on an unpinned victim (which nobody else holds).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
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
    pins: u32,
    dirty: bool,
    referenced: bool,
}

struct Frame {
    page: RwLock<Box<PageBuf>>,
    state: Mutex<FrameState>,
}

struct Table {
    map: HashMap<PageKey, usize>,
    hand: usize,
    /// Number of pages of each relation (file pages plus pages created in
    /// the pool and not yet written).
    sizes: HashMap<RelFileId, u32>,
    /// Pages served from the pool (hits) and read from disk (reads) per
    /// relation, counted under the table lock the lookup holds anyway.
    io: HashMap<RelFileId, (u64, u64)>,
}

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
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub evictions: AtomicU64,
    /// Most frames ever holding a page at once.
    pub peak_resident: AtomicU64,
}

pub struct BufferPool {
    frames: Vec<Frame>,
    table: Mutex<Table>,
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
        let mut st = self.pool.frames[self.frame].state.lock();
        st.pins -= 1;
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
                    pins: 0,
                    dirty: false,
                    referenced: false,
                }),
            })
            .collect();
        BufferPool {
            frames,
            table: Mutex::new(Table {
                map: HashMap::new(),
                hand: 0,
                sizes: HashMap::new(),
                io: HashMap::new(),
            }),
            storage,
            wal,
            counters: BufferCounters::default(),
        }
    }

    pub fn frame_count(&self) -> usize {
        self.frames.len()
    }

    fn size_locked(&self, t: &mut Table, rel: RelFileId) -> Result<u32> {
        if let Some(&n) = t.sizes.get(&rel) {
            return Ok(n);
        }
        let n = self.storage.nblocks(rel)?;
        t.sizes.insert(rel, n);
        Ok(n)
    }

    /// Number of pages in a relation.
    pub fn relation_size(&self, rel: RelFileId) -> Result<u32> {
        let mut t = self.table.lock();
        self.size_locked(&mut t, rel)
    }

    /// Write a frame's page to disk (WAL first). The frame must be pinned or
    /// otherwise protected from reuse by the caller.
    fn write_frame(&self, idx: usize, key: PageKey) -> Result<()> {
        let frame = &self.frames[idx];
        let mut copy = [0u8; PAGE_SIZE];
        {
            let g = frame.page.read();
            {
                let mut st = frame.state.lock();
                if !st.dirty {
                    return Ok(());
                }
                st.dirty = false;
            }
            copy.copy_from_slice(&g[..]);
        }
        let res = (|| {
            self.wal.flush(page_lsn(&copy))?;
            set_checksum(key.0, key.1, &mut copy);
            self.storage.write_page(key.0, key.1, &copy)
        })();
        if res.is_err() {
            frame.state.lock().dirty = true;
        }
        res
    }

    /// Find a victim frame (unpinned), write it out if dirty, and detach it
    /// from its old page. Called with the table locked.
    fn take_victim(&self, t: &mut Table) -> Result<usize> {
        let n = self.frames.len();
        for _ in 0..(3 * n) {
            let idx = t.hand;
            t.hand = (t.hand + 1) % n;
            let (key, dirty) = {
                let mut st = self.frames[idx].state.lock();
                if st.pins > 0 {
                    continue;
                }
                if st.referenced {
                    st.referenced = false;
                    continue;
                }
                (st.key, st.dirty)
            };
            if let Some(k) = key {
                if dirty {
                    let started = std::time::Instant::now();
                    self.write_frame(idx, k)?;
                    crate::stats::note_written(started.elapsed());
                }
                t.map.remove(&k);
                self.counters.evictions.fetch_add(1, Ordering::Relaxed);
            }
            let mut st = self.frames[idx].state.lock();
            st.key = None;
            st.dirty = false;
            return Ok(idx);
        }
        Err(EngineError::BufferPoolExhausted)
    }

    /// Pin an existing page, reading it from disk on a miss.
    pub fn fetch(&self, rel: RelFileId, block: u32) -> Result<PinnedPage<'_>> {
        let mut t = self.table.lock();
        if let Some(&idx) = t.map.get(&(rel, block)) {
            let mut st = self.frames[idx].state.lock();
            st.pins += 1;
            st.referenced = true;
            drop(st);
            if crate::stats::tracking() {
                t.io.entry(rel).or_default().0 += 1;
            }
            drop(t);
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
            THREAD_HITS.with(|c| c.set(c.get() + 1));
            return Ok(PinnedPage {
                pool: self,
                frame: idx,
                rel,
                block,
            });
        }
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        if crate::stats::tracking() {
            t.io.entry(rel).or_default().1 += 1;
        }
        let resident = t.map.len() as u64 + 1;
        self.counters
            .peak_resident
            .fetch_max(resident.min(self.frames.len() as u64), Ordering::Relaxed);
        THREAD_READS.with(|c| c.set(c.get() + 1));
        let idx = self.take_victim(&mut t)?;
        {
            let mut g = self.frames[idx].page.write();
            let size = self.size_locked(&mut t, rel)?;
            if block < size {
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
                t.sizes.insert(rel, block + 1);
            }
        }
        {
            let mut st = self.frames[idx].state.lock();
            st.key = Some((rel, block));
            st.pins = 1;
            st.referenced = true;
        }
        t.map.insert((rel, block), idx);
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
            let mut t = self.table.lock();
            let n = self.size_locked(&mut t, rel)?;
            t.sizes.insert(rel, n + 1);
            n
        };
        self.fetch(rel, block)
    }

    /// Write every dirty page (for checkpoints) and fsync the files.
    pub fn flush_all(&self) -> Result<()> {
        for idx in 0..self.frames.len() {
            // Pin under the table lock so the frame is not reused meanwhile.
            let key = {
                let _t = self.table.lock();
                let mut st = self.frames[idx].state.lock();
                match st.key {
                    Some(k) if st.dirty => {
                        st.pins += 1;
                        k
                    }
                    _ => continue,
                }
            };
            let res = self.write_frame(idx, key);
            self.frames[idx].state.lock().pins -= 1;
            res?;
        }
        self.storage.sync_all()
    }

    /// Forget every page of a relation (its storage is being removed).
    pub fn discard_relation(&self, rel: RelFileId) {
        let mut t = self.table.lock();
        let keys: Vec<PageKey> = t.map.keys().filter(|k| k.0 == rel).copied().collect();
        for k in keys {
            if let Some(idx) = t.map.remove(&k) {
                let mut st = self.frames[idx].state.lock();
                st.key = None;
                st.dirty = false;
            }
        }
        t.sizes.remove(&rel);
        t.io.remove(&rel);
    }

    /// Pages served from the pool (hits) and read from storage (reads) per
    /// relation since the counts were loaded or reset.
    pub fn io_counts(&self) -> HashMap<RelFileId, (u64, u64)> {
        self.table.lock().io.clone()
    }

    /// Replace the per-relation I/O counts (statistics loaded at startup).
    pub fn load_io_counts(&self, io: HashMap<RelFileId, (u64, u64)>) {
        self.table.lock().io = io;
    }

    /// Zero the I/O counts of the given relations, or of all when None.
    pub fn reset_io_counts(&self, rels: Option<&[RelFileId]>) {
        let mut t = self.table.lock();
        match rels {
            None => t.io.clear(),
            Some(rels) => {
                for r in rels {
                    t.io.remove(r);
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
