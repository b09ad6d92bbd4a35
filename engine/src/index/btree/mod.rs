//! The B+Tree access method.
//!
//! Entries are (key, tid) pairs kept in (key, tid) order in leaf pages linked
//! left to right; inner pages hold separators (layouts in `page`). Every node
//! change is written back as a whole page through the buffer pool and logged
//! as a full page image, so recovery restores each page exactly; the pages
//! of one structural change (split, merge) share one record, so recovery
//! restores all of them or none. An entry added to a leaf in place is
//! logged as a delta (`BTreeInsert`).
//!
//! Concurrency: one tree-level reader/writer latch. Scans take it shared for
//! one batch of entries (they may cross leaves inside a batch) and then
//! release it; the next batch re-descends from the root to the entry after
//! the last one returned, so splits and merges between batches never make a
//! scan skip or repeat an entry. Writers take it exclusively. (Finer latch
//! coupling is future work; see the issue notes.)
//!
//! Structure changes: a node that overflows splits in half (the left half
//! keeps its block, so the parent's pointer stays valid) and the separator
//! goes up, possibly growing a new root. A leaf emptied or shrunk below a
//! quarter page by deletes is merged into its left sibling under the same
//! parent when the two fit in one page; the freed page goes on a free list
//! that allocation reuses.

mod build;
pub use build::key_prefix;
pub mod page;

use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use self::page::{Item, ItemKey, Meta, Node, RawNode, FREED_LEVEL, NO_BLOCK};
use super::{
    AccessMethod, BuildSink, Capabilities, IndexCursor, IndexEntry, IndexKind, IndexOptions,
    IndexScanIter, IndexStats, ScanKey, MAX_KEY_SIZE,
};
use crate::buffer::PinnedPage;
use crate::engine::Shared;
use crate::error::{EngineError, Result};
use crate::heap::TupleId;
use crate::page::{PAGE_HEADER_SIZE, PAGE_SIZE};
use crate::RelFileId;

const META_BLOCK: u32 = 0;
const MIN_TID: TupleId = TupleId { page: 0, slot: 0 };
const MAX_TID: TupleId = TupleId {
    page: u32::MAX,
    slot: u16::MAX,
};
const SCAN_BATCH: usize = 512;
/// The first batch of a scan stops at the first leaf end past this many
/// entries; each later one doubles it, up to SCAN_BATCH. A scan under a
/// LIMIT (`ORDER BY k LIMIT 1000`) then copies few entries it never
/// returns: with full batches it copied about 1,700 per 1,000 returned.
const FIRST_SCAN_BATCH: usize = 64;

/// Everything: order both ways, ranges, prefixes, uniqueness, many columns.
pub const CAPABILITIES: Capabilities = Capabilities {
    ordered: true,
    range: true,
    equality: true,
    unique: true,
    backward: true,
    multi_column: true,
    column_keys: false,
    exact: true,
    lossy_pages: false,
    covering: true,
};

/// One descent (the upper levels stay cached; a binary search's comparisons
/// on the way) and an entry per matched row.
pub fn scan_cost(c: &super::CostInput) -> super::IndexCost {
    super::IndexCost {
        random_pages: 1.0,
        seq_pages: 0.0,
        operators: c.table_rows.max(2.0).log2().ceil(),
        entries: 1.0,
        heap_pages: None,
    }
}

pub struct BTree {
    shared: Arc<Shared>,
    rel: RelFileId,
    options: IndexOptions,
    latch: Arc<RwLock<()>>,
    unique: Arc<Mutex<()>>,
    /// The root block + 1 as of the last meta page read or written (0: not
    /// known yet), so a lookup does not pin the meta page (Postgres keeps
    /// it in the relcache). Changed only with the meta page, under the
    /// write latch; readers hold the read latch.
    root: Arc<std::sync::atomic::AtomicU64>,
}

/// The pages one structural change writes, logged together (`write_batch`).
#[derive(Default)]
struct Batch {
    nodes: Vec<(u32, Node)>,
    meta: Option<Meta>,
}

impl BTree {
    /// Open the B+Tree stored in `rel`, creating an empty one if the
    /// relation has no meta page yet.
    pub(crate) fn open(
        shared: Arc<Shared>,
        rel: RelFileId,
        options: IndexOptions,
    ) -> Result<BTree> {
        let t = BTree {
            shared,
            rel,
            options,
            latch: Arc::new(RwLock::new(())),
            unique: Arc::new(Mutex::new(())),
            root: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        };
        if t.shared.pool.relation_size(rel)? == 0 {
            let _w = t.latch.write();
            t.init_empty()?;
        }
        Ok(t)
    }

    fn init_empty(&self) -> Result<()> {
        let meta_page = self.shared.pool.extend(self.rel)?;
        debug_assert_eq!(meta_page.block, META_BLOCK);
        drop(meta_page);
        let root = self.shared.pool.extend(self.rel)?.block;
        self.write_batch(Batch {
            nodes: vec![(root, Node::new_leaf())],
            meta: Some(Meta {
                root,
                root_level: 0,
                free_head: NO_BLOCK,
                splits: 0,
                merges: 0,
            }),
        })
    }

    fn read_meta(&self) -> Result<Meta> {
        let p = self.shared.pool.fetch(self.rel, META_BLOCK)?;
        let g = p.read();
        Meta::decode(&g[..]).ok_or_else(|| self.corrupt(META_BLOCK, "not a B+Tree meta page"))
    }

    /// The root block (see `root`).
    fn root_block(&self) -> Result<u32> {
        use std::sync::atomic::Ordering;
        match self.root.load(Ordering::Acquire) {
            0 => {
                let root = self.read_meta()?.root;
                self.root.store(u64::from(root) + 1, Ordering::Release);
                Ok(root)
            }
            r => Ok((r - 1) as u32),
        }
    }

