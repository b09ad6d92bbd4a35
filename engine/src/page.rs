//! Page layouts: the common 8 KiB page header and the slotted heap page.
//!
//! Every page starts with the same 24-byte header:
//!
//! ```text
//! offset size field
//!      0    8 lsn       end LSN of the last WAL record applied to the page
//!      8    4 checksum  crc32 over (rel, block, page bytes with this field zeroed)
//!     12    2 kind      0 = uninitialized, 1 = heap
//!     14    2 lower     end of the line-pointer array (heap)
//!     16    2 upper     start of tuple data (heap)
//!     18    2 flags     heap: PAGE_ALL_VISIBLE (0x0001), PAGE_HAS_FREE_LINES
//!                       (0x0002); other kinds: reserved
//!     20    4 reserved
//! ```
//!
//! A heap page then holds an array of 4-byte line pointers growing up from
//! byte 24 (`offset u16, len u16`; offset 0 marks an unused slot that may be
//! reused) and tuples growing down from the end of the page. Slot numbers are
//! stable: VACUUM compacts tuple data but never renumbers slots, so a
//! `TupleId` stays valid while the tuple lives.
//!
//! Each heap tuple starts with a 28-byte MVCC header:
//!
//! ```text
//!      0    8 xmin       inserting transaction
//!      8    8 xmax       deleting/updating/locking transaction, 0 if none
//!     16    4 cid        command id: of the insert (cmin), or of the delete
//!                        (cmax) once another transaction's row is deleted,
//!                        or with TUPLE_COMBO_CID a combo id naming both
//!     20    4 ctid.page  newer version after an update (self otherwise)
//!     24    2 ctid.slot
//!     26    2 infomask   TUPLE_UPDATED | TUPLE_LOCK_ONLY | TUPLE_EXTERNAL |
//!                        TUPLE_COMBO_CID
//! ```
//!
//! Command ids matter only to the transaction that wrote them (other
//! transactions go by xmin's and xmax's commit status), so one field holds
//! the one that transaction needs, as in Postgres: cmin while the row is
//! not deleted (a row lock leaves it), cmax when the transaction deletes a
//! row another transaction inserted, and when it deletes a row it inserted
//! itself, an id into its own table of (cmin, cmax) pairs (`txn::ComboCids`).
//! After the transaction ends nobody reads the field.
//!
//! A row too large for a page is stored in overflow pages (kind 4: after the
//! header `u32 next block, u16 chunk length`, then up to 8,162 bytes), and
//! the heap tuple's row is `u32 total length, u32 first overflow block` with
//! TUPLE_EXTERNAL set.
//!
//! followed by the row bytes (opaque to the engine). All integers are
//! little-endian.

use crate::RelFileId;

pub const PAGE_SIZE: usize = 8192;
pub const PAGE_HEADER_SIZE: usize = 24;
pub const LINE_POINTER_SIZE: usize = 4;
pub const TUPLE_HEADER_SIZE: usize = 28;

pub const PAGE_KIND_HEAP: u16 = 1;

/// Heap page flag (header bytes 18..20): every tuple on the page is visible
/// to every snapshot, present and future. Set only by VACUUM, together with
/// the page's visibility-map bit (`visibility_map`); any change to the page
/// clears both first.
pub const PAGE_ALL_VISIBLE: u16 = 0x0001;
/// Heap page flag: some line pointer below the last one may be unused, so
/// an insert looks for one to reuse. Set when compaction leaves a hole,
/// cleared when an insert fills the last hole; without it an insert takes a
/// new slot at once instead of scanning every line pointer. It changes only
/// together with the slots themselves, so redo reproduces it exactly (a
/// page written before the flag existed merely appends until its next
/// compaction).
pub const PAGE_HAS_FREE_LINES: u16 = 0x0002;
/// Offset of the page flags in the common header.
pub const PAGE_FLAGS_OFFSET: usize = 18;

/// xmax was set by an UPDATE; ctid points at the newer version.
pub const TUPLE_UPDATED: u16 = 0x0001;
/// xmax only locks the row (SELECT FOR UPDATE, ON CONFLICT); not a delete.
pub const TUPLE_LOCK_ONLY: u16 = 0x0002;
/// The row bytes live in a chain of overflow pages; the tuple holds
/// `u32 total length, u32 first block` (see `heap`).
pub const TUPLE_EXTERNAL: u16 = 0x0004;
/// The header's `cid` is a combo id of the writing transaction (it inserted
/// and then deleted the row).
pub const TUPLE_COMBO_CID: u16 = 0x0008;

