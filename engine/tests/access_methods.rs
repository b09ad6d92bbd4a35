//! The shared access-method conformance suite: the same inserts, deletes,
//! scans, VACUUM, crash recovery, bulk build and verification run against
//! every index kind. Exact kinds must return exactly the model's entries;
//! lossy kinds (BRIN) must return page ranges covering every matching entry.
//! Then property tests hold the hash index (long keys, low fillfactor: splits
//! and overflow chains happen within a few hundred operations) and BRIN
//! against models.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::PathBuf;
use std::sync::Arc;

mod common;

use proptest::prelude::*;
use sargdb_engine::heap::TupleId;
use sargdb_engine::{
    frame_column_keys, split_column_keys, Engine, IndexEntry, IndexHandle, IndexKind, IndexOptions,
    IsolationLevel, KindStats, LockOutcome, ScanKey,
};

fn tmp(name: &str) -> common::TempDir {
    common::tmp_dir("am", name)
}

fn open(dir: &PathBuf) -> Arc<Engine> {
    common::open_engine(dir, 4 << 20)
}

/// A single-column-style key: value marker 0x02 then the number, padded.
fn key(k: u32, len: usize) -> Vec<u8> {
    let mut v = vec![0x02];
    v.extend_from_slice(&k.to_be_bytes());
    v.resize(len.max(5), b'k');
    v
}

const NULL_KEY: [u8; 1] = [0x03];

type Model = BTreeSet<(Vec<u8>, TupleId)>;

fn in_key(sk: &ScanKey, k: &[u8]) -> bool {
    match sk {
        ScanKey::All => true,
        ScanKey::Eq(x) => k == &x[..],
        ScanKey::Prefix(p) => k.starts_with(p),
        ScanKey::Range { lower, upper } => {
            (match lower {
                Bound::Unbounded => true,
                Bound::Included(l) => k >= &l[..],
                Bound::Excluded(l) => k > &l[..],
            }) && (match upper {
                Bound::Unbounded => true,
                Bound::Included(u) => k <= &u[..],
                Bound::Excluded(u) => k < &u[..],
            })
        }
        ScanKey::Column { column, key } => frames(k).get(*column).is_some_and(|c| in_key(key, c)),
    }
}

/// The column keys of a framed multi-column key.
fn frames(k: &[u8]) -> Vec<&[u8]> {
    let n = (0..=k.len())
        .find(|&n| split_column_keys(k, n).is_some())
        .unwrap_or(0);
    split_column_keys(k, n).unwrap_or_default()
}

/// The index answers `sk` as the model says: exactly, or (lossy kinds)
/// with pages covering every matching entry.
/// One 300-byte heap row per key (so a few rows fill a page), indexed in
/// one committed transaction: the first `split` through a bulk build, the
/// rest one insert at a time. Returns the model of the entries.
fn fill_split(
    e: &Arc<Engine>,
    idx: &IndexHandle,
    heap: u32,
    keys: impl Iterator<Item = Vec<u8>>,
    split: usize,
) -> Model {
    let mut t = e.begin(IsolationLevel::ReadCommitted);
    t.start_command();
    let mut model = Model::new();
    let mut pending = vec![];
    for (i, kb) in keys.enumerate() {
        let tid = t.insert(heap, &[7u8; 300]).unwrap();
        if i < split {
            pending.push(IndexEntry {
                key: kb.clone(),
                tid,
            });
        } else {
            if i == split {
                idx.build(std::mem::take(&mut pending), false).unwrap();
            }
            idx.insert(&kb, tid).unwrap();
        }
        model.insert((kb, tid));
    }
    if !pending.is_empty() {
        idx.build(pending, false).unwrap();
    }
    t.commit().unwrap();
    model
}

fn check(idx: &IndexHandle, model: &Model, sk: ScanKey) {
    let want: Vec<(Vec<u8>, TupleId)> = model
        .iter()
        .filter(|(k, _)| in_key(&sk, k))
        .cloned()
        .collect();
    if idx.capabilities().lossy_pages {
        let pages = idx.scan_pages(&sk).unwrap();
        assert!(pages.windows(2).all(|w| w[0].end < w[1].start), "{pages:?}");
        for (k, t) in &want {
            assert!(
                pages.iter().any(|r| r.contains(&t.page)),
                "{:?}: {k:?} at {t:?} not in {pages:?}",
                idx.kind()
            );
        }
        return;
    }
    let mut got: Vec<(Vec<u8>, TupleId)> = idx
        .scan(&sk, false)
        .unwrap()
        .map(|e| e.map(|e| (e.key, e.tid)).unwrap())
        .collect();
    if !idx.capabilities().ordered {
        got.sort();
    }
    if got != want {
        let first = got.iter().zip(&want).position(|(a, b)| a != b);
        panic!(
            "{:?} {sk:?}: got {} entries, want {}; first difference at {first:?}: {:?} vs {:?}",
            idx.kind(),
            got.len(),
            want.len(),
            first.map(|i| &got[i]),
            first.map(|i| &want[i]),
        );
    }
}

