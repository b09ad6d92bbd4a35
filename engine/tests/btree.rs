//! B+Tree access method: model-based property tests (against a BTreeSet of
//! (key, tid)), bulk build, crash recovery and VACUUM of index entries.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::PathBuf;
use std::sync::Arc;

mod common;

use proptest::prelude::*;
use sargdb_engine::heap::TupleId;
use sargdb_engine::{
    Engine, IndexEntry, IndexHandle, IndexKind, IndexOptions, IsolationLevel, ScanKey,
};

fn tmp(name: &str) -> common::TempDir {
    common::tmp_dir("btree", name)
}

fn open(dir: &PathBuf) -> Arc<Engine> {
    common::open_engine(dir, 2 << 20)
}

/// Keys long enough that a page holds a few dozen entries, so a few hundred
/// operations split and merge pages.
fn key(k: u16, len: usize) -> Vec<u8> {
    let mut v = k.to_be_bytes().to_vec();
    v.resize(len, b'k');
    v
}

fn tid(n: u32) -> TupleId {
    TupleId {
        page: n / 100,
        slot: (n % 100) as u16,
    }
}

/// The entries a scan returns; its cursor (`AccessMethod::cursor`) must
/// return the same ones in the same order.
fn all(idx: &IndexHandle, sk: ScanKey, backward: bool) -> Vec<(Vec<u8>, TupleId)> {
    let scanned: Vec<(Vec<u8>, TupleId)> = idx
        .scan(&sk, backward)
        .unwrap()
        .map(|e| e.map(|e| (e.key, e.tid)).unwrap())
        .collect();
    let mut c = idx.cursor(&sk, backward).unwrap();
    let mut cursored = vec![];
    while c.advance().unwrap() {
        let (k, t) = c.current();
        cursored.push((k.to_vec(), t));
    }
    assert!(!c.advance().unwrap(), "a finished cursor stays finished");
    assert_eq!(
        scanned, cursored,
        "cursor and iterator of {sk:?} (backward {backward})"
    );
    scanned
}

/// One scan of the whole tree, through the cursor or the iterator (for
/// trees that change while they are read: `all` compares two scans).
fn scan_once(idx: &IndexHandle, cursor: bool) -> Vec<(Vec<u8>, TupleId)> {
    if !cursor {
        return idx
            .scan(&ScanKey::All, false)
            .unwrap()
            .map(|e| e.map(|e| (e.key, e.tid)).unwrap())
            .collect();
    }
    let mut c = idx.cursor(&ScanKey::All, false).unwrap();
    let mut out = vec![];
    while c.advance().unwrap() {
        let (k, t) = c.current();
        out.push((k.to_vec(), t));
    }
    out
}

#[derive(Clone, Debug)]
enum Op {
    Insert(u16, u32),
    Delete(usize),
    /// Remove a few entries at once through `kill` (plus one absent entry).
    Kill(usize, usize),
    Scan(u16, u16, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0u16..300, 0u32..5000).prop_map(|(k, t)| Op::Insert(k, t)),
        3 => any::<usize>().prop_map(Op::Delete),
        1 => (any::<usize>(), 1usize..20).prop_map(|(i, n)| Op::Kill(i, n)),
        1 => (0u16..300, 0u16..300, any::<bool>()).prop_map(|(a, b, back)| Op::Scan(a.min(b), a.max(b), back)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]
    #[test]
    fn behaves_like_a_sorted_set(ops in proptest::collection::vec(op(), 1..600), klen in 40usize..400) {
        let dir = tmp("prop");
        let e = open(&dir);
        let idx = e.open_index(1, 2, IndexKind::BTree, IndexOptions::default()).unwrap();
        let mut model: BTreeSet<(Vec<u8>, TupleId)> = BTreeSet::new();
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
                Op::Kill(i, n) => {
                    let mut victims: Vec<IndexEntry> = Vec::new();
                    if !model.is_empty() {
                        for j in 0..n {
                            let v = model.iter().nth((i + j * 7) % model.len()).unwrap().clone();
                            victims.push(IndexEntry { key: v.0, tid: v.1 });
                        }
                    }
                    victims.push(IndexEntry { key: key(299, klen), tid: tid(u32::MAX / 2) });
                    let present: BTreeSet<_> = victims
                        .iter()
                        .map(|v| (v.key.clone(), v.tid))
                        .filter(|v| model.contains(v))
                        .collect();
                    prop_assert_eq!(idx.kill(&victims, &|| true).unwrap(), present.len() as u64);
                    for v in present {
                        model.remove(&v);
                    }
                }
                Op::Scan(a, b, back) => {
                    let (lo, hi) = (key(a, klen), key(b, klen));
                    let mut want: Vec<_> = model.iter().filter(|(k, _)| *k >= lo && *k < hi).cloned().collect();
                    if back { want.reverse(); }
                    let got = all(&idx, ScanKey::Range { lower: Bound::Included(lo), upper: Bound::Excluded(hi) }, back);
                    prop_assert_eq!(got, want);
                    let eq: Vec<_> = model.iter().filter(|(k, _)| *k == key(a, klen)).cloned().collect();
                    prop_assert_eq!(all(&idx, ScanKey::Eq(key(a, klen)), false), eq);
                }
            }
        }
        let everything: Vec<_> = model.iter().cloned().collect();
        prop_assert_eq!(all(&idx, ScanKey::All, false), everything.clone());
        let mut rev = everything;
        rev.reverse();
        prop_assert_eq!(all(&idx, ScanKey::All, true), rev);
        prop_assert_eq!(idx.verify().unwrap(), Vec::<String>::new());
    }
}

