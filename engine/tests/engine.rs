//! Engine-level tests: durability across simulated crashes (the engine is
//! dropped without a shutdown checkpoint, so only the WAL carries the data),
//! MVCC visibility, savepoints, concurrent updates and vacuum.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sargdb_engine::{Engine, EngineConfig, EngineError, IsolationLevel, LockOutcome};

mod common;

fn tmp(name: &str) -> common::TempDir {
    common::tmp_dir("engine", name)
}

fn cfg(dir: &PathBuf, pool: usize) -> EngineConfig {
    let mut c = EngineConfig::new(dir);
    c.buffer_pool_bytes = pool;
    c
}

fn rows(e: &Arc<Engine>, rel: u32) -> Vec<Vec<u8>> {
    let mut t = e.begin(IsolationLevel::ReadCommitted);
    t.start_command();
    let mut v: Vec<Vec<u8>> = t.scan(rel).unwrap().map(|r| r.unwrap().1).collect();
    v.sort();
    v
}

#[test]
fn committed_rows_survive_crash_uncommitted_do_not() {
    let dir = tmp("crash");
    {
        let e = Engine::open(cfg(&dir, 1 << 20)).unwrap();
        let mut t = e.begin(IsolationLevel::ReadCommitted);
        t.start_command();
        for i in 0..1000u32 {
            t.insert(7, format!("row-{i:05}").as_bytes()).unwrap();
        }
        t.log_catalog(b"catalog v1".to_vec()).unwrap();
        t.commit().unwrap();
        let mut u = e.begin(IsolationLevel::ReadCommitted);
        u.start_command();
        u.insert(7, b"uncommitted").unwrap();
        e.sequence_set(3, 42, true).unwrap();
        let mut w = e.begin(IsolationLevel::ReadCommitted);
        w.start_command();
        w.insert(8, b"other").unwrap();
        w.commit().unwrap();
        // Crash: no shutdown, the open transaction never commits.
        std::mem::forget(u);
    }
    let e = Engine::open(cfg(&dir, 1 << 20)).unwrap();
    let r = rows(&e, 7);
    assert_eq!(r.len(), 1000);
    assert_eq!(r[0], b"row-00000");
    assert_eq!(rows(&e, 8), vec![b"other".to_vec()]);
    assert_eq!(e.catalog_blob().unwrap(), b"catalog v1");
    assert_eq!(e.sequence_get(3), Some((42, true)));
    e.shutdown().unwrap();
    drop(e);
    let e = Engine::open(cfg(&dir, 1 << 20)).unwrap();
    assert_eq!(rows(&e, 7).len(), 1000);
}

#[test]
fn data_larger_than_buffer_pool_survives_restart_and_crash() {
    let dir = tmp("large");
    let payload = vec![b'x'; 500];
    {
        let e = Engine::open(cfg(&dir, 256 << 10)).unwrap();
        for chunk in 0..10 {
            let mut t = e.begin(IsolationLevel::ReadCommitted);
            t.start_command();
            for i in 0..1000u32 {
                let mut row = format!("{:06}", chunk * 1000 + i).into_bytes();
                row.extend_from_slice(&payload);
                t.insert(9, &row).unwrap();
            }
            t.commit().unwrap();
        }
        assert!(e.relation_pages(9).unwrap() > 500);
        assert_eq!(rows(&e, 9).len(), 10_000);
    }
    let e = Engine::open(cfg(&dir, 256 << 10)).unwrap();
    let r = rows(&e, 9);
    assert_eq!(r.len(), 10_000);
    assert!(r[9_999].starts_with(b"009999"));
}

