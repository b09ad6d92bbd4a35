//! The visibility map: VACUUM sets a page's bit only when every tuple on it
//! is visible to every snapshot; inserts, deletes, updates and row locks
//! clear it; the bits survive a clean restart (the `vm` file) and a crash
//! (WAL replay), and a change lost in neither.

mod common;

use std::sync::Arc;

use common::{open_engine, tmp_dir};
use sargdb_engine::{Engine, IsolationLevel, LockOutcome, TupleId};

const REL: u32 = 41;

fn fill(e: &Arc<Engine>, n: u32) -> Vec<TupleId> {
    let mut t = e.begin(IsolationLevel::ReadCommitted);
    t.start_command();
    let tids = (0..n)
        .map(|i| t.insert(REL, format!("{i:0200}").as_bytes()).unwrap())
        .collect();
    t.commit().unwrap();
    tids
}

fn visible_pages(e: &Arc<Engine>) -> Vec<u32> {
    let t = e.begin(IsolationLevel::ReadCommitted);
    (0..e.relation_pages(REL).unwrap())
        .filter(|&b| t.page_all_visible(REL, b))
        .collect()
}

#[test]
fn vacuum_sets_and_changes_clear() {
    let dir = tmp_dir("vm", "set-clear");
    let e = open_engine(&dir, 4 << 20);
    let tids = fill(&e, 300);
    let pages = e.relation_pages(REL).unwrap();
    assert!(pages >= 5, "{pages}");
    assert!(
        visible_pages(&e).is_empty(),
        "nothing is all-visible before VACUUM"
    );
    let v = e.vacuum(REL).unwrap();
    assert_eq!(v.pages_all_visible, pages as u64);
    assert_eq!(e.all_visible_pages(REL), pages);

    // Delete on page 0, lock on page 1, update on page 2 (its new version
    // lands on the last page), insert onto the last page.
    let on = |p: u32| *tids.iter().find(|t| t.page == p).unwrap();
    let mut t = e.begin(IsolationLevel::ReadCommitted);
    t.start_command();
    assert_eq!(t.delete(REL, on(0)).unwrap(), LockOutcome::Ok);
    assert_eq!(t.lock_row(REL, on(1)).unwrap(), LockOutcome::Ok);
    let (o, new_tid) = t.update(REL, on(2), b"updated").unwrap();
    assert_eq!(o, LockOutcome::Ok);
    let new_tid = new_tid.unwrap();
    t.rollback();
    let vis = visible_pages(&e);
    for p in [0, 1, 2, new_tid.page] {
        assert!(!vis.contains(&p), "page {p} still all-visible: {vis:?}");
    }
    assert!(vis.contains(&3));

    // The rolled-back changes leave aborted xmax/xmin behind: after VACUUM
    // removes the aborted version, every page is all-visible again.
    e.vacuum(REL).unwrap();
    assert_eq!(e.all_visible_pages(REL), e.relation_pages(REL).unwrap());
}

#[test]
fn an_older_snapshot_or_a_running_writer_keeps_pages_unmarked() {
    let dir = tmp_dir("vm", "snapshots");
    let e = open_engine(&dir, 4 << 20);
    fill(&e, 10);
    // A reader whose snapshot predates the next insert.
    let mut reader = e.begin(IsolationLevel::RepeatableRead);
    reader.start_command();
    fill(&e, 1);
    e.vacuum(REL).unwrap();
    assert!(
        !visible_pages(&e).contains(&0),
        "a row the old snapshot cannot see made its page all-visible"
    );
    reader.commit().unwrap();
    // A writer still running.
    let mut w = e.begin(IsolationLevel::ReadCommitted);
    w.start_command();
    w.insert(REL, b"running").unwrap();
    e.vacuum(REL).unwrap();
    assert!(!visible_pages(&e).contains(&0));
    w.commit().unwrap();
    e.vacuum(REL).unwrap();
    assert!(visible_pages(&e).contains(&0));
}

#[test]
fn bits_survive_restart_and_crash_and_clears_are_not_lost() {
    let dir = tmp_dir("vm", "crash");
    let tids;
    {
        let e = open_engine(&dir, 4 << 20);
        tids = fill(&e, 300);
        e.vacuum(REL).unwrap();
        // VACUUM does not flush the WAL itself (a lost bit is only lost
        // work); the next commit or checkpoint does.
        e.flush_wal().unwrap();
        // Crash: no shutdown checkpoint, the bits come back from the WAL.
    }
    let e = open_engine(&dir, 4 << 20);
    let pages = e.relation_pages(REL).unwrap();
    assert_eq!(e.all_visible_pages(REL), pages, "after crash recovery");
    e.shutdown().unwrap();
    drop(e);
    let e = open_engine(&dir, 4 << 20);
    assert_eq!(e.all_visible_pages(REL), pages, "after a clean restart");
    {
        let mut t = e.begin(IsolationLevel::ReadCommitted);
        t.start_command();
        assert_eq!(t.delete(REL, tids[0]).unwrap(), LockOutcome::Ok);
        t.commit().unwrap();
        assert!(!visible_pages(&e).contains(&tids[0].page));
        // Crash after the delete committed: its record must clear the bit
        // again on replay, although the `vm` file says all-visible.
        drop(e);
    }
    let e = open_engine(&dir, 4 << 20);
    let vis = visible_pages(&e);
    assert!(!vis.contains(&tids[0].page), "{vis:?}");
    assert_eq!(vis.len() as u32, pages - 1);
}

