//! Heap relations: slotted pages of MVCC tuples (layout in `page`).
//!
//! Inserts go to the relation's current insertion page, then to pages VACUUM
//! found free space on, then to a new page at the end. Every change is
//! WAL-logged under the page's write latch (the first change to a page after
//! a checkpoint, and a new page, as a full image).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::engine::Shared;
use crate::error::{EngineError, Result};
use crate::page::{HeapPage, HeapPageMut, TupleHeader, MAX_TUPLE_SIZE, TUPLE_HEADER_SIZE};
use crate::txn::{is_visible, VisibilityContext, Xid};
use crate::wal::WalRecord;
use crate::RelFileId;

/// Physical address of a tuple version: (page number, slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TupleId {
    pub page: u32,
    pub slot: u16,
}

/// Place a full tuple (MVCC header + row) in `rel`, filling in its ctid.
pub(crate) fn insert(shared: &Shared, xid: Xid, rel: RelFileId, full: &mut [u8]) -> Result<TupleId> {
    if full.len() > MAX_TUPLE_SIZE {
        return Err(EngineError::TupleTooLarge { size: full.len() - TUPLE_HEADER_SIZE, max: MAX_TUPLE_SIZE - TUPLE_HEADER_SIZE });
    }
    let mut tried_new = false;
    loop {
        let candidate = shared.fsm_candidate(rel);
        let page = match candidate {
            Some(block) => shared.pool.fetch(rel, block)?,
            None => {
                if tried_new {
                    // A fresh page always fits a tuple of legal size.
                    return Err(EngineError::TupleTooLarge { size: full.len(), max: MAX_TUPLE_SIZE });
                }
                tried_new = true;
                let p = shared.pool.extend(rel)?;
                shared.fsm_set_current(rel, p.block);
                p
            }
        };
        let mut g = page.write();
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
        let mut h = TupleHeader::read(full);
        h.ctid_page = page.block;
        h.ctid_slot = slot;
        h.write(full);
        if !hp.insert_at(slot, full) {
            return Err(EngineError::CorruptPage { rel, block: page.block, reason: "insert did not fit".into() });
        }
        if is_new {
            shared.wal.append_page_image(xid, rel, page.block, &mut g[..]);
        } else {
            let rec = WalRecord::HeapInsert { rel, block: page.block, slot, tuple: full.to_vec() };
            shared.wal.append_page_change(xid, rel, page.block, &mut g[..], rec);
        }
        page.mark_dirty();
        return Ok(TupleId { page: page.block, slot });
    }
}

/// Run `f` on the whole tuple at `tid`, if the slot holds one.
pub(crate) fn with_tuple<R>(
    shared: &Shared,
    rel: RelFileId,
    tid: TupleId,
    f: impl FnOnce(&[u8]) -> R,
) -> Result<Option<R>> {
    if tid.page >= shared.pool.relation_size(rel)? {
        return Ok(None);
    }
    let page = shared.pool.fetch(rel, tid.page)?;
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
    buffered: VecDeque<(TupleId, Vec<u8>)>,
}

impl HeapScan {
    pub(crate) fn new(
        shared: Arc<Shared>,
        rel: RelFileId,
        nblocks: u32,
        vis: VisibilityContext,
        cancel: Option<Arc<AtomicBool>>,
    ) -> HeapScan {
        HeapScan { shared, rel, next_block: 0, nblocks, vis, cancel, buffered: VecDeque::new() }
    }

    fn fill(&mut self) -> Result<()> {
        while self.buffered.is_empty() && self.next_block < self.nblocks {
            if let Some(c) = &self.cancel {
                if c.load(Ordering::Relaxed) {
                    return Err(EngineError::Canceled);
                }
            }
            let block = self.next_block;
            self.next_block += 1;
            let page = self.shared.pool.fetch(self.rel, block)?;
            let g = page.read();
            let hp = HeapPage::new(&g[..]);
            let vis = &self.vis;
            let buffered = &mut self.buffered;
            self.shared.txns.clog.with(|st| {
                for slot in 0..hp.slot_count() {
                    if let Some(t) = hp.tuple(slot) {
                        let h = TupleHeader::read(t);
                        if is_visible(&h, vis, st) {
                            buffered.push_back((TupleId { page: block, slot }, t[TUPLE_HEADER_SIZE..].to_vec()));
                        }
                    }
                }
            });
        }
        Ok(())
    }
}

impl Iterator for HeapScan {
    type Item = Result<(TupleId, Vec<u8>)>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.buffered.is_empty() {
            if let Err(e) = self.fill() {
                self.next_block = self.nblocks;
                return Some(Err(e));
            }
        }
        self.buffered.pop_front().map(Ok)
    }
}