/// A checkpoint writes a relation's dirty pages in file order, each run of
/// consecutive pages in one write. Clean pages between dirty ones, and
/// pages the small pool evicted meanwhile, break the runs. The engine then
/// crashes: recovery starts at the checkpoint's redo point, so every page
/// must have been written whole and at its own place.
#[test]
fn a_checkpoint_writes_runs_of_dirty_pages_each_in_its_place() {
    let dir = tmp("runs");
    let row = |i: u32, v: u8| {
        let mut r = format!("{i:06}-").into_bytes();
        r.resize(400, v);
        r
    };
    // Rows 50 at a time updated, 50 left, ...: runs of dirty pages with
    // clean pages between them.
    let updated = |i: u32| (i / 50) % 3 != 2;
    {
        // 256 frames for about 330 pages of rows, plus the new versions.
        let e = Engine::open(cfg(&dir, 2 << 20)).unwrap();
        let mut t = e.begin(IsolationLevel::ReadCommitted);
        t.start_command();
        for i in 0..6000u32 {
            t.insert(9, &row(i, b'a')).unwrap();
        }
        t.commit().unwrap();
        e.checkpoint().unwrap();
        let mut t = e.begin(IsolationLevel::ReadCommitted);
        t.start_command();
        let tids: Vec<_> = t.scan(9).unwrap().map(|r| r.unwrap()).collect();
        for (tid, data) in tids {
            let i: u32 = std::str::from_utf8(&data[..6]).unwrap().parse().unwrap();
            if updated(i) {
                t.update(9, tid, &row(i, b'b')).unwrap();
            }
        }
        t.commit().unwrap();
        assert!(e.relation_pages(9).unwrap() > 500);
        e.checkpoint().unwrap();
        // Crash: dropped without a shutdown.
    }
    let e = Engine::open(cfg(&dir, 2 << 20)).unwrap();
    let want: Vec<Vec<u8>> = (0..6000u32)
        .map(|i| row(i, if updated(i) { b'b' } else { b'a' }))
        .collect();
    assert!(rows(&e, 9) == want, "rows differ after the crash");
}

#[test]
fn snapshots_and_read_your_writes() {
    let dir = tmp("mvcc");
    let e = Engine::open(cfg(&dir, 1 << 20)).unwrap();
    let mut a = e.begin(IsolationLevel::ReadCommitted);
    a.start_command();
    a.insert(1, b"a1").unwrap();
    // Same command: own insert not visible yet; next command: visible.
    assert_eq!(a.scan(1).unwrap().count(), 0);
    a.start_command();
    assert_eq!(a.scan(1).unwrap().count(), 1);
    let mut rr = e.begin(IsolationLevel::RepeatableRead);
    rr.start_command();
    assert_eq!(rr.scan(1).unwrap().count(), 0);
    a.commit().unwrap();
    rr.start_command();
    assert_eq!(
        rr.scan(1).unwrap().count(),
        0,
        "repeatable read keeps its snapshot"
    );
    let mut rc = e.begin(IsolationLevel::ReadCommitted);
    rc.start_command();
    assert_eq!(rc.scan(1).unwrap().count(), 1);
    rr.rollback();
    rc.rollback();
}

#[test]
fn savepoints_undo_inner_work() {
    let dir = tmp("savepoint");
    let e = Engine::open(cfg(&dir, 1 << 20)).unwrap();
    let mut t = e.begin(IsolationLevel::ReadCommitted);
    t.start_command();
    t.insert(2, b"keep").unwrap();
    t.savepoint();
    t.start_command();
    let tid = t.insert(2, b"drop").unwrap();
    t.start_command();
    assert_eq!(t.scan(2).unwrap().count(), 2);
    t.rollback_to_savepoint(1).unwrap();
    t.start_command();
    assert_eq!(t.scan(2).unwrap().count(), 1);
    assert!(t.fetch(2, tid).unwrap().is_none());
    t.insert(2, b"after").unwrap();
    t.release_savepoint(1);
    t.commit().unwrap();
    assert_eq!(rows(&e, 2), vec![b"after".to_vec(), b"keep".to_vec()]);
}