#[test]
fn splits_merges_and_space_reuse() {
    let dir = tmp("split");
    let e = open(&dir);
    let idx = e
        .open_index(1, 2, IndexKind::BTree, IndexOptions::default())
        .unwrap();
    for i in 0..20_000u32 {
        idx.insert(&key((i % 5000) as u16, 100), tid(i)).unwrap();
    }
    let s = idx.stats().unwrap();
    assert!(s.tree_level >= 2, "{s:?}");
    assert!(s.splits > 100);
    assert_eq!(s.entries, 20_000);
    assert!(idx.verify().unwrap().is_empty());
    for i in 0..20_000u32 {
        if i % 10 != 0 {
            assert!(idx.delete(&key((i % 5000) as u16, 100), tid(i)).unwrap());
        }
    }
    let s2 = idx.stats().unwrap();
    assert!(s2.merges > 0, "{s2:?}");
    assert_eq!(s2.entries, 2_000);
    assert!(idx.verify().unwrap().is_empty());
    let size = s2.index_size;
    for i in 0..10_000u32 {
        idx.insert(&key((i % 5000) as u16, 100), tid(100_000 + i))
            .unwrap();
    }
    assert_eq!(
        idx.stats().unwrap().index_size,
        size,
        "freed pages are reused before the file grows"
    );
    assert!(idx.verify().unwrap().is_empty());
}

