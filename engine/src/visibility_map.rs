//! The visibility map: one bit per heap page, set when every tuple on the
//! page is visible to every snapshot, running or future. Index-only scans
//! read it to skip the heap fetch of an entry whose page is all-visible.
//!
//! Who changes it, and the invariants index-only scans rely on:
//! - Only VACUUM sets a bit, under the heap page's write latch, after
//!   proving every remaining tuple on the page committed before the oldest
//!   snapshot and not deleted (index entries of dead tuples are gone by
//!   then). It sets the page header flag `PAGE_ALL_VISIBLE` at the same
//!   time and WAL-logs the flag (a page patch or image).
//! - Every heap change (insert, delete, update, row lock) clears the bit and
//!   the flag under the page's write latch *before* the change is made and
//!   logged (`heap::clear_all_visible`). A reader that finds an index entry
//!   of a new tuple therefore finds the bit already clear: the index entry
//!   was added after the heap tuple, under the index page's latch.
//! - Both set and clear happen before the WAL record of the page change is
//!   appended, so a checkpoint that snapshots the map after fixing its redo
//!   point never misses a change older than that point.
//!
//! Crash safety: the map lives in memory and is written to `<data_dir>/vm`
//! at every checkpoint. Recovery loads it and then, for every heap page a
//! WAL record after the redo point touches, sets the bit to the page's
//! `PAGE_ALL_VISIBLE` flag as it is after the record (redo of a heap change
//! clears the flag, as the change did). A bit whose setting record was lost
//! in a crash is still right: the page is as it was when VACUUM proved it.
//!
//! Stale index entries: a scan may hold index entries it read before a
//! VACUUM removed them (pass 2) and then freed their tuples' slots and
//! marked the page all-visible (pass 3). Trusting the bit for such an entry
//! would return a deleted row. So VACUUM bumps the relation's *freeing
//! epoch* between the two passes, and an index-only scan trusts a bit only
//! if the epoch it read before reading any entry is still current
//! (`is_set_since`; bit and epoch are read under one lock, so a bit set by
//! a VACUUM comes with that VACUUM's bump). Otherwise it asks the heap,
//! which cannot show a later tuple in a reused slot to the older snapshot.
//!
//! This module must not decide visibility itself; VACUUM does (engine.rs).

use std::collections::HashMap;

use parking_lot::RwLock;

use crate::RelFileId;

/// All-visible bits of every heap relation that has one set.
#[derive(Default)]
pub struct VisibilityMap {
    /// Looked up for every entry an index-only scan returns: a cheap hash.
    rels: RwLock<HashMap<RelFileId, RelMap, crate::buffer::BuildPageHasher>>,
}

#[derive(Default)]
struct RelMap {
    bits: Vec<u64>,
    /// VACUUMs that freed tuple slots of the relation (see the module doc).
    freeing_epoch: u64,
}

impl VisibilityMap {
    /// Whether page `block` of `rel` is all-visible.
    pub fn is_set(&self, rel: RelFileId, block: u32) -> bool {
        let (w, b) = split(block);
        self.rels
            .read()
            .get(&rel)
            .and_then(|v| v.bits.get(w))
            .is_some_and(|word| word & b != 0)
    }

    /// The relation's freeing epoch: read it before reading index entries
    /// that `is_set_since` will be asked about.
    pub fn freeing_epoch(&self, rel: RelFileId) -> u64 {
        self.rels.read().get(&rel).map_or(0, |v| v.freeing_epoch)
    }

    /// Whether page `block` is all-visible and no VACUUM freed slots of
    /// `rel` since `epoch` was read: only then may an index entry read
    /// after that be trusted without visiting the heap.
    pub fn is_set_since(&self, rel: RelFileId, block: u32, epoch: u64) -> bool {
        let (w, b) = split(block);
        let rels = self.rels.read();
        let Some(v) = rels.get(&rel) else {
            return false;
        };
        v.freeing_epoch == epoch && v.bits.get(w).is_some_and(|word| word & b != 0)
    }

    /// A VACUUM removed index entries and is about to free their tuples'
    /// slots.
    pub fn bump_freeing_epoch(&self, rel: RelFileId) {
        self.rels.write().entry(rel).or_default().freeing_epoch += 1;
    }