    fn write_meta(&self, m: &Meta) -> Result<()> {
        let p = self.shared.pool.fetch(self.rel, META_BLOCK)?;
        let mut g = p.write();
        m.encode(&mut g[..]);
        self.root
            .store(u64::from(m.root) + 1, std::sync::atomic::Ordering::Release);
        self.shared
            .wal
            .append_page_image(0, self.rel, META_BLOCK, &mut g[..]);
        p.mark_dirty();
        Ok(())
    }

    fn corrupt(&self, block: u32, reason: &str) -> EngineError {
        EngineError::CorruptPage {
            rel: self.rel,
            block,
            reason: reason.to_string(),
        }
    }

    fn read_node(&self, block: u32) -> Result<Node> {
        let p = self.shared.pool.fetch(self.rel, block)?;
        let g = p.read();
        Node::decode(&g[..]).ok_or_else(|| self.corrupt(block, "not a B+Tree node page"))
    }

    /// Write the pages of one structural change (a split up to a new root,
    /// a merge, the pages a new tree starts with) and log them as one
    /// `PageImages` record, so that recovery replays all of them or none:
    /// a crash between two of them would leave, say, a split's right half
    /// reachable only through the leaf chain, and later inserts out of
    /// order. All pages are write-latched together (the caller holds the
    /// tree's write latch, so no other page latch is waited for meanwhile).
    fn write_batch(&self, batch: Batch) -> Result<()> {
        let Batch { mut nodes, meta } = batch;
        // A block written twice in one change keeps its last contents.
        let mut seen = std::collections::HashSet::new();
        nodes.reverse();
        nodes.retain(|(b, _)| seen.insert(*b));
        nodes.reverse();
        let mut blocks: Vec<u32> = nodes.iter().map(|(b, _)| *b).collect();
        if meta.is_some() {
            blocks.push(META_BLOCK);
        }
        let pins = blocks
            .iter()
            .map(|&b| self.shared.pool.fetch(self.rel, b))
            .collect::<Result<Vec<_>>>()?;
        let mut guards: Vec<_> = pins.iter().map(|p| p.write()).collect();
        for ((_, n), g) in nodes.iter().zip(guards.iter_mut()) {
            debug_assert!(n.fits());
            n.encode(&mut g[..]);
        }
        if let Some(m) = &meta {
            m.encode(&mut guards.last_mut().expect("meta page pinned")[..]);
        }
        {
            let mut pages: Vec<(u32, &mut [u8])> = blocks
                .iter()
                .zip(guards.iter_mut())
                .map(|(&b, g)| (b, &mut g[..]))
                .collect();
            self.shared.wal.append_page_images(0, self.rel, &mut pages);
        }
        for p in &pins {
            p.mark_dirty();
        }
        if let Some(m) = &meta {
            self.root
                .store(u64::from(m.root) + 1, std::sync::atomic::Ordering::Release);
        }
        Ok(())
    }

    /// Log a page a bulk build has written: as a page image, unless the
    /// building transaction created the storage (`Shared::is_unlogged_build`)
    /// and the page was never logged (LSN 0), whose contents then reach the
    /// disk by the commit's flush and fsync. A page logged once is always
    /// logged again, so recovery never replays an old image over it.
    fn log_built_page(&self, block: u32, page: &mut [u8]) {
        if crate::page::page_lsn(page) == 0 && self.shared.is_unlogged_build(self.rel) {
            return;
        }
        self.shared.wal.append_page_image(0, self.rel, block, page);
    }

    /// Write a node a bulk build made (logged by `log_built_page`).
    fn write_built_node(&self, block: u32, n: &Node) -> Result<()> {
        debug_assert!(n.fits());
        let p = self.shared.pool.fetch(self.rel, block)?;
        let mut g = p.write();
        n.encode(&mut g[..]);
        self.log_built_page(block, &mut g[..]);
        p.mark_dirty();
        Ok(())
    }

    fn alloc_block(&self, meta: &mut Meta) -> Result<u32> {
        if meta.free_head != NO_BLOCK {
            let b = meta.free_head;
            let n = self.read_node(b)?;
            meta.free_head = n.right;
            return Ok(b);
        }
        Ok(self.shared.pool.extend(self.rel)?.block)
    }

    /// Put `block` on the free list (its page image joins `batch`).
    fn free_block(meta: &mut Meta, block: u32, batch: &mut Batch) {
        let n = Node {
            level: FREED_LEVEL,
            right: meta.free_head,
            items: Vec::new(),
        };
        batch.nodes.push((block, n));
        meta.free_head = block;
    }