/// Build sinks as the heap pass feeds them: two parts, each sorted on its
/// own thread, merged by the build.
#[test]
fn sink_build_of_two_runs_matches_the_entries() {
    let dir = tmp("sinks");
    let e = open(&dir);
    let idx = e
        .open_index(1, 2, IndexKind::BTree, IndexOptions::default())
        .unwrap();
    let n = 40_000u32;
    let mut want = vec![];
    let parts: Vec<_> = (0..2u32)
        .map(|part| {
            let mut sink = idx.build_sink().unwrap();
            for i in (part * n / 2)..((part + 1) * n / 2) {
                let k = format!("k{:06}", (i * 7919) % 10_000).into_bytes();
                sink.add(&k, tid(i)).unwrap();
                want.push((k, tid(i)));
            }
            sink
        })
        .collect();
    let parts: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = parts
            .into_iter()
            .map(|mut sink| {
                s.spawn(move || {
                    sink.finish().unwrap();
                    sink
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    idx.build_from(parts).unwrap();
    assert!(idx.verify().unwrap().is_empty());
    want.sort();
    assert_eq!(
        all(
            &idx,
            ScanKey::Range {
                lower: Bound::Unbounded,
                upper: Bound::Unbounded
            },
            false
        ),
        want
    );
}

/// A unique build finds a duplicate on its merged stream, across runs, and
/// names one of the two tuples; entries outside the check (NULL keys) and
/// equal keys with different INCLUDE tails of unchecked entries pass.
#[test]
fn unique_sink_build_finds_duplicates_across_runs() {
    for (dup_at, expect) in [(None, None), (Some(7_777u32), Some(7_777u32))] {
        let dir = tmp("unique");
        let e = open(&dir);
        let idx = e
            .open_index(1, 2, IndexKind::BTree, IndexOptions::default())
            .unwrap();
        let mut a = idx.build_sink().unwrap();
        let mut b = idx.build_sink().unwrap();
        for i in 0..10_000u32 {
            // Key part: 4 bytes; a 2-byte tail that differs per row.
            let mut k = i.to_be_bytes().to_vec();
            k.extend_from_slice(&(i as u16).wrapping_mul(31).to_be_bytes());
            let sink = if i % 2 == 0 { &mut a } else { &mut b };
            sink.add_unique(&k, 4, tid(i)).unwrap();
        }
        // Unchecked entries equal to each other and to checked ones.
        for i in 0..3u32 {
            a.add(&5u32.to_be_bytes(), tid(20_000 + i)).unwrap();
        }
        if let Some(d) = dup_at {
            // Same key part as row d, another tail, in the other run.
            let mut k = d.to_be_bytes().to_vec();
            k.extend_from_slice(&[0xff, 0xff]);
            let sink = if d % 2 == 0 { &mut b } else { &mut a };
            sink.add_unique(&k, 4, tid(30_000)).unwrap();
        }
        a.finish().unwrap();
        b.finish().unwrap();
        match (idx.build_from(vec![a, b]), expect) {
            (Ok(()), None) => {
                assert!(idx.verify().unwrap().is_empty());
                assert_eq!(idx.stats().unwrap().entries, 10_003);
            }
            (Err(sargdb_engine::EngineError::DuplicateKey { tid: t }), Some(d)) => {
                assert!(t == tid(d) || t == tid(30_000), "{t:?}");
            }
            (r, _) => panic!("{r:?} for {dup_at:?}"),
        }
    }
}

#[test]
fn bulk_build_matches_inserts_and_prefix_scans() {
    let dir = tmp("build");
    let e = open(&dir);
    let idx = e
        .open_index(1, 2, IndexKind::BTree, IndexOptions::default())
        .unwrap();
    let mut entries: Vec<IndexEntry> = (0..50_000u32)
        .map(|i| IndexEntry {
            key: format!("k{:08}", (i * 7919) % 50_000).into_bytes(),
            tid: tid(i),
        })
        .collect();
    entries.reverse();
    idx.build(entries, false).unwrap();
    assert!(idx.verify().unwrap().is_empty());
    let s = idx.stats().unwrap();
    assert_eq!(s.entries, 50_000);
    assert!(
        s.avg_leaf_density > 80.0 && s.avg_leaf_density <= 91.0,
        "{s:?}"
    );
    assert_eq!(s.leaf_fragmentation, 0.0);
    let p = all(&idx, ScanKey::Prefix(b"k0000012".to_vec()), false);
    assert_eq!(p.len(), 10);
    assert!(p.windows(2).all(|w| w[0] < w[1]));
    let excl = all(
        &idx,
        ScanKey::Range {
            lower: Bound::Excluded(b"k00049997".to_vec()),
            upper: Bound::Unbounded,
        },
        false,
    );
    assert_eq!(
        excl.iter().map(|e| e.0.clone()).collect::<Vec<_>>(),
        vec![b"k00049998".to_vec(), b"k00049999".to_vec()]
    );
    idx.insert(b"k00000001", tid(999_999)).unwrap();
    assert_eq!(
        all(&idx, ScanKey::Eq(b"k00000001".to_vec()), false).len(),
        2
    );
}

#[test]
fn index_survives_crash_and_vacuum_removes_dead_entries() {
    let dir = tmp("crash");
    let (heap, ix) = (10, 11);
    let mut tids = Vec::new();
    {
        let e = open(&dir);
        let idx = e
            .open_index(heap, ix, IndexKind::BTree, IndexOptions::default())
            .unwrap();
        let mut t = e.begin(IsolationLevel::ReadCommitted);
        t.start_command();
        for i in 0..3000u32 {
            let tid = t.insert(heap, format!("row{i}").as_bytes()).unwrap();
            idx.insert(&key(i as u16, 60), tid).unwrap();
            tids.push(tid);
        }
        t.commit().unwrap();
        // crash: no checkpoint
    }
    let e = open(&dir);
    let idx = e
        .open_index(heap, ix, IndexKind::BTree, IndexOptions::default())
        .unwrap();
    assert!(idx.verify().unwrap().is_empty());
    assert_eq!(all(&idx, ScanKey::All, false).len(), 3000);
    let hit = all(&idx, ScanKey::Eq(key(1234, 60)), false);
    assert_eq!(hit, vec![(key(1234, 60), tids[1234])]);
    let mut d = e.begin(IsolationLevel::ReadCommitted);
    d.start_command();
    for t in &tids[..1000] {
        d.delete(heap, *t).unwrap();
    }
    d.commit().unwrap();
    let v = e.vacuum(heap).unwrap();
    assert_eq!(v.tuples_removed, 1000);
    assert_eq!(all(&idx, ScanKey::All, false).len(), 2000);
    assert!(all(&idx, ScanKey::Eq(key(5, 60)), false).is_empty());
}

/// A crash can cut the WAL anywhere: whatever prefix of it survives, the
/// recovered tree is whole (every structural change - a split up to a new
/// root, a merge, a page taken from or given to the free list - replays all
/// or nothing), and it stays whole under further inserts.
#[test]
fn every_wal_prefix_recovers_a_whole_tree() {
    let dir = tmp("prefix");
    let (heap, ix) = (10, 11);
    // Keys of 300 bytes: about 25 per leaf and per inner page, so the
    // workload splits leaves and inner pages, grows a new root, merges
    // leaves after the deletes and reuses freed pages.
    let k = |i: u32| key(((i * 7919) % 4000) as u16, 300);
    let start;
    {
        let e = open(&dir);
        let idx = e
            .open_index(heap, ix, IndexKind::BTree, IndexOptions::default())
            .unwrap();
        e.flush_wal().unwrap();
        start = common::wal_end(&dir);
        for i in 0..1500u32 {
            idx.insert(&k(i), tid(i)).unwrap();
        }
        for i in 0..1500u32 {
            if i % 5 != 0 {
                assert!(idx.delete(&k(i), tid(i)).unwrap());
            }
        }
        for i in 1500..2000u32 {
            idx.insert(&k(i), tid(i)).unwrap();
        }
        let s = idx.stats().unwrap();
        assert!(s.tree_level >= 2 && s.merges > 0, "{s:?}");
        e.flush_wal().unwrap();
        // crash: no checkpoint, no page written
    }
    common::for_each_wal_prefix(&dir, start, 120, |img, cut| {
        let e = open(&img.to_path_buf());
        let idx = e
            .open_index(heap, ix, IndexKind::BTree, IndexOptions::default())
            .unwrap();
        assert_eq!(
            idx.verify().unwrap(),
            Vec::<String>::new(),
            "WAL cut at {cut}"
        );
        // Inserts after recovery land where lookups find them.
        for i in 0..300u32 {
            idx.insert(&k(5000 + i), tid(5000 + i)).unwrap();
        }
        assert_eq!(
            idx.verify().unwrap(),
            Vec::<String>::new(),
            "WAL cut at {cut}, after more inserts"
        );
        for i in 0..300u32 {
            let hit = all(&idx, ScanKey::Eq(k(5000 + i)), false);
            assert!(
                hit.contains(&(k(5000 + i), tid(5000 + i))),
                "WAL cut at {cut}: key {i} inserted after recovery not found"
            );
        }
    });
}

/// Writers adding and removing entries while readers scan the same tree:
/// in-place inserts and removals run beside scans (only splits take the
/// whole tree), and a scan still returns its entries in order, without
/// duplicates, and with every entry that was in the tree for its whole
/// duration.
#[test]
fn readers_and_writers_share_the_tree() {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    let dir = tmp("concurrent");
    let e = open(&dir);
    let idx = e
        .open_index(1, 2, IndexKind::BTree, IndexOptions::default())
        .unwrap();
    const WRITERS: u32 = 3;
    const PER_WRITER: u32 = 4_000;
    // Writer w owns keys w, w + WRITERS, ...; entry i of writer w is kept
    // if i is even and removed again (through kill) if odd.
    let k = |w: u32, i: u32| -> Vec<u8> {
        let mut v = format!("{:08}", (i * WRITERS + w) * 7919 % 1_000_003).into_bytes();
        v.resize(40, b'x');
        v
    };
    let t = |w: u32, i: u32| tid(w * PER_WRITER + i);
    let progress: Vec<AtomicU32> = (0..WRITERS).map(|_| AtomicU32::new(0)).collect();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (idx, progress, k) = (&idx, &progress, &k);
                s.spawn(move || {
                    for i in 0..PER_WRITER {
                        idx.insert(&k(w, i), t(w, i)).unwrap();
                        if i % 2 == 1 {
                            let gone = IndexEntry {
                                key: k(w, i),
                                tid: t(w, i),
                            };
                            assert_eq!(idx.kill(&[gone], &|| true).unwrap(), 1);
                        }
                        progress[w as usize].store(i + 1, Ordering::Release);
                    }
                })
            })
            .collect();
        for _ in 0..2 {
            let (idx, progress, stop, k) = (&idx, &progress, &stop, &k);
            s.spawn(move || {
                let mut scans = 0;
                while !stop.load(Ordering::Acquire) || scans == 0 {
                    let before: Vec<u32> =
                        progress.iter().map(|p| p.load(Ordering::Acquire)).collect();
                    let got = scan_once(idx, scans % 2 == 1);
                    assert!(
                        got.windows(2).all(|w| w[0] < w[1]),
                        "a scan returned entries out of order or twice"
                    );
                    let seen: BTreeSet<_> = got.into_iter().collect();
                    for (w, &n) in before.iter().enumerate() {
                        for i in (0..n).step_by(2) {
                            let want = (k(w as u32, i), t(w as u32, i));
                            assert!(seen.contains(&want), "scan missed a kept entry");
                        }
                    }
                    scans += 1;
                }
            });
        }
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::Release);
    });
    let mut want: Vec<_> = (0..WRITERS)
        .flat_map(|w| (0..PER_WRITER).step_by(2).map(move |i| (w, i)))
        .map(|(w, i)| (k(w, i), t(w, i)))
        .collect();
    want.sort();
    assert_eq!(all(&idx, ScanKey::All, false), want);
    assert!(idx.verify().unwrap().is_empty());
}

