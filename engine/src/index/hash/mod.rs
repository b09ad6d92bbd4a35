//! The hash access method: linear hashing on engine pages.
//!
//! A key's bucket is picked by the low bits of its hash (`page::hash_key`
//! over the key bytes; equal values encode to equal bytes, so they hash
//! alike). Buckets are numbered 0..=max_bucket; a directory maps each to the
//! block of its primary page, and a bucket whose primary page is full chains
//! overflow pages. When the entries outgrow the buckets (more bytes than
//! `buckets * page * fillfactor`), exactly one bucket is split, in linear
//! hashing order: bucket `max_bucket + 1` is created and takes the entries of
//! bucket `(max_bucket + 1) & low_mask` whose hash now points at it. The index
//! therefore grows a bucket at a time and is never rebuilt as a whole.
//!
//! Entries keep the key (not only its hash), so a lookup is exact and
//! VACUUM, verify and the conformance suite see real keys. Scans serve only
//! equality (and `All`, for verification); the order is the storage order.
//!
//! Crash safety: an entry added to a page with room is logged as byte
//! patches of its bucket page and of the meta page's counters in one record
//! (`WalRecord::PagePatches`, a full image for a page's first change after
//! a checkpoint); every change that touches several pages (a new
//! overflow page, a split, a squeeze by VACUUM) is logged as one multi-page
//! record (`WalRecord::PageImages`), so recovery sees all of it or none.
//!
//! Concurrency: one index-level reader/writer latch, as in the B+Tree.
//!
//! Lookups do not read the meta page or the directory: the latch guards a
//! copy of their addressing part (`Layout`: masks and every bucket's
//! primary block), as Postgres keeps the hash meta page in the relcache.
//! The copy is filled by the first lookup, extended by each split and
//! dropped by every other change of the addressing (build, empty
//! initialization, a failed split), all of which hold the write latch.

pub mod page;

use std::sync::Arc;

use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use self::page::{
    add_meta_counters, append_item, dir_get, dir_init, dir_set, free_page, hash_key, item_size,
    BucketPage, Item, Meta, MetaView, RawBucket, DIR_PER_PAGE, MAX_DIR_PAGES, NO_BLOCK, TYPE_FREE,
    TYPE_OVERFLOW, TYPE_PRIMARY, USABLE,
};
use super::{
    AccessMethod, Capabilities, HashStats, IndexEntry, IndexKind, IndexOptions, IndexScanIter,
    IndexStats, KindStats, ScanKey,
};
use crate::engine::Shared;
use crate::error::{EngineError, Result};
use crate::heap::TupleId;
use crate::page::{PageBuf, PAGE_SIZE};
use crate::RelFileId;

const META_BLOCK: u32 = 0;
/// Postgres's hash index version, reported by pgstathashindex.
const VERSION: u32 = 4;

/// Equality only, in no particular order, one column, no uniqueness.
pub const CAPABILITIES: Capabilities = Capabilities {
    ordered: false,
    range: false,
    equality: true,
    unique: false,
    backward: false,
    multi_column: false,
    column_keys: false,
    exact: true,
    lossy_pages: false,
    covering: false,
};

/// Cost of reaching the entries of one key: the meta, directory and bucket
/// pages, which stay cached; no descent that grows with the index.
pub fn scan_cost(_c: &super::CostInput) -> super::IndexCost {
    super::IndexCost {
        random_pages: 1.0,
        seq_pages: 0.0,
        operators: 1.0,
        entries: 1.0,
        heap_pages: None,
    }
}

struct Inner {
    shared: Arc<Shared>,
    rel: RelFileId,
    fillfactor: u8,
    /// The index latch and, under it, the cached bucket addressing (None:
    /// not loaded, or dropped by a change; see the module docs).
    latch: RwLock<Option<Layout>>,
    unique: Arc<Mutex<()>>,
    /// The bytes of the cached layout counted in the engine's index memory
    /// (`account_layout`).
    accounted: std::sync::atomic::AtomicU64,
}

/// What a lookup needs of the meta page and the directory: the bucket of a
/// hash value and that bucket's primary block.
struct Layout {
    max_bucket: u32,
    low_mask: u32,
    high_mask: u32,
    /// Primary block of each bucket 0..=max_bucket.
    primary: Vec<u32>,
}

impl Layout {
    /// Bytes the layout holds.
    fn bytes(&self) -> u64 {
        (std::mem::size_of::<Layout>() + self.primary.capacity() * 4) as u64
    }
    fn primary_of(&self, h: u32) -> u32 {
        self.primary[page::bucket_of(h, self.max_bucket, self.low_mask, self.high_mask) as usize]
    }
}

/// Pages changed by one structure change: copies edited in memory, then
/// written and logged together by `commit`.
struct Staged<'a> {
    ix: &'a Inner,
    pages: Vec<(u32, Box<PageBuf>)>,
}