fn check_all(idx: &IndexHandle, model: &Model) {
    let caps = idx.capabilities();
    check(idx, model, ScanKey::All);
    for k in [0u32, 7, 123, 499, 10_000] {
        check(idx, model, ScanKey::Eq(key(k, 24)));
    }
    check(idx, model, ScanKey::Eq(NULL_KEY.to_vec()));
    if caps.range {
        check(
            idx,
            model,
            ScanKey::Range {
                lower: Bound::Included(key(100, 24)),
                upper: Bound::Excluded(key(140, 24)),
            },
        );
        check(
            idx,
            model,
            ScanKey::Range {
                lower: Bound::Excluded(key(480, 24)),
                upper: Bound::Excluded(NULL_KEY.to_vec()),
            },
        );
    }
    assert_eq!(
        idx.verify().unwrap(),
        Vec::<String>::new(),
        "{:?}",
        idx.kind()
    );
}

fn options() -> IndexOptions {
    IndexOptions {
        pages_per_range: 4,
        ..IndexOptions::default()
    }
}

/// The whole suite for one kind.
fn conformance(kind: IndexKind) {
    let dir = tmp(kind.name());
    let (heap, ix, ix2) = (10, 11, 12);
    let mut model = Model::new();
    let mut tids = vec![];
    {
        let e = open(&dir);
        let idx = e.open_index(heap, ix, kind, options()).unwrap();
        assert_eq!(idx.kind(), kind);
        assert_eq!(idx.capabilities(), kind.capabilities());
        let mut t = e.begin(IsolationLevel::ReadCommitted);
        t.start_command();
        // Keys follow insertion order loosely (so BRIN ranges are narrow)
        // with repeats, and some NULLs.
        for i in 0..4000u32 {
            let tid = t.insert(heap, format!("row{i:0100}").as_bytes()).unwrap();
            let k = if i % 97 == 0 {
                NULL_KEY.to_vec()
            } else {
                key(i / 8, 24)
            };
            idx.insert(&k, tid).unwrap();
            idx.insert(&k, tid).unwrap(); // idempotent
            model.insert((k, tid));
            tids.push(tid);
        }
        t.commit().unwrap();
        if kind.capabilities().lossy_pages {
            idx.summarize_new_values().unwrap();
        }
        check_all(&idx, &model);
        // Deletes (exact kinds drop the entry; lossy ones keep a superset).
        for (n, victim) in model.clone().iter().enumerate() {
            if n % 3 == 0 {
                let removed = idx.delete(&victim.0, victim.1).unwrap();
                if kind.capabilities().exact {
                    assert!(removed);
                    assert!(!idx.delete(&victim.0, victim.1).unwrap());
                    model.remove(victim);
                }
            }
        }
        check_all(&idx, &model);
        // crash: no checkpoint, the log is durable up to here
        e.flush_wal().unwrap();
    }
    let e = open(&dir);
    let idx = e.open_index(heap, ix, kind, options()).unwrap();
    check_all(&idx, &model);
    // VACUUM removes the entries of dead rows.
    let mut d = e.begin(IsolationLevel::ReadCommitted);
    d.start_command();
    let dead: Vec<TupleId> = tids.iter().copied().filter(|t| t.slot % 2 == 0).collect();
    for t in &dead {
        d.delete(heap, *t).unwrap();
    }
    d.commit().unwrap();
    e.vacuum(heap).unwrap();
    if kind.capabilities().exact {
        model.retain(|(_, t)| t.slot % 2 != 0);
    }
    check_all(&idx, &model);
    // A bulk build over the same rows answers the same.
    let built = e.open_index(heap, ix2, kind, options()).unwrap();
    built
        .build(
            model
                .iter()
                .map(|(k, t)| IndexEntry {
                    key: k.clone(),
                    tid: *t,
                })
                .collect(),
            true,
        )
        .unwrap();
    check_all(&built, &model);
    // So does a streaming build fed by two sinks (the two threads of a
    // build's heap pass), split mid-page so a BRIN range gets rows from both.
    let streamed = e.open_index(heap, 13, kind, options()).unwrap();
    let mut by_tid: Vec<&(Vec<u8>, TupleId)> = model.iter().collect();
    by_tid.sort_by_key(|(_, t)| *t);
    let (first, second) = by_tid.split_at(by_tid.len() / 2 + 3);
    let mut sinks = vec![];
    for part in [first, second] {
        let mut sink = streamed.build_sink().unwrap();
        for (k, t) in part {
            sink.add(k, *t).unwrap();
        }
        sinks.push(sink);
    }
    streamed.build_from(sinks).unwrap();
    check_all(&streamed, &model);
    assert_eq!(streamed.stats().unwrap(), built.stats().unwrap());
    assert_eq!(streamed.verify().unwrap(), Vec::<String>::new());
    // A sink of another kind's index is refused, not misread.
    let other = match kind {
        IndexKind::Brin => IndexKind::Hash,
        _ => IndexKind::Brin,
    };
    let foreign = e.open_index(heap, 14, other, options()).unwrap();
    let empty = e.open_index(heap, 15, kind, options()).unwrap();
    assert!(empty
        .build_from(vec![foreign.build_sink().unwrap()])
        .is_err());
    let s = built.stats().unwrap();
    assert!(s.index_size > 0);
    if kind.capabilities().exact {
        assert_eq!(s.entries, model.len() as u64);
    }
}

