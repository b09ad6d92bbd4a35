//! Bulk build of a B+Tree (CREATE INDEX, REINDEX, ADD PRIMARY KEY).
//!
//! Entries arrive through `BTreeSink`s, one per heap-reading thread. While
//! a sink's entries come in (key, tid) order, as a table loaded in key
//! order feeds them, the sink only appends each to one byte stream (key
//! length, key, tid, unique-check length: 15 bytes for an int4 key).
//! At the first entry out of order it moves to its sorting form: keys
//! packed back to back in one byte arena, with a 24-byte record per entry
//! (key prefix, arena position, tuple id, unique-check length), and it
//! sorts its own run on its own thread when its part of the heap is done
//! (`BuildSink::finish`). The stream form exists because the memory a
//! build touches for the first time costs page faults: on a fresh server
//! the records of a million-row primary key were a fifth of the build's
//! time. `BTree::build_runs` merges the sorted runs and writes the leaves
//! left to right as they fill, straight from the streams and arenas (no
//! per-entry allocation anywhere), then the inner levels bottom-up.
//!
//! Uniqueness: an entry added with `add_unique` must differ from every other
//! such entry in its first `key_len` bytes (the key columns, without the
//! INCLUDE tail). Key encodings are prefix-free, so entries with equal key
//! columns are neighbours in (key, tid) order and the check compares each
//! entry with the one before it on the merged stream; the first duplicate
//! stops the build with `EngineError::DuplicateKey` naming one of the two
//! tuples (the caller reads its values back for the message).
//!
//! What it must not do: build into a non-empty tree (checked), or keep a
//! second copy of the keys.

use std::cmp::Ordering;

use super::page::{ItemKey, LeafBuilder, Node, NO_BLOCK};
use super::{BTree, BTreeIndex};
use crate::error::{EngineError, Result};
use crate::heap::TupleId;
use crate::index::{take_sinks, BuildSink, IndexEntry, MAX_KEY_SIZE};
use crate::page::{PAGE_HEADER_SIZE, PAGE_SIZE};

/// `Rec::unique_len` of an entry that takes part in no uniqueness check.
const NOT_CHECKED: u16 = u16::MAX;

/// One entry of a run: its key lives in the run's arena.
#[derive(Clone, Copy, Debug)]
struct Rec {
    /// The key's first eight bytes, big-endian, zero-padded (`key_prefix`).
    prefix: u64,
    /// Arena offset << 16 | key length (keys are at most `MAX_KEY_SIZE`).
    at: u64,
    page: u32,
    slot: u16,
    /// Bytes of the key that must be unique, or `NOT_CHECKED`.
    unique_len: u16,
}

impl Rec {
    fn key<'a>(&self, arena: &'a [u8]) -> &'a [u8] {
        let off = (self.at >> 16) as usize;
        &arena[off..off + (self.at & 0xffff) as usize]
    }
    fn tid(&self) -> TupleId {
        TupleId {
            page: self.page,
            slot: self.slot,
        }
    }
}

/// The (key, tid) order of two records of one or two arenas.
fn cmp_recs(a: &Rec, aa: &[u8], b: &Rec, ba: &[u8]) -> Ordering {
    a.prefix
        .cmp(&b.prefix)
        .then_with(|| a.key(aa).cmp(b.key(ba)))
        .then_with(|| (a.page, a.slot).cmp(&(b.page, b.slot)))
}

/// A key's first eight bytes as a big-endian integer (zero-padded): the
/// sort compares these before whole keys.
pub fn key_prefix(k: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = k.len().min(8);
    b[..n].copy_from_slice(&k[..n]);
    u64::from_be_bytes(b)
}

/// One entry as the merge hands it out.
#[derive(Clone, Copy, Debug)]
struct Entry<'a> {
    key: &'a [u8],
    tid: TupleId,
    /// Bytes of the key that must be unique, or `NOT_CHECKED`.
    unique_len: u16,
}

/// Bytes of a stream entry besides its key: key length (u16), then after
/// the key page (u32), slot (u16), unique-check length (u16).
const STREAM_OVERHEAD: usize = 2 + 4 + 2 + 2;