#[test]
fn concurrent_update_waits_then_sees_newer_version() {
    let dir = tmp("update");
    let e = Engine::open(cfg(&dir, 1 << 20)).unwrap();
    let mut t = e.begin(IsolationLevel::ReadCommitted);
    t.start_command();
    let tid = t.insert(3, b"v0").unwrap();
    t.commit().unwrap();

    let mut a = e.begin(IsolationLevel::ReadCommitted);
    a.start_command();
    let (o, _new) = a.update(3, tid, b"v1").unwrap();
    assert_eq!(o, LockOutcome::Ok);
    let e2 = e.clone();
    let h = std::thread::spawn(move || {
        let mut b = e2.begin(IsolationLevel::ReadCommitted);
        b.start_command();
        // Blocks until `a` commits, then reports the newer version.
        let (o, _) = b.update(3, tid, b"v2").unwrap();
        let LockOutcome::Updated(next) = o else {
            panic!("expected Updated, got {o:?}")
        };
        let (latest, data) = b.fetch_latest(3, next).unwrap().unwrap();
        assert_eq!(data, b"v1");
        let (o, _) = b.update(3, latest, b"v2").unwrap();
        assert_eq!(o, LockOutcome::Ok);
        b.commit().unwrap();
    });
    std::thread::sleep(Duration::from_millis(100));
    a.commit().unwrap();
    h.join().unwrap();
    assert_eq!(rows(&e, 3), vec![b"v2".to_vec()]);

    // Repeatable read: the same race is a serialization failure.
    let mut rr = e.begin(IsolationLevel::RepeatableRead);
    rr.start_command();
    let (cur_tid, _) = rr.scan(3).unwrap().next().unwrap().unwrap();
    let mut c = e.begin(IsolationLevel::ReadCommitted);
    c.start_command();
    assert_eq!(c.update(3, cur_tid, b"v3").unwrap().0, LockOutcome::Ok);
    c.commit().unwrap();
    assert!(matches!(
        rr.update(3, cur_tid, b"v4"),
        Err(EngineError::SerializationFailure)
    ));
}

#[test]
fn deadlock_is_detected() {
    let dir = tmp("deadlock");
    let e = Engine::open(cfg(&dir, 1 << 20)).unwrap();
    let mut t = e.begin(IsolationLevel::ReadCommitted);
    t.start_command();
    let r1 = t.insert(4, b"r1").unwrap();
    let r2 = t.insert(4, b"r2").unwrap();
    t.commit().unwrap();
    let mut a = e.begin(IsolationLevel::ReadCommitted);
    a.start_command();
    a.delete(4, r1).unwrap();
    let e2 = e.clone();
    let h = std::thread::spawn(move || {
        let mut b = e2.begin(IsolationLevel::ReadCommitted);
        b.start_command();
        b.delete(4, r2).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let res = b.delete(4, r1).map(|_| ()).map_err(|e| e.to_string());
        if res.is_err() {
            b.rollback();
        } else {
            b.commit().unwrap();
        }
        res
    });
    std::thread::sleep(Duration::from_millis(100));
    let mine = a.delete(4, r2);
    if mine.is_err() {
        a.rollback();
    } else {
        a.commit().unwrap();
    }
    let theirs = h.join().unwrap();
    assert!(
        mine.is_err() || theirs.is_err(),
        "one of the two transactions must be chosen as the deadlock victim"
    );
}

#[test]
fn vacuum_reclaims_dead_versions() {
    let dir = tmp("vacuum");
    let e = Engine::open(cfg(&dir, 1 << 20)).unwrap();
    let mut t = e.begin(IsolationLevel::ReadCommitted);
    t.start_command();
    let tids: Vec<_> = (0..500u32)
        .map(|i| t.insert(5, &[i as u8; 100]).unwrap())
        .collect();
    t.commit().unwrap();
    let pages = e.relation_pages(5).unwrap();
    let mut d = e.begin(IsolationLevel::ReadCommitted);
    d.start_command();
    for tid in &tids[..400] {
        assert_eq!(d.delete(5, *tid).unwrap(), LockOutcome::Ok);
    }
    d.commit().unwrap();
    let s = e.vacuum(5).unwrap();
    assert_eq!(s.tuples_removed, 400);
    assert_eq!(s.tuples_remaining, 100);
    let mut t = e.begin(IsolationLevel::ReadCommitted);
    t.start_command();
    for i in 0..300u32 {
        t.insert(5, &[i as u8; 100]).unwrap();
    }
    t.commit().unwrap();
    assert_eq!(e.relation_pages(5).unwrap(), pages, "freed space is reused");
    assert_eq!(rows(&e, 5).len(), 400);
}