impl<'a> Staged<'a> {
    fn new(ix: &'a Inner) -> Staged<'a> {
        Staged { ix, pages: vec![] }
    }

    /// The staged copy of `block` (read from the pool the first time).
    fn get(&mut self, block: u32) -> Result<&mut [u8]> {
        let i = match self.pages.iter().position(|(b, _)| *b == block) {
            Some(i) => i,
            None => {
                let p = self.ix.shared.pool.fetch(self.ix.rel, block)?;
                let copy: Box<PageBuf> = Box::new(**p.read());
                self.pages.push((block, copy));
                self.pages.len() - 1
            }
        };
        Ok(&mut self.pages[i].1[..])
    }

    fn commit(self) -> Result<()> {
        let pool = &self.ix.shared.pool;
        let pinned = self
            .pages
            .iter()
            .map(|(b, _)| pool.fetch(self.ix.rel, *b))
            .collect::<Result<Vec<_>>>()?;
        let mut guards: Vec<_> = pinned.iter().map(|p| p.write()).collect();
        for (g, (_, img)) in guards.iter_mut().zip(&self.pages) {
            g.copy_from_slice(&img[..]);
        }
        let mut refs: Vec<(u32, &mut [u8])> = guards
            .iter_mut()
            .zip(&self.pages)
            .map(|(g, (b, _))| (*b, &mut g[..]))
            .collect();
        self.ix
            .shared
            .wal
            .append_page_images(0, self.ix.rel, &mut refs);
        drop(refs);
        drop(guards);
        for p in &pinned {
            p.mark_dirty();
        }
        Ok(())
    }
}

impl Inner {
    /// Remove one entry (the caller holds the write latch).
    fn delete_locked(&self, key: &[u8], tid: TupleId) -> Result<bool> {
        let (_, first) = self.locate(hash_key(key))?;
        for (b, mut p) in self.chain(first)? {
            if let Some(i) = p.items.iter().position(|it| it.tid == tid && it.key == key) {
                p.items.remove(i);
                let mut st = Staged::new(self);
                p.encode(st.get(b)?);
                let mut meta = self.read_meta()?;
                meta.entries = meta.entries.saturating_sub(1);
                meta.item_bytes = meta.item_bytes.saturating_sub(item_size(key.len()) as u64);
                meta.encode(st.get(META_BLOCK)?);
                st.commit()?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn corrupt(&self, block: u32, reason: &str) -> EngineError {
        EngineError::CorruptPage {
            rel: self.rel,
            block,
            reason: reason.to_string(),
        }
    }

    fn init_empty(&self) -> Result<()> {
        let meta_block = self.shared.pool.extend(self.rel)?.block;
        let bucket0 = self.shared.pool.extend(self.rel)?.block;
        debug_assert_eq!(meta_block, META_BLOCK);
        let mut st = Staged::new(self);
        BucketPage::new(TYPE_PRIMARY, 0).encode(st.get(bucket0)?);
        Meta {
            max_bucket: 0,
            low_mask: 0,
            high_mask: 1,
            entries: 0,
            item_bytes: 0,
            splits: 0,
            overflow_pages: 0,
            free_head: NO_BLOCK,
            free_pages: 0,
            fillfactor: self.fillfactor.clamp(10, 100) as u16,
            dir: vec![],
            contig: 1,
            contig_first: bucket0,
        }
        .encode(st.get(META_BLOCK)?);
        st.commit()
    }

    fn read_meta(&self) -> Result<Meta> {
        let p = self.shared.pool.fetch(self.rel, META_BLOCK)?;
        let g = p.read();
        Meta::decode(&g[..]).ok_or_else(|| self.corrupt(META_BLOCK, "not a hash meta page"))
    }

    /// The addressing part of the meta page and directory, read from the
    /// pages (every directory entry checked).
    fn load_layout(&self) -> Result<Layout> {
        let meta = self.read_meta()?;
        if meta.max_bucket > meta.high_mask || meta.low_mask >= meta.high_mask.max(1) {
            return Err(self.corrupt(META_BLOCK, "bucket masks do not fit the bucket count"));
        }
        let n = meta.max_bucket as usize + 1;
        let contig = (meta.contig as usize).min(n);
        let mut primary: Vec<u32> = (0..contig as u32).map(|b| meta.contig_first + b).collect();
        for (di, &d) in meta.dir.iter().enumerate() {
            let lo = contig + di * DIR_PER_PAGE;
            if lo >= n {
                break;
            }
            let p = self.shared.pool.fetch(self.rel, d)?;
            let g = p.read();
            for i in 0..(n - lo).min(DIR_PER_PAGE) {
                match dir_get(&g[..], i) {
                    Some(b) if b != NO_BLOCK => primary.push(b),
                    _ => return Err(self.corrupt(d, "bad hash directory entry")),
                }
            }
        }
        if primary.len() != n {
            return Err(self.corrupt(META_BLOCK, "bucket beyond the directory"));
        }
        Ok(Layout {
            max_bucket: meta.max_bucket,
            low_mask: meta.low_mask,
            high_mask: meta.high_mask,
            primary,
        })
    }

    /// The latch held shared, with the layout loaded.
    fn read_layout(&self) -> Result<RwLockReadGuard<'_, Option<Layout>>> {
        let r = self.latch.read();
        if r.is_some() {
            return Ok(r);
        }
        drop(r);
        let mut w = self.latch.write();
        if w.is_none() {
            *w = Some(self.load_layout()?);
            self.account_layout(&w);
        }
        Ok(RwLockWriteGuard::downgrade(w))
    }

    /// After a change of the cached layout (under the write latch): count
    /// its bytes, instead of what was counted before, in the engine's index
    /// memory (`memory_stats`).
    fn account_layout(&self, layout: &Option<Layout>) {
        use std::sync::atomic::Ordering::Relaxed;
        let now = layout.as_ref().map_or(0, Layout::bytes);
        let before = self.accounted.swap(now, Relaxed);
        let total = &self.shared.index_memory;
        if now >= before {
            let t = total.fetch_add(now - before, Relaxed) + (now - before);
            self.shared.index_memory_peak.fetch_max(t, Relaxed);
        } else {
            total.fetch_sub(before - now, Relaxed);
        }
    }

    /// Block of the primary page of `bucket`.
    fn bucket_block(&self, meta: &Meta, bucket: u32) -> Result<u32> {
        let (di, i) = match meta.primary_at(bucket) {
            Ok(b) => return Ok(b),
            Err(at) => at,
        };
        let d = *meta
            .dir
            .get(di)
            .ok_or_else(|| self.corrupt(META_BLOCK, "bucket beyond the directory"))?;
        let p = self.shared.pool.fetch(self.rel, d)?;
        let g = p.read();
        match dir_get(&g[..], i) {
            Some(b) if b != NO_BLOCK => Ok(b),
            _ => Err(self.corrupt(d, "bad hash directory entry")),
        }
    }

    /// (bucket, primary block) for a hash value, reading the meta page in place.
    fn locate(&self, h: u32) -> Result<(u32, u32)> {
        let (bucket, dir_block) = {
            let p = self.shared.pool.fetch(self.rel, META_BLOCK)?;
            let g = p.read();
            let m = MetaView::read(&g[..])
                .ok_or_else(|| self.corrupt(META_BLOCK, "not a hash meta page"))?;
            let bucket = page::bucket_of(h, m.max_bucket, m.low_mask, m.high_mask);
            let (di, i) = match page::primary_at(bucket, m.contig, m.contig_first) {
                Ok(b) => return Ok((bucket, b)),
                Err(at) => at,
            };
            if di >= m.ndir {
                return Err(self.corrupt(META_BLOCK, "bucket beyond the directory"));
            }
            (bucket, (MetaView::dir_block(&g[..], di), i))
        };
        let (dir_block, i) = dir_block;
        let p = self.shared.pool.fetch(self.rel, dir_block)?;
        let g = p.read();
        match dir_get(&g[..], i) {
            Some(b) if b != NO_BLOCK => Ok((bucket, b)),
            _ => Err(self.corrupt(dir_block, "bad hash directory entry")),
        }
    }

    /// The pages of a bucket's chain, decoded.
    fn chain(&self, first: u32) -> Result<Vec<(u32, BucketPage)>> {
        let nblocks = self.shared.pool.relation_size(self.rel)?;
        let mut out = vec![];
        let mut b = first;
        while b != NO_BLOCK {
            if out.len() > nblocks as usize || b >= nblocks {
                return Err(self.corrupt(b, "broken overflow chain"));
            }
            let p = self.shared.pool.fetch(self.rel, b)?;
            let g = p.read();
            let page = BucketPage::decode(&g[..])
                .ok_or_else(|| self.corrupt(b, "not a hash bucket page"))?;
            let next = page.next;
            out.push((b, page));
            b = next;
        }
        Ok(out)
    }

    /// Visit the entries of the chain starting at `first` in place.
    fn for_each_in_chain(&self, first: u32, mut f: impl FnMut(u32, &RawBucket)) -> Result<()> {
        let nblocks = self.shared.pool.relation_size(self.rel)?;
        let mut b = first;
        let mut steps = 0u32;
        while b != NO_BLOCK {
            steps += 1;
            if steps > nblocks || b >= nblocks {
                return Err(self.corrupt(b, "broken overflow chain"));
            }
            let p = self.shared.pool.fetch(self.rel, b)?;
            let g = p.read();
            let rb =
                RawBucket::new(&g[..]).ok_or_else(|| self.corrupt(b, "not a hash bucket page"))?;
            f(b, &rb);
            b = rb.next();
        }
        Ok(())
    }

    /// A page for the index: off the free list, or a new one.
    fn alloc(&self, st: &mut Staged, meta: &mut Meta) -> Result<u32> {
        if meta.free_head != NO_BLOCK {
            let b = meta.free_head;
            let page = BucketPage::decode(st.get(b)?)
                .filter(|p| p.page_type == TYPE_FREE)
                .ok_or_else(|| self.corrupt(b, "free list entry is not a free page"))?;
            meta.free_head = page.next;
            meta.free_pages = meta.free_pages.saturating_sub(1);
            return Ok(b);
        }
        Ok(self.shared.pool.extend(self.rel)?.block)
    }

    /// Lay `items` out over the chain `blocks` of `bucket` (the first is the
    /// primary page), adding overflow pages as needed and freeing the ones
    /// left over.
    fn write_chain(
        &self,
        st: &mut Staged,
        meta: &mut Meta,
        bucket: u32,
        mut blocks: Vec<u32>,
        mut items: Vec<Item>,
    ) -> Result<()> {
        // In key order (stable: equal keys keep their order), as a build
        // lays them out (see `build`).
        items.sort_by(|x, y| x.key.cmp(&y.key));
        let mut pages: Vec<BucketPage> = vec![BucketPage::new(TYPE_PRIMARY, bucket)];
        let mut used = 0usize;
        for it in items {
            let sz = item_size(it.key.len());
            if used + sz > USABLE {
                pages.push(BucketPage::new(TYPE_OVERFLOW, bucket));
                used = 0;
            }
            used += sz;
            pages.last_mut().expect("a page").items.push(it);
        }
        while blocks.len() < pages.len() {
            let b = self.alloc(st, meta)?;
            meta.overflow_pages += 1;
            blocks.push(b);
        }
        for extra in blocks.drain(pages.len()..).collect::<Vec<_>>() {
            free_page(meta.free_head).encode(st.get(extra)?);
            meta.free_head = extra;
            meta.free_pages += 1;
            meta.overflow_pages = meta.overflow_pages.saturating_sub(1);
        }
        let n = pages.len();
        for (i, mut p) in pages.into_iter().enumerate() {
            p.next = if i + 1 < n { blocks[i + 1] } else { NO_BLOCK };
            p.encode(st.get(blocks[i])?);
        }
        Ok(())
    }

    /// Split the next bucket in linear-hashing order if the entries
    /// outgrew the buckets, keeping the cached `layout` in step (dropped if
    /// the split fails part way).
    fn maybe_split(&self, layout: &mut Option<Layout>) -> Result<()> {
        let res = self.split_next(layout);
        if res.is_err() {
            *layout = None;
        }
        res
    }

    fn split_next(&self, layout: &mut Option<Layout>) -> Result<()> {
        let mut meta = self.read_meta()?;
        let capacity =
            (meta.max_bucket as u64 + 1) * USABLE as u64 * meta.fillfactor.clamp(10, 100) as u64
                / 100;
        if meta.item_bytes <= capacity {
            return Ok(());
        }
        let new_bucket = meta.max_bucket + 1;
        if new_bucket as u64 >= meta.max_buckets() {
            return Ok(()); // the directory is full: chains grow instead
        }
        // A bucket added by a split is never one of the contiguous ones.
        let (di, dslot) = meta
            .primary_at(new_bucket)
            .err()
            .ok_or_else(|| self.corrupt(META_BLOCK, "contiguous buckets beyond the last bucket"))?;
        let old_bucket = new_bucket & meta.low_mask;
        let old_first = self.bucket_block(&meta, old_bucket)?;
        let chain = self.chain(old_first)?;
        meta.max_bucket = new_bucket;
        if new_bucket > meta.high_mask {
            meta.low_mask = meta.high_mask;
            meta.high_mask = new_bucket | meta.low_mask;
        }
        let mut stay = vec![];
        let mut go = vec![];
        let mut blocks = vec![];
        for (b, p) in chain {
            blocks.push(b);
            for it in p.items {
                if meta.bucket_of(hash_key(&it.key)) == new_bucket {
                    go.push(it);
                } else {
                    stay.push(it);
                }
            }
        }
        let mut st = Staged::new(self);
        if di == meta.dir.len() {
            let d = self.alloc(&mut st, &mut meta)?;
            dir_init(st.get(d)?);
            meta.dir.push(d);
        }
        let new_first = self.alloc(&mut st, &mut meta)?;
        let d = *meta
            .dir
            .get(di)
            .ok_or_else(|| self.corrupt(META_BLOCK, "bucket beyond the directory"))?;
        dir_set(st.get(d)?, dslot, new_first);
        self.write_chain(&mut st, &mut meta, new_bucket, vec![new_first], go)?;
        self.write_chain(&mut st, &mut meta, old_bucket, blocks, stay)?;
        meta.splits += 1;
        meta.encode(st.get(META_BLOCK)?);
        st.commit()?;
        // The old bucket keeps its primary block; the new one is appended.
        if let Some(l) = layout {
            debug_assert_eq!(l.primary.len(), new_bucket as usize);
            l.max_bucket = meta.max_bucket;
            l.low_mask = meta.low_mask;
            l.high_mask = meta.high_mask;
            l.primary.push(new_first);
        }
        Ok(())
    }

    fn insert_locked(&self, key: &[u8], tid: TupleId, layout: &mut Option<Layout>) -> Result<()> {
        let sz = item_size(key.len());
        let (bucket, first) = self.locate(hash_key(key))?;
        let mut dup = false;
        let mut room = None;
        let mut last = first;
        let mut bad = None;
        self.for_each_in_chain(first, |b, rb| {
            if !rb.find(key, |t| dup |= t == tid) {
                bad = Some(b);
            }
            if room.is_none() && rb.free() >= sz {
                room = Some(b);
            }
            last = b;
        })?;
        if let Some(b) = bad {
            return Err(self.corrupt(b, "malformed hash bucket page"));
        }
        if dup {
            return Ok(()); // already present (a build replayed, CONCURRENTLY)
        }
        match room {
            Some(b) => {
                // The item and the meta page's counters are one WAL
                // record: a crash between two records would leave the
                // counters off by one.
                let p = self.shared.pool.fetch(self.rel, b)?;
                let mp = self.shared.pool.fetch(self.rel, META_BLOCK)?;
                let mut g = p.write();
                let mut mg = mp.write();
                MetaView::read(&mg[..])
                    .ok_or_else(|| self.corrupt(META_BLOCK, "not a hash meta page"))?;
                let patches = append_item(&mut g[..], key, tid)
                    .ok_or_else(|| self.corrupt(b, "malformed hash bucket page"))?;
                let meta_patch = add_meta_counters(&mut mg[..], 1, sz as u64);
                self.shared.wal.append_page_patches(
                    0,
                    self.rel,
                    &mut [
                        (b, &mut g[..], patches),
                        (META_BLOCK, &mut mg[..], vec![meta_patch]),
                    ],
                );
                p.mark_dirty();
                mp.mark_dirty();
            }
            None => {
                let mut st = Staged::new(self);
                let mut meta = self.read_meta()?;
                let nb = self.alloc(&mut st, &mut meta)?;
                let mut np = BucketPage::new(TYPE_OVERFLOW, bucket);
                np.items.push(Item {
                    key: key.to_vec(),
                    tid,
                });
                np.encode(st.get(nb)?);
                st.get(last)?[20..24].copy_from_slice(&nb.to_le_bytes());
                meta.overflow_pages += 1;
                meta.entries += 1;
                meta.item_bytes += sz as u64;
                meta.encode(st.get(META_BLOCK)?);
                st.commit()?;
            }
        }
        self.maybe_split(layout)
    }

    fn entries_of_bucket(&self, first: u32, want: Option<&[u8]>) -> Result<Vec<IndexEntry>> {
        let mut out = vec![];
        let mut bad = None;
        self.for_each_in_chain(first, |b, rb| {
            let ok = match want {
                // A lookup binary-searches each page's sorted slots.
                Some(w) => rb.find(w, |t| {
                    out.push(IndexEntry {
                        key: w.to_vec(),
                        tid: t,
                    })
                }),
                None => rb.for_each(|k, t| {
                    out.push(IndexEntry {
                        key: k.to_vec(),
                        tid: t,
                    })
                }),
            };
            if !ok {
                bad = Some(b);
            }
        })?;
        match bad {
            Some(b) => Err(self.corrupt(b, "malformed hash bucket page")),
            None => Ok(out),
        }
    }
}

/// Handle returned to callers.
pub struct HashIndex {
    inner: Arc<Inner>,
}

impl HashIndex {
    /// Open the hash index stored in `rel`, creating an empty one if the
    /// relation has no meta page yet.
    pub(crate) fn open(
        shared: Arc<Shared>,
        rel: RelFileId,
        options: IndexOptions,
    ) -> Result<HashIndex> {
        let inner = Inner {
            shared,
            rel,
            fillfactor: options.fillfactor,
            latch: RwLock::new(None),
            unique: Arc::new(Mutex::new(())),
            accounted: Default::default(),
        };
        if inner.shared.pool.relation_size(rel)? == 0 {
            let _w = inner.latch.write();
            // (No layout is cached yet: lookups load it from these pages.)
            inner.init_empty()?;
        }
        Ok(HashIndex {
            inner: Arc::new(inner),
        })
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The index is closed (dropped, or the engine shuts down).
        self.account_layout(&None);
    }
}

fn unsupported(what: &str) -> EngineError {
    EngineError::IndexUnsupported {
        method: "hash",
        what: what.to_string(),
    }
}

impl AccessMethod for HashIndex {
    fn kind(&self) -> IndexKind {
        IndexKind::Hash
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    fn rel(&self) -> RelFileId {
        self.inner.rel
    }

    /// Size the bucket array for the entries up front, then write each
    /// bucket's chain once.
    fn build(&self, mut entries: Vec<IndexEntry>, _sorted: bool) -> Result<()> {
        let t = &*self.inner;
        let mut w = t.latch.write();
        // The build changes every bucket's addressing.
        *w = None;
        t.account_layout(&w);
        let mut meta = t.read_meta()?;
        if meta.entries != 0 || meta.max_bucket != 0 {
            return Err(t.corrupt(META_BLOCK, "bulk build into a non-empty index"));
        }
        if entries.is_empty() {
            return Ok(());
        }
        let total: u64 = entries.iter().map(|e| item_size(e.key.len()) as u64).sum();
        let per_bucket = (USABLE as u64 * meta.fillfactor.clamp(10, 100) as u64 / 100).max(1);
        let most = (MAX_DIR_PAGES * DIR_PER_PAGE) as u64;
        let mut nb = total.div_ceil(per_bucket).clamp(1, most);
        // With nb between H/2 and H (H a power of two), linear hashing
        // gives the buckets not split yet (nb - H/2 .. H/2) twice the
        // entries of the others. When that is more than a page, each of
        // them needs an overflow page: H buckets then cost about as many
        // pages, and a lookup reads one page instead of two.
        let h = nb.next_power_of_two();
        if nb < h && 2 * total / h > USABLE as u64 {
            nb = h.min(most);
        }
        let nb = nb as u32;
        meta.max_bucket = nb - 1;
        meta.high_mask = nb.next_power_of_two() - 1;
        meta.low_mask = meta.high_mask >> 1;
        // Distribute the entries over their buckets, then order each
        // bucket's few hundred entries by (key, tid): repeated pairs become
        // neighbours and are dropped, and the items lie on their pages in
        // the order of the sorted slots, so the last steps of a lookup's
        // binary search read bytes next to each other (one cache line or
        // two) instead of all over the page.
        let mut buckets: Vec<Vec<IndexEntry>> = (0..nb)
            .map(|_| Vec::with_capacity(entries.len() / nb as usize + 8))
            .collect();
        for e in entries.drain(..) {
            buckets[meta.bucket_of(hash_key(&e.key)) as usize].push(e);
        }
        for b in &mut buckets {
            b.sort_unstable_by(|x, y| x.key.cmp(&y.key).then_with(|| x.tid.cmp(&y.tid)));
            b.dedup();
        }
        // The primary pages in bucket order, one after another from bucket
        // 0's (the last page of the empty index, so the new ones follow
        // it): buckets addressed by arithmetic need no directory.
        let first0 = t.bucket_block(&meta, 0)?;
        let follows = first0 + 1 == t.shared.pool.relation_size(t.rel)?;
        let mut primary = vec![first0];
        for _ in 1..nb {
            primary.push(t.shared.pool.extend(t.rel)?.block);
        }
        let contiguous = follows && primary.iter().zip(first0..).all(|(&b, want)| b == want);
        let write = |block: u32, f: &dyn Fn(&mut [u8])| -> Result<()> {
            let p = t.shared.pool.fetch(t.rel, block)?;
            let mut g = p.write();
            f(&mut g[..]);
            t.shared.wal.append_page_image(0, t.rel, block, &mut g[..]);
            p.mark_dirty();
            Ok(())
        };
        let old_dir = std::mem::take(&mut meta.dir);
        if contiguous {
            meta.contig = nb;
            meta.contig_first = first0;
            // (An empty index of the earlier format has a directory page.)
            for d in old_dir {
                let next = meta.free_head;
                write(d, &|g| free_page(next).encode(g))?;
                meta.free_head = d;
                meta.free_pages += 1;
            }
        } else {
            meta.contig = 0;
            meta.dir = old_dir;
            let ndir = (nb as usize).div_ceil(DIR_PER_PAGE);
            while meta.dir.len() < ndir {
                meta.dir.push(t.shared.pool.extend(t.rel)?.block);
            }
        }
        for ((b, &pblock), items) in primary.iter().enumerate().zip(buckets) {
            let b = b as u32;
            let mut pages = vec![(pblock, BucketPage::new(TYPE_PRIMARY, b))];
            let mut used = 0usize;
            for e in items {
                let sz = item_size(e.key.len());
                if used + sz > USABLE {
                    let ob = t.shared.pool.extend(t.rel)?.block;
                    meta.overflow_pages += 1;
                    pages.last_mut().expect("page").1.next = ob;
                    pages.push((ob, BucketPage::new(TYPE_OVERFLOW, b)));
                    used = 0;
                }
                used += sz;
                meta.entries += 1;
                meta.item_bytes += sz as u64;
                pages.last_mut().expect("page").1.items.push(Item {
                    key: e.key,
                    tid: e.tid,
                });
            }
            for (blk, p) in &pages {
                write(*blk, &|g| p.encode(g))?;
            }
        }
        for (i, &d) in meta.dir.iter().enumerate() {
            let lo = i * DIR_PER_PAGE;
            let hi = ((i + 1) * DIR_PER_PAGE).min(nb as usize);
            write(d, &|g| {
                dir_init(g);
                for (j, pb) in primary[lo..hi].iter().enumerate() {
                    dir_set(g, j, *pb);
                }
            })?;
        }
        write(META_BLOCK, &|g| meta.encode(g))
    }

    fn insert(&self, key: &[u8], tid: TupleId) -> Result<()> {
        if key.len() > super::MAX_KEY_SIZE {
            return Err(EngineError::IndexKeyTooLarge {
                size: key.len(),
                max: super::MAX_KEY_SIZE,
            });
        }
        let mut w = self.inner.latch.write();
        let res = self.inner.insert_locked(key, tid, &mut w);
        // A split extends the layout (or drops it if it failed).
        self.inner.account_layout(&w);
        res
    }

    fn delete(&self, key: &[u8], tid: TupleId) -> Result<bool> {
        let t = &*self.inner;
        let _w = t.latch.write();
        t.delete_locked(key, tid)
    }

    fn kill(&self, entries: &[IndexEntry], unchanged: &dyn Fn() -> bool) -> Result<u64> {
        let t = &*self.inner;
        let _w = t.latch.write();
        if !unchanged() {
            return Ok(0);
        }
        let mut n = 0;
        for e in entries {
            n += t.delete_locked(&e.key, e.tid)? as u64;
        }
        Ok(n)
    }

    /// Remove dead entries bucket by bucket, squeezing each changed chain
    /// into as few pages as hold it (emptied overflow pages go to the free
    /// list).
    fn bulk_delete(&self, dead: &dyn Fn(TupleId) -> bool) -> Result<u64> {
        let t = &*self.inner;
        let _w = t.latch.write();
        let mut removed = 0u64;
        let max = t.read_meta()?.max_bucket;
        for bucket in 0..=max {
            let mut meta = t.read_meta()?;
            let first = t.bucket_block(&meta, bucket)?;
            let chain = t.chain(first)?;
            let mut blocks = vec![];
            let mut kept = vec![];
            let mut gone = 0u64;
            let mut gone_bytes = 0u64;
            for (b, p) in chain {
                blocks.push(b);
                for it in p.items {
                    if dead(it.tid) {
                        gone += 1;
                        gone_bytes += item_size(it.key.len()) as u64;
                    } else {
                        kept.push(it);
                    }
                }
            }
            if gone == 0 {
                continue;
            }
            let mut st = Staged::new(t);
            t.write_chain(&mut st, &mut meta, bucket, blocks, kept)?;
            meta.entries = meta.entries.saturating_sub(gone);
            meta.item_bytes = meta.item_bytes.saturating_sub(gone_bytes);
            meta.encode(st.get(META_BLOCK)?);
            st.commit()?;
            removed += gone;
        }
        Ok(removed)
    }

    fn scan(&self, key: &ScanKey, _backward: bool) -> Result<IndexScanIter> {
        let t = &*self.inner;
        let out = match key {
            ScanKey::Eq(k) => {
                let r = t.read_layout()?;
                let first = r.as_ref().expect("loaded").primary_of(hash_key(k));
                t.entries_of_bucket(first, Some(k))?
            }
            ScanKey::All => {
                let _r = t.latch.read();
                let meta = t.read_meta()?;
                let mut out = vec![];
                for b in 0..=meta.max_bucket {
                    out.extend(t.entries_of_bucket(t.bucket_block(&meta, b)?, None)?);
                }
                out
            }
            ScanKey::Prefix(_) => return Err(unsupported("prefix scans")),
            ScanKey::Range { .. } => return Err(unsupported("range scans")),
            ScanKey::Column { .. } => return Err(unsupported("scans of one key column")),
        };
        Ok(Box::new(out.into_iter().map(Ok)))
    }

    fn verify(&self) -> Result<Vec<String>> {
        let t = &*self.inner;
        let cached = t.latch.read();
        let mut problems = vec![];
        let meta = t.read_meta()?;
        let nblocks = t.shared.pool.relation_size(t.rel)?;
        // The cached addressing must say what the pages say.
        if let Some(l) = cached.as_ref() {
            match t.load_layout() {
                Ok(p)
                    if (p.max_bucket, p.low_mask, p.high_mask, &p.primary)
                        == (l.max_bucket, l.low_mask, l.high_mask, &l.primary) => {}
                Ok(_) => problems.push(
                    "the cached bucket addressing differs from the meta page and directory".into(),
                ),
                Err(e) => problems.push(format!("meta page or directory: {e}")),
            }
        }
        if meta.low_mask >= meta.high_mask
            || meta.max_bucket > meta.high_mask
            || (meta.max_bucket > 0 && meta.max_bucket <= meta.low_mask)
        {
            problems.push(format!(
                "meta page: max bucket {} does not fit masks {:#x}/{:#x}",
                meta.max_bucket, meta.low_mask, meta.high_mask
            ));
            return Ok(problems);
        }
        let mut seen = std::collections::HashSet::new();
        let mut entries = 0u64;
        let mut bytes = 0u64;
        let mut overflow = 0u64;
        for bucket in 0..=meta.max_bucket {
            let first = match t.bucket_block(&meta, bucket) {
                Ok(b) => b,
                Err(e) => {
                    problems.push(format!("bucket {bucket}: {e}"));
                    continue;
                }
            };
            let chain = match t.chain(first) {
                Ok(c) => c,
                Err(e) => {
                    problems.push(format!("bucket {bucket}: {e}"));
                    continue;
                }
            };
            for (i, (b, p)) in chain.iter().enumerate() {
                if !seen.insert(*b) {
                    problems.push(format!("block {b} belongs to two buckets"));
                }
                let want = if i == 0 { TYPE_PRIMARY } else { TYPE_OVERFLOW };
                if p.page_type != want {
                    problems.push(format!(
                        "block {b}: page type {} in bucket {bucket}'s chain",
                        p.page_type
                    ));
                }
                if i > 0 {
                    overflow += 1;
                }
                if p.bucket != bucket {
                    problems.push(format!(
                        "block {b}: labelled bucket {} but chained from bucket {bucket}",
                        p.bucket
                    ));
                }
                for it in &p.items {
                    entries += 1;
                    bytes += item_size(it.key.len()) as u64;
                    let hb = meta.bucket_of(hash_key(&it.key));
                    if hb != bucket {
                        problems.push(format!(
                            "block {b}: entry for tuple ({},{}) hashes to bucket {hb} but is in bucket {bucket}",
                            it.tid.page, it.tid.slot
                        ));
                    }
                }
            }
        }
        if entries != meta.entries || bytes != meta.item_bytes {
            problems.push(format!(
                "meta page counts {} entries ({} bytes) but the buckets hold {entries} ({bytes} bytes)",
                meta.entries, meta.item_bytes
            ));
        }
        if overflow != meta.overflow_pages {
            problems.push(format!(
                "meta page counts {} overflow pages but the chains hold {overflow}",
                meta.overflow_pages
            ));
        }
        let mut free = 0u32;
        let mut b = meta.free_head;
        while b != NO_BLOCK {
            if free > nblocks || !seen.insert(b) {
                problems.push(format!("free list: block {b} is reused or the list loops"));
                break;
            }
            free += 1;
            b = match t.chain(b).ok().and_then(|c| c.into_iter().next()) {
                Some((_, p)) if p.page_type == TYPE_FREE => p.next,
                _ => {
                    problems.push(format!("free list: block {b} is not a free page"));
                    break;
                }
            };
        }
        if free != meta.free_pages {
            problems.push(format!(
                "meta page counts {} free pages but the free list holds {free}",
                meta.free_pages
            ));
        }
        Ok(problems)
    }

    fn stats(&self) -> Result<IndexStats> {
        self.stats_counting_dead(&|_| false)
    }

    /// Entries are live or dead items by their heap tuple; `entries` counts
    /// both.
    fn stats_counting_dead(&self, dead: &dyn Fn(TupleId) -> bool) -> Result<IndexStats> {
        let t = &*self.inner;
        let _r = t.latch.read();
        let meta = t.read_meta()?;
        let nblocks = t.shared.pool.relation_size(t.rel)?;
        let mut h = HashStats {
            bucket_pages: meta.max_bucket as u64 + 1,
            bitmap_pages: meta.dir.len() as u64,
            splits: meta.splits,
            ..Default::default()
        };
        let mut free_space = 0u64;
        for bucket in 0..=meta.max_bucket {
            for (i, (_, p)) in t.chain(t.bucket_block(&meta, bucket)?)?.iter().enumerate() {
                if i > 0 {
                    h.overflow_pages += 1;
                }
                let d = p.items.iter().filter(|it| dead(it.tid)).count() as u64;
                h.dead_items += d;
                h.live_items += p.items.len() as u64 - d;
                free_space += (USABLE - p.used()) as u64;
            }
        }
        let accounted = 1 + h.bitmap_pages + h.bucket_pages + h.overflow_pages;
        h.unused_pages = (nblocks as u64).saturating_sub(accounted);
        free_space += h.unused_pages * USABLE as u64;
        let total = (nblocks as u64).saturating_sub(1 + h.bitmap_pages) * USABLE as u64;
        h.free_percent = if total == 0 {
            0.0
        } else {
            100.0 * free_space as f64 / total as f64
        };
        let data_pages = h.bucket_pages + h.overflow_pages;
        Ok(IndexStats {
            version: VERSION,
            index_size: nblocks as u64 * PAGE_SIZE as u64,
            root_block_no: META_BLOCK,
            leaf_pages: data_pages,
            empty_pages: h.unused_pages,
            avg_leaf_density: if data_pages == 0 {
                0.0
            } else {
                ((1.0
                    - (free_space - h.unused_pages * USABLE as u64) as f64
                        / (data_pages * USABLE as u64) as f64)
                    * 10000.0)
                    .round()
                    / 100.0
            },
            entries: h.live_items + h.dead_items,
            splits: meta.splits,
            detail: KindStats::Hash(h),
            ..Default::default()
        })
    }

    fn unique_lock(&self) -> parking_lot::ArcMutexGuard<parking_lot::RawMutex, ()> {
        self.inner.unique.lock_arc()
    }
}