/// The entry of `stream` at `at`, and where the next one starts.
fn stream_entry(stream: &[u8], at: usize) -> (Entry<'_>, usize) {
    let rd16 = |i: usize| u16::from_le_bytes([stream[i], stream[i + 1]]);
    let len = rd16(at) as usize;
    let k = at + 2;
    let t = k + len;
    let page = u32::from_le_bytes(stream[t..t + 4].try_into().expect("4 bytes"));
    (
        Entry {
            key: &stream[k..t],
            tid: TupleId {
                page,
                slot: rd16(t + 4),
            },
            unique_len: rd16(t + 6),
        },
        t + 8,
    )
}

/// The (key, tid) order of two entries.
fn cmp_entries(a: &Entry, b: &Entry) -> Ordering {
    a.key
        .cmp(b.key)
        .then_with(|| (a.tid.page, a.tid.slot).cmp(&(b.tid.page, b.tid.slot)))
}

/// The build sink of a B+Tree: one sorted run (see the module docs).
#[derive(Debug, Default)]
pub struct BTreeSink {
    /// The entries while they come in order (the stream form), packed as
    /// `stream_entry` reads them; empty in the sorting form.
    stream: Vec<u8>,
    /// Where the last entry of `stream` starts.
    last: Option<usize>,
    /// Entries in `stream`.
    streamed: usize,
    /// Entries the caller expects (`BuildSink::reserve`).
    expected: usize,
    /// The sorting form: keys back to back, one record per entry.
    arena: Vec<u8>,
    recs: Vec<Rec>,
    /// Some entry came in before one it sorts after: the sink is in its
    /// sorting form, and `sort` has work.
    unsorted: bool,
    /// The records are sorted (`sort` ran since the last entry came in).
    sorted: bool,
}

impl BTreeSink {
    fn push(&mut self, key: &[u8], unique_len: u16, tid: TupleId) -> Result<()> {
        if key.len() > MAX_KEY_SIZE {
            return Err(EngineError::IndexKeyTooLarge {
                size: key.len(),
                max: MAX_KEY_SIZE,
            });
        }
        if !self.unsorted {
            let in_order = self.last.is_none_or(|at| {
                let (last, _) = stream_entry(&self.stream, at);
                let e = Entry {
                    key,
                    tid,
                    unique_len,
                };
                cmp_entries(&last, &e) != Ordering::Greater
            });
            if in_order {
                self.last = Some(self.stream.len());
                self.streamed += 1;
                // Keys are at most MAX_KEY_SIZE, which fits a u16.
                self.stream
                    .extend_from_slice(&(key.len() as u16).to_le_bytes());
                self.stream.extend_from_slice(key);
                self.stream.extend_from_slice(&tid.page.to_le_bytes());
                self.stream.extend_from_slice(&tid.slot.to_le_bytes());
                self.stream.extend_from_slice(&unique_len.to_le_bytes());
                return Ok(());
            }
            self.switch_to_records();
        }
        self.push_rec(key, unique_len, tid);
        self.sorted = false;
        Ok(())
    }

    /// Move the streamed entries to the arena and records.
    fn switch_to_records(&mut self) {
        let stream = std::mem::take(&mut self.stream);
        self.recs.reserve(self.expected.max(self.streamed + 1));
        self.arena
            .reserve(stream.len() - self.streamed * STREAM_OVERHEAD);
        let mut at = 0;
        while at < stream.len() {
            let (e, next) = stream_entry(&stream, at);
            self.push_rec(e.key, e.unique_len, e.tid);
            at = next;
        }
        self.last = None;
        self.streamed = 0;
        self.unsorted = true;
    }

    fn push_rec(&mut self, key: &[u8], unique_len: u16, tid: TupleId) {
        let off = self.arena.len() as u64;
        self.arena.extend_from_slice(key);
        self.recs.push(Rec {
            prefix: key_prefix(key),
            at: off << 16 | key.len() as u64,
            page: tid.page,
            slot: tid.slot,
            unique_len,
        });
    }