#[test]
fn dropped_relation_files_go_away() {
    let dir = tmp("drop_files");
    let base = dir.join("base");
    let names = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&base)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    {
        let e = Engine::open(cfg(&dir, 1 << 20)).unwrap();
        let mut t = e.begin(IsolationLevel::ReadCommitted);
        t.start_command();
        for i in 0..2000u32 {
            t.insert(9, &[i as u8; 200]).unwrap();
        }
        t.insert(10, b"kept").unwrap();
        t.commit().unwrap();
        e.checkpoint().unwrap();
        assert!(names().contains(&"9".to_string()));
        // A reader whose scan started before the drop (reads take no table
        // lock) goes on reading after it.
        let mut r = e.begin(IsolationLevel::ReadCommitted);
        r.start_command();
        let scan = r.scan(9).unwrap();
        let mut d = e.begin(IsolationLevel::ReadCommitted);
        d.start_command();
        d.drop_relation_on_commit(9);
        d.commit().unwrap();
        // It finds nothing more, and creates no file for the dropped table.
        assert_eq!(scan.filter(|r| r.is_ok()).count(), 0);
        assert!(!names().iter().any(|n| n == "9"), "{:?}", names());
        // The id is free at once; the file itself goes away soon after.
        assert!(!names().contains(&"9".to_string()), "{:?}", names());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while names().iter().any(|n| n.starts_with("9.")) {
            assert!(std::time::Instant::now() < deadline, "{:?}", names());
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(rows(&e, 10), vec![b"kept".to_vec()]);
        // A reader that still reads the dropped relation (reads take no
        // table lock) finds nothing and creates no file for it.
        let t = e.begin(IsolationLevel::ReadCommitted);
        for block in 0..3 {
            assert!(t
                .fetch(
                    9,
                    sargdb_engine::TupleId {
                        page: block,
                        slot: 0
                    }
                )
                .unwrap()
                .is_none());
        }
        assert!(!names().iter().any(|n| n == "9"), "{:?}", names());
    }
    // A file set aside for removal when the server crashed is removed at
    // the next start; relation files are not.
    std::fs::write(base.join("9.dropped.3"), [0u8; 8192]).unwrap();
    let e = Engine::open(cfg(&dir, 1 << 20)).unwrap();
    assert!(
        !names().iter().any(|n| n.contains("dropped")),
        "{:?}",
        names()
    );
    assert_eq!(rows(&e, 10), vec![b"kept".to_vec()]);
}

/// VACUUM's last pass skips pages it found all-visible (nothing to remove
/// or mark there), but their free space still reaches the free-space map:
/// after a restart, which forgets that map, a VACUUM finds the room the
/// previous one made, and new rows go there instead of new pages.
#[test]
fn vacuum_finds_room_on_all_visible_pages_after_a_restart() {
    let dir = tmp("vacuum_av_room");
    let pages;
    {
        let e = Engine::open(cfg(&dir, 1 << 20)).unwrap();
        let mut t = e.begin(IsolationLevel::ReadCommitted);
        t.start_command();
        let tids: Vec<_> = (0..500u32)
            .map(|i| t.insert(5, &[i as u8; 100]).unwrap())
            .collect();
        t.commit().unwrap();
        let mut d = e.begin(IsolationLevel::ReadCommitted);
        d.start_command();
        for tid in &tids[..400] {
            assert_eq!(d.delete(5, *tid).unwrap(), LockOutcome::Ok);
        }
        d.commit().unwrap();
        let s = e.vacuum(5).unwrap();
        assert_eq!(s.tuples_removed, 400);
        pages = e.relation_pages(5).unwrap();
        assert_eq!(
            e.all_visible_pages(5),
            pages,
            "every page is all-visible now"
        );
        e.checkpoint().unwrap();
    }
    let e = Engine::open(cfg(&dir, 1 << 20)).unwrap();
    assert_eq!(e.all_visible_pages(5), pages);
    let s = e.vacuum(5).unwrap();
    assert_eq!((s.tuples_removed, s.tuples_remaining), (0, 100));
    let mut t = e.begin(IsolationLevel::ReadCommitted);
    t.start_command();
    for i in 0..300u32 {
        t.insert(5, &[i as u8; 100]).unwrap();
    }
    t.commit().unwrap();
    assert_eq!(e.relation_pages(5).unwrap(), pages, "the room was found");
    assert_eq!(rows(&e, 5).len(), 400);
}

#[test]
fn data_dir_lock_is_exclusive() {
    let dir = tmp("lock");
    let _e = Engine::open(cfg(&dir, 1 << 20)).unwrap();
    assert!(matches!(
        Engine::open(cfg(&dir, 1 << 20)),
        Err(EngineError::DataDirLocked(_))
    ));
}

