//! The write-ahead log.
//!
//! The log is one byte stream; a record's LSN is its byte position in that
//! stream. The stream is stored in segment files under `<data_dir>/wal/`, each
//! named by the 16-hex-digit LSN of its first byte; a record never spans two
//! segments. Record format (little-endian; documented in docs/storage.md):
//!
//! ```text
//!   u32 total length (header + payload)
//!   u32 crc32 of everything after this field
//!   u64 xid (0 if none)
//!   u8  kind
//!   ... payload (see `WalRecord::encode`)
//! ```
//!
//! Appending only copies into an in-memory buffer under a mutex. `flush(lsn)`
//! makes everything up to `lsn` durable: one caller at a time writes and
//! fsyncs everything buffered so far, and every other caller waiting for an LSN
//! it covered returns without an fsync of its own (group commit).
//!
//! A commit that must not hold its thread while it waits (the server's
//! connections share a few threads) asks for a call instead
//! (`flush_then`): the log writer thread (`run_writer`) flushes whenever
//! such requests are waiting, and calls each request's callback once the
//! log is durable past its LSN. Commits that arrive while it fsyncs share
//! its next fsync.
//!
//! Write-behind: a long transaction (a COPY, an index build) appends
//! megabytes before anyone flushes. When the buffer passes
//! `WRITE_BEHIND_BYTES`, the appender writes it out without an fsync
//! (`write_behind`, Postgres's XLogWrite when its WAL buffers fill), so the
//! buffer never grows (a 100 MB buffer cost reallocations, page faults and
//! memory compaction) and the commit's flush only writes the tail. A
//! short-lived thread starts an fdatasync of what was written at once (the
//! disk works while the load goes on), but that is only a head start: the
//! segments written this way count as unsynced until the next `flush`
//! fsyncs them itself, before it reports anything durable.
//!
//! Full-page writes: the first change to a page after a checkpoint's redo
//! point is logged as the whole page image, decided under the insert mutex
//! (`append_page_change`), so recovery never applies a delta to a torn page.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::error::{EngineError, Result};
use crate::page::{page_lsn, PAGE_SIZE};
use crate::txn::Xid;
use crate::RelFileId;

pub type Lsn = u64;

const SEGMENT_SIZE: u64 = 64 << 20;
const RECORD_HEADER: usize = 17;

/// One logged change.
#[derive(Clone, Debug, PartialEq)]
pub enum WalRecord {
    /// Insert `tuple` into `slot` of a heap page.
    HeapInsert {
        rel: RelFileId,
        block: u32,
        slot: u16,
        tuple: Vec<u8>,
    },
    /// Set xmax, the command-id field (`cmax`: cmax, a combo id, or for a
    /// row lock the field unchanged) and infomask of a tuple (delete, lock,
    /// first half of update).
    HeapSetXmax {
        rel: RelFileId,
        block: u32,
        slot: u16,
        xmax: u64,
        cmax: u32,
        infomask: u16,
    },
    /// Point a tuple's ctid at its newer version (second half of update).
    HeapSetCtid {
        rel: RelFileId,
        block: u32,
        slot: u16,
        ctid_block: u32,
        ctid_slot: u16,
    },
    /// A whole page image (first change after a checkpoint, new pages, vacuum).
    PageImage {
        rel: RelFileId,
        block: u32,
        image: Vec<u8>,
    },
    /// Commit of `xid` and its subtransactions; the new catalog, if the
    /// transaction changed it; storage to remove.
    Commit {
        subxids: Vec<Xid>,
        drop_rels: Vec<RelFileId>,
        catalog: Option<Vec<u8>>,
    },
    /// Abort of `xid` (or of subtransactions only, for ROLLBACK TO).
    Abort {
        subxids: Vec<Xid>,
        drop_rels: Vec<RelFileId>,
    },
    /// A sequence's new state.
    Sequence {
        seq: u32,
        value: i64,
        is_called: bool,
    },
    /// A completed checkpoint whose redo starts at `redo`.
    Checkpoint { redo: Lsn, next_xid: Xid },
    /// Insert an entry at position `pos` of a B+Tree leaf (no split).
    BTreeInsert {
        rel: RelFileId,
        block: u32,
        pos: u16,
        key: Vec<u8>,
        tid_block: u32,
        tid_slot: u16,
    },
    /// Entries removed from a B+Tree leaf at these positions (ascending,
    /// positions before the removal), without a merge.
    BTreeDelete {
        rel: RelFileId,
        block: u32,
        positions: Vec<u32>,
    },
    /// Byte ranges written into one page: `(offset, bytes)` pairs applied in
    /// order. Redo is idempotent (the bytes are absolute), so an access
    /// method may log any in-place change this way (hash and BRIN inserts).
    PagePatch {
        rel: RelFileId,
        block: u32,
        patches: Vec<(u16, Vec<u8>)>,
    },
    /// Several whole page images of one relation that must reach the log
    /// together: a structure change spanning pages (a hash bucket split)
    /// replays all or nothing, since a record is either whole or absent.
    PageImages {
        rel: RelFileId,
        pages: Vec<(u32, Vec<u8>)>,
    },
    /// In-place patches of several pages of one relation that must replay
    /// together (a hash insert's bucket page and the meta page's counters).
    /// A page whose first change since the checkpoint this is carries its
    /// whole image as one patch at offset 0.
    PagePatches {
        rel: RelFileId,
        pages: Vec<(u32, Vec<(u16, Vec<u8>)>)>,
    },
    /// VACUUM freed these slots of a heap page and compacted it (redo runs
    /// the same `remove_and_compact`, which depends only on the page and the
    /// slots).
    HeapPrune {
        rel: RelFileId,
        block: u32,
        slots: Vec<u32>,
    },
}

const K_INSERT: u8 = 1;
const K_SET_XMAX: u8 = 2;
const K_SET_CTID: u8 = 3;
const K_PAGE_IMAGE: u8 = 4;
const K_COMMIT: u8 = 5;
const K_ABORT: u8 = 6;
const K_SEQUENCE: u8 = 7;
const K_CHECKPOINT: u8 = 8;
const K_BTREE_INSERT: u8 = 9;
const K_BTREE_DELETE: u8 = 10;
const K_PAGE_PATCH: u8 = 11;
const K_PAGE_IMAGES: u8 = 12;
const K_PAGE_PATCHES: u8 = 14;
const K_HEAP_PRUNE: u8 = 13;

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.pos + n > self.b.len() {
            return Err(EngineError::CorruptWal("record payload too short".into()));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2")))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    /// A page image written by `put_image`.
    fn image(&mut self) -> Result<Vec<u8>> {
        let off = self.u16()? as usize;
        let len = self.u16()? as usize;
        if off + len > PAGE_SIZE {
            return Err(EngineError::CorruptWal(
                "page image hole out of range".into(),
            ));
        }
        let mut page = vec![0u8; PAGE_SIZE];
        page[..off].copy_from_slice(self.take(off)?);
        page[off + len..].copy_from_slice(self.take(PAGE_SIZE - off - len)?);
        Ok(page)
    }
    fn bytes(&mut self) -> Result<Vec<u8>> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn u64s(&mut self) -> Result<Vec<u64>> {
        let n = self.u32()? as usize;
        (0..n).map(|_| self.u64()).collect()
    }
    fn u32s(&mut self) -> Result<Vec<u32>> {
        let n = self.u32()? as usize;
        (0..n).map(|_| self.u32()).collect()
    }
    /// `(offset, bytes)` pairs of one page, each inside the page.
    fn patches(&mut self) -> Result<Vec<(u16, Vec<u8>)>> {
        let n = self.u32()? as usize;
        let mut patches = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let off = self.u16()?;
            let bytes = self.bytes()?;
            if off as usize + bytes.len() > PAGE_SIZE {
                return Err(EngineError::CorruptWal("page patch out of bounds".into()));
            }
            patches.push((off, bytes));
        }
        Ok(patches)
    }
}