    /// Sort the run by (key, tid): a stable LSD radix sort of the records
    /// on their prefix (bytes equal in every prefix are skipped: an integer
    /// key's high bytes, a text key's type tag), then a comparison sort of
    /// each stretch of equal prefixes by the whole key and tid.
    fn sort(&mut self) {
        if !self.unsorted || self.sorted {
            // In order already: the stream form, or sorted before.
            return;
        }
        radix_sort_by_prefix(&mut self.recs);
        let arena = &self.arena;
        let recs = &mut self.recs;
        let mut i = 0;
        while i < recs.len() {
            let mut j = i + 1;
            while j < recs.len() && recs[j].prefix == recs[i].prefix {
                j += 1;
            }
            if j - i > 1 {
                recs[i..j].sort_unstable_by(|a, b| cmp_recs(a, arena, b, arena));
            }
            i = j;
        }
        // Lay the keys out in sorted order too, so the merge reads the
        // arena front to back: the gather's reads are independent of each
        // other (the CPU overlaps their cache misses) and run on the
        // sink's own thread, where the merge would miss on every key, one
        // after the other.
        let mut laid = Vec::with_capacity(self.arena.len());
        for r in recs.iter_mut() {
            let off = laid.len() as u64;
            laid.extend_from_slice(r.key(arena));
            r.at = off << 16 | (r.at & 0xffff);
        }
        self.arena = laid;
        self.sorted = true;
    }
}

impl BuildSink for BTreeSink {
    fn add(&mut self, key: &[u8], tid: TupleId) -> Result<()> {
        self.push(key, NOT_CHECKED, tid)
    }
    fn add_unique(&mut self, key: &[u8], key_len: usize, tid: TupleId) -> Result<()> {
        let key_len = key_len.min(key.len());
        // Keys are at most MAX_KEY_SIZE (checked in push), below NOT_CHECKED.
        self.push(key, key_len.min(MAX_KEY_SIZE) as u16, tid)
    }
    fn reserve(&mut self, entries: usize) {
        // Room for int-sized keys in the stream form; the records are
        // reserved only if the sink moves to its sorting form.
        self.expected = entries;
        self.stream
            .reserve(entries.saturating_mul(STREAM_OVERHEAD + 6));
    }
    fn finish(&mut self) -> Result<()> {
        self.sort();
        Ok(())
    }
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

/// Stable LSD radix sort of records by prefix, a byte at a time; bytes that
/// are the same in every prefix are skipped.
fn radix_sort_by_prefix(v: &mut Vec<Rec>) {
    if v.len() < 256 {
        v.sort_by_key(|r| r.prefix);
        return;
    }
    // All eight byte histograms in one pass over the data.
    let mut counts = vec![[0usize; 256]; 8];
    for r in v.iter() {
        for (pass, c) in counts.iter_mut().enumerate() {
            c[((r.prefix >> (pass * 8)) & 0xff) as usize] += 1;
        }
    }
    let mut tmp: Vec<Rec> = Vec::new();
    for (pass, counts) in counts.iter().enumerate() {
        let shift = pass * 8;
        if counts.contains(&v.len()) {
            continue;
        }
        if tmp.is_empty() {
            tmp = v.clone();
        }
        let mut pos = [0usize; 256];
        let mut sum = 0;
        for (b, c) in counts.iter().enumerate() {
            pos[b] = sum;
            sum += c;
        }
        for r in v.iter() {
            let b = ((r.prefix >> shift) & 0xff) as usize;
            tmp[pos[b]] = *r;
            pos[b] += 1;
        }
        std::mem::swap(v, &mut tmp);
    }
}

/// A sorted run being merged: a sink's stream, or its sorted records.
struct Run {
    sink: BTreeSink,
    /// The next entry: a byte offset in the stream, or a record index.
    pos: usize,
}

impl Run {
    /// The sorted run of a sink.
    fn of(mut sink: BTreeSink) -> Run {
        sink.sort();
        Run { sink, pos: 0 }
    }