/// Overflow page: `u32 next block (u32::MAX: last), u16 length` after the
/// common header, then the chunk.
pub const PAGE_KIND_OVERFLOW: u16 = 4;
pub const OVERFLOW_HEADER: usize = PAGE_HEADER_SIZE + 6;
pub const OVERFLOW_CHUNK: usize = PAGE_SIZE - OVERFLOW_HEADER;

/// Largest tuple (header + row) that fits on an empty heap page.
pub const MAX_TUPLE_SIZE: usize = PAGE_SIZE - PAGE_HEADER_SIZE - LINE_POINTER_SIZE;

pub type PageBuf = [u8; PAGE_SIZE];

fn rd_u16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}
fn rd_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}
fn rd_u64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}
fn wr_u16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
fn wr_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
fn wr_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

pub fn page_lsn(page: &[u8]) -> u64 {
    rd_u64(page, 0)
}
pub fn set_page_lsn(page: &mut [u8], lsn: u64) {
    wr_u64(page, 0, lsn)
}
pub fn page_kind(page: &[u8]) -> u16 {
    rd_u16(page, 12)
}
pub fn page_flags(page: &[u8]) -> u16 {
    rd_u16(page, PAGE_FLAGS_OFFSET)
}
pub fn set_page_flags(page: &mut [u8], flags: u16) {
    wr_u16(page, PAGE_FLAGS_OFFSET, flags)
}
/// Whether `page` is a heap page flagged all-visible.
pub fn is_all_visible(page: &[u8]) -> bool {
    page_kind(page) == PAGE_KIND_HEAP && page_flags(page) & PAGE_ALL_VISIBLE != 0
}

/// Checksum of a page as stored: covers the relation and block number so a
/// page written to the wrong place is detected too.
pub fn compute_checksum(rel: RelFileId, block: u32, page: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&rel.to_le_bytes());
    h.update(&block.to_le_bytes());
    h.update(&page[0..8]);
    h.update(&[0u8; 4]);
    h.update(&page[12..]);
    h.finalize()
}

pub fn set_checksum(rel: RelFileId, block: u32, page: &mut [u8]) {
    let c = compute_checksum(rel, block, page);
    wr_u32(page, 8, c);
}

/// True if the page is all zeroes (never written) or its checksum matches.
pub fn verify_checksum(rel: RelFileId, block: u32, page: &[u8]) -> bool {
    if page.iter().all(|&b| b == 0) {
        return true;
    }
    rd_u32(page, 8) == compute_checksum(rel, block, page)
}

/// MVCC header of a heap tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TupleHeader {
    pub xmin: u64,
    pub xmax: u64,
    /// cmin, cmax or a combo id (see the module docs).
    pub cid: u32,
    pub ctid_page: u32,
    pub ctid_slot: u16,
    pub infomask: u16,
}

impl TupleHeader {
    pub fn read(b: &[u8]) -> TupleHeader {
        TupleHeader {
            xmin: rd_u64(b, 0),
            xmax: rd_u64(b, 8),
            cid: rd_u32(b, 16),
            ctid_page: rd_u32(b, 20),
            ctid_slot: rd_u16(b, 24),
            infomask: rd_u16(b, 26),
        }
    }
    pub fn write(&self, b: &mut [u8]) {
        wr_u64(b, 0, self.xmin);
        wr_u64(b, 8, self.xmax);
        wr_u32(b, 16, self.cid);
        wr_u32(b, 20, self.ctid_page);
        wr_u16(b, 24, self.ctid_slot);
        wr_u16(b, 26, self.infomask);
    }
}

/// Read-only view of a heap page.
pub struct HeapPage<'a> {
    b: &'a [u8],
}