/// `u32 count` then the values: what `Reader::u64s` reads back.
fn put_u64s(out: &mut Vec<u8>, v: &[u64]) {
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

/// `u32 count` then the values: what `Reader::u32s` reads back.
fn put_u32s(out: &mut Vec<u8>, v: &[u32]) {
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// Runs of zero bytes shorter than this are logged as they are.
const MIN_HOLE: usize = 64;

/// The longest run of zero bytes in `page`, counted in aligned 8-byte
/// words: (offset, length), length 0 if none is worth leaving out. A page's
/// free space is zeros on a new page and wherever a whole page was written
/// from a cleared buffer, so this is usually the gap between a page's
/// line pointers (or item offsets) and its data, without knowing the kind.
fn zero_hole(page: &[u8]) -> (usize, usize) {
    let (mut best_off, mut best_len) = (0usize, 0usize);
    let mut run_start = 0usize;
    let mut in_run = false;
    for (i, w) in page.chunks_exact(8).enumerate() {
        let zero = u64::from_ne_bytes(w.try_into().expect("8")) == 0;
        if zero && !in_run {
            run_start = i * 8;
            in_run = true;
        } else if !zero && in_run {
            in_run = false;
            if i * 8 - run_start > best_len {
                (best_off, best_len) = (run_start, i * 8 - run_start);
            }
        }
    }
    if in_run && page.len() - run_start > best_len {
        (best_off, best_len) = (run_start, page.len() - run_start);
    }
    if best_len < MIN_HOLE {
        (0, 0)
    } else {
        (best_off, best_len)
    }
}

/// A page image as `u16 hole offset, u16 hole length` and the bytes before
/// and after the hole (Postgres leaves a page's free space out of its
/// full-page writes the same way, from its header's pd_lower/pd_upper).
fn put_image(out: &mut Vec<u8>, page: &[u8]) {
    debug_assert_eq!(page.len(), PAGE_SIZE);
    let (off, len) = zero_hole(page);
    out.extend_from_slice(&(off as u16).to_le_bytes());
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.extend_from_slice(&page[..off]);
    out.extend_from_slice(&page[off + len..]);
}

/// The payload of a PageImage record (also written straight from a page
/// by `Wal::append_image_locked`).
fn put_page_image(out: &mut Vec<u8>, rel: RelFileId, block: u32, page: &[u8]) {
    out.extend_from_slice(&rel.to_le_bytes());
    out.extend_from_slice(&block.to_le_bytes());
    put_image(out, page);
}

/// The payload of a PageImages record.
fn put_page_images<'a>(
    out: &mut Vec<u8>,
    rel: RelFileId,
    pages: impl ExactSizeIterator<Item = (u32, &'a [u8])>,
) {
    out.extend_from_slice(&rel.to_le_bytes());
    out.extend_from_slice(&(pages.len() as u32).to_le_bytes());
    for (block, page) in pages {
        out.extend_from_slice(&block.to_le_bytes());
        put_image(out, page);
    }
}

fn put_patches(out: &mut Vec<u8>, patches: &[(u16, Vec<u8>)]) {
    out.extend_from_slice(&(patches.len() as u32).to_le_bytes());
    for (off, bytes) in patches {
        out.extend_from_slice(&off.to_le_bytes());
        put_bytes(out, bytes);
    }
}

impl WalRecord {
    fn kind(&self) -> u8 {
        match self {
            WalRecord::HeapInsert { .. } => K_INSERT,
            WalRecord::HeapSetXmax { .. } => K_SET_XMAX,
            WalRecord::HeapSetCtid { .. } => K_SET_CTID,
            WalRecord::PageImage { .. } => K_PAGE_IMAGE,
            WalRecord::Commit { .. } => K_COMMIT,
            WalRecord::Abort { .. } => K_ABORT,
            WalRecord::Sequence { .. } => K_SEQUENCE,
            WalRecord::Checkpoint { .. } => K_CHECKPOINT,
            WalRecord::BTreeInsert { .. } => K_BTREE_INSERT,
            WalRecord::BTreeDelete { .. } => K_BTREE_DELETE,
            WalRecord::PagePatch { .. } => K_PAGE_PATCH,
            WalRecord::PageImages { .. } => K_PAGE_IMAGES,
            WalRecord::PagePatches { .. } => K_PAGE_PATCHES,
            WalRecord::HeapPrune { .. } => K_HEAP_PRUNE,
        }
    }

    fn encode_payload(&self, out: &mut Vec<u8>) {
        match self {
            WalRecord::HeapInsert {
                rel,
                block,
                slot,
                tuple,
            } => {
                out.extend_from_slice(&rel.to_le_bytes());
                out.extend_from_slice(&block.to_le_bytes());
                out.extend_from_slice(&slot.to_le_bytes());
                put_bytes(out, tuple);
            }
            WalRecord::HeapSetXmax {
                rel,
                block,
                slot,
                xmax,
                cmax,
                infomask,
            } => {
                out.extend_from_slice(&rel.to_le_bytes());
                out.extend_from_slice(&block.to_le_bytes());
                out.extend_from_slice(&slot.to_le_bytes());
                out.extend_from_slice(&xmax.to_le_bytes());
                out.extend_from_slice(&cmax.to_le_bytes());
                out.extend_from_slice(&infomask.to_le_bytes());
            }
            WalRecord::HeapSetCtid {
                rel,
                block,
                slot,
                ctid_block,
                ctid_slot,
            } => {
                out.extend_from_slice(&rel.to_le_bytes());
                out.extend_from_slice(&block.to_le_bytes());
                out.extend_from_slice(&slot.to_le_bytes());
                out.extend_from_slice(&ctid_block.to_le_bytes());
                out.extend_from_slice(&ctid_slot.to_le_bytes());
            }
            WalRecord::PageImage { rel, block, image } => {
                put_page_image(out, *rel, *block, image);
            }
            WalRecord::Commit {
                subxids,
                drop_rels,
                catalog,
            } => {
                put_u64s(out, subxids);
                put_u32s(out, drop_rels);
                match catalog {
                    Some(c) => {
                        out.push(1);
                        put_bytes(out, c);
                    }
                    None => out.push(0),
                }
            }
            WalRecord::Abort { subxids, drop_rels } => {
                put_u64s(out, subxids);
                put_u32s(out, drop_rels);
            }
            WalRecord::Sequence {
                seq,
                value,
                is_called,
            } => {
                out.extend_from_slice(&seq.to_le_bytes());
                out.extend_from_slice(&value.to_le_bytes());
                out.push(*is_called as u8);
            }
            WalRecord::Checkpoint { redo, next_xid } => {
                out.extend_from_slice(&redo.to_le_bytes());
                out.extend_from_slice(&next_xid.to_le_bytes());
            }
            WalRecord::BTreeInsert {
                rel,
                block,
                pos,
                key,
                tid_block,
                tid_slot,
            } => {
                out.extend_from_slice(&rel.to_le_bytes());
                out.extend_from_slice(&block.to_le_bytes());
                out.extend_from_slice(&pos.to_le_bytes());
                put_bytes(out, key);
                out.extend_from_slice(&tid_block.to_le_bytes());
                out.extend_from_slice(&tid_slot.to_le_bytes());
            }
            WalRecord::BTreeDelete {
                rel,
                block,
                positions,
            } => {
                out.extend_from_slice(&rel.to_le_bytes());
                out.extend_from_slice(&block.to_le_bytes());
                put_u32s(out, positions);
            }
            WalRecord::HeapPrune { rel, block, slots } => {
                out.extend_from_slice(&rel.to_le_bytes());
                out.extend_from_slice(&block.to_le_bytes());
                put_u32s(out, slots);
            }
            WalRecord::PagePatch {
                rel,
                block,
                patches,
            } => {
                out.extend_from_slice(&rel.to_le_bytes());
                out.extend_from_slice(&block.to_le_bytes());
                put_patches(out, patches);
            }
            WalRecord::PageImages { rel, pages } => {
                put_page_images(out, *rel, pages.iter().map(|(b, p)| (*b, &p[..])));
            }
            WalRecord::PagePatches { rel, pages } => {
                out.extend_from_slice(&rel.to_le_bytes());
                out.extend_from_slice(&(pages.len() as u32).to_le_bytes());
                for (block, patches) in pages {
                    out.extend_from_slice(&block.to_le_bytes());
                    put_patches(out, patches);
                }
            }
        }
    }

    fn decode_payload(kind: u8, b: &[u8]) -> Result<WalRecord> {
        let mut r = Reader { b, pos: 0 };
        let rec = match kind {
            K_INSERT => WalRecord::HeapInsert {
                rel: r.u32()?,
                block: r.u32()?,
                slot: r.u16()?,
                tuple: r.bytes()?,
            },
            K_SET_XMAX => WalRecord::HeapSetXmax {
                rel: r.u32()?,
                block: r.u32()?,
                slot: r.u16()?,
                xmax: r.u64()?,
                cmax: r.u32()?,
                infomask: r.u16()?,
            },
            K_SET_CTID => WalRecord::HeapSetCtid {
                rel: r.u32()?,
                block: r.u32()?,
                slot: r.u16()?,
                ctid_block: r.u32()?,
                ctid_slot: r.u16()?,
            },
            K_PAGE_IMAGE => WalRecord::PageImage {
                rel: r.u32()?,
                block: r.u32()?,
                image: r.image()?,
            },
            K_PAGE_IMAGES => {
                let rel = r.u32()?;
                let n = r.u32()? as usize;
                let mut pages = Vec::with_capacity(n.min(64));
                for _ in 0..n {
                    let block = r.u32()?;
                    pages.push((block, r.image()?));
                }
                WalRecord::PageImages { rel, pages }
            }
            K_COMMIT => WalRecord::Commit {
                subxids: r.u64s()?,
                drop_rels: r.u32s()?,
                catalog: if r.u8()? == 1 { Some(r.bytes()?) } else { None },
            },
            K_ABORT => WalRecord::Abort {
                subxids: r.u64s()?,
                drop_rels: r.u32s()?,
            },
            K_SEQUENCE => WalRecord::Sequence {
                seq: r.u32()?,
                value: r.u64()? as i64,
                is_called: r.u8()? != 0,
            },
            K_CHECKPOINT => WalRecord::Checkpoint {
                redo: r.u64()?,
                next_xid: r.u64()?,
            },
            K_BTREE_INSERT => WalRecord::BTreeInsert {
                rel: r.u32()?,
                block: r.u32()?,
                pos: r.u16()?,
                key: r.bytes()?,
                tid_block: r.u32()?,
                tid_slot: r.u16()?,
            },
            K_BTREE_DELETE => WalRecord::BTreeDelete {
                rel: r.u32()?,
                block: r.u32()?,
                positions: r.u32s()?,
            },
            K_HEAP_PRUNE => WalRecord::HeapPrune {
                rel: r.u32()?,
                block: r.u32()?,
                slots: r.u32s()?,
            },
            K_PAGE_PATCH => WalRecord::PagePatch {
                rel: r.u32()?,
                block: r.u32()?,
                patches: r.patches()?,
            },
            K_PAGE_PATCHES => {
                let rel = r.u32()?;
                let n = r.u32()? as usize;
                let mut pages = Vec::with_capacity(n.min(64));
                for _ in 0..n {
                    let block = r.u32()?;
                    pages.push((block, r.patches()?));
                }
                WalRecord::PagePatches { rel, pages }
            }
            k => return Err(EngineError::CorruptWal(format!("unknown record kind {k}"))),
        };
        Ok(rec)
    }

    /// Serialize a full record (header + payload) for `xid`.
    pub fn encode(&self, xid: Xid, out: &mut Vec<u8>) {
        encode_framed(xid, self.kind(), out, |o| self.encode_payload(o));
    }
}

/// A record of `kind` whose payload `payload` writes: header, payload, then
/// the length and checksum filled in.
fn encode_framed(xid: Xid, kind: u8, out: &mut Vec<u8>, payload: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0u8; 8]);
    out.extend_from_slice(&xid.to_le_bytes());
    out.push(kind);
    payload(out);
    let len = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

struct InsertState {
    /// Bytes appended but not yet written, starting at `buf_start`.
    buf: Vec<u8>,
    buf_start: Lsn,
    insert_lsn: Lsn,
    /// Start LSN of the segment new records go to.
    seg_start: Lsn,
    /// LSNs at which segments start that are not yet created on disk.
    pending_segments: Vec<Lsn>,
    /// Redo point of the latest checkpoint: pages whose LSN is at or below it
    /// get a full-page image on their next change.
    redo: Lsn,
    /// Records, full-page images and bytes appended since start.
    records: u64,
    fpi: u64,
    appended: u64,
}

/// Cumulative WAL activity (the figures of `pg_stat_wal`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalStats {
    pub records: u64,
    pub fpi: u64,
    pub bytes: u64,
    /// Write-outs of the WAL buffer to the segment files.
    pub writes: u64,
    /// fsyncs of segment files (one per write-out when fsync is on).
    pub syncs: u64,
    pub write_ns: u64,
    pub sync_ns: u64,
}