    /// The run's last entry.
    fn last(&self) -> Option<Entry<'_>> {
        let s = &self.sink;
        if s.unsorted {
            let r = s.recs.last()?;
            Some(Entry {
                key: r.key(&s.arena),
                tid: r.tid(),
                unique_len: r.unique_len,
            })
        } else {
            s.last.map(|at| stream_entry(&s.stream, at).0)
        }
    }

    /// The next entry and the position after it.
    fn head(&self) -> Option<(Entry<'_>, usize)> {
        let s = &self.sink;
        if s.unsorted {
            let r = s.recs.get(self.pos)?;
            Some((
                Entry {
                    key: r.key(&s.arena),
                    tid: r.tid(),
                    unique_len: r.unique_len,
                },
                self.pos + 1,
            ))
        } else if self.pos < s.stream.len() {
            Some(stream_entry(&s.stream, self.pos))
        } else {
            None
        }
    }
}

/// The runs' entries in (key, tid) order (duplicates included); an error
/// from `f` stops the merge.
fn merge_runs(runs: &mut [Run], mut f: impl FnMut(Entry) -> Result<()>) -> Result<()> {
    // Runs that do not overlap (a table loaded in key order, its parts
    // read by several threads) follow one another whole: no comparison
    // per entry.
    let mut order: Vec<usize> = (0..runs.len())
        .filter(|&i| runs[i].head().is_some())
        .collect();
    let first = |i: usize| runs[i].head().map(|(e, _)| e);
    order.sort_by(|&a, &b| match (first(a), first(b)) {
        (Some(x), Some(y)) => cmp_entries(&x, &y),
        _ => Ordering::Equal,
    });
    let disjoint = order.windows(2).all(|w| {
        matches!((runs[w[0]].last(), first(w[1])),
            (Some(l), Some(n)) if cmp_entries(&l, &n) == Ordering::Less)
    });
    if disjoint {
        for i in order {
            let run = &mut runs[i];
            while let Some((e, next)) = run.head() {
                f(e)?;
                run.pos = next;
            }
        }
        return Ok(());
    }
    loop {
        let mut best: Option<(usize, Entry, usize)> = None;
        for (i, run) in runs.iter().enumerate() {
            let Some((e, next)) = run.head() else {
                continue;
            };
            if best.is_none_or(|(_, b, _)| cmp_entries(&e, &b) == Ordering::Less) {
                best = Some((i, e, next));
            }
        }
        let Some((i, e, next)) = best else {
            return Ok(());
        };
        f(e)?;
        runs[i].pos = next;
    }
}

impl BTreeIndex {
    /// Fill the empty tree from its sinks (`AccessMethod::build_from`).
    pub(super) fn build_sinks(&self, parts: Vec<Box<dyn BuildSink>>) -> Result<()> {
        let mut runs: Vec<Run> = take_sinks::<BTreeSink>("btree", parts)?
            .into_iter()
            .map(Run::of)
            .collect();
        self.t().build_runs(&mut runs)
    }

    /// Fill the empty tree from a list of entries (`AccessMethod::build`).
    pub(super) fn build_entries(&self, entries: Vec<IndexEntry>) -> Result<()> {
        let mut sink = BTreeSink::default();
        sink.reserve(entries.len());
        for e in entries {
            sink.add(&e.key, e.tid)?;
        }
        self.build_sinks(vec![Box::new(sink)])
    }
}