impl<'a> HeapPage<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        HeapPage { b }
    }
    pub fn is_initialized(&self) -> bool {
        page_kind(self.b) == PAGE_KIND_HEAP
    }
    pub fn slot_count(&self) -> u16 {
        if !self.is_initialized() {
            return 0;
        }
        ((rd_u16(self.b, 14) as usize - PAGE_HEADER_SIZE) / LINE_POINTER_SIZE) as u16
    }
    fn line_pointer(&self, slot: u16) -> (usize, usize) {
        let off = PAGE_HEADER_SIZE + slot as usize * LINE_POINTER_SIZE;
        (
            rd_u16(self.b, off) as usize,
            rd_u16(self.b, off + 2) as usize,
        )
    }
    /// The whole tuple (header + row) in `slot`, if the slot is in use.
    pub fn tuple(&self, slot: u16) -> Option<&'a [u8]> {
        if slot >= self.slot_count() {
            return None;
        }
        let (off, len) = self.line_pointer(slot);
        if off == 0 {
            return None;
        }
        Some(&self.b[off..off + len])
    }
    /// Contiguous free bytes between the line pointers and the tuple data.
    pub fn free_space(&self) -> usize {
        if !self.is_initialized() {
            return PAGE_SIZE - PAGE_HEADER_SIZE;
        }
        rd_u16(self.b, 16) as usize - rd_u16(self.b, 14) as usize
    }
    fn first_unused_slot(&self) -> Option<u16> {
        self.unused_slot_from(0)
    }
    /// The first unused slot at or after `from`, if the page says it may
    /// have one.
    fn unused_slot_from(&self, from: u16) -> Option<u16> {
        if page_flags(self.b) & PAGE_HAS_FREE_LINES == 0 {
            return None;
        }
        (from..self.slot_count()).find(|&s| self.line_pointer(s).0 == 0)
    }
    /// The slot `insert` would use for a tuple of `len` bytes, if it fits.
    pub fn slot_for_insert(&self, len: usize) -> Option<u16> {
        match self.first_unused_slot() {
            Some(s) if self.free_space() >= len => Some(s),
            Some(_) => None,
            None if self.free_space() >= len + LINE_POINTER_SIZE => Some(self.slot_count()),
            None => None,
        }
    }
}

/// Mutable view of a heap page.
pub struct HeapPageMut<'a> {
    b: &'a mut [u8],
}