impl WalStats {
    /// The activity since `base` was taken.
    pub fn since(&self, base: &WalStats) -> WalStats {
        WalStats {
            records: self.records.saturating_sub(base.records),
            fpi: self.fpi.saturating_sub(base.fpi),
            bytes: self.bytes.saturating_sub(base.bytes),
            writes: self.writes.saturating_sub(base.writes),
            syncs: self.syncs.saturating_sub(base.syncs),
            write_ns: self.write_ns.saturating_sub(base.write_ns),
            sync_ns: self.sync_ns.saturating_sub(base.sync_ns),
        }
    }
}

struct FlushState {
    flushed: Lsn,
    flushing: bool,
}

/// What `flush_then` calls once the log is durable past its LSN, with the
/// flush's outcome (an error if the log could not be made durable).
pub type FlushCallback = Box<dyn FnOnce(Result<()>) + Send>;

/// Requests for the log writer thread.
#[derive(Default)]
struct FlushRequests {
    waiting: Vec<(Lsn, FlushCallback)>,
    /// The writer sleeps on `requests_cv`: a new request must wake it.
    writer_idle: bool,
    stop: bool,
}

pub struct Wal {
    dir: PathBuf,
    fsync: bool,
    insert: Mutex<InsertState>,
    flush_state: Mutex<FlushState>,
    flushed_cv: Condvar,
    /// Open segment files by start LSN (only the writer touches them).
    segments: Mutex<BTreeMap<Lsn, File>>,
    /// The written bytes of the last, partly filled file block, so the
    /// next write can rewrite that block whole (only the writer of the
    /// moment touches this, under `segments`).
    tail: Mutex<WriteTail>,
    pub bytes_written: AtomicU64,
    pub fsyncs: AtomicU64,
    writes: AtomicU64,
    write_ns: AtomicU64,
    sync_ns: AtomicU64,
    /// `stats()` at the last reset, and when that was (Unix microseconds).
    reset_base: Mutex<(WalStats, u64)>,
    /// Whether `PREALLOCATED` exists, complete (changed under `segments`).
    preallocated: AtomicBool,
    /// Largest capacity the insert buffer reached before a write-out.
    peak_buffer: AtomicU64,
    /// The insert buffer's partner: written-out buffers come back here
    /// (emptied) and become the next insert buffer.
    spare: Mutex<Vec<u8>>,
    /// Segments written by `write_behind` and not fsynced yet (only the
    /// writer of the moment touches this; see `FlushState::flushing`).
    unsynced: Mutex<Vec<Lsn>>,
    /// A write-out that failed (`fail_for_good`): every flush fails.
    write_failed: Mutex<Option<String>>,
    /// A background fdatasync of written-behind segments is running.
    background_sync: Arc<AtomicBool>,
    requests: Mutex<FlushRequests>,
    requests_cv: Condvar,
}

/// Writes to segment files cover whole blocks of this size: a write that
/// starts or ends inside a block the page cache no longer holds makes the
/// kernel read that block from disk first. Measured here: a commit's
/// 862-byte write into a preallocated segment took 49 µs on average
/// (ext4 reading the block back; the host pages cold page-cache pages out)
/// against 5 µs for the same bytes written as whole 4 kB blocks.
const WAL_BLOCK: u64 = 4096;
/// Writes up to this size are assembled whole-block in a scratch buffer
/// (one system call); larger ones write their aligned middle directly.
const SCRATCH_MAX: usize = 256 << 10;