#[test]
fn rows_larger_than_a_page_use_overflow_pages_and_survive_a_crash() {
    let dir = tmp("overflow");
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let (tid, small_tid);
    {
        let e = Engine::open(cfg(&dir, 1 << 20)).unwrap();
        let mut t = e.begin(IsolationLevel::ReadCommitted);
        t.start_command();
        tid = t.insert(6, &big).unwrap();
        small_tid = t.insert(6, b"small").unwrap();
        t.commit().unwrap();
        let mut r = e.begin(IsolationLevel::ReadCommitted);
        r.start_command();
        assert_eq!(r.fetch(6, tid).unwrap().unwrap(), big);
        let mut u = e.begin(IsolationLevel::ReadCommitted);
        u.start_command();
        let mut bigger = big.clone();
        bigger.extend_from_slice(b"tail");
        let (o, new_tid) = u.update(6, tid, &bigger).unwrap();
        assert_eq!(o, LockOutcome::Ok);
        assert!(new_tid.is_some());
        u.commit().unwrap();
        // crash without a checkpoint
    }
    let e = Engine::open(cfg(&dir, 1 << 20)).unwrap();
    let rows = rows(&e, 6);
    assert_eq!(rows.len(), 2);
    let mut expect = big.clone();
    expect.extend_from_slice(b"tail");
    assert!(
        rows.contains(&expect),
        "the updated large row reads back whole"
    );
    assert!(rows.contains(&b"small".to_vec()));
    // More small rows still go to heap pages, not into overflow pages.
    let mut t = e.begin(IsolationLevel::ReadCommitted);
    t.start_command();
    for i in 0..100u32 {
        t.insert(6, format!("row{i}").as_bytes()).unwrap();
    }
    t.delete(6, small_tid).unwrap();
    t.commit().unwrap();
    assert_eq!(self::rows(&e, 6).len(), 101);
    e.vacuum(6).unwrap();
    assert_eq!(self::rows(&e, 6).len(), 101);
    // Deleting the large row and vacuuming frees its overflow pages: the
    // next large row reuses them instead of growing the file.
    let pages = e.relation_pages(6).unwrap();
    let mut t = e.begin(IsolationLevel::ReadCommitted);
    t.start_command();
    let victims: Vec<_> = t
        .scan(6)
        .unwrap()
        .map(|r| r.unwrap())
        .filter(|(_, row)| row.len() > 1000)
        .map(|(tid, _)| tid)
        .collect();
    assert_eq!(victims.len(), 1);
    t.delete(6, victims[0]).unwrap();
    t.commit().unwrap();
    let v = e.vacuum(6).unwrap();
    assert!(v.tuples_removed >= 1);
    let mut t = e.begin(IsolationLevel::ReadCommitted);
    t.start_command();
    for i in 0..300u32 {
        t.insert(6, &vec![i as u8; 900]).unwrap();
    }
    t.commit().unwrap();
    assert_eq!(
        e.relation_pages(6).unwrap(),
        pages,
        "freed overflow pages hold the new rows"
    );
    assert_eq!(self::rows(&e, 6).len(), 400);
}

/// Group commit: transactions committing at the same time share WAL
/// fsyncs. (Every commit used to hold the catalog's lock across its flush,
/// so each one fsynced alone: 800 commits, 800 fsyncs.)
#[test]
fn concurrent_commits_share_wal_flushes() {
    let dir = tmp("group-commit");
    let mut c = cfg(&dir, 4 << 20);
    c.fsync = true;
    let e = Engine::open(c).unwrap();
    let (threads, per) = (16usize, 50usize);
    let before = e.stats().wal_fsyncs;
    std::thread::scope(|s| {
        for i in 0..threads {
            let e = &e;
            s.spawn(move || {
                for j in 0..per {
                    let mut t = e.begin(IsolationLevel::ReadCommitted);
                    t.start_command();
                    t.insert(3, format!("{i}-{j}").as_bytes()).unwrap();
                    t.commit().unwrap();
                }
            });
        }
    });
    let fsyncs = e.stats().wal_fsyncs - before;
    let commits = (threads * per) as u64;
    assert!(
        fsyncs * 4 < commits * 3,
        "{fsyncs} fsyncs for {commits} concurrent commits: they do not share flushes"
    );
    assert_eq!(rows(&e, 3).len(), threads * per);
}

