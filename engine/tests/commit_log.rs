//! The commit log on disk: segment files under `xact/`, only the segments
//! changed since the last checkpoint written at the next, the statuses
//! right across checkpoints and crashes, and a data directory of format 3
//! (one `pg_xact` file) read and converted.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sargdb_engine::txn::CLOG_SEGMENT_XIDS;
use sargdb_engine::{Engine, EngineConfig, IsolationLevel};

mod common;

const REL: u32 = 5;

fn cfg(dir: &PathBuf) -> EngineConfig {
    let mut c = EngineConfig::new(dir);
    c.buffer_pool_bytes = 8 << 20;
    c.fsync = false;
    c
}

/// `n` transactions of one row each; every 97th rolls back. The rows
/// that stay.
fn run(e: &Arc<Engine>, n: usize, from: usize) -> usize {
    let mut kept = 0;
    for i in from..from + n {
        let mut t = e.begin(IsolationLevel::ReadCommitted);
        t.start_command();
        t.insert(REL, format!("{i}").as_bytes()).unwrap();
        if i % 97 == 0 {
            t.rollback();
        } else {
            t.commit().unwrap();
            kept += 1;
        }
    }
    kept
}

fn count(e: &Arc<Engine>) -> usize {
    let mut t = e.begin(IsolationLevel::ReadCommitted);
    t.start_command();
    let rows: Vec<Vec<u8>> = t.scan(REL).unwrap().map(|r| r.unwrap().1).collect();
    assert!(
        rows.iter()
            .all(|r| std::str::from_utf8(r).unwrap().parse::<usize>().unwrap() % 97 != 0),
        "a rolled-back row is visible"
    );
    rows.len()
}

fn segment(dir: &Path, seg: u32) -> PathBuf {
    dir.join("xact").join(format!("{seg:08x}"))
}

fn ino(p: &Path) -> u64 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .ino()
}

#[test]
fn a_checkpoint_writes_only_the_commit_log_segments_that_changed() {
    let dir = common::tmp_dir("clog", "segments");
    let mut kept;
    {
        let e = Engine::open(cfg(&dir)).unwrap();
        // More transactions than one segment holds.
        kept = run(&e, CLOG_SEGMENT_XIDS + 5_000, 0);
        e.checkpoint().unwrap();
        assert!(!dir.join("pg_xact").exists());
        let (first, second) = (ino(&segment(&dir, 0)), ino(&segment(&dir, 1)));
        assert!(!segment(&dir, 2).exists());
        kept += run(&e, 10, 1_000_000);
        e.checkpoint().unwrap();
        // Each segment is replaced as a whole (a new file renamed over the
        // old one): the first, whose transactions all ended before the
        // last checkpoint, was not written again.
        assert_eq!(
            ino(&segment(&dir, 0)),
            first,
            "an unchanged segment was rewritten"
        );
        assert_ne!(
            ino(&segment(&dir, 1)),
            second,
            "the changed segment was not written"
        );
        // Then a crash, with commits and a rollback since the checkpoint.
        kept += run(&e, 200, 2_000_000);
        assert_eq!(count(&e), kept);
    }
    let e = Engine::open(cfg(&dir)).unwrap();
    assert_eq!(count(&e), kept);
    e.checkpoint().unwrap();
    drop(e);
    let e = Engine::open(cfg(&dir)).unwrap();
    assert_eq!(count(&e), kept);
}

#[test]
fn a_format_3_directory_with_one_commit_log_file_is_read_and_converted() {
    let dir = common::tmp_dir("clog", "format3");
    let kept;
    {
        let e = Engine::open(cfg(&dir)).unwrap();
        kept = run(&e, 3_000, 0);
        e.checkpoint().unwrap();
    }
    // Make it a format-3 directory: the whole log in `pg_xact` (the same
    // envelope of LSN, CRC and statuses as a segment), no `xact/`, and
    // version 3 in the control file.
    std::fs::rename(segment(&dir, 0), dir.join("pg_xact")).unwrap();
    std::fs::remove_dir_all(dir.join("xact")).unwrap();
    let control = dir.join("control");
    common::set_storage_version(&dir, 3);

    let e = Engine::open(cfg(&dir)).unwrap();
    assert_eq!(count(&e), kept);
    e.checkpoint().unwrap();
    assert!(
        !dir.join("pg_xact").exists(),
        "the single file outlived the conversion"
    );
    assert!(segment(&dir, 0).exists());
    assert!(std::fs::read_to_string(&control)
        .unwrap()
        .starts_with(&format!(
            "version={}\n",
            sargdb_engine::STORAGE_FORMAT_VERSION
        )));
    drop(e);
    let e = Engine::open(cfg(&dir)).unwrap();
    assert_eq!(count(&e), kept);
}
