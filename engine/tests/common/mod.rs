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