/// ANALYZE's sample: every visible version counted, the reservoir a
/// subset of the scan in physical order; the same on all-visible pages
/// (where it reads no tuple for the count) as before VACUUM set them; a
/// version deleted and committed is neither counted nor sampled.
#[test]
fn sample_counts_visible_versions_and_keeps_scan_order() {
    let dir = tmp_dir("vm", "sample");
    let e = open_engine(&dir, 4 << 20);
    let tids = fill(&e, 300);
    let mut t = e.begin(IsolationLevel::ReadCommitted);
    t.start_command();
    assert_eq!(t.delete(REL, tids[7]).unwrap(), LockOutcome::Ok);
    t.commit().unwrap();
    let scan = |e: &Arc<Engine>| -> Vec<Vec<u8>> {
        let mut t = e.begin(IsolationLevel::ReadCommitted);
        t.start_command();
        t.scan(REL).unwrap().map(|r| r.unwrap().1).collect()
    };
    let sample = |e: &Arc<Engine>, n: usize| {
        let mut t = e.begin(IsolationLevel::ReadCommitted);
        t.start_command();
        t.sample(REL, n).unwrap()
    };
    let all = scan(&e);
    assert_eq!(all.len(), 299);
    // Fewer rows than the reservoir: all of them, in scan order.
    let (rows, seen) = sample(&e, 1000);
    assert_eq!(seen, 299);
    assert_eq!(rows, all);
    // A reservoir of 50: a subsequence of the scan.
    let (small, seen) = sample(&e, 50);
    assert_eq!(seen, 299);
    assert_eq!(small.len(), 50);
    let mut it = all.iter();
    for r in &small {
        assert!(it.any(|a| a == r), "sample not in scan order");
    }
    assert!(!small.contains(&format!("{:0200}", 7).into_bytes()));
    // After VACUUM every page is all-visible: the same answers.
    e.vacuum(REL).unwrap();
    assert_eq!(e.all_visible_pages(REL), e.relation_pages(REL).unwrap());
    assert_eq!(sample(&e, 1000), (all.clone(), 299));
    assert_eq!(sample(&e, 50), (small, 299));
}

/// A relation of 1,024 pages or more is sampled by two threads, one per
/// half, and their reservoirs merged: the sample is still a subsequence
/// of the scan with no row twice, every visible version is counted, it
/// draws from both halves in proportion, the same table gives the same
/// sample, and a reservoir larger than the table takes every row.
#[test]
fn a_large_relation_is_sampled_in_two_halves_as_one() {
    let dir = tmp_dir("vm", "sample-halves");
    let e = open_engine(&dir, 32 << 20);
    let n_rows = 40_000;
    fill(&e, n_rows);
    let pages = e.relation_pages(REL).unwrap();
    assert!(
        pages >= 1024,
        "{pages} pages: too few to be sampled in halves"
    );
    let sample = |n: usize| {
        let mut t = e.begin(IsolationLevel::ReadCommitted);
        t.start_command();
        t.sample(REL, n).unwrap()
    };
    let (rows, seen) = sample(3000);
    assert_eq!(seen, u64::from(n_rows));
    assert_eq!(rows.len(), 3000);
    // `fill` numbers its rows in insertion (= physical) order.
    let ids: Vec<u32> = rows
        .iter()
        .map(|r| std::str::from_utf8(r).unwrap().parse().unwrap())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "not in scan order, or a row twice"
    );
    // The halves split at the middle page, so about half of the rows
    // come from each (hypergeometric: the standard deviation is about 27).
    let first_half = ids.iter().filter(|&&i| i < n_rows / 2).count();
    assert!(
        (1300..=1700).contains(&first_half),
        "{first_half} of 3000 from the first half"
    );
    // Spread within each half too, not a run of neighbours.
    let quarters: Vec<usize> = (0..4)
        .map(|q| ids.iter().filter(|&&i| i / (n_rows / 4) == q).count())
        .collect();
    assert!(
        quarters.iter().all(|&c| (600..=900).contains(&c)),
        "{quarters:?}"
    );
    assert_eq!(sample(3000), (rows, seen), "the same table, another sample");
    let (all, seen) = sample(50_000);
    assert_eq!(seen, u64::from(n_rows));
    assert_eq!(all.len(), n_rows as usize);
    assert!(all.windows(2).all(|w| w[0] < w[1]));
}