#[test]
fn conformance_btree() {
    conformance(IndexKind::BTree);
}

#[test]
fn conformance_hash() {
    conformance(IndexKind::Hash);
}

#[test]
fn conformance_brin() {
    conformance(IndexKind::Brin);
}

#[test]
fn hash_splits_buckets_and_chains_overflow_pages() {
    let dir = tmp("hash-grow");
    let e = open(&dir);
    let idx = e
        .open_index(1, 2, IndexKind::Hash, IndexOptions::default())
        .unwrap();
    let tid = |n: u32| TupleId {
        page: n / 50,
        slot: (n % 50) as u16,
    };
    // Distinct keys: buckets split one at a time.
    for i in 0..20_000u32 {
        idx.insert(&key(i, 12), tid(i)).unwrap();
    }
    // One key repeated: its bucket needs overflow pages.
    for i in 0..3_000u32 {
        idx.insert(&key(7, 12), tid(100_000 + i)).unwrap();
    }
    let s = idx.stats().unwrap();
    let KindStats::Hash(h) = &s.detail else {
        panic!("{s:?}")
    };
    assert!(h.bucket_pages > 20, "{h:?}");
    assert_eq!(h.splits, h.bucket_pages - 1);
    assert!(h.overflow_pages >= 4, "{h:?}");
    assert_eq!(h.live_items, 23_000);
    assert!(h.free_percent > 0.0 && h.free_percent < 60.0, "{h:?}");
    assert_eq!(idx.verify().unwrap(), Vec::<String>::new());
    assert_eq!(
        idx.scan(&ScanKey::Eq(key(7, 12)), false).unwrap().count(),
        3_001
    );
    // Unsupported scans are errors, not wrong answers.
    assert!(idx.scan(&ScanKey::Prefix(vec![2]), false).is_err());
    // VACUUM squeezes the chain and recycles its overflow pages.
    let size = s.index_size;
    idx.bulk_delete(&|t| t.page >= 2000).unwrap();
    let s2 = idx.stats().unwrap();
    let KindStats::Hash(h2) = &s2.detail else {
        panic!()
    };
    assert_eq!(h2.live_items, 20_000);
    assert!(h2.overflow_pages < h.overflow_pages, "{h2:?}");
    assert!(h2.unused_pages > 0);
    assert_eq!(idx.verify().unwrap(), Vec::<String>::new());
    for i in 0..3_000u32 {
        idx.insert(&key(9, 12), tid(200_000 + i)).unwrap();
    }
    assert_eq!(
        idx.stats().unwrap().index_size,
        size,
        "free pages are reused"
    );
}