    /// Index of the child to follow for `target` in an inner node: the last
    /// item whose separator is <= target (item 0 is minus infinity).
    fn child_index(n: &Node, target: &ItemKey) -> usize {
        // items[0] has key None (minus infinity): always <= target.
        let mut lo = 1;
        let mut hi = n.items.len();
        while lo < hi {
            let mid = (lo + hi) / 2;
            match &n.items[mid].key {
                Some(k) if k <= target => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo - 1
    }

    /// Like `child_index` but for the last separator strictly below target.
    fn child_index_lt(n: &Node, target: &ItemKey) -> usize {
        let mut lo = 1;
        let mut hi = n.items.len();
        while lo < hi {
            let mid = (lo + hi) / 2;
            match &n.items[mid].key {
                Some(k) if k < target => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo - 1
    }

    /// Descend to the leaf for `target`; returns the path of (block, node,
    /// chosen child index) for inner levels, and the leaf (block, node).
    fn descend(
        &self,
        target: &ItemKey,
        strict: bool,
    ) -> Result<(Vec<(u32, Node, usize)>, u32, Node)> {
        let meta = self.read_meta()?;
        let mut block = meta.root;
        let mut path = Vec::new();
        loop {
            let n = self.read_node(block)?;
            if n.is_leaf() {
                return Ok((path, block, n));
            }
            if n.items.is_empty() {
                return Err(self.corrupt(block, "empty inner node"));
            }
            let i = if strict {
                Self::child_index_lt(&n, target)
            } else {
                Self::child_index(&n, target)
            };
            let child = n.items[i].child;
            path.push((block, n, i));
            block = child;
            if path.len() > 64 {
                return Err(self.corrupt(block, "tree deeper than 64 levels"));
            }
        }
    }

    /// Descend to the leaf for `target` without decoding pages (the read
    /// path): the leaf that holds `target` (the leaf before it if
    /// `strict`), still pinned (unlatched) so the caller does not look it up
    /// again, and if `want_bound` the deepest real separator on the path
    /// (the leaf's lower bound).
    fn descend_leaf(
        &self,
        target: &ItemKey,
        strict: bool,
        want_bound: bool,
    ) -> Result<(PinnedPage<'_>, Option<ItemKey>)> {
        let mut block = self.root_block()?;
        let mut bound: Option<ItemKey> = None;
        for _ in 0..64 {
            let page = self.shared.pool.fetch(self.rel, block)?;
            let g = page.read();
            let n = RawNode::new(&g[..])
                .ok_or_else(|| self.corrupt(block, "not a B+Tree node page"))?;
            if n.level == 0 {
                drop(g);
                return Ok((page, bound));
            }
            // The last item whose separator is <= target (< for strict); the
            // first item (minus infinity) if none is.
            let below = n.partition_point(|it| {
                let c = it.cmp_target(target);
                c == std::cmp::Ordering::Less || (!strict && c == std::cmp::Ordering::Equal)
            });
            let it = n
                .item(below.saturating_sub(1))
                .ok_or_else(|| self.corrupt(block, "empty or malformed inner node"))?;
            if want_bound {
                if let Some(k) = it.key {
                    bound = Some(ItemKey {
                        key: k.to_vec(),
                        tid: it.tid,
                    });
                }
            }
            block = it.child;
        }
        Err(self.corrupt(block, "tree deeper than 64 levels"))
    }

    /// Add the entry to its leaf in place if it fits there, touching no
    /// other page: true if done (or already present), false if the leaf
    /// must split. Needs only the read latch: it changes one leaf under
    /// that page's write latch, and the tree's shape (which leaf covers
    /// which keys, the right links, the root) changes only under the write
    /// latch, so concurrent readers and other in-place writers find every
    /// page where they expect it.
    fn try_insert_in_place(&self, target: &ItemKey) -> Result<bool> {
        let (key, tid) = (&target.key[..], target.tid);
        {
            let (page, _) = self.descend_leaf(target, false, false)?;
            let leaf_block = page.block;
            let mut g = page.write();
            let (pos, present) = {
                let n = RawNode::new(&g[..])
                    .ok_or_else(|| self.corrupt(leaf_block, "not a B+Tree node page"))?;
                let pos = n.partition_point(|it| it.cmp_target(target) == Ordering::Less);
                let present = n
                    .item(pos)
                    .is_some_and(|it| it.cmp_target(target) == Ordering::Equal);
                (pos, present)
            };
            if present {
                return Ok(true); // already present (e.g. replayed build)
            }
            let mut done = page::leaf_insert_in_place(&mut g[..], pos, key, tid);
            if !done {
                // Holes left by removals may make room: rewrite the leaf whole.
                let mut leaf = Node::decode(&g[..])
                    .ok_or_else(|| self.corrupt(leaf_block, "not a B+Tree node page"))?;
                let item = Item {
                    key: Some(target.clone()),
                    child: 0,
                };
                if leaf.byte_size() + item.size(false) <= PAGE_SIZE {
                    leaf.items.insert(pos, item);
                    leaf.encode(&mut g[..]);
                    done = true;
                }
            }
            if done {
                let rec = crate::wal::WalRecord::BTreeInsert {
                    rel: self.rel,
                    block: leaf_block,
                    pos: pos as u16,
                    key: key.to_vec(),
                    tid_block: tid.page,
                    tid_slot: tid.slot,
                };
                self.shared
                    .wal
                    .append_page_change(0, self.rel, leaf_block, &mut g[..], rec);
                page.mark_dirty();
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Insert under the write latch: in place if the leaf has room, else
    /// splitting upward.
    fn insert_locked(&self, target: ItemKey) -> Result<()> {
        if self.try_insert_in_place(&target)? {
            return Ok(());
        }
        let (mut path, leaf_block, mut leaf) = self.descend(&target, false)?;
        let pos = leaf
            .items
            .partition_point(|it| it.key.as_ref().is_some_and(|k| k < &target));
        leaf.items.insert(
            pos,
            Item {
                key: Some(target),
                child: 0,
            },
        );
        // Split upward; every page changed on the way is logged as one
        // record (`write_batch`).
        let mut meta = self.read_meta()?;
        let mut batch = Batch::default();
        let mut block = leaf_block;
        let mut node = leaf;
        loop {
            let (left, right, sep) = split(node);
            let right_block = self.alloc_block(&mut meta)?;
            let mut left = left;
            let mut right = right;
            right.right = left.right;
            left.right = right_block;
            let level = left.level;
            batch.nodes.push((right_block, right));
            batch.nodes.push((block, left));
            meta.splits += 1;
            let new_item = Item {
                key: Some(sep),
                child: right_block,
            };
            match path.pop() {
                Some((pblock, mut pnode, idx)) => {
                    pnode.items.insert(idx + 1, new_item);
                    if pnode.fits() {
                        batch.nodes.push((pblock, pnode));
                        break;
                    }
                    block = pblock;
                    node = pnode;
                }
                None => {
                    let root_block = self.alloc_block(&mut meta)?;
                    let root = Node {
                        level: level + 1,
                        right: NO_BLOCK,
                        items: vec![
                            Item {
                                key: None,
                                child: block,
                            },
                            new_item,
                        ],
                    };
                    meta.root = root_block;
                    meta.root_level = root.level;
                    batch.nodes.push((root_block, root));
                    break;
                }
            }
        }
        batch.meta = Some(meta);
        self.write_batch(batch)
    }

    fn delete_locked(&self, key: &[u8], tid: TupleId) -> Result<bool> {
        let target = ItemKey {
            key: key.to_vec(),
            tid,
        };
        let (path, leaf_block, mut leaf) = self.descend(&target, false)?;
        let Some(pos) = leaf
            .items
            .iter()
            .position(|it| it.key.as_ref() == Some(&target))
        else {
            return Ok(false);
        };
        leaf.items.remove(pos);
        // A merge logs the shrunk leaf with the rest of its record.
        if leaf.byte_size() < PAGE_SIZE / 4 && self.try_merge(path, &leaf)? {
            return Ok(true);
        }
        self.write_batch(Batch {
            nodes: vec![(leaf_block, leaf)],
            meta: None,
        })?;
        Ok(true)
    }

    /// Remove the given entries (those still present), leaf by leaf, logging
    /// each leaf's removals as one `BTreeDelete`. Leaves are not merged here
    /// (that is VACUUM's and `delete`'s business), so a leaf may be left empty.
    ///
    /// `unchanged` is asked for each leaf under that leaf's write latch,
    /// before anything is removed from it (see `AccessMethod::kill`): an
    /// entry equal to one being removed could only come back through an
    /// insert into the same leaf, which needs the same latch.
    fn kill_locked(&self, entries: &[IndexEntry], unchanged: &dyn Fn() -> bool) -> Result<u64> {
        let mut targets: Vec<ItemKey> = entries
            .iter()
            .map(|e| ItemKey {
                key: e.key.clone(),
                tid: e.tid,
            })
            .collect();
        targets.sort();
        targets.dedup();
        let mut removed = 0u64;
        let mut i = 0;
        while i < targets.len() {
            let (page, _) = self.descend_leaf(&targets[i], false, false)?;
            let block = page.block;
            let mut g = page.write();
            let mut positions = Vec::new();
            {
                let n = RawNode::new(&g[..])
                    .ok_or_else(|| self.corrupt(block, "not a B+Tree node page"))?;
                // Every target up to this leaf's last entry belongs here (the
                // first one always does: it was descended to).
                let last = n.count.checked_sub(1).and_then(|l| n.item(l));
                let first = i;
                while i < targets.len() {
                    let t = &targets[i];
                    if i > first && last.is_none_or(|l| l.cmp_target(t) == Ordering::Less) {
                        break;
                    }
                    let p = n.partition_point(|it| it.cmp_target(t) == Ordering::Less);
                    if n.item(p)
                        .is_some_and(|it| it.cmp_target(t) == Ordering::Equal)
                    {
                        positions.push(p);
                    }
                    i += 1;
                }
            }
            if positions.is_empty() {
                continue;
            }
            if !unchanged() {
                return Ok(removed);
            }
            positions.sort_unstable();
            positions.dedup();
            if !page::leaf_remove_in_place(&mut g[..], &positions) {
                return Err(self.corrupt(block, "not a B+Tree leaf"));
            }
            let positions: Vec<u32> = positions.into_iter().map(|p| p as u32).collect();
            removed += positions.len() as u64;
            let rec = crate::wal::WalRecord::BTreeDelete {
                rel: self.rel,
                block,
                positions,
            };
            self.shared
                .wal
                .append_page_change(0, self.rel, block, &mut g[..], rec);
            page.mark_dirty();
        }
        Ok(removed)
    }

    /// Merge an underfull leaf (`node`, as changed by the caller) into its
    /// left sibling under the same parent (or its right sibling into it,
    /// when it is the parent's first child), logging the pages as one
    /// record. False (nothing written) when they do not merge.
    fn try_merge(&self, mut path: Vec<(u32, Node, usize)>, node: &Node) -> Result<bool> {
        let Some((pblock, mut pnode, idx)) = path.pop() else {
            return Ok(false);
        };
        let (left_idx, right_idx) = if idx > 0 {
            (idx - 1, idx)
        } else if idx + 1 < pnode.items.len() {
            (idx, idx + 1)
        } else {
            return Ok(false);
        };
        let left_block = pnode.items[left_idx].child;
        let right_block = pnode.items[right_idx].child;
        let (mut left, right) = if right_idx == idx {
            (self.read_node(left_block)?, node.clone())
        } else {
            (node.clone(), self.read_node(right_block)?)
        };
        if left.level != right.level || left.right != right_block {
            return Ok(false);
        }
        let combined = left.byte_size() + right.byte_size() - PAGE_HEADER_SIZE;
        if combined > PAGE_SIZE * 3 / 4 {
            return Ok(false);
        }
        // The merged leaf, the parent, the freed page and the meta page
        // are logged as one record (`write_batch`).
        let mut batch = Batch::default();
        left.items.extend(right.items);
        left.right = right.right;
        batch.nodes.push((left_block, left));
        pnode.items.remove(right_idx);
        let mut meta = self.read_meta()?;
        Self::free_block(&mut meta, right_block, &mut batch);
        meta.merges += 1;
        // A root with a single child shrinks the tree.
        if pblock == meta.root && pnode.items.len() == 1 {
            let only = pnode.items[0].child;
            let child_level = pnode.level - 1;
            Self::free_block(&mut meta, pblock, &mut batch);
            meta.root = only;
            meta.root_level = child_level;
        } else {
            batch.nodes.push((pblock, pnode));
        }
        batch.meta = Some(meta);
        self.write_batch(batch)?;
        Ok(true)
    }

    /// Leftmost leaf block.
    fn leftmost_leaf(&self) -> Result<u32> {
        let (_, b, _) = self.descend(
            &ItemKey {
                key: Vec::new(),
                tid: MIN_TID,
            },
            false,
        )?;
        Ok(b)
    }

    /// Read entries after `after` (or from `start`) within `upper`,
    /// following right links, up to the end of the leaf where there are
    /// `want` of them. Returns the batch and whether the scan is finished.
    fn forward_batch(
        &self,
        start: &ItemKey,
        after: Option<&ItemKey>,
        upper: &Bound<Vec<u8>>,
        want: usize,
        out: &mut ScanBatch,
    ) -> Result<bool> {
        let _r = self.latch.read();
        let from = after.unwrap_or(start);
        let (mut page, _) = self.descend_leaf(from, false, false)?;
        out.clear();
        loop {
            let block = page.block;
            let g = page.read();
            let n = RawNode::new(&g[..])
                .ok_or_else(|| self.corrupt(block, "not a B+Tree node page"))?;
            // Items up to `after` (or before `start`) were returned already.
            let first = n.partition_point(|it| match after {
                Some(a) => it.cmp_target(a) != std::cmp::Ordering::Greater,
                None => it.cmp_target(start) == std::cmp::Ordering::Less,
            });
            for i in first..n.count {
                let it = n
                    .item(i)
                    .ok_or_else(|| self.corrupt(block, "malformed leaf item"))?;
                let Some(k) = it.key else { continue };
                let beyond = match upper {
                    Bound::Unbounded => false,
                    Bound::Included(u) => k > u.as_slice(),
                    Bound::Excluded(u) => k >= u.as_slice(),
                };
                if beyond {
                    return Ok(true);
                }
                out.push(k, it.tid);
            }
            if n.right == NO_BLOCK {
                return Ok(true);
            }
            if out.len() >= want {
                return Ok(false);
            }
            let right = n.right;
            drop(g);
            page = self.shared.pool.fetch(self.rel, right)?;
        }
    }

    /// Read entries before `before` (descending), down to `lower`, up to
    /// the end of the leaf where there are `want` of them.
    fn backward_batch(
        &self,
        before: &ItemKey,
        lower: &Bound<Vec<u8>>,
        want: usize,
        out: &mut ScanBatch,
    ) -> Result<bool> {
        let _r = self.latch.read();
        let mut before = before.clone();
        out.clear();
        loop {
            let (page, bound) = self.descend_leaf(&before, true, true)?;
            {
                let block = page.block;
                let g = page.read();
                let n = RawNode::new(&g[..])
                    .ok_or_else(|| self.corrupt(block, "not a B+Tree node page"))?;
                // Items from `before` on were returned already.
                let end =
                    n.partition_point(|it| it.cmp_target(&before) == std::cmp::Ordering::Less);
                for i in (0..end).rev() {
                    let it = n
                        .item(i)
                        .ok_or_else(|| self.corrupt(block, "malformed leaf item"))?;
                    let Some(k) = it.key else { continue };
                    let below = match lower {
                        Bound::Unbounded => false,
                        Bound::Included(l) => k < l.as_slice(),
                        Bound::Excluded(l) => k <= l.as_slice(),
                    };
                    if below {
                        return Ok(true);
                    }
                    out.push(k, it.tid);
                }
            }
            // Continue left of this leaf: its lower bound is the deepest
            // real separator on the path.
            match bound {
                None => return Ok(true),
                Some(b) => before = b,
            }
            if out.len() >= want {
                return Ok(false);
            }
        }
    }

    fn collect_leaves(&self) -> Result<Vec<(u32, Node)>> {
        let mut out = Vec::new();
        let mut b = self.leftmost_leaf()?;
        loop {
            let n = self.read_node(b)?;
            let next = n.right;
            out.push((b, n));
            if next == NO_BLOCK {
                return Ok(out);
            }
            if out.len() as u64 > self.shared.pool.relation_size(self.rel)? as u64 {
                return Err(self.corrupt(b, "cycle in the leaf chain"));
            }
            b = next;
        }
    }
}

/// Split an overflowing node into two halves by bytes; returns (left, right,
/// separator = right's first key). For inner nodes the right node's first
/// item becomes minus infinity.
fn split(node: Node) -> (Node, Node, ItemKey) {
    let inner = !node.is_leaf();
    let total: usize = node.items.iter().map(|i| i.size(inner)).sum();
    let mut acc = 0;
    let mut cut = 0;
    for (i, it) in node.items.iter().enumerate() {
        acc += it.size(inner);
        if acc >= total / 2 {
            cut = i + 1;
            break;
        }
    }
    cut = cut.clamp(1, node.items.len() - 1);
    let mut items = node.items;
    let mut right_items = items.split_off(cut);
    let sep = right_items[0].key.clone().expect("separator is a real key");
    if inner {
        right_items[0].key = None;
    }
    (
        Node {
            level: node.level,
            right: node.right,
            items,
        },
        Node {
            level: node.level,
            right: NO_BLOCK,
            items: right_items,
        },
        sep,
    )
}

fn bounds_of(key: &ScanKey) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    match key {
        ScanKey::All => (Bound::Unbounded, Bound::Unbounded),
        ScanKey::Eq(k) => (Bound::Included(k.clone()), Bound::Included(k.clone())),
        ScanKey::Prefix(p) => (
            Bound::Included(p.clone()),
            match prefix_successor(p) {
                Some(s) => Bound::Excluded(s),
                None => Bound::Unbounded,
            },
        ),
        ScanKey::Range { lower, upper } => (lower.clone(), upper.clone()),
        // Refused by `scan`; a leading column alone is the whole range.
        ScanKey::Column { .. } => (Bound::Unbounded, Bound::Unbounded),
    }
}

/// Smallest byte string greater than every string starting with `p`.
fn prefix_successor(p: &[u8]) -> Option<Vec<u8>> {
    let mut s = p.to_vec();
    while let Some(last) = s.pop() {
        if last < 0xFF {
            s.push(last + 1);
            return Some(s);
        }
    }
    None
}

struct BTreeScan {
    tree: Arc<BTreeInner>,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    backward: bool,
    resume: Option<ItemKey>,
    /// The current batch, handed out in order; its buffers are reused by
    /// the next one.
    batch: ScanBatch,
    /// The next entry of `batch` to hand out (the current one is before).
    pos: usize,
    /// Entries the next batch asks for (see FIRST_SCAN_BATCH).
    want: usize,
    done: bool,
}

/// Entries copied out of leaves in one go: their keys back to back in one
/// buffer, so a batch costs no allocation per entry (and none at all once
/// the buffers have grown).
#[derive(Default)]
struct ScanBatch {
    keys: Vec<u8>,
    /// Per entry: where its key ends in `keys`, and its tid.
    items: Vec<(u32, TupleId)>,
}

impl ScanBatch {
    fn clear(&mut self) {
        self.keys.clear();
        self.items.clear();
    }
    fn len(&self) -> usize {
        self.items.len()
    }
    fn push(&mut self, key: &[u8], tid: TupleId) {
        self.keys.extend_from_slice(key);
        // A page holds far less than 4 GB of keys.
        self.items.push((self.keys.len() as u32, tid));
    }
    /// Entry `i` (in range).
    fn get(&self, i: usize) -> (&[u8], TupleId) {
        let start = match i {
            0 => 0,
            _ => self.items[i - 1].0 as usize,
        };
        let (end, tid) = self.items[i];
        (&self.keys[start..end as usize], tid)
    }
}

/// What a scan needs of the tree (a scan outlives the call that opened it).
struct BTreeInner {
    tree: BTree,
}

impl BTreeScan {
    /// Read the next batch into `batch` (which has been handed out).
    fn refill(&mut self) -> Result<()> {
        self.pos = 0;
        {
            let want = self.want;
            self.want = (want * 2).min(SCAN_BATCH);
            let res = if self.backward {
                let before = match &self.resume {
                    Some(r) => r.clone(),
                    None => match &self.upper {
                        Bound::Unbounded => ItemKey {
                            key: vec![0xFF; MAX_KEY_SIZE + 1],
                            tid: MAX_TID,
                        },
                        Bound::Included(u) => ItemKey {
                            key: u.clone(),
                            tid: MAX_TID,
                        },
                        Bound::Excluded(u) => ItemKey {
                            key: u.clone(),
                            tid: MIN_TID,
                        },
                    },
                };
                self.tree
                    .tree
                    .backward_batch(&before, &self.lower, want, &mut self.batch)
            } else {
                let start = match &self.lower {
                    Bound::Unbounded => ItemKey {
                        key: Vec::new(),
                        tid: MIN_TID,
                    },
                    Bound::Included(l) => ItemKey {
                        key: l.clone(),
                        tid: MIN_TID,
                    },
                    Bound::Excluded(l) => ItemKey {
                        key: l.clone(),
                        tid: MAX_TID,
                    },
                };
                self.tree.tree.forward_batch(
                    &start,
                    self.resume.as_ref(),
                    &self.upper,
                    want,
                    &mut self.batch,
                )
            };
            match res {
                Ok(done) => {
                    self.done = done;
                    if let Some(i) = self.batch.len().checked_sub(1) {
                        let (key, tid) = self.batch.get(i);
                        match &mut self.resume {
                            Some(r) => {
                                r.key.clear();
                                r.key.extend_from_slice(key);
                                r.tid = tid;
                            }
                            None => {
                                self.resume = Some(ItemKey {
                                    key: key.to_vec(),
                                    tid,
                                })
                            }
                        }
                    }
                }
                Err(e) => {
                    self.done = true;
                    self.batch.clear();
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

impl IndexCursor for BTreeScan {
    fn advance(&mut self) -> Result<bool> {
        while self.pos >= self.batch.len() {
            if self.done {
                // Past the end: `current` shows nothing.
                self.batch.clear();
                self.pos = 1;
                return Ok(false);
            }
            self.refill()?;
        }
        self.pos += 1;
        Ok(true)
    }
    fn current(&self) -> (&[u8], TupleId) {
        match self.pos.checked_sub(1) {
            Some(i) if i < self.batch.len() => self.batch.get(i),
            _ => (&[], MIN_TID),
        }
    }
}

impl Iterator for BTreeScan {
    type Item = Result<IndexEntry>;
    fn next(&mut self) -> Option<Self::Item> {
        match self.advance() {
            Ok(true) => {
                let (key, tid) = self.current();
                Some(Ok(IndexEntry {
                    key: key.to_vec(),
                    tid,
                }))
            }
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// Handle returned to callers: the tree behind an Arc so scans can keep it.
pub struct BTreeIndex {
    inner: Arc<BTreeInner>,
}

impl BTreeIndex {
    pub(crate) fn open(
        shared: Arc<Shared>,
        rel: RelFileId,
        options: IndexOptions,
    ) -> Result<BTreeIndex> {
        Ok(BTreeIndex {
            inner: Arc::new(BTreeInner {
                tree: BTree::open(shared, rel, options)?,
            }),
        })
    }
    fn t(&self) -> &BTree {
        &self.inner.tree
    }
}

impl BTreeIndex {
    /// An open scan of `key` (the iterator and the cursor of `AccessMethod`).
    fn open_scan(&self, key: &ScanKey, backward: bool) -> Result<BTreeScan> {
        if let ScanKey::Column { .. } = key {
            return Err(EngineError::IndexUnsupported {
                method: "btree",
                what: "scans of one key column".into(),
            });
        }
        let (lower, upper) = bounds_of(key);
        // Entries equal to an excluded lower bound are skipped by starting
        // after (bound, largest tid).
        let resume = match (&lower, backward) {
            (Bound::Excluded(l), false) => Some(ItemKey {
                key: l.clone(),
                tid: MAX_TID,
            }),
            _ => None,
        };
        Ok(BTreeScan {
            tree: self.inner.clone(),
            lower,
            upper,
            backward,
            resume,
            batch: ScanBatch::default(),
            pos: 0,
            want: FIRST_SCAN_BATCH,
            done: false,
        })
    }
}

impl AccessMethod for BTreeIndex {
    fn kind(&self) -> IndexKind {
        IndexKind::BTree
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    fn rel(&self) -> RelFileId {
        self.t().rel
    }

    fn build(&self, entries: Vec<IndexEntry>, _sorted: bool) -> Result<()> {
        self.build_entries(entries)
    }

    fn build_sink(&self) -> Result<Box<dyn BuildSink>> {
        Ok(Box::new(build::BTreeSink::default()))
    }

    fn build_from(&self, parts: Vec<Box<dyn BuildSink>>) -> Result<()> {
        self.build_sinks(parts)
    }

    fn insert(&self, key: &[u8], tid: TupleId) -> Result<()> {
        if key.len() > MAX_KEY_SIZE {
            return Err(EngineError::IndexKeyTooLarge {
                size: key.len(),
                max: MAX_KEY_SIZE,
            });
        }
        let t = self.t();
        let target = ItemKey {
            key: key.to_vec(),
            tid,
        };
        {
            let _r = t.latch.read();
            if t.try_insert_in_place(&target)? {
                return Ok(());
            }
        }
        let _w = t.latch.write();
        t.insert_locked(target)
    }

    fn delete(&self, key: &[u8], tid: TupleId) -> Result<bool> {
        let t = self.t();
        let _w = t.latch.write();
        t.delete_locked(key, tid)
    }

    fn kill(&self, entries: &[IndexEntry], unchanged: &dyn Fn() -> bool) -> Result<u64> {
        // Removals are in place (leaves are not merged here), so the read
        // latch suffices, as for in-place inserts.
        let t = self.t();
        let _r = t.latch.read();
        t.kill_locked(entries, unchanged)
    }

    fn bulk_delete(&self, dead: &dyn Fn(TupleId) -> bool) -> Result<u64> {
        // Find the dead entries under the read latch (lookups go on), then
        // remove them a few hundred at a time under the write latch, each
        // leaf's removals logged as one BTreeDelete record: holding the
        // write latch over the whole tree and logging every changed leaf as
        // a page image stalled every session using the index for the
        // length of a VACUUM. Entries found dead stay dead (VACUUM frees
        // their heap slots only afterwards), and removal finds each one by
        // key, wherever splits or merges in between have moved it.
        let t = self.t();
        let mut doomed: Vec<IndexEntry> = Vec::new();
        {
            let _r = t.latch.read();
            let mut b = t.leftmost_leaf()?;
            let mut seen = 0u64;
            loop {
                let page = t.shared.pool.fetch(t.rel, b)?;
                let g = page.read();
                let n =
                    RawNode::new(&g[..]).ok_or_else(|| t.corrupt(b, "not a B+Tree node page"))?;
                for it in n.items() {
                    if dead(it.tid) {
                        doomed.push(IndexEntry {
                            key: it.key.unwrap_or_default().to_vec(),
                            tid: it.tid,
                        });
                    }
                }
                if n.right == NO_BLOCK {
                    break;
                }
                seen += 1;
                if seen > t.shared.pool.relation_size(t.rel)? as u64 {
                    return Err(t.corrupt(b, "cycle in the leaf chain"));
                }
                b = n.right;
            }
        }
        let mut removed = 0;
        for chunk in doomed.chunks(256) {
            let _w = t.latch.write();
            removed += t.kill_locked(chunk, &|| true)?;
        }
        Ok(removed)
    }

    fn scan(&self, key: &ScanKey, backward: bool) -> Result<IndexScanIter> {
        Ok(Box::new(self.open_scan(key, backward)?))
    }

    fn cursor(&self, key: &ScanKey, backward: bool) -> Result<Box<dyn IndexCursor>> {
        Ok(Box::new(self.open_scan(key, backward)?))
    }

    fn verify(&self) -> Result<Vec<String>> {
        let t = self.t();
        let _r = t.latch.read();
        let mut problems = Vec::new();
        let meta = t.read_meta()?;
        // Walk the tree top-down checking order and separator bounds.
        let mut stack: Vec<(u32, Option<ItemKey>, Option<ItemKey>, u16)> =
            vec![(meta.root, None, None, meta.root_level)];
        let mut leaf_entries = 0u64;
        let mut visited = 0u64;
        let nblocks = t.shared.pool.relation_size(t.rel)? as u64;
        while let Some((b, lo, hi, level)) = stack.pop() {
            visited += 1;
            if visited > nblocks * 2 {
                problems.push("tree walk visits more pages than the index has".into());
                break;
            }
            let n = match t.read_node(b) {
                Ok(n) => n,
                Err(e) => {
                    problems.push(format!("block {b}: {e}"));
                    continue;
                }
            };
            if n.level != level {
                problems.push(format!(
                    "block {b}: level {} where {} was expected",
                    n.level, level
                ));
            }
            let keys: Vec<&ItemKey> = n.items.iter().filter_map(|i| i.key.as_ref()).collect();
            for w in keys.windows(2) {
                if w[0] >= w[1] {
                    problems.push(format!("block {b}: keys out of order"));
                    break;
                }
            }
            if let (Some(l), Some(first)) = (&lo, keys.first()) {
                if *first < l {
                    problems.push(format!("block {b}: key below its parent's separator"));
                }
            }
            if let (Some(h), Some(last)) = (&hi, keys.last()) {
                if *last >= h {
                    problems.push(format!(
                        "block {b}: key not below the next separator in its parent"
                    ));
                }
            }
            if n.is_leaf() {
                leaf_entries += n.items.len() as u64;
                continue;
            }
            if n.items.first().is_some_and(|i| i.key.is_some()) {
                problems.push(format!(
                    "block {b}: inner node without a minus-infinity first item"
                ));
            }
            for (i, it) in n.items.iter().enumerate() {
                let clo = if i == 0 { lo.clone() } else { it.key.clone() };
                let chi = n
                    .items
                    .get(i + 1)
                    .and_then(|x| x.key.clone())
                    .or(hi.clone());
                stack.push((it.child, clo, chi, level.saturating_sub(1)));
            }
        }
        // The leaf chain must visit the same entries in order.
        let leaves = t.collect_leaves()?;
        let chained: u64 = leaves.iter().map(|(_, n)| n.items.len() as u64).sum();
        if chained != leaf_entries {
            problems.push(format!(
                "leaf chain holds {chained} entries but the tree reaches {leaf_entries}"
            ));
        }
        let mut prev: Option<ItemKey> = None;
        for (b, n) in &leaves {
            for it in &n.items {
                if let Some(k) = &it.key {
                    if prev.as_ref().is_some_and(|p| p >= k) {
                        problems.push(format!("block {b}: leaf chain out of order"));
                    }
                    prev = Some(k.clone());
                }
            }
        }
        Ok(problems)
    }

    fn stats(&self) -> Result<IndexStats> {
        let t = self.t();
        let _r = t.latch.read();
        let meta = t.read_meta()?;
        let nblocks = t.shared.pool.relation_size(t.rel)?;
        let mut s = IndexStats {
            version: 4,
            tree_level: meta.root_level as u32,
            index_size: nblocks as u64 * PAGE_SIZE as u64,
            root_block_no: meta.root,
            splits: meta.splits,
            merges: meta.merges,
            ..Default::default()
        };
        let mut used = 0u64;
        let mut frag = 0u64;
        // Postgres's pgstatindex counts each page once: deleted (free),
        // "empty" (its half-dead state: out of the tree but not yet free),
        // leaf or internal. A leaf that holds no entries is still a leaf
        // there (its density is 0). sargdb has no half-dead state; the
        // pages it cannot read as nodes are what it counts as empty.
        for b in 1..nblocks {
            let n = match t.read_node(b) {
                Ok(n) => n,
                Err(_) => {
                    s.empty_pages += 1;
                    continue;
                }
            };
            if n.level == FREED_LEVEL {
                s.deleted_pages += 1;
            } else if n.is_leaf() {
                s.leaf_pages += 1;
                s.entries += n.items.len() as u64;
                used += (n.byte_size() - PAGE_HEADER_SIZE) as u64;
                if n.right != NO_BLOCK && n.right < b {
                    frag += 1;
                }
            } else {
                s.internal_pages += 1;
            }
        }
        // Without leaves Postgres reports both ratios as NaN.
        s.avg_leaf_density = f64::NAN;
        s.leaf_fragmentation = f64::NAN;
        if s.leaf_pages > 0 {
            s.avg_leaf_density = (used as f64 * 100.0
                / (s.leaf_pages as f64 * (PAGE_SIZE - PAGE_HEADER_SIZE) as f64)
                * 100.0)
                .round()
                / 100.0;
            s.leaf_fragmentation =
                (frag as f64 * 100.0 / s.leaf_pages as f64 * 100.0).round() / 100.0;
        }
        Ok(s)
    }

    fn unique_lock(&self) -> parking_lot::ArcMutexGuard<parking_lot::RawMutex, ()> {
        self.t().unique.lock_arc()
    }
}

/// Redo of `WalRecord::BTreeDelete`: remove the entries at `positions`.
pub(crate) fn redo_leaf_delete(page: &mut [u8], positions: &[u32]) -> bool {
    let mut sorted: Vec<usize> = positions.iter().map(|&p| p as usize).collect();
    sorted.sort_unstable();
    sorted.dedup();
    page::leaf_remove_in_place(page, &sorted)
}

/// Redo of `WalRecord::BTreeInsert`: put the entry at `pos` of the leaf.
/// False if the page is not a leaf or the entry does not fit (the log and
/// the page disagree).
pub(crate) fn redo_leaf_insert(
    page: &mut [u8],
    pos: u16,
    key: Vec<u8>,
    tid_block: u32,
    tid_slot: u16,
) -> bool {
    let Some(mut n) = Node::decode(page) else {
        return false;
    };
    if !n.is_leaf() || pos as usize > n.items.len() {
        return false;
    }
    n.items.insert(
        pos as usize,
        Item {
            key: Some(ItemKey {
                key,
                tid: TupleId {
                    page: tid_block,
                    slot: tid_slot,
                },
            }),
            child: 0,
        },
    );
    if !n.fits() {
        return false;
    }
    n.encode(page);
    true
}