/// Runs that do not overlap (a table loaded in key order, read in two
/// parts) are laid out one after the other, in key order whichever sink
/// comes first; a unique key repeated across their boundary is still found.
#[test]
fn disjoint_runs_build_in_order_and_check_their_boundary() {
    for (reversed, dup) in [(false, false), (true, false), (false, true), (true, true)] {
        let dir = tmp("disjoint");
        let e = open(&dir);
        let idx = e
            .open_index(1, 2, IndexKind::BTree, IndexOptions::default())
            .unwrap();
        let n = 20_000u32;
        let mut sinks: Vec<_> = (0..2u32)
            .map(|part| {
                let mut sink = idx.build_sink().unwrap();
                for i in (part * n / 2)..((part + 1) * n / 2) {
                    // The second part starts with the first part's last key.
                    let k = if dup && i == n / 2 { i - 1 } else { i };
                    sink.add_unique(&k.to_be_bytes(), 4, tid(i)).unwrap();
                }
                sink.finish().unwrap();
                sink
            })
            .collect();
        if reversed {
            sinks.reverse();
        }
        match idx.build_from(sinks) {
            Ok(()) if !dup => {
                assert!(idx.verify().unwrap().is_empty());
                let got = all(
                    &idx,
                    ScanKey::Range {
                        lower: Bound::Unbounded,
                        upper: Bound::Unbounded,
                    },
                    false,
                );
                let want: Vec<_> = (0..n).map(|i| (i.to_be_bytes().to_vec(), tid(i))).collect();
                assert_eq!(got, want, "reversed: {reversed}");
            }
            Err(sargdb_engine::EngineError::DuplicateKey { tid: t }) if dup => {
                assert!(t == tid(n / 2) || t == tid(n / 2 - 1), "{t:?}");
            }
            r => panic!("{r:?} (reversed: {reversed}, dup: {dup})"),
        }
    }
}
