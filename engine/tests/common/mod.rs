//! Helpers shared by the engine's integration tests.
#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sargdb_engine::{Engine, EngineConfig};

/// A fresh, unique, empty directory path under the system temp dir, removed
/// (with everything in it) when the guard is dropped at the end of the test.
pub fn tmp_dir(suite: &str, name: &str) -> TempDir {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("sargdb-{suite}-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    TempDir(d)
}

/// A test's data directory; see `tmp_dir`.
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Open (or create) an engine in `dir` with a small buffer pool.
pub fn open_engine(dir: &Path, buffer_pool_bytes: usize) -> Arc<Engine> {
    let mut c = EngineConfig::new(dir);
    c.buffer_pool_bytes = buffer_pool_bytes;
    Engine::open(c).unwrap()
}

/// Make the control file of the data directory `dir` claim storage format
/// `version`, with its checksum line recomputed.
pub fn set_storage_version(dir: &Path, version: u32) {
    let control = dir.join("control");
    let body: String = std::fs::read_to_string(&control)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("crc="))
        .map(|l| {
            if l.starts_with("version=") {
                format!("version={version}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let crc = crc32fast::hash(body.as_bytes());
    std::fs::write(&control, format!("{body}crc={crc}\n")).unwrap();
}

/// Copy a data directory without its lock file (a crash image to recover).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == "sargdb.lock" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(&name));
        } else {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

/// The newest WAL segment file of a data directory.
pub fn last_segment(dir: &Path) -> PathBuf {
    let mut segs: Vec<PathBuf> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.len() == 16 && n.chars().all(|c| c.is_ascii_hexdigit())
        })
        .map(|e| e.path())
        .collect();
    segs.sort();
    segs.pop().expect("a WAL segment")
}

/// Bytes in the newest WAL segment (call after `flush_wal`).
pub fn wal_end(dir: &Path) -> u64 {
    std::fs::metadata(last_segment(dir)).unwrap().len()
}

/// Crash images of `dir` (whose engine was dropped without a checkpoint)
/// with the newest WAL segment cut at `cuts + 1` points spread evenly from
/// byte `start` to its end, as a crash may cut it anywhere: `check` opens
/// each (a fresh copy) and says whether it recovered whole.
pub fn for_each_wal_prefix(dir: &Path, start: u64, cuts: u64, check: impl Fn(&Path, u64)) {
    let end = wal_end(dir);
    assert!(end > start, "nothing logged after byte {start}");
    for c in 0..=cuts {
        let cut = start + (end - start) * c / cuts;
        let img = tmp_dir("wal-prefix", "image");
        copy_dir(dir, &img);
        std::fs::OpenOptions::new()
            .write(true)
            .open(last_segment(&img))
            .unwrap()
            .set_len(cut)
            .unwrap();
        check(&img, cut);
    }
}