/// A data directory written in another storage format is refused with a
/// clear error instead of being misread.
#[test]
fn data_dir_of_another_format_version_is_refused() {
    let dir = tmp("format-version");
    {
        let e = Engine::open(cfg(&dir, 1 << 20)).unwrap();
        e.checkpoint().unwrap();
    }
    let control = dir.join("control");
    let text = std::fs::read_to_string(&control).unwrap();
    assert!(
        text.starts_with(&format!(
            "version={}\n",
            sargdb_engine::STORAGE_FORMAT_VERSION
        )),
        "{text}"
    );
    // Reopens as it is.
    drop(Engine::open(cfg(&dir, 1 << 20)).unwrap());
    // The same file claiming format 1 (checksum recomputed).
    common::set_storage_version(&dir, 1);
    match Engine::open(cfg(&dir, 1 << 20)) {
        Err(EngineError::IncompatibleDataDir {
            found: 1,
            supported,
        }) => {
            assert_eq!(supported, sargdb_engine::STORAGE_FORMAT_VERSION)
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a format-1 data directory was opened"),
    }
}

/// A row inserted and deleted (or updated) by the same transaction keeps
/// both command ids (a combo id in its one-field header): each command sees
/// exactly the versions Postgres's rule gives it, across savepoints, and
/// a scan opened before the delete still sees the row.
#[test]
fn own_insert_then_delete_keeps_both_command_ids() {
    let dir = tmp("combo-cid");
    let e = Engine::open(cfg(&dir, 1 << 20)).unwrap();
    let mut t = e.begin(IsolationLevel::ReadCommitted);
    t.start_command(); // 1
    let a = t.insert(1, b"a").unwrap();
    t.start_command(); // 2
    assert_eq!(t.fetch(1, a).unwrap().as_deref(), Some(&b"a"[..]));
    let before = t.scan(1).unwrap(); // opened at command 2
    assert_eq!(t.delete(1, a).unwrap(), LockOutcome::Ok);
    // The deleting command does not see its own delete.
    assert_eq!(t.fetch(1, a).unwrap().as_deref(), Some(&b"a"[..]));
    t.start_command(); // 3
    assert_eq!(t.fetch(1, a).unwrap(), None);
    // The scan opened before the delete still sees the row.
    assert_eq!(
        before.map(|r| r.unwrap().1).collect::<Vec<_>>(),
        vec![b"a".to_vec()]
    );
    // Row lock on an own row keeps its insert's command id.
    t.start_command(); // 4
    let b = t.insert(1, b"b").unwrap();
    t.start_command(); // 5
    assert_eq!(t.lock_row(1, b).unwrap(), LockOutcome::Ok);
    t.start_command(); // 6
    assert_eq!(t.fetch(1, b).unwrap().as_deref(), Some(&b"b"[..]));
    // A delete in a rolled-back savepoint leaves the row; the next update
    // makes a new pair of command ids.
    let depth = t.savepoint_depth();
    t.savepoint();
    t.start_command(); // 7
    assert_eq!(t.delete(1, b).unwrap(), LockOutcome::Ok);
    t.start_command(); // 8
    assert_eq!(t.fetch(1, b).unwrap(), None);
    t.rollback_to_savepoint(depth + 1).unwrap();
    t.start_command(); // 9
    assert_eq!(t.fetch(1, b).unwrap().as_deref(), Some(&b"b"[..]));
    let (o, b2) = t.update(1, b, b"b2").unwrap();
    assert_eq!(o, LockOutcome::Ok);
    let b2 = b2.unwrap();
    assert_eq!(t.fetch(1, b).unwrap().as_deref(), Some(&b"b"[..]));
    assert_eq!(t.fetch(1, b2).unwrap(), None);
    t.start_command(); // 10
    assert_eq!(t.fetch(1, b).unwrap(), None);
    assert_eq!(t.fetch(1, b2).unwrap().as_deref(), Some(&b"b2"[..]));
    t.commit().unwrap();
    // Others go by commit status only.
    let mut o = e.begin(IsolationLevel::ReadCommitted);
    o.start_command();
    let mut seen: Vec<Vec<u8>> = o.scan(1).unwrap().map(|r| r.unwrap().1).collect();
    seen.sort();
    assert_eq!(seen, vec![b"b2".to_vec()]);
    // A row another transaction inserted: the deleter's cmax alone.
    o.start_command();
    assert_eq!(o.delete(1, b2).unwrap(), LockOutcome::Ok);
    assert_eq!(o.fetch(1, b2).unwrap().as_deref(), Some(&b"b2"[..]));
    o.start_command();
    assert_eq!(o.fetch(1, b2).unwrap(), None);
    o.rollback();
}

/// Commits through `commit_deferred`: the callback comes once, after which
/// the rows are visible to others; concurrent ones share flushes; and all
/// of them survive a crash.
#[test]
fn deferred_commits_call_back_once_visible_and_survive_a_crash() {
    use sargdb_engine::CommitStart;
    use std::sync::mpsc;
    let dir = tmp("deferred");
    let mut c = cfg(&dir, 4 << 20);
    c.fsync = true;
    let (threads, per) = (8usize, 40usize);
    {
        let e = Engine::open(c.clone()).unwrap();
        let before = e.stats().wal_fsyncs;
        std::thread::scope(|s| {
            for i in 0..threads {
                let e = &e;
                s.spawn(move || {
                    for j in 0..per {
                        let row = format!("{i}-{j}");
                        let mut t = e.begin(IsolationLevel::ReadCommitted);
                        t.start_command();
                        t.insert(3, row.as_bytes()).unwrap();
                        let (tx, rx) = mpsc::channel();
                        let start = t.commit_deferred(Box::new(move |r| tx.send(r).unwrap()));
                        assert!(matches!(start, CommitStart::Deferred));
                        rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
                        assert!(rx.recv_timeout(Duration::from_millis(1)).is_err());
                        assert!(
                            rows(e, 3).contains(&row.into_bytes()),
                            "a deferred commit was not visible after its callback"
                        );
                    }
                });
            }
        });
        let fsyncs = e.stats().wal_fsyncs - before;
        let commits = (threads * per) as u64;
        assert!(
            fsyncs < commits,
            "{fsyncs} fsyncs for {commits} deferred commits"
        );
        // Crash: no shutdown checkpoint.
    }
    let e = Engine::open(c).unwrap();
    assert_eq!(rows(&e, 3).len(), threads * per);
}

/// A checkpoint taken while deferred commits are between their commit
/// record and their commit-log entry must not lose them: after a crash,
/// every commit that was called back as done is there.
#[test]
fn checkpoints_during_deferred_commits_lose_none_of_them() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;
    let dir = tmp("deferred-ckpt");
    let mut c = cfg(&dir, 4 << 20);
    c.fsync = true;
    let done = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let e = Engine::open(c.clone()).unwrap();
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..20 {
                    e.checkpoint().unwrap();
                    std::thread::sleep(Duration::from_millis(5));
                }
                stop.store(true, Ordering::SeqCst);
            });
            for i in 0..4 {
                let (e, stop, done) = (&e, &stop, done.clone());
                s.spawn(move || {
                    let mut j = 0;
                    while !stop.load(Ordering::SeqCst) {
                        let row = format!("{i}-{j}");
                        j += 1;
                        let mut t = e.begin(IsolationLevel::ReadCommitted);
                        t.start_command();
                        t.insert(5, row.as_bytes()).unwrap();
                        let done = done.clone();
                        let (tx, rx) = std::sync::mpsc::channel();
                        let _ = t.commit_deferred(Box::new(move |r| {
                            if r.is_ok() {
                                done.lock().unwrap().push(row);
                            }
                            let _ = tx.send(());
                        }));
                        // Several commits in flight at once, a bounded number.
                        if j % 4 == 0 {
                            rx.recv_timeout(Duration::from_secs(10)).unwrap();
                        }
                    }
                });
            }
        });
        // Crash: no shutdown checkpoint.
    }
    let e = Engine::open(c).unwrap();
    let got: std::collections::HashSet<Vec<u8>> = rows(&e, 5).into_iter().collect();
    let done = done.lock().unwrap();
    assert!(!done.is_empty());
    for row in done.iter() {
        assert!(
            got.contains(row.as_bytes()),
            "commit {row} was lost across a checkpoint and a crash"
        );
    }
}