/// A bulk build lays its primary pages out one after another, so its
/// buckets need no directory; when linear hashing would leave the unsplit
/// buckets with more than a page each, it builds a power-of-two number of
/// buckets instead (no overflow pages: a lookup reads one bucket page).
/// Splits after the build address their buckets through the directory;
/// lookups, verify and recovery agree throughout.
#[test]
fn hash_build_addresses_buckets_without_a_directory() {
    let dir = tmp("hash-contig");
    let tid = |n: u32| TupleId {
        page: n / 50,
        slot: (n % 50) as u16,
    };
    // 3,000 entries of 22 bytes: 11 buckets at the fill factor, whose 5
    // unsplit ones would hold 2 x 66,000 / 16 = 8,250 bytes (a page holds
    // 8,164): 16 buckets, none overflowing.
    let entries: Vec<IndexEntry> = (0..3_000u32)
        .map(|i| IndexEntry {
            key: key(i, 12),
            tid: tid(i),
        })
        .collect();
    let hash_stats = |idx: &IndexHandle| {
        let s = idx.stats().unwrap();
        match s.detail {
            KindStats::Hash(h) => (h, s.index_size),
            _ => panic!("{s:?}"),
        }
    };
    {
        let e = open(&dir);
        let idx = e
            .open_index(1, 2, IndexKind::Hash, IndexOptions::default())
            .unwrap();
        idx.build(entries, false).unwrap();
        let (h, size) = hash_stats(&idx);
        assert_eq!(
            (h.bucket_pages, h.overflow_pages, h.bitmap_pages),
            (16, 0, 0),
            "{h:?}"
        );
        assert_eq!(size, 17 * 8192, "the meta page and 16 bucket pages");
        assert_eq!(idx.verify().unwrap(), Vec::<String>::new());
        for i in (0..3_000u32).step_by(7) {
            let hits: Vec<TupleId> = idx
                .scan(&ScanKey::Eq(key(i, 12)), false)
                .unwrap()
                .map(|e| e.unwrap().tid)
                .collect();
            assert_eq!(hits, vec![tid(i)], "key {i}");
        }
        // Grow past the build's buckets: the new ones are in the directory.
        for i in 3_000..7_000u32 {
            idx.insert(&key(i, 12), tid(i)).unwrap();
        }
        let (h, _) = hash_stats(&idx);
        assert!(h.bucket_pages > 16 && h.bitmap_pages == 1, "{h:?}");
        assert_eq!(h.splits, h.bucket_pages - 16);
        assert_eq!(idx.verify().unwrap(), Vec::<String>::new());
        e.flush_wal().unwrap();
        // crash: no checkpoint
    }
    let e = open(&dir);
    let idx = e
        .open_index(1, 2, IndexKind::Hash, IndexOptions::default())
        .unwrap();
    assert_eq!(idx.verify().unwrap(), Vec::<String>::new());
    for i in 0..7_000u32 {
        let hits: Vec<TupleId> = idx
            .scan(&ScanKey::Eq(key(i, 12)), false)
            .unwrap()
            .map(|e| e.unwrap().tid)
            .collect();
        assert_eq!(hits, vec![tid(i)], "key {i} after recovery");
    }
}

#[test]
fn brin_prunes_ranges_and_summarizes_new_ones() {
    let dir = tmp("brin-prune");
    let e = open(&dir);
    let heap = 1;
    let opts = IndexOptions {
        pages_per_range: 2,
        ..IndexOptions::default()
    };
    let idx = e
        .open_index(heap, 2, IndexKind::Brin, opts.clone())
        .unwrap();
    let mut t = e.begin(IsolationLevel::ReadCommitted);
    t.start_command();
    let mut entries = vec![];
    for i in 0..2000u32 {
        let tid = t.insert(heap, &[0u8; 200]).unwrap();
        entries.push(IndexEntry {
            key: key(i, 5),
            tid,
        });
    }
    idx.build(entries.clone(), true).unwrap();
    let heap_pages = e.relation_pages(heap).unwrap();
    assert!(heap_pages > 20);
    let q = ScanKey::Range {
        lower: Bound::Included(key(1000, 5)),
        upper: Bound::Included(key(1010, 5)),
    };
    let pages = idx.scan_pages(&q).unwrap();
    let n: u32 = pages.iter().map(|r| r.end - r.start).sum();
    assert!(n <= 4, "a narrow range reads a range or two: {pages:?}");
    // New rows land in new, unsummarized ranges: always candidates.
    for i in 2000..3000u32 {
        let tid = t.insert(heap, &[0u8; 200]).unwrap();
        idx.insert(&key(i, 5), tid).unwrap();
    }
    t.commit().unwrap();
    let pages = idx.scan_pages(&q).unwrap();
    let unsummarized: u32 = pages.iter().map(|r| r.end - r.start).sum();
    assert!(unsummarized > n);
    // VACUUM summarizes the full ranges, not the one still filling.
    let heap_pages = e.relation_pages(heap).unwrap();
    e.vacuum(heap).unwrap();
    let KindStats::Brin(b) = idx.stats().unwrap().detail else {
        panic!()
    };
    assert_eq!(
        b.unsummarized_ranges,
        !heap_pages.is_multiple_of(2) as u64,
        "{b:?}"
    );
    let pages = idx.scan_pages(&q).unwrap();
    assert!(pages.iter().map(|r| r.end - r.start).sum::<u32>() <= n + 2);
    let new = idx.summarize_new_values().unwrap();
    assert_eq!(new, !heap_pages.is_multiple_of(2) as u64);
    assert_eq!(idx.summarize_new_values().unwrap(), 0);
    let pages = idx.scan_pages(&q).unwrap();
    assert_eq!(pages.iter().map(|r| r.end - r.start).sum::<u32>(), n);
    let KindStats::Brin(b) = idx.stats().unwrap().detail else {
        panic!()
    };
    assert_eq!(b.unsummarized_ranges, 0);
    assert_eq!(b.ranges, e.relation_pages(heap).unwrap().div_ceil(2) as u64);
    assert!(idx.scan(&ScanKey::All, false).is_err());
}