impl BTree {
    fn build_runs(&self, runs: &mut [Run]) -> Result<()> {
        let _w = self.latch.write();
        let mut meta = self.read_meta()?;
        let old_root = self.read_node(meta.root)?;
        if !old_root.is_leaf() || !old_root.items.is_empty() {
            return Err(self.corrupt(meta.root, "bulk build into a non-empty index"));
        }
        let limit = PAGE_HEADER_SIZE
            + (PAGE_SIZE - PAGE_HEADER_SIZE) * self.options.fillfactor.clamp(10, 100) as usize
                / 100;
        // Leaves, left to right, each written as soon as it is full (its
        // right sibling's block is allocated then); the existing empty root
        // becomes the first leaf. Only each leaf's first key is kept for the
        // level above.
        let mut below: Vec<(ItemKey, u32)> = Vec::new();
        let mut leaf = LeafBuilder::new();
        let mut leaf_block = meta.root;
        let mut first: Option<ItemKey> = None;
        // The previous entry: (key, tid, unique_len), for the duplicate
        // checks.
        let mut prev_key: Vec<u8> = Vec::new();
        let mut prev: Option<(TupleId, u16)> = None;
        merge_runs(runs, |e| {
            let Entry {
                key,
                tid,
                unique_len,
            } = e;
            if let Some((ptid, plen)) = prev {
                if ptid == tid && prev_key == key {
                    // The same entry twice: keep one.
                    return Ok(());
                }
                let ulen = unique_len;
                if ulen != NOT_CHECKED
                    && plen == ulen
                    && prev_key.get(..ulen as usize) == Some(&key[..ulen as usize])
                {
                    return Err(EngineError::DuplicateKey { tid });
                }
            }
            prev_key.clear();
            prev_key.extend_from_slice(key);
            prev = Some((tid, unique_len));
            if !leaf.is_empty() && !leaf.fits(key.len(), limit) {
                let next = self.alloc_block(&mut meta)?;
                self.write_leaf(leaf_block, &mut leaf, next)?;
                below.push((first.take().expect("leaf key"), leaf_block));
                leaf_block = next;
            }
            if leaf.is_empty() {
                first = Some(ItemKey {
                    key: key.to_vec(),
                    tid,
                });
            }
            leaf.push(key, tid);
            Ok(())
        })?;
        let Some(first) = first else {
            // No entries: the tree stays empty.
            return Ok(());
        };
        self.write_leaf(leaf_block, &mut leaf, NO_BLOCK)?;
        below.push((first, leaf_block));
        self.build_inner_levels(&mut meta, below, limit)
    }

    /// Write the leaf being built into `block` (its right sibling `right`)
    /// and start the next one.
    fn write_leaf(&self, block: u32, leaf: &mut LeafBuilder, right: u32) -> Result<()> {
        let p = self.shared.pool.fetch(self.rel, block)?;
        let mut g = p.write();
        leaf.write_into(right, &mut g[..]);
        self.log_built_page(block, &mut g[..]);
        p.mark_dirty();
        leaf.clear();
        Ok(())
    }