    /// Mark page `block` all-visible.
    pub fn set(&self, rel: RelFileId, block: u32) {
        let (w, b) = split(block);
        let mut rels = self.rels.write();
        let v = &mut rels.entry(rel).or_default().bits;
        if v.len() <= w {
            v.resize(w + 1, 0);
        }
        v[w] |= b;
    }

    /// Page `block` may hold tuples some snapshot cannot see.
    pub fn clear(&self, rel: RelFileId, block: u32) {
        if !self.is_set(rel, block) {
            return;
        }
        let (w, b) = split(block);
        if let Some(word) = self
            .rels
            .write()
            .get_mut(&rel)
            .and_then(|v| v.bits.get_mut(w))
        {
            *word &= !b;
        }
    }

    /// Set or clear the bit (recovery: from the page's flag).
    pub fn set_to(&self, rel: RelFileId, block: u32, all_visible: bool) {
        if all_visible {
            self.set(rel, block)
        } else {
            self.clear(rel, block)
        }
    }

    /// Number of all-visible pages of `rel` (Postgres's `relallvisible`).
    pub fn count(&self, rel: RelFileId) -> u32 {
        self.rels
            .read()
            .get(&rel)
            .map_or(0, |v| v.bits.iter().map(|w| w.count_ones()).sum())
    }

    /// Forget a dropped relation.
    pub fn remove(&self, rel: RelFileId) {
        self.rels.write().remove(&rel);
    }

    /// The map as stored in `<data_dir>/vm`: per relation with a bit set,
    /// `u32 rel, u32 word count, words (u64)`, all little-endian.
    pub fn encode(&self) -> Vec<u8> {
        let rels = self.rels.read();
        let mut keys: Vec<&RelFileId> = rels.keys().collect();
        keys.sort();
        let mut out = Vec::new();
        for rel in keys {
            let words = &rels[rel].bits;
            let n = words.iter().rposition(|w| *w != 0).map_or(0, |i| i + 1);
            if n == 0 {
                continue;
            }
            out.extend_from_slice(&rel.to_le_bytes());
            out.extend_from_slice(&(n as u32).to_le_bytes());
            for w in &words[..n] {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
        out
    }

    /// Read a map written by `encode`; None if the bytes are malformed.
    pub fn decode(bytes: &[u8]) -> Option<VisibilityMap> {
        let mut rels: HashMap<RelFileId, RelMap, crate::buffer::BuildPageHasher> =
            HashMap::default();
        let mut at = 0;
        let u32_at = |at: usize| -> Option<u32> {
            Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
        };
        while at < bytes.len() {
            let rel = u32_at(at)?;
            let n = u32_at(at + 4)? as usize;
            at += 8;
            let end = at.checked_add(n.checked_mul(8)?)?;
            let words = bytes
                .get(at..end)?
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect();
            rels.insert(
                rel,
                RelMap {
                    bits: words,
                    freeing_epoch: 0,
                },
            );
            at = end;
        }
        Some(VisibilityMap {
            rels: RwLock::new(rels),
        })
    }
}

fn split(block: u32) -> (usize, u64) {
    ((block / 64) as usize, 1u64 << (block % 64))
}

#[cfg(test)]
mod tests {
    use super::VisibilityMap;

    #[test]
    fn set_clear_count_roundtrip() {
        let vm = VisibilityMap::default();
        assert!(!vm.is_set(7, 3));
        vm.set(7, 3);
        vm.set(7, 130);
        vm.set(9, 0);
        assert!(vm.is_set(7, 3) && vm.is_set(7, 130) && !vm.is_set(7, 4));
        assert_eq!(vm.count(7), 2);
        vm.clear(7, 3);
        vm.clear(7, 1_000_000);
        assert!(!vm.is_set(7, 3));
        let back = VisibilityMap::decode(&vm.encode()).unwrap();
        assert!(back.is_set(7, 130) && back.is_set(9, 0) && !back.is_set(7, 3));
        assert_eq!(back.count(7), 1);
        vm.remove(7);
        assert_eq!(vm.count(7), 0);
        assert!(VisibilityMap::decode(&[1, 0, 0, 0, 5, 0, 0, 0, 1]).is_none());
        let e = back.freeing_epoch(7);
        assert!(back.is_set_since(7, 130, e));
        back.bump_freeing_epoch(7);
        assert!(back.is_set(7, 130) && !back.is_set_since(7, 130, e));
        assert!(back.is_set_since(7, 130, back.freeing_epoch(7)));
    }
}