#[test]
fn brin_autosummarize_summarizes_ranges_as_inserts_move_on() {
    let dir = tmp("brin-auto");
    let e = open(&dir);
    let heap = 1;
    let opts = IndexOptions {
        pages_per_range: 1,
        autosummarize: true,
        ..IndexOptions::default()
    };
    let idx = e.open_index(heap, 2, IndexKind::Brin, opts).unwrap();
    let mut t = e.begin(IsolationLevel::ReadCommitted);
    t.start_command();
    for i in 0..1000u32 {
        let tid = t.insert(heap, &[0u8; 200]).unwrap();
        idx.insert(&key(i, 5), tid).unwrap();
    }
    t.commit().unwrap();
    let KindStats::Brin(b) = idx.stats().unwrap().detail else {
        panic!()
    };
    assert_eq!(
        b.unsummarized_ranges, 1,
        "only the range being filled: {b:?}"
    );
    assert_eq!(idx.summarize_new_values().unwrap(), 1);
}

#[derive(Clone, Debug)]
enum Op {
    Insert(u32, u32),
    Delete(usize),
    Lookup(u32),
    Vacuum(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u32..150, 0u32..100_000).prop_map(|(k, t)| Op::Insert(k, t)),
        2 => any::<usize>().prop_map(Op::Delete),
        2 => (0u32..160).prop_map(Op::Lookup),
        1 => (0u32..7).prop_map(Op::Vacuum),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]
    /// Hash index against a set model. Keys of 200..1000 bytes make a page
    /// hold a handful of entries, so splits and overflow pages happen early.
    #[test]
    fn hash_behaves_like_a_set(ops in proptest::collection::vec(op(), 1..500), klen in 200usize..1000, ff in 10u8..100) {
        let dir = tmp("hash-prop");
        let e = open(&dir);
        let opts = IndexOptions { fillfactor: ff, ..IndexOptions::default() };
        let idx = e.open_index(1, 2, IndexKind::Hash, opts.clone()).unwrap();
        let mut model = Model::new();
        let tid = |n: u32| TupleId { page: n / 7, slot: (n % 7) as u16 };
        for op in ops {
            match op {
                Op::Insert(k, t) => {
                    idx.insert(&key(k, klen), tid(t)).unwrap();
                    model.insert((key(k, klen), tid(t)));
                }
                Op::Delete(i) => {
                    if model.is_empty() { continue; }
                    let victim = model.iter().nth(i % model.len()).unwrap().clone();
                    prop_assert!(idx.delete(&victim.0, victim.1).unwrap());
                    model.remove(&victim);
                }
                Op::Lookup(k) => {
                    let mut got: Vec<_> = idx.scan(&ScanKey::Eq(key(k, klen)), false).unwrap()
                        .map(|e| e.map(|e| (e.key, e.tid)).unwrap()).collect();
                    got.sort();
                    let want: Vec<_> = model.iter().filter(|(x, _)| *x == key(k, klen)).cloned().collect();
                    prop_assert_eq!(got, want);
                }
                Op::Vacuum(m) => {
                    idx.bulk_delete(&|t| t.page % 7 == m).unwrap();
                    model.retain(|(_, t)| t.page % 7 != m);
                }
            }
        }
        let mut all: Vec<_> = idx.scan(&ScanKey::All, false).unwrap().map(|e| e.map(|e| (e.key, e.tid)).unwrap()).collect();
        all.sort();
        prop_assert_eq!(all, model.iter().cloned().collect::<Vec<_>>());
        prop_assert_eq!(idx.verify().unwrap(), Vec::<String>::new());
        prop_assert_eq!(idx.stats().unwrap().entries, model.len() as u64);
        // Recovery replays the same index.
        e.flush_wal().unwrap();
        drop(idx);
        drop(e);
        let e = open(&dir);
        let idx = e.open_index(1, 2, IndexKind::Hash, opts).unwrap();
        prop_assert_eq!(idx.verify().unwrap(), Vec::<String>::new());
        prop_assert_eq!(idx.scan(&ScanKey::All, false).unwrap().count(), model.len());
    }

    /// BRIN never misses a row: whatever the keys and the order they arrive
    /// in, every row matching a range or equality is on a returned page.
    #[test]
    fn brin_never_misses(keys in proptest::collection::vec(prop_oneof![9 => (0u32..1000).prop_map(Some), 1 => Just(None)], 1..600),
                         ppr in 1u32..6, build_first in 0usize..600, lo in 0u32..1000, width in 0u32..300, auto in any::<bool>()) {
        let dir = tmp("brin-prop");
        let e = open(&dir);
        let heap = 1;
        let opts = IndexOptions { pages_per_range: ppr, autosummarize: auto, ..IndexOptions::default() };
        let idx = e.open_index(heap, 2, IndexKind::Brin, opts).unwrap();
        let model = fill_split(&e, &idx, heap, keys.iter().map(|k| match k { Some(k) => key(*k, 5), None => NULL_KEY.to_vec() }), build_first);
        let q = ScanKey::Range { lower: Bound::Included(key(lo, 5)), upper: Bound::Included(key(lo + width, 5)) };
        check(&idx, &model, q.clone());
        check(&idx, &model, ScanKey::Eq(key(lo, 5)));
        check(&idx, &model, ScanKey::Eq(NULL_KEY.to_vec()));
        idx.summarize_new_values().unwrap();
        check(&idx, &model, q);
        check(&idx, &model, ScanKey::Eq(key(lo, 5)));
        check(&idx, &model, ScanKey::Eq(NULL_KEY.to_vec()));
        for (k, tid) in &model {
            prop_assert!(idx.covers(k, *tid).unwrap());
        }
        prop_assert_eq!(idx.verify().unwrap(), Vec::<String>::new());
    }

    /// Multi-column BRIN never misses a row either, whichever column a
    /// scan constrains: one summary per column per range.
    #[test]
    fn brin_multi_column_never_misses(rows in proptest::collection::vec((prop_oneof![9 => (0u32..1000).prop_map(Some), 1 => Just(None)], prop_oneof![9 => (0u32..1000).prop_map(Some), 1 => Just(None)]), 1..400),
                                      ppr in 1u32..6, build_first in 0usize..400, lo in 0u32..1000, width in 0u32..300) {
        let dir = tmp("brin-multi-prop");
        let e = open(&dir);
        let heap = 1;
        let opts = IndexOptions { pages_per_range: ppr, columns: 2, ..IndexOptions::default() };
        let idx = e.open_index(heap, 2, IndexKind::Brin, opts).unwrap();
        let col = |k: &Option<u32>| match k { Some(k) => key(*k, 5), None => NULL_KEY.to_vec() };
        let model = fill_split(&e, &idx, heap, rows.iter().map(|(a, b)| frame_column_keys(&[col(a), col(b)])), build_first);
        let on = |c: usize, k: ScanKey| ScanKey::Column { column: c, key: Box::new(k) };
        let range = ScanKey::Range { lower: Bound::Included(key(lo, 5)), upper: Bound::Included(key(lo + width, 5)) };
        for summarize in [false, true] {
            if summarize { idx.summarize_new_values().unwrap(); }
            for c in 0..2 {
                check(&idx, &model, on(c, range.clone()));
                check(&idx, &model, on(c, ScanKey::Eq(key(lo, 5))));
                check(&idx, &model, on(c, ScanKey::Eq(NULL_KEY.to_vec())));
            }
        }
        for (k, tid) in &model {
            prop_assert!(idx.covers(k, *tid).unwrap());
        }
        prop_assert_eq!(idx.verify().unwrap(), Vec::<String>::new());
    }
}