    /// The inner levels above `below` (each leaf's first entry and block),
    /// bottom-up, until one node is left: the root; then the meta page.
    fn build_inner_levels(
        &self,
        meta: &mut super::page::Meta,
        mut below: Vec<(ItemKey, u32)>,
        limit: usize,
    ) -> Result<()> {
        use super::page::Item;
        let mut level = 0u16;
        while below.len() > 1 {
            level += 1;
            let new_node = || Node {
                level,
                right: NO_BLOCK,
                items: Vec::new(),
            };
            let mut parents: Vec<(ItemKey, u32, Node)> = Vec::new();
            let mut cur = new_node();
            let mut cur_first: Option<ItemKey> = None;
            let mut cur_size = cur.byte_size();
            for (first, b) in below {
                let item = Item {
                    key: Some(first),
                    child: b,
                };
                if !cur.items.is_empty() && cur_size + item.size(true) > limit {
                    let full = std::mem::replace(&mut cur, new_node());
                    parents.push((cur_first.take().expect("first"), 0, full));
                    cur_size = cur.byte_size();
                }
                cur_size += item.size(true);
                if cur.items.is_empty() {
                    // The first item of an inner node is minus infinity; its
                    // key goes up as the node's separator.
                    cur_first = item.key;
                    cur.items.push(Item {
                        key: None,
                        child: b,
                    });
                } else {
                    cur.items.push(item);
                }
            }
            parents.push((cur_first.expect("first"), 0, cur));
            // Assign blocks, link siblings, write.
            for slot in parents.iter_mut() {
                slot.1 = self.alloc_block(meta)?;
            }
            let blocks: Vec<u32> = parents.iter().map(|n| n.1).collect();
            for (i, (_, b, n)) in parents.iter_mut().enumerate() {
                n.right = blocks.get(i + 1).copied().unwrap_or(NO_BLOCK);
                self.write_built_node(*b, n)?;
            }
            below = parents.into_iter().map(|(k, b, _)| (k, b)).collect();
        }
        meta.root = below[0].1;
        meta.root_level = level;
        self.write_meta(meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries_of(runs: &mut [Run]) -> Vec<(Vec<u8>, TupleId)> {
        let mut got = vec![];
        merge_runs(runs, |e| {
            got.push((e.key.to_vec(), e.tid));
            Ok(())
        })
        .unwrap();
        got
    }

    fn run_of(keys: &[(Vec<u8>, TupleId)]) -> Vec<(Vec<u8>, TupleId)> {
        let mut s = BTreeSink::default();
        for (k, t) in keys {
            s.add(k, *t).unwrap();
        }
        s.finish().unwrap();
        entries_of(&mut [Run::of(s)])
    }

    #[test]
    fn in_order_entries_stay_streamed_until_one_is_not() {
        let tid = |i: u32| TupleId {
            page: i / 10,
            slot: (i % 10) as u16,
        };
        let keys: Vec<(Vec<u8>, TupleId)> = (0..1000u32)
            .map(|i| ((i / 3).to_be_bytes().to_vec(), tid(i)))
            .collect();
        let mut s = BTreeSink::default();
        s.reserve(keys.len());
        for (k, t) in &keys {
            s.add(k, *t).unwrap();
        }
        assert!(!s.unsorted && s.recs.is_empty() && s.streamed == 1000);
        // The same entry twice is still in order.
        s.add(&keys[999].0, keys[999].1).unwrap();
        assert!(!s.unsorted);
        // One entry before the last one: the sink moves to its records.
        s.add(&5u32.to_be_bytes(), tid(2000)).unwrap();
        assert!(s.unsorted && s.stream.is_empty() && s.recs.len() == 1002);
        s.finish().unwrap();
        let mut want = keys.clone();
        want.push(keys[999].clone());
        want.push((5u32.to_be_bytes().to_vec(), tid(2000)));
        want.sort();
        assert_eq!(entries_of(&mut [Run::of(s)]), want);
    }

    #[test]
    fn sink_sort_matches_a_plain_sort() {
        for n in [0usize, 1, 7, 255, 256, 1000, 250_001] {
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ n as u64;
            let entries: Vec<(Vec<u8>, TupleId)> = (0..n)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // short, equal-prefix and long keys, with duplicates
                    let len = (x % 12) as usize;
                    let key: Vec<u8> = (0..len).map(|j| ((x >> (j * 5)) % 3) as u8).collect();
                    let tid = TupleId {
                        page: (i % 97) as u32,
                        slot: (i % 13) as u16,
                    };
                    (key, tid)
                })
                .collect();
            let mut want = entries.clone();
            want.sort();
            assert!(run_of(&entries) == want, "n = {n}");
        }
    }

    #[test]
    fn merge_of_runs_is_sorted() {
        // Two unsorted runs and one streamed (in order) run.
        let mut runs: Vec<Run> = (0..3u32)
            .map(|r| {
                let mut s = BTreeSink::default();
                for i in 0..500u32 {
                    let k = if r == 2 {
                        i * 2 + 1
                    } else {
                        (i * 7919 + r * 13) % 1000
                    };
                    s.add(
                        &k.to_be_bytes(),
                        TupleId {
                            page: r,
                            slot: i as u16,
                        },
                    )
                    .unwrap();
                }
                s.finish().unwrap();
                assert_eq!(s.unsorted, r != 2);
                Run::of(s)
            })
            .collect();
        let got = entries_of(&mut runs);
        assert_eq!(got.len(), 1500);
        assert!(got.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn too_large_keys_are_refused_when_added() {
        let mut s = BTreeSink::default();
        let big = vec![7u8; MAX_KEY_SIZE + 1];
        assert!(matches!(
            s.add(&big, TupleId { page: 0, slot: 1 }),
            Err(EngineError::IndexKeyTooLarge { .. })
        ));
    }
}