/// The last partly written block of the segment being filled.
#[derive(Default)]
struct WriteTail {
    /// Segment and offset (a multiple of `WAL_BLOCK`) of the block.
    seg: Lsn,
    block_off: u64,
    /// Its bytes written so far (fewer than `WAL_BLOCK`); none if unknown.
    bytes: Vec<u8>,
    /// Whether `bytes` is valid for (`seg`, `block_off`).
    valid: bool,
    scratch: Vec<u8>,
}

/// Write `chunk` at offset `off` of segment `seg` (file `f`) as whole
/// blocks: the block's earlier bytes come from `tail`, the rest of the last
/// block is zeros (which read as the end of the log until the next write
/// fills them). Falls back to a plain write if the bytes before `off` in its
/// block are not known (never expected: segments start at offset 0).
fn write_whole_blocks(
    f: &File,
    seg: Lsn,
    off: u64,
    chunk: &[u8],
    tail: &mut WriteTail,
) -> std::io::Result<()> {
    let bs = off - off % WAL_BLOCK;
    let known = off == bs
        || (tail.valid
            && tail.seg == seg
            && tail.block_off == bs
            && tail.bytes.len() as u64 == off - bs);
    if !known {
        tail.valid = false;
        return f.write_all_at(chunk, off);
    }
    let prefix_len = (off - bs) as usize;
    let end = off + chunk.len() as u64;
    let end_block = end - end % WAL_BLOCK;
    let mut scratch = std::mem::take(&mut tail.scratch);
    scratch.clear();
    let res = if prefix_len + chunk.len() <= SCRATCH_MAX {
        scratch.extend_from_slice(&tail.bytes[..prefix_len]);
        scratch.extend_from_slice(chunk);
        let padded = scratch.len().next_multiple_of(WAL_BLOCK as usize);
        scratch.resize(padded, 0);
        f.write_all_at(&scratch, bs)
    } else {
        // Head block (if `off` is inside one), the aligned middle straight
        // from `chunk`, then the last partial block padded.
        let mut pos = 0usize;
        let mut r = Ok(());
        if prefix_len > 0 {
            let first = WAL_BLOCK as usize - prefix_len;
            scratch.extend_from_slice(&tail.bytes[..prefix_len]);
            scratch.extend_from_slice(&chunk[..first]);
            r = f.write_all_at(&scratch, bs);
            pos = first;
        }
        let mid_end = (end_block - off) as usize;
        if r.is_ok() && mid_end > pos {
            r = f.write_all_at(&chunk[pos..mid_end], off + pos as u64);
        }
        if r.is_ok() && end > end_block {
            scratch.clear();
            scratch.extend_from_slice(&chunk[mid_end..]);
            scratch.resize(WAL_BLOCK as usize, 0);
            r = f.write_all_at(&scratch, end_block);
        }
        r
    };
    // The new tail: the bytes of [end_block, end).
    let mut bytes = std::mem::take(&mut tail.bytes);
    if end_block <= off {
        // Still the same block as the prefix: prefix + chunk.
        bytes.truncate(prefix_len);
        bytes.extend_from_slice(chunk);
    } else {
        bytes.clear();
        bytes.extend_from_slice(&chunk[(end_block - off) as usize..]);
    }
    tail.bytes = bytes;
    tail.seg = seg;
    tail.block_off = end_block;
    tail.valid = res.is_ok();
    tail.scratch = scratch;
    if tail.scratch.capacity() > SCRATCH_MAX + 2 * WAL_BLOCK as usize {
        tail.scratch = Vec::new();
    }
    res
}

/// The zero-filled, durable file that the next new segment is renamed from
/// (see `Wal::prepare_segment`), and the name it is written under first.
const PREALLOCATED: &str = "prealloc";
const PREALLOCATING: &str = "prealloc.tmp";

/// A written-out WAL buffer larger than this is freed, not kept as spare.
const SPARE_BUFFER_MAX: usize = 4 << 20;
/// Buffered WAL bytes at which an appender writes the buffer out (without
/// an fsync); below `SPARE_BUFFER_MAX`, so the pair of buffers is reused.
const WRITE_BEHIND_BYTES: usize = 2 << 20;

fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn segment_name(start: Lsn) -> String {
    format!("{start:016X}")
}

