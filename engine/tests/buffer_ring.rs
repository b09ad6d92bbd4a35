//! Large sequential reads go through a small ring of buffers (Postgres's
//! BAS_BULKREAD): a scan of a table larger than the pool leaves the pages
//! of a small, hot table where they were.

use std::path::PathBuf;
use std::sync::Arc;

use sargdb_engine::{Engine, EngineConfig, IsolationLevel, BULK_RING_FRAMES};

mod common;

const HOT: u32 = 20;
const BIG: u32 = 21;
const MEDIUM: u32 = 22;
/// 128 frames.
const POOL: usize = 1 << 20;

fn cfg(dir: &PathBuf) -> EngineConfig {
    let mut c = EngineConfig::new(dir);
    c.buffer_pool_bytes = POOL;
    c
}

/// A hot table of a few pages, a medium one larger than a ring but under a
/// quarter of the pool, and a big one of about four pool sizes,
/// written and checkpointed; the engine reopened with an empty pool.
fn setup(dir: &PathBuf) -> Arc<Engine> {
    {
        let e = Engine::open(cfg(dir)).unwrap();
        let mut t = e.begin(IsolationLevel::ReadCommitted);
        t.start_command();
        let row = vec![b'h'; 400];
        for _ in 0..100 {
            t.insert(HOT, &row).unwrap();
        }
        let row = vec![b'b'; 1000];
        for _ in 0..4000 {
            t.insert(BIG, &row).unwrap();
        }
        let row = vec![b'm'; 400];
        for _ in 0..500 {
            t.insert(MEDIUM, &row).unwrap();
        }
        t.commit().unwrap();
        e.shutdown().unwrap();
    }
    Engine::open(cfg(dir)).unwrap()
}

fn count_hot(e: &Arc<Engine>) -> usize {
    let mut t = e.begin(IsolationLevel::ReadCommitted);
    t.start_command();
    let n = t.scan(HOT).unwrap().count();
    t.rollback();
    n
}

#[test]
fn a_big_scan_leaves_a_hot_table_in_the_pool() {
    // Each kind of large read: a sequential scan, an index build's heap
    // pass (dirty scan), ANALYZE's sample.
    for kind in ["scan", "dirty_scan", "sample"] {
        let dir = common::tmp_dir("buffer_ring", kind);
        let e = setup(&dir);
        let frames = e.stats().buffer_frames;
        let hot_pages = e.relation_pages(HOT).unwrap() as u64;
        let big_pages = e.relation_pages(BIG).unwrap() as u64;
        assert!(
            hot_pages >= 4 && big_pages > 3 * frames,
            "{hot_pages} {big_pages}"
        );
        assert_eq!(count_hot(&e), 100);

        let mut t = e.begin(IsolationLevel::ReadCommitted);
        t.start_command();
        let before = e.stats();
        let rows = match kind {
            "scan" => t.scan(BIG).unwrap().count(),
            "dirty_scan" => {
                let mut s = t.dirty_scan(BIG).unwrap();
                let mut n = 0;
                while let Some(r) = s.next(&t) {
                    r.unwrap();
                    n += 1;
                }
                n
            }
            _ => t.sample(BIG, 10).unwrap().1 as usize,
        };
        t.rollback();
        assert_eq!(rows, 4000, "{kind}");
        let after = e.stats();
        assert!(
            after.buffer_misses - before.buffer_misses >= big_pages,
            "{kind}: the big table was read from storage"
        );
        // The big table holds no more than the ring.
        let resident = e.buffer_residency();
        let big_resident = resident.get(&BIG).map_or(0, |r| r.0);
        assert!(
            big_resident <= BULK_RING_FRAMES as u64,
            "{kind}: {big_resident} pages of the big table stayed in the pool"
        );
        // Every page of the hot table is still there: reading it again is
        // all hits.
        let before = e.stats();
        assert_eq!(count_hot(&e), 100);
        let after = e.stats();
        assert_eq!(after.buffer_misses - before.buffer_misses, 0, "{kind}");
        assert!(
            after.buffer_hits - before.buffer_hits >= hot_pages,
            "{kind}"
        );
    }
}

#[test]
fn a_table_under_a_quarter_of_the_pool_is_read_through_the_pool() {
    // Larger than the ring, so a ring would keep only its last pages: read
    // through the pool, the whole table stays cached and the next scan
    // finds every page.
    let dir = common::tmp_dir("buffer_ring", "medium");
    let e = setup(&dir);
    let frames = e.stats().buffer_frames;
    let pages = e.relation_pages(MEDIUM).unwrap() as u64;
    assert!(
        pages > frames / 8 && pages <= frames / 4,
        "{pages} of {frames}"
    );
    let scan = |e: &Arc<Engine>| {
        let mut t = e.begin(IsolationLevel::ReadCommitted);
        t.start_command();
        let n = t.scan(MEDIUM).unwrap().count();
        t.rollback();
        n
    };
    assert_eq!(scan(&e), 500);
    let before = e.stats();
    assert_eq!(scan(&e), 500);
    let after = e.stats();
    assert_eq!(after.buffer_misses - before.buffer_misses, 0);
    assert!(after.buffer_hits - before.buffer_hits >= pages);
}

#[test]
fn pages_changed_while_in_the_ring_are_not_lost() {
    // A page the ring brought in and somebody then changed is left to the
    // pool (or written out, WAL first, before its frame is reused): after a
    // crash the change is there.
    let dir = common::tmp_dir("buffer_ring", "dirty");
    {
        let e = setup(&dir);
        let mut t = e.begin(IsolationLevel::ReadCommitted);
        t.start_command();
        let mut s = t.dirty_scan(BIG).unwrap();
        let mut n = 0;
        let mut u = e.begin(IsolationLevel::ReadCommitted);
        u.start_command();
        while let Some(r) = s.next(&t) {
            let (tid, _, _) = r.unwrap();
            n += 1;
            // Delete every 50th row while the scan goes on, from another
            // transaction: its page is in the ring at that moment.
            if n % 50 == 0 {
                u.delete(BIG, tid).unwrap();
            }
        }
        drop(s);
        t.rollback();
        u.commit().unwrap();
        // Crash: no shutdown checkpoint.
    }
    let e = Engine::open(cfg(&dir)).unwrap();
    let mut t = e.begin(IsolationLevel::ReadCommitted);
    t.start_command();
    assert_eq!(t.scan(BIG).unwrap().count(), 4000 - 80);
}