/// A multi-column BRIN index prunes on its second column as well as on its
/// first: with `b` following the physical order and `a` not, a narrow range
/// of `b` reads a few page ranges, one of `a` reads them all. It survives a
/// restart (the column count is in its meta page).
#[test]
fn brin_multi_column_prunes_on_any_column() {
    let dir = tmp("brin-multi");
    let heap = 1;
    let opts = IndexOptions {
        pages_per_range: 1,
        columns: 2,
        ..IndexOptions::default()
    };
    let on = |c: usize, lo: u32, hi: u32| ScanKey::Column {
        column: c,
        key: Box::new(ScanKey::Range {
            lower: Bound::Included(key(lo, 5)),
            upper: Bound::Included(key(hi, 5)),
        }),
    };
    let pages = |idx: &IndexHandle, sk: &ScanKey| -> u32 {
        idx.scan_pages(sk)
            .unwrap()
            .iter()
            .map(|r| r.end - r.start)
            .sum()
    };
    let (narrow_b, all_a);
    {
        let e = open(&dir);
        let idx = e
            .open_index(heap, 2, IndexKind::Brin, opts.clone())
            .unwrap();
        let mut t = e.begin(IsolationLevel::ReadCommitted);
        t.start_command();
        for i in 0..2000u32 {
            let tid = t.insert(heap, &[7u8; 300]).unwrap();
            // a cycles through 0..10 on every page; b grows with the row.
            let kb = frame_column_keys(&[key(i % 10, 5), key(i, 5)]);
            idx.insert(&kb, tid).unwrap();
        }
        t.commit().unwrap();
        idx.summarize_new_values().unwrap();
        let total = pages(&idx, &ScanKey::All);
        narrow_b = pages(&idx, &on(1, 500, 520));
        all_a = pages(&idx, &on(0, 3, 3));
        assert!(total > 50, "{total} heap pages");
        assert!(
            narrow_b <= 3,
            "b in [500, 520] reads {narrow_b} of {total} pages"
        );
        assert_eq!(all_a, total, "every page has a = 3");
        assert_eq!(pages(&idx, &on(0, 11, 20)), 0, "no a above 9");
        assert_eq!(idx.verify().unwrap(), Vec::<String>::new());
        e.shutdown().unwrap();
    }
    let e = open(&dir);
    // Opened with other options: the meta page's column count wins.
    let idx = e
        .open_index(heap, 2, IndexKind::Brin, IndexOptions::default())
        .unwrap();
    assert_eq!(pages(&idx, &on(1, 500, 520)), narrow_b);
    assert_eq!(pages(&idx, &on(0, 3, 3)), all_a);
}