/// List segment start LSNs present in the WAL directory, ascending.
fn list_segments(dir: &Path) -> Result<Vec<Lsn>> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| EngineError::io(dir, e))?;
    for ent in rd {
        let ent = ent.map_err(|e| EngineError::io(dir, e))?;
        if let Some(s) = ent.file_name().to_str() {
            if s.len() == 16 {
                if let Ok(v) = u64::from_str_radix(s, 16) {
                    out.push(v);
                }
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// A record read back from the log.
pub struct ReadRecord {
    pub lsn: Lsn,
    pub end: Lsn,
    pub xid: Xid,
    pub record: WalRecord,
}

/// Read every valid record from `start` on. Stops at the first record that is
/// incomplete or fails its checksum (the torn tail of a crash). Returns the
/// records and the LSN where valid WAL ends.
pub fn read_from(dir: &Path, start: Lsn) -> Result<(Vec<ReadRecord>, Lsn)> {
    std::fs::create_dir_all(dir).map_err(|e| EngineError::io(dir, e))?;
    let segs = list_segments(dir)?;
    let mut out = Vec::new();
    let mut pos = start;
    for (i, &seg) in segs.iter().enumerate() {
        let next = segs.get(i + 1).copied();
        if let Some(n) = next {
            if n <= pos {
                continue;
            }
        }
        if seg > pos {
            // A gap: the segment holding `pos` is missing or ended early.
            break;
        }
        let path = dir.join(segment_name(seg));
        let data = std::fs::read(&path).map_err(|e| EngineError::io(&path, e))?;
        let mut off = (pos - seg) as usize;
        let ended;
        loop {
            if off + RECORD_HEADER > data.len() {
                ended = true;
                break;
            }
            let len = u32::from_le_bytes(data[off..off + 4].try_into().expect("4")) as usize;
            if len < RECORD_HEADER || off + len > data.len() {
                ended = true;
                break;
            }
            let crc = u32::from_le_bytes(data[off + 4..off + 8].try_into().expect("4"));
            if crc32fast::hash(&data[off + 8..off + len]) != crc {
                ended = true;
                break;
            }
            let xid = u64::from_le_bytes(data[off + 8..off + 16].try_into().expect("8"));
            let kind = data[off + 16];
            let record =
                match WalRecord::decode_payload(kind, &data[off + RECORD_HEADER..off + len]) {
                    Ok(r) => r,
                    Err(_) => {
                        ended = true;
                        break;
                    }
                };
            let lsn = seg + off as u64;
            out.push(ReadRecord {
                lsn,
                end: lsn + len as u64,
                xid,
                record,
            });
            off += len;
        }
        pos = seg + off as u64;
        if ended {
            // Valid WAL continues in the next segment only if it starts exactly here.
            match next {
                Some(n) if n == pos => continue,
                _ => break,
            }
        }
    }
    Ok((out, pos))
}

impl Wal {
    /// Open the log for appending at `end` (where recovery found valid WAL to
    /// stop). Anything after `end` is cut off, so a later recovery never reads
    /// stale bytes after new records.
    pub fn open(data_dir: &Path, end: Lsn, redo: Lsn, fsync: bool) -> Result<Wal> {
        let dir = data_dir.join("wal");
        std::fs::create_dir_all(&dir).map_err(|e| EngineError::io(&dir, e))?;
        for seg in list_segments(&dir)? {
            let path = dir.join(segment_name(seg));
            if seg >= end {
                std::fs::remove_file(&path).map_err(|e| EngineError::io(&path, e))?;
            } else {
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| EngineError::io(&path, e))?;
                let len = f.metadata().map_err(|e| EngineError::io(&path, e))?.len();
                if seg + len > end {
                    f.set_len(end - seg)
                        .map_err(|e| EngineError::io(&path, e))?;
                    if fsync {
                        f.sync_all().map_err(|e| EngineError::io(&path, e))?;
                    }
                }
            }
        }
        // A file being preallocated when the server stopped may be short.
        let _ = std::fs::remove_file(dir.join(PREALLOCATING));
        let preallocated = std::fs::metadata(dir.join(PREALLOCATED))
            .map(|m| m.len() == SEGMENT_SIZE)
            .unwrap_or(false);
        // New records always go to a fresh segment starting at `end`.
        let wal = Wal {
            dir,
            fsync,
            insert: Mutex::new(InsertState {
                buf: Vec::with_capacity(1 << 20),
                buf_start: end,
                insert_lsn: end,
                seg_start: end,
                pending_segments: vec![end],
                redo,
                records: 0,
                fpi: 0,
                appended: 0,
            }),
            flush_state: Mutex::new(FlushState {
                flushed: end,
                flushing: false,
            }),
            flushed_cv: Condvar::new(),
            segments: Mutex::new(BTreeMap::new()),
            tail: Mutex::new(WriteTail::default()),
            bytes_written: AtomicU64::new(0),
            fsyncs: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            write_ns: AtomicU64::new(0),
            sync_ns: AtomicU64::new(0),
            reset_base: Mutex::new((WalStats::default(), unix_micros())),
            preallocated: AtomicBool::new(preallocated),
            spare: Mutex::new(Vec::with_capacity(1 << 20)),
            peak_buffer: AtomicU64::new(0),
            unsynced: Mutex::new(Vec::new()),
            write_failed: Mutex::new(None),
            background_sync: Arc::new(AtomicBool::new(false)),
            requests: Mutex::new(FlushRequests::default()),
            requests_cv: Condvar::new(),
        };
        Ok(wal)
    }

    fn append_locked(st: &mut InsertState, xid: Xid, rec: &WalRecord) -> (Lsn, Lsn) {
        let fpi = match rec {
            WalRecord::PageImage { .. } => 1,
            WalRecord::PageImages { pages, .. } => pages.len() as u64,
            WalRecord::PagePatches { pages, .. } => pages
                .iter()
                .filter(|(_, p)| p.len() == 1 && p[0].1.len() == PAGE_SIZE)
                .count() as u64,
            _ => 0,
        };
        Self::append_with_locked(st, fpi, |out| rec.encode(xid, out))
    }

    /// One full-page image of `page`, encoded straight from the page.
    fn append_image_locked(
        st: &mut InsertState,
        xid: Xid,
        rel: RelFileId,
        block: u32,
        page: &[u8],
    ) -> (Lsn, Lsn) {
        Self::append_with_locked(st, 1, |out| {
            encode_framed(xid, K_PAGE_IMAGE, out, |o| {
                put_page_image(o, rel, block, page)
            })
        })
    }

    /// Append the record `encode` writes (holding `fpi` page images).
    fn append_with_locked(
        st: &mut InsertState,
        fpi: u64,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> (Lsn, Lsn) {
        if st.insert_lsn - st.seg_start >= SEGMENT_SIZE {
            st.seg_start = st.insert_lsn;
            st.pending_segments.push(st.insert_lsn);
        }
        let before = st.buf.len();
        encode(&mut st.buf);
        let len = (st.buf.len() - before) as u64;
        crate::stats::note_wal(fpi, len);
        st.records += 1;
        st.fpi += fpi;
        st.appended += len;
        let lsn = st.insert_lsn;
        st.insert_lsn += len;
        (lsn, st.insert_lsn)
    }

    /// The WAL insert buffer's memory: (bytes of records not yet written,
    /// bytes allocated, largest allocation so far).
    pub fn buffer_usage(&self) -> (u64, u64, u64) {
        let st = self.insert.lock();
        let cap = st.buf.capacity() as u64;
        let peak = self.peak_buffer.fetch_max(cap, Ordering::Relaxed).max(cap);
        (st.buf.len() as u64, cap, peak)
    }

    /// Cumulative activity since the log was opened.
    pub fn stats(&self) -> WalStats {
        let (records, fpi, bytes) = {
            let st = self.insert.lock();
            (st.records, st.fpi, st.appended)
        };
        WalStats {
            records,
            fpi,
            bytes,
            writes: self.writes.load(Ordering::Relaxed),
            syncs: self.fsyncs.load(Ordering::Relaxed),
            write_ns: self.write_ns.load(Ordering::Relaxed),
            sync_ns: self.sync_ns.load(Ordering::Relaxed),
        }
    }

    /// Activity since the last `reset_stats` (or since the log was opened),
    /// and the Unix time in microseconds of that reset.
    pub fn stats_since_reset(&self) -> (WalStats, u64) {
        let (base, at) = *self.reset_base.lock();
        (self.stats().since(&base), at)
    }

    pub fn reset_stats(&self) {
        *self.reset_base.lock() = (self.stats(), unix_micros());
    }

    /// Append a record; returns (start LSN, end LSN).
    pub fn append(&self, xid: Xid, rec: &WalRecord) -> (Lsn, Lsn) {
        let mut st = self.insert.lock();
        let r = Self::append_locked(&mut st, xid, rec);
        let buffered = st.buf.len();
        drop(st);
        self.maybe_write_behind(buffered);
        r
    }

    /// Log a change to `page` (already applied in memory): as the delta `rec`,
    /// or as a full page image if this is the page's first change since the
    /// last checkpoint's redo point. Sets the page LSN and returns it.
    pub fn append_page_change(
        &self,
        xid: Xid,
        rel: RelFileId,
        block: u32,
        page: &mut [u8],
        rec: WalRecord,
    ) -> Lsn {
        let mut st = self.insert.lock();
        let end = if page_lsn(page) <= st.redo {
            Self::append_image_locked(&mut st, xid, rel, block, page).1
        } else {
            Self::append_locked(&mut st, xid, &rec).1
        };
        let buffered = st.buf.len();
        drop(st);
        crate::page::set_page_lsn(page, end);
        self.maybe_write_behind(buffered);
        end
    }

    /// Log a whole page image unconditionally (new pages, vacuum).
    pub fn append_page_image(&self, xid: Xid, rel: RelFileId, block: u32, page: &mut [u8]) -> Lsn {
        let mut st = self.insert.lock();
        let end = Self::append_image_locked(&mut st, xid, rel, block, page).1;
        let buffered = st.buf.len();
        drop(st);
        crate::page::set_page_lsn(page, end);
        self.maybe_write_behind(buffered);
        end
    }

    /// Log several whole page images as one record (all or nothing on
    /// replay) and set each page's LSN to its end.
    pub fn append_page_images(
        &self,
        xid: Xid,
        rel: RelFileId,
        pages: &mut [(u32, &mut [u8])],
    ) -> Lsn {
        let mut st = self.insert.lock();
        let n = pages.len();
        let end = Self::append_with_locked(&mut st, n as u64, |out| {
            encode_framed(xid, K_PAGE_IMAGES, out, |o| {
                put_page_images(o, rel, pages.iter().map(|(b, p)| (*b, &p[..])))
            })
        })
        .1;
        let buffered = st.buf.len();
        drop(st);
        for (_, p) in pages.iter_mut() {
            crate::page::set_page_lsn(p, end);
        }
        self.maybe_write_behind(buffered);
        end
    }

    /// Log in-place changes of several pages of `rel` as one record, so
    /// that they replay all or none. Each entry is a page (write-latched by
    /// the caller) and the patches already applied to it; a page not
    /// changed since the checkpoint's redo point is logged whole instead
    /// (as `append_page_change` does for one page).
    pub fn append_page_patches(
        &self,
        xid: Xid,
        rel: RelFileId,
        pages: &mut [(u32, &mut [u8], Vec<(u16, Vec<u8>)>)],
    ) -> Lsn {
        let mut st = self.insert.lock();
        let redo = st.redo;
        let rec = WalRecord::PagePatches {
            rel,
            pages: pages
                .iter_mut()
                .map(|(b, page, patches)| {
                    let patches = if page_lsn(page) <= redo {
                        vec![(0, page.to_vec())]
                    } else {
                        std::mem::take(patches)
                    };
                    (*b, patches)
                })
                .collect(),
        };
        let end = Self::append_locked(&mut st, xid, &rec).1;
        let buffered = st.buf.len();
        drop(st);
        for (_, p, _) in pages.iter_mut() {
            crate::page::set_page_lsn(p, end);
        }
        self.maybe_write_behind(buffered);
        end
    }

    /// After an append left `buffered` bytes in the insert buffer: past
    /// `WRITE_BEHIND_BYTES`, write the buffer out (no fsync) unless a write
    /// is already under way. A failure sticks (`fail_for_good`).
    fn maybe_write_behind(&self, buffered: usize) {
        if buffered < WRITE_BEHIND_BYTES {
            return;
        }
        let mut fs = self.flush_state.lock();
        if fs.flushing {
            return;
        }
        fs.flushing = true;
        drop(fs);
        let res = self.write_out(false);
        let mut fs = self.flush_state.lock();
        fs.flushing = false;
        self.flushed_cv.notify_all();
        drop(fs);
        if let Err(e) = res {
            self.fail_for_good("write-behind", &e);
        }
    }

    /// A write-out failed: the bytes it took from the buffer are gone (and
    /// after a failed fsync may never reach the disk, whatever a retry
    /// reports), so no later flush may call anything durable. Every flush
    /// fails from now on; a restart recovers from what the log holds.
    fn fail_for_good(&self, what: &str, e: &EngineError) {
        tracing::error!("WAL {what} failed: {e}");
        *self.write_failed.lock() = Some(e.to_string());
    }

    /// Start a checkpoint: the current insert position becomes the redo
    /// point. Returns it.
    pub fn begin_checkpoint(&self) -> Lsn {
        let mut st = self.insert.lock();
        st.redo = st.insert_lsn;
        st.redo
    }

    pub fn insert_lsn(&self) -> Lsn {
        self.insert.lock().insert_lsn
    }

    pub fn flushed_lsn(&self) -> Lsn {
        self.flush_state.lock().flushed
    }

    /// Make the log durable up to `upto` (group commit: see module docs).
    pub fn flush(&self, upto: Lsn) -> Result<()> {
        let mut fs = self.flush_state.lock();
        if fs.flushed >= upto {
            return Ok(());
        }
        drop(fs);
        // Waiting for (or doing) the write and fsync: let the scheduler
        // serve other connections meanwhile.
        crate::blocking::about_to_wait();
        fs = self.flush_state.lock();
        loop {
            if let Some(e) = &*self.write_failed.lock() {
                return Err(EngineError::CorruptWal(format!(
                    "an earlier WAL write failed: {e}"
                )));
            }
            if fs.flushed >= upto {
                return Ok(());
            }
            if fs.flushing {
                self.flushed_cv.wait(&mut fs);
                continue;
            }
            fs.flushing = true;
            drop(fs);
            let res = self.write_out(true);
            fs = self.flush_state.lock();
            fs.flushing = false;
            match res {
                Ok(end) => {
                    fs.flushed = fs.flushed.max(end);
                    self.flushed_cv.notify_all();
                }
                Err(e) => {
                    self.fail_for_good("flush", &e);
                    self.flushed_cv.notify_all();
                    return Err(e);
                }
            }
        }
    }

    /// Has the log writer thread call `done` once the log is durable up to
    /// `upto` (or could not be made so). Gives `done` back, uncalled, when
    /// the log already is durable that far or the writer has stopped: the
    /// caller flushes itself then.
    pub fn flush_then(
        &self,
        upto: Lsn,
        done: FlushCallback,
    ) -> std::result::Result<(), FlushCallback> {
        if self.flush_state.lock().flushed >= upto {
            return Err(done);
        }
        let mut r = self.requests.lock();
        if r.stop {
            return Err(done);
        }
        r.waiting.push((upto, done));
        if r.writer_idle {
            r.writer_idle = false;
            self.requests_cv.notify_one();
        }
        Ok(())
    }

    /// The log writer's loop, on a thread of its own until `stop_writer`:
    /// flushes while `flush_then` requests wait, and calls back those the
    /// flush covered. It returns once stopped with no request left (no
    /// request comes in after the stop).
    pub fn run_writer(&self) {
        loop {
            let target = {
                let mut r = self.requests.lock();
                while r.waiting.is_empty() && !r.stop {
                    r.writer_idle = true;
                    self.requests_cv.wait(&mut r);
                }
                r.writer_idle = false;
                if r.waiting.is_empty() {
                    return;
                }
                r.waiting.iter().map(|w| w.0).max().unwrap_or(0)
            };
            let res = self.flush(target);
            let done: Vec<FlushCallback> = {
                let mut r = self.requests.lock();
                let flushed = self.flushed_lsn();
                let mut done = Vec::new();
                let mut i = 0;
                while i < r.waiting.len() {
                    if res.is_err() || r.waiting[i].0 <= flushed {
                        done.push(r.waiting.swap_remove(i).1);
                    } else {
                        i += 1;
                    }
                }
                done
            };
            for d in done {
                d(match &res {
                    Ok(()) => Ok(()),
                    Err(e) => Err(EngineError::CorruptWal(format!("WAL flush failed: {e}"))),
                });
            }
        }
    }

    /// Ends `run_writer` once it has answered the requests made so far;
    /// later `flush_then` calls give their callback back.
    pub fn stop_writer(&self) {
        let mut r = self.requests.lock();
        r.stop = true;
        self.requests_cv.notify_all();
    }

    /// Write everything buffered and, if `sync`, fsync it together with
    /// the segments earlier write-behinds left unsynced; returns the end of
    /// what was written (durable if `sync`).
    fn write_out(&self, sync: bool) -> Result<Lsn> {
        let (data, start, new_segs) = {
            let mut st = self.insert.lock();
            // The other buffer of the pair (a fresh 1 MiB one per flush
            // cost page faults on every commit).
            let spare = std::mem::take(&mut *self.spare.lock());
            let data = std::mem::replace(&mut st.buf, spare);
            self.peak_buffer
                .fetch_max(data.capacity() as u64, Ordering::Relaxed);
            let start = st.buf_start;
            st.buf_start = st.insert_lsn;
            let segs = std::mem::take(&mut st.pending_segments);
            (data, start, segs)
        };
        let mut segments = self.segments.lock();
        for s in new_segs {
            let path = self.dir.join(segment_name(s));
            if self.preallocated.swap(false, Ordering::AcqRel) {
                // Its zeros read as the end of the log, like an empty file.
                if let Err(e) = std::fs::rename(self.dir.join(PREALLOCATED), &path) {
                    tracing::warn!("could not use the preallocated WAL segment: {e}");
                }
            }
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| EngineError::io(&path, e))?;
            segments.insert(s, f);
            if self.fsync {
                crate::storage::sync_dir(&self.dir)?;
            }
        }
        let end = start + data.len() as u64;
        let write_started = std::time::Instant::now();
        let mut pos = start;
        let mut touched: Vec<Lsn> = Vec::new();
        let mut tail = self.tail.lock();
        while pos < end {
            let (&seg, f) = segments
                .range(..=pos)
                .next_back()
                .ok_or_else(|| EngineError::CorruptWal(format!("no segment for LSN {pos}")))?;
            let seg_end = segments
                .range(pos + 1..)
                .next()
                .map(|(&s, _)| s)
                .unwrap_or(u64::MAX);
            let upto = end.min(seg_end);
            let chunk = &data[(pos - start) as usize..(upto - start) as usize];
            write_whole_blocks(f, seg, pos - seg, chunk, &mut tail)
                .map_err(|e| EngineError::io(self.dir.join(segment_name(seg)), e))?;
            touched.push(seg);
            pos = upto;
        }
        drop(tail);
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.write_ns
            .fetch_add(write_started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        let mut unsynced = self.unsynced.lock();
        if !sync {
            // Start the disk writing now, off this thread, so the commit's
            // fsync finds little left to do. Only a head start: the segments
            // stay unsynced until a flush fsyncs them itself.
            if self.fsync && !self.background_sync.swap(true, Ordering::AcqRel) {
                let files: Vec<File> = touched
                    .iter()
                    .filter_map(|s| segments.get(s).and_then(|f| f.try_clone().ok()))
                    .collect();
                let flag = self.background_sync.clone();
                let spawned = std::thread::Builder::new()
                    .name("wal-writeback".into())
                    .spawn(move || {
                        for f in files {
                            let _ = f.sync_data();
                        }
                        flag.store(false, Ordering::Release);
                    });
                if spawned.is_err() {
                    self.background_sync.store(false, Ordering::Release);
                }
            }
            for seg in touched {
                if !unsynced.contains(&seg) {
                    unsynced.push(seg);
                }
            }
        } else if self.fsync {
            let sync_started = std::time::Instant::now();
            for seg in unsynced.iter().copied().chain(touched) {
                if let Some(f) = segments.get(&seg) {
                    f.sync_data()
                        .map_err(|e| EngineError::io(self.dir.join(segment_name(seg)), e))?;
                }
            }
            unsynced.clear();
            self.fsyncs.fetch_add(1, Ordering::Relaxed);
            self.sync_ns
                .fetch_add(sync_started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        } else {
            unsynced.clear();
        }
        self.bytes_written
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        // Close segment files that can no longer receive writes.
        let current = segments.keys().next_back().copied();
        segments.retain(|&s, _| Some(s) == current || s >= start || unsynced.contains(&s));
        drop(unsynced);
        drop(segments);
        let mut data = data;
        if data.capacity() <= SPARE_BUFFER_MAX {
            data.clear();
            *self.spare.lock() = data;
        }
        Ok(end)
    }

    /// Whether the segment being filled is a quarter full and no file is
    /// preallocated for the next one yet.
    pub fn wants_preallocation(&self) -> bool {
        if self.preallocated.load(Ordering::Acquire) {
            return false;
        }
        let st = self.insert.lock();
        st.insert_lsn - st.seg_start >= SEGMENT_SIZE / 4
    }

    /// Write a zero-filled, fsynced segment-sized file that the next new
    /// segment is renamed from (the background worker calls this). Commits
    /// then overwrite blocks that already exist, so their fdatasync is a
    /// pure data flush: appending changes the file's size, and on ext4
    /// that commits the journal, which first writes out every other file's
    /// newly allocated blocks (measured here: a commit's fdatasync went
    /// from 0.07-4 ms to 0.05 ms while another file was being extended).
    pub fn prepare_segment(&self) -> Result<()> {
        if self.preallocated.load(Ordering::Acquire) {
            return Ok(());
        }
        let tmp = self.dir.join(PREALLOCATING);
        let f = File::create(&tmp).map_err(|e| EngineError::io(&tmp, e))?;
        let zeros = vec![0u8; 1 << 20];
        let mut off = 0;
        while off < SEGMENT_SIZE {
            f.write_all_at(&zeros, off)
                .map_err(|e| EngineError::io(&tmp, e))?;
            off += zeros.len() as u64;
        }
        if self.fsync {
            f.sync_all().map_err(|e| EngineError::io(&tmp, e))?;
        }
        drop(f);
        // Renamed under the segment lock, so a write-out sees the file
        // either whole or not at all; the directory is synced when the
        // file becomes a segment.
        let _segments = self.segments.lock();
        let path = self.dir.join(PREALLOCATED);
        std::fs::rename(&tmp, &path).map_err(|e| EngineError::io(&path, e))?;
        self.preallocated.store(true, Ordering::Release);
        Ok(())
    }

    /// Delete segments that end at or before `redo` (no longer needed).
    pub fn remove_before(&self, redo: Lsn) -> Result<()> {
        let segs = list_segments(&self.dir)?;
        for (i, &s) in segs.iter().enumerate() {
            if let Some(&next) = segs.get(i + 1) {
                if next <= redo {
                    self.segments.lock().remove(&s);
                    let path = self.dir.join(segment_name(s));
                    std::fs::remove_file(&path).map_err(|e| EngineError::io(&path, e))?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sargdb-wal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A flush whose write fails fails every later flush too: the failed
    /// bytes left the buffer, and a later commit reported durable would
    /// sit behind a hole in the log that recovery stops at.
    #[test]
    fn a_failed_flush_fails_every_later_flush() {
        let d = tmpdir("failed");
        let wal = Wal::open(&d, 0, 0, true).unwrap();
        let mut page = vec![1u8; PAGE_SIZE];
        let first = wal.append_page_image(7, 3, 0, &mut page);
        wal.flush(first).unwrap();
        // Swap the segments' handles for read-only ones: the next write
        // fails.
        let writable: Vec<(Lsn, File)> = {
            let mut segs = wal.segments.lock();
            let keys: Vec<Lsn> = segs.keys().copied().collect();
            keys.into_iter()
                .map(|k| {
                    let ro = File::open(wal.dir.join(segment_name(k))).unwrap();
                    (k, segs.insert(k, ro).unwrap())
                })
                .collect()
        };
        let second = wal.append_page_image(7, 3, 1, &mut page);
        assert!(wal.flush(second).is_err());
        // The disk is writable again; the log still has its hole.
        {
            let mut segs = wal.segments.lock();
            for (k, f) in writable {
                segs.insert(k, f);
            }
        }
        let third = wal.append_page_image(7, 3, 2, &mut page);
        assert!(
            wal.flush(third).is_err(),
            "a flush after the hole succeeded"
        );
        assert!(wal.flush(first).is_ok(), "what was durable stays so");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn write_behind_keeps_the_buffer_small_and_flush_syncs_it() {
        let d = tmpdir("wb");
        let wal = Wal::open(&d, 0, 0, true).unwrap();
        let mut recs = vec![];
        let mut last = 0;
        // 6 MiB of page images, never flushed while appending.
        for i in 0..768u32 {
            let mut page = vec![(i % 251) as u8; PAGE_SIZE];
            last = wal.append_page_image(7, 3, i, &mut page);
            recs.push(i);
            let (buffered, _, _) = wal.buffer_usage();
            assert!(
                (buffered as usize) < WRITE_BEHIND_BYTES + 2 * PAGE_SIZE,
                "buffer grew to {buffered}"
            );
        }
        // Written out, but nothing durable yet: no flush has fsynced.
        assert!(wal.bytes_written.load(Ordering::Relaxed) >= 4 << 20);
        assert_eq!(wal.fsyncs.load(Ordering::Relaxed), 0);
        assert!(!wal.unsynced.lock().is_empty());
        assert!(wal.flushed_lsn() < last);
        wal.flush(last).unwrap();
        assert!(wal.unsynced.lock().is_empty());
        assert_eq!(wal.flushed_lsn(), last);
        drop(wal);
        let (got, end) = read_from(&d.join("wal"), 0).unwrap();
        assert_eq!(end, last);
        assert_eq!(got.len(), recs.len());
        for (r, i) in got.iter().zip(recs) {
            match &r.record {
                WalRecord::PageImage { block, image, .. } => {
                    assert_eq!(*block, i);
                    assert!(image.iter().all(|&b| b == (i % 251) as u8));
                }
                other => panic!("unexpected record {other:?}"),
            }
        }
    }

    #[test]
    fn page_patches_log_a_page_whole_on_its_first_change() {
        let d = tmpdir("patches");
        let wal = Wal::open(&d, 0, 0, true).unwrap();
        // `fresh` was not changed since the redo point (LSN 0): logged
        // whole. `seen` was: only its patch is logged.
        let mut fresh = vec![7u8; PAGE_SIZE];
        crate::page::set_page_lsn(&mut fresh, 0);
        let mut seen = vec![0u8; PAGE_SIZE];
        crate::page::set_page_lsn(&mut seen, 1);
        let end = wal.append_page_patches(
            3,
            9,
            &mut [
                (4, &mut fresh[..], vec![(100, vec![1, 2])]),
                (0, &mut seen[..], vec![(36, vec![5; 16])]),
            ],
        );
        wal.flush(end).unwrap();
        assert_eq!(crate::page::page_lsn(&fresh), end);
        assert_eq!(crate::page::page_lsn(&seen), end);
        drop(wal);
        let (got, _) = read_from(&d.join("wal"), 0).unwrap();
        assert_eq!(got.len(), 1);
        match &got[0].record {
            WalRecord::PagePatches { rel, pages } => {
                assert_eq!(*rel, 9);
                assert_eq!(pages.len(), 2);
                assert_eq!(pages[0].0, 4);
                assert_eq!(pages[0].1.len(), 1);
                assert_eq!(pages[0].1[0].0, 0);
                assert_eq!(pages[0].1[0].1.len(), PAGE_SIZE);
                assert_eq!(pages[1], (0, vec![(36, vec![5; 16])]));
            }
            other => panic!("unexpected record {other:?}"),
        }
    }

    #[test]
    fn append_flush_read_back_and_torn_tail() {
        let d = tmpdir("rt");
        let wal = Wal::open(&d, 0, 0, true).unwrap();
        let recs = vec![
            WalRecord::HeapInsert {
                rel: 5,
                block: 1,
                slot: 2,
                tuple: vec![1, 2, 3],
            },
            WalRecord::Commit {
                subxids: vec![9],
                drop_rels: vec![4],
                catalog: Some(b"cat".to_vec()),
            },
            WalRecord::Sequence {
                seq: 3,
                value: -7,
                is_called: true,
            },
        ];
        let mut last = 0;
        for r in &recs {
            last = wal.append(42, r).1;
        }
        wal.flush(last).unwrap();
        drop(wal);
        let (got, end) = read_from(&d.join("wal"), 0).unwrap();
        assert_eq!(end, last);
        assert_eq!(
            got.iter().map(|r| r.record.clone()).collect::<Vec<_>>(),
            recs
        );
        assert!(got.iter().all(|r| r.xid == 42));
        // Tear the last record: recovery must stop before it.
        let seg = d.join("wal").join(segment_name(0));
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(last - 3).unwrap();
        let (got, end) = read_from(&d.join("wal"), 0).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(end, got[1].end);
        // Reopen at that end and append: the new record follows seamlessly.
        let wal = Wal::open(&d, end, 0, true).unwrap();
        let e2 = wal.append(1, &recs[2]).1;
        wal.flush(e2).unwrap();
        let (got, end2) = read_from(&d.join("wal"), 0).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(end2, e2);
    }

    #[test]
    fn page_images_leave_out_their_longest_zero_run() {
        let mut pages = Vec::new();
        // A new page (header only), a page with free space in the middle,
        // a full page without zeros, zeros at the very end and at the start,
        // and zero runs that are not 8-byte aligned.
        let mut p = vec![0u8; PAGE_SIZE];
        p[..24].fill(7);
        pages.push(p.clone());
        p[24..400].fill(1);
        p[6000..].fill(2);
        pages.push(p.clone());
        pages.push(vec![9u8; PAGE_SIZE]);
        let mut q = vec![5u8; PAGE_SIZE];
        q[8000..].fill(0);
        pages.push(q.clone());
        q.fill(5);
        q[..3001].fill(0);
        q[3005] = 0;
        q[5003..5900].fill(0);
        pages.push(q);
        pages.push(vec![0u8; PAGE_SIZE]);
        for (i, page) in pages.iter().enumerate() {
            for rec in [
                WalRecord::PageImage {
                    rel: 3,
                    block: i as u32,
                    image: page.clone(),
                },
                WalRecord::PageImages {
                    rel: 3,
                    pages: vec![(1, page.clone()), (2, pages[1].clone())],
                },
            ] {
                let mut out = Vec::new();
                rec.encode(1, &mut out);
                let back = WalRecord::decode_payload(out[16], &out[RECORD_HEADER..]).unwrap();
                assert_eq!(back, rec, "page {i}");
            }
        }
        let mut out = Vec::new();
        put_image(&mut out, &pages[0]);
        assert_eq!(out.len(), 4 + 24, "a new page's image is its header");
        out.clear();
        put_image(&mut out, &pages[1]);
        assert_eq!(out.len(), 4 + 400 + (PAGE_SIZE - 6000));
        // The direct encoders write what the records encode.
        let d = tmpdir("images");
        let wal = Wal::open(&d, 0, 0, false).unwrap();
        let mut a = pages[1].clone();
        let mut b = pages[4].clone();
        wal.append_page_image(4, 9, 1, &mut a);
        let last = wal.append_page_images(4, 9, &mut [(2, &mut a[..]), (3, &mut b[..])]);
        wal.flush(last).unwrap();
        let (got, _) = read_from(&d.join("wal"), 0).unwrap();
        let mut want_a = pages[1].clone();
        crate::page::set_page_lsn(&mut want_a, got[0].end);
        assert_eq!(
            got[0].record,
            WalRecord::PageImage {
                rel: 9,
                block: 1,
                image: pages[1].clone()
            }
        );
        match &got[1].record {
            WalRecord::PageImages { rel: 9, pages: p } => {
                assert_eq!(p[0], (2, want_a));
                assert_eq!(p[1], (3, pages[4].clone()));
            }
            r => panic!("{r:?}"),
        }
        drop(wal);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn commits_write_whole_blocks_and_read_back() {
        let d = tmpdir("blocks");
        let wal = Wal::open(&d, 0, 0, false).unwrap();
        let mut expect = Vec::new();
        let mut last = 0;
        // Records of odd sizes, each flushed alone (a commit's write), one
        // large enough to take the multi-write path, so writes start and
        // end at every offset inside a block.
        for i in 0..400u32 {
            let n = if i == 200 {
                300_000
            } else {
                (i as usize * 37) % 1500
            };
            let rec = WalRecord::HeapInsert {
                rel: 1,
                block: i,
                slot: 0,
                tuple: vec![(i % 251) as u8 + 1; n],
            };
            last = wal.append(3, &rec).1;
            wal.flush(last).unwrap();
            expect.push(rec);
            let seg = d.join("wal").join(segment_name(0));
            let len = std::fs::metadata(&seg).unwrap().len();
            assert_eq!(len % WAL_BLOCK, 0, "record {i}");
            assert!(len >= last && len - last < WAL_BLOCK, "record {i}");
        }
        let (got, end) = read_from(&d.join("wal"), 0).unwrap();
        assert_eq!(end, last);
        assert_eq!(
            got.into_iter().map(|r| r.record).collect::<Vec<_>>(),
            expect
        );
        // A restart cuts the padding off; the log continues after it.
        drop(wal);
        let wal = Wal::open(&d, end, 0, false).unwrap();
        let rec = WalRecord::Sequence {
            seq: 1,
            value: 2,
            is_called: true,
        };
        let e2 = wal.append(1, &rec).1;
        wal.flush(e2).unwrap();
        let (got, end2) = read_from(&d.join("wal"), 0).unwrap();
        assert_eq!((got.len(), end2), (expect.len() + 1, e2));
        drop(wal);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn preallocated_segment_reads_as_the_end_of_the_log() {
        let d = tmpdir("prealloc");
        let wal = Wal::open(&d, 0, 0, false).unwrap();
        wal.prepare_segment().unwrap();
        assert!(!wal.wants_preallocation());
        let rec = WalRecord::Sequence {
            seq: 1,
            value: 5,
            is_called: true,
        };
        let mut last = 0;
        for _ in 0..10 {
            last = wal.append(7, &rec).1;
        }
        wal.flush(last).unwrap();
        // The first segment was renamed from the zero-filled file.
        let seg = d.join("wal").join(segment_name(0));
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), SEGMENT_SIZE);
        assert!(!d.join("wal").join(PREALLOCATED).exists());
        let (got, end) = read_from(&d.join("wal"), 0).unwrap();
        assert_eq!((got.len(), end), (10, last));
        // A restart cuts the zeros off and continues in a new segment.
        drop(wal);
        let wal = Wal::open(&d, end, 0, false).unwrap();
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), end);
        let e2 = wal.append(7, &rec).1;
        wal.flush(e2).unwrap();
        let (got, end2) = read_from(&d.join("wal"), 0).unwrap();
        assert_eq!((got.len(), end2), (11, e2));
        drop(wal);
        let _ = std::fs::remove_dir_all(&d);
    }
}