impl<'a> HeapPageMut<'a> {
    pub fn new(b: &'a mut [u8]) -> Self {
        HeapPageMut { b }
    }
    pub fn view(&self) -> HeapPage<'_> {
        HeapPage::new(self.b)
    }
    /// Format an empty heap page (keeps the LSN).
    pub fn init(&mut self) {
        let lsn = page_lsn(self.b);
        self.b.fill(0);
        set_page_lsn(self.b, lsn);
        wr_u16(self.b, 12, PAGE_KIND_HEAP);
        wr_u16(self.b, 14, PAGE_HEADER_SIZE as u16);
        wr_u16(self.b, 16, PAGE_SIZE as u16);
    }
    /// Put `tuple` into `slot` (which must be `slot_for_insert`'s answer).
    /// Returns false if it does not fit (a WAL/page mismatch during redo).
    pub fn insert_at(&mut self, slot: u16, tuple: &[u8]) -> bool {
        if !self.view().is_initialized() {
            self.init();
        }
        let count = self.view().slot_count();
        let lower = rd_u16(self.b, 14) as usize;
        let upper = rd_u16(self.b, 16) as usize;
        let need = tuple.len() + if slot >= count { LINE_POINTER_SIZE } else { 0 };
        if slot > count || upper < lower + need {
            return false;
        }
        if slot < count && self.view().line_pointer(slot).0 != 0 {
            return false;
        }
        let new_upper = upper - tuple.len();
        self.b[new_upper..upper].copy_from_slice(tuple);
        let lp = PAGE_HEADER_SIZE + slot as usize * LINE_POINTER_SIZE;
        wr_u16(self.b, lp, new_upper as u16);
        wr_u16(self.b, lp + 2, tuple.len() as u16);
        if slot >= count {
            wr_u16(self.b, 14, (lower + LINE_POINTER_SIZE) as u16);
        } else if self.view().unused_slot_from(slot + 1).is_none() {
            let flags = page_flags(self.b);
            set_page_flags(self.b, flags & !PAGE_HAS_FREE_LINES);
        }
        wr_u16(self.b, 16, new_upper as u16);
        true
    }
    /// Mutable access to a tuple's bytes (header + row).
    pub fn tuple_mut(&mut self, slot: u16) -> Option<&mut [u8]> {
        let (off, len) = {
            let v = self.view();
            if slot >= v.slot_count() {
                return None;
            }
            v.line_pointer(slot)
        };
        if off == 0 {
            return None;
        }
        Some(&mut self.b[off..off + len])
    }
    /// Remove the tuples in `dead` slots and compact the tuple data, keeping
    /// slot numbers. Trailing unused line pointers are trimmed.
    pub fn remove_and_compact(&mut self, dead: &[u16]) {
        let count = self.view().slot_count();
        let mut live: Vec<(u16, Vec<u8>)> = Vec::new();
        for s in 0..count {
            if dead.contains(&s) {
                continue;
            }
            if let Some(t) = self.view().tuple(s) {
                live.push((s, t.to_vec()));
            }
        }
        let mut new_count = 0u16;
        for (s, _) in &live {
            new_count = new_count.max(s + 1);
        }
        let lsn = page_lsn(self.b);
        self.init();
        set_page_lsn(self.b, lsn);
        wr_u16(
            self.b,
            14,
            (PAGE_HEADER_SIZE + new_count as usize * LINE_POINTER_SIZE) as u16,
        );
        let mut upper = PAGE_SIZE;
        for (s, t) in &live {
            upper -= t.len();
            self.b[upper..upper + t.len()].copy_from_slice(t);
            let lp = PAGE_HEADER_SIZE + *s as usize * LINE_POINTER_SIZE;
            wr_u16(self.b, lp, upper as u16);
            wr_u16(self.b, lp + 2, t.len() as u16);
        }
        wr_u16(self.b, 16, upper as u16);
        if live.len() < new_count as usize {
            let flags = page_flags(self.b);
            set_page_flags(self.b, flags | PAGE_HAS_FREE_LINES);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_are_reused_in_order_then_inserts_append() {
        fn flagged(p: &HeapPageMut) -> bool {
            page_flags(p.b) & PAGE_HAS_FREE_LINES != 0
        }
        let mut buf = [0u8; PAGE_SIZE];
        let mut p = HeapPageMut::new(&mut buf);
        p.init();
        for i in 0..10u8 {
            let s = p.view().slot_for_insert(50).unwrap();
            assert!(p.insert_at(s, &[i; 50]));
        }
        assert!(!flagged(&p));
        // Slot 9 is the last one: removing it trims, leaving holes 1 and 4.
        p.remove_and_compact(&[1, 4, 9]);
        assert!(flagged(&p));
        for want in [1u16, 4, 9, 10] {
            let s = p.view().slot_for_insert(50).unwrap();
            assert_eq!(s, want);
            assert!(p.insert_at(s, &[7; 50]));
            // The flag stays exactly while a hole is left.
            let v = p.view();
            let holes = (0..v.slot_count()).any(|s| v.tuple(s).is_none());
            assert_eq!(flagged(&p), holes);
        }
        // Compaction with no hole below the last slot leaves the flag clear.
        p.remove_and_compact(&[10]);
        assert!(!flagged(&p));
        // A page with holes but no flag (written before the flag existed)
        // appends instead of searching.
        p.remove_and_compact(&[3]);
        let flags = page_flags(p.b);
        set_page_flags(p.b, flags & !PAGE_HAS_FREE_LINES);
        assert_eq!(p.view().slot_for_insert(50), Some(10));
    }

    #[test]
    fn insert_read_compact_keeps_slots() {
        let mut buf = [0u8; PAGE_SIZE];
        let mut p = HeapPageMut::new(&mut buf);
        p.init();
        for i in 0..10u8 {
            let s = p.view().slot_for_insert(100).unwrap();
            assert_eq!(s, i as u16);
            assert!(p.insert_at(s, &[i; 100]));
        }
        p.remove_and_compact(&[2, 5, 9]);
        let v = p.view();
        assert_eq!(v.slot_count(), 9);
        assert!(v.tuple(2).is_none());
        assert_eq!(v.tuple(7).unwrap(), &[7u8; 100][..]);
        assert_eq!(v.slot_for_insert(100), Some(2));
        assert_eq!(
            v.free_space(),
            PAGE_SIZE - PAGE_HEADER_SIZE - 9 * 4 - 7 * 100
        );
    }

    #[test]
    fn fills_up_and_refuses() {
        let mut buf = [0u8; PAGE_SIZE];
        let mut p = HeapPageMut::new(&mut buf);
        p.init();
        let mut n = 0;
        while let Some(s) = p.view().slot_for_insert(1000) {
            assert!(p.insert_at(s, &[1; 1000]));
            n += 1;
        }
        assert_eq!(n, 8);
        assert!(!p.insert_at(8, &[1; 1000]));
    }

    #[test]
    fn checksum_detects_flip() {
        let mut buf = [0u8; PAGE_SIZE];
        assert!(verify_checksum(1, 0, &buf));
        HeapPageMut::new(&mut buf).init();
        set_checksum(1, 0, &mut buf);
        assert!(verify_checksum(1, 0, &buf));
        assert!(!verify_checksum(1, 1, &buf));
        buf[4000] ^= 1;
        assert!(!verify_checksum(1, 0, &buf));
    }
}