/// A crash can cut the WAL anywhere: whatever prefix survives, the
/// recovered hash index is whole (a bucket split, a new overflow page, a
/// squeeze by VACUUM replay all or nothing; the meta page's counters agree
/// with the buckets) and keeps working. The B+Tree's version is in btree.rs.
#[test]
fn hash_every_wal_prefix_recovers_a_whole_index() {
    let dir = tmp("hash-prefix");
    let tid = |n: u32| TupleId {
        page: n / 50,
        slot: (n % 50) as u16,
    };
    let start;
    {
        let e = open(&dir);
        let idx = e
            .open_index(1, 2, IndexKind::Hash, IndexOptions::default())
            .unwrap();
        e.flush_wal().unwrap();
        start = common::wal_end(&dir);
        for i in 0..4_000u32 {
            idx.insert(&key(i, 40), tid(i)).unwrap();
        }
        for i in 0..1_500u32 {
            idx.insert(&key(7, 40), tid(100_000 + i)).unwrap();
        }
        idx.bulk_delete(&|t| t.page >= 2000 && t.slot % 2 == 0)
            .unwrap();
        for i in 4_000..5_000u32 {
            idx.insert(&key(i, 40), tid(i)).unwrap();
        }
        let s = idx.stats().unwrap();
        let KindStats::Hash(h) = &s.detail else {
            panic!("{s:?}")
        };
        assert!(h.splits > 10 && h.overflow_pages > 0, "{h:?}");
        e.flush_wal().unwrap();
        // crash: no checkpoint, no page written
    }
    common::for_each_wal_prefix(&dir, start, 100, |img, cut| {
        let e = open(&img.to_path_buf());
        let idx = e
            .open_index(1, 2, IndexKind::Hash, IndexOptions::default())
            .unwrap();
        assert_eq!(
            idx.verify().unwrap(),
            Vec::<String>::new(),
            "WAL cut at {cut}"
        );
        for i in 0..500u32 {
            idx.insert(&key(10_000 + i, 40), tid(10_000 + i)).unwrap();
        }
        assert_eq!(
            idx.verify().unwrap(),
            Vec::<String>::new(),
            "WAL cut at {cut}, after more inserts"
        );
        for i in 0..500u32 {
            let hits: Vec<TupleId> = idx
                .scan(&ScanKey::Eq(key(10_000 + i, 40)), false)
                .unwrap()
                .map(|e| e.unwrap().tid)
                .collect();
            assert_eq!(hits, vec![tid(10_000 + i)], "WAL cut at {cut}: key {i}");
        }
    });
}

/// A scan finds an entry whose row is dead to everyone and means to remove
/// it ("kill"); before it does, VACUUM removes the entry itself, frees the
/// row's slot, and a new row with the same key takes that slot, so the new
/// row's entry is the very same (key, tid). The late kill must leave it:
/// `kill` removes nothing once the table's VACUUM epoch moved.
fn kill_after_vacuum_spares_a_new_row_in_the_freed_slot(kind: IndexKind) {
    let dir = tmp(&format!("kill_reuse_{}", kind.name()));
    let e = open(&dir);
    let (heap, ix) = (30, 31);
    let idx = e.open_index(heap, ix, kind, options()).unwrap();
    let k = key(7, 12);
    let mut t = e.begin(IsolationLevel::ReadCommitted);
    t.start_command();
    let old = t.insert(heap, b"old row").unwrap();
    idx.insert(&k, old).unwrap();
    t.commit().unwrap();
    let mut d = e.begin(IsolationLevel::ReadCommitted);
    d.start_command();
    assert_eq!(d.delete(heap, old).unwrap(), LockOutcome::Ok);
    d.commit().unwrap();
    // The scan: epoch first, then the entries.
    let epoch = e.vacuum_epoch(heap);
    let seen: Vec<IndexEntry> = idx
        .scan(&ScanKey::Eq(k.clone()), false)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(seen.len(), 1);
    // Meanwhile: VACUUM, and a new row with the same key in the same slot.
    e.vacuum(heap).unwrap();
    assert_ne!(e.vacuum_epoch(heap), epoch);
    let mut n = e.begin(IsolationLevel::ReadCommitted);
    n.start_command();
    let new = n.insert(heap, b"new row").unwrap();
    assert_eq!(new, old, "the freed slot is reused");
    idx.insert(&k, new).unwrap();
    n.commit().unwrap();
    // The scan's late kill.
    let removed = idx.kill(&seen, &|| e.vacuum_epoch(heap) == epoch).unwrap();
    assert_eq!(removed, 0);
    let now: Vec<TupleId> = idx
        .scan(&ScanKey::Eq(k.clone()), false)
        .unwrap()
        .map(|r| r.unwrap().tid)
        .collect();
    assert_eq!(now, vec![new], "the new row keeps its entry");
    // Without a VACUUM in between, a kill does remove.
    let epoch = e.vacuum_epoch(heap);
    let entries: Vec<IndexEntry> = idx
        .scan(&ScanKey::Eq(k.clone()), false)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(
        idx.kill(&entries, &|| e.vacuum_epoch(heap) == epoch)
            .unwrap(),
        1
    );
}

#[test]
fn kill_after_vacuum_spares_reused_slot_btree() {
    kill_after_vacuum_spares_a_new_row_in_the_freed_slot(IndexKind::BTree);
}

#[test]
fn kill_after_vacuum_spares_reused_slot_hash() {
    kill_after_vacuum_spares_a_new_row_in_the_freed_slot(IndexKind::Hash);
}

/// A VACUUM of the table while CREATE INDEX reads the heap summarizes the
/// new BRIN index's (still empty) ranges; the build that follows rewrites
/// those pages from its own pass instead of refusing a non-empty index,
/// and no range keeps the empty summary that would hide its rows.
#[test]
fn brin_build_after_a_vacuum_summarized_the_new_index() {
    let dir = tmp("brin-vacuum-build");
    let e = open(&dir);
    let heap = 1;
    let opts = IndexOptions {
        pages_per_range: 2,
        ..IndexOptions::default()
    };
    let mut t = e.begin(IsolationLevel::ReadCommitted);
    t.start_command();
    let mut entries = vec![];
    for i in 0..2000u32 {
        let tid = t.insert(heap, &[0u8; 200]).unwrap();
        entries.push((key(i, 5), tid));
    }
    t.commit().unwrap();
    let idx = e.open_index(heap, 2, IndexKind::Brin, opts).unwrap();
    e.vacuum(heap).unwrap();
    assert!(
        e.relation_pages(2).unwrap() > 1,
        "the vacuum wrote summaries"
    );
    let mut sink = idx.build_sink().unwrap();
    for (k, tid) in &entries {
        sink.add(k, *tid).unwrap();
    }
    sink.finish().unwrap();
    idx.build_from(vec![sink]).unwrap();
    assert_eq!(idx.verify().unwrap(), Vec::<String>::new());
    let q = ScanKey::Range {
        lower: Bound::Included(key(1000, 5)),
        upper: Bound::Included(key(1010, 5)),
    };
    let pages: Vec<_> = idx.scan_pages(&q).unwrap();
    let covered = |tid: TupleId| pages.iter().any(|r| r.contains(&tid.page));
    for (k, tid) in &entries[1000..=1010] {
        assert!(covered(*tid), "{k:?} at {tid:?} not in {pages:?}");
    }
    let n: u32 = pages.iter().map(|r| r.end - r.start).sum();
    assert!(n <= 4, "a narrow range reads a range or two: {pages:?}");
}
