//! Relation files: one file per relation under `<data_dir>/base/<RelFileId>`,
//! read and written a whole page at a time with positioned I/O.
//!
//! This module owns file handles and nothing else: checksums are set and
//! verified by the buffer pool, and it is the buffer pool's job to honour the
//! WAL-before-page rule before calling `write_page`.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{EngineError, Result};
use crate::page::PAGE_SIZE;
use crate::RelFileId;

pub struct Storage {
    dir: PathBuf,
    files: Mutex<HashMap<RelFileId, Arc<File>>>,
    /// Relations written since the last `sync_all`.
    unsynced: Mutex<HashSet<RelFileId>>,
    fsync: bool,
}

impl Storage {
    pub fn open(data_dir: &Path, fsync: bool) -> Result<Storage> {
        let dir = data_dir.join("base");
        std::fs::create_dir_all(&dir).map_err(|e| EngineError::io(&dir, e))?;
        // Files of dropped relations that a crash left behind (`remove`).
        let rd = std::fs::read_dir(&dir).map_err(|e| EngineError::io(&dir, e))?;
        for ent in rd {
            let ent = ent.map_err(|e| EngineError::io(&dir, e))?;
            if ent
                .file_name()
                .to_str()
                .is_some_and(|n| n.contains(DROPPED_SUFFIX))
            {
                let path = ent.path();
                std::fs::remove_file(&path).map_err(|e| EngineError::io(&path, e))?;
            }
        }
        Ok(Storage {
            dir,
            files: Mutex::new(HashMap::new()),
            unsynced: Mutex::new(HashSet::new()),
            fsync,
        })
    }

    fn path(&self, rel: RelFileId) -> PathBuf {
        self.dir.join(rel.to_string())
    }

    fn file(&self, rel: RelFileId) -> Result<Arc<File>> {
        self.open_file(rel, true)
            .map(|f| f.expect("created if missing"))
    }

    /// The relation's file, opened once and kept; `None` if it does not
    /// exist and `create` is false.
    fn open_file(&self, rel: RelFileId, create: bool) -> Result<Option<Arc<File>>> {
        let mut files = self.files.lock();
        if let Some(f) = files.get(&rel) {
            return Ok(Some(f.clone()));
        }
        let path = self.path(rel);
        let f = match OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if !create && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(EngineError::io(&path, e)),
        };
        let f = Arc::new(f);
        files.insert(rel, f.clone());
        Ok(Some(f))
    }

    /// Create the relation's file if it does not exist yet (a relation
    /// has its file from its first block on, written or not).
    pub fn ensure_file(&self, rel: RelFileId) -> Result<()> {
        self.file(rel).map(|_| ())
    }

    /// Number of pages in the relation's file.
    pub fn nblocks(&self, rel: RelFileId) -> Result<u32> {
        let path = self.path(rel);
        match std::fs::metadata(&path) {
            Ok(m) => Ok((m.len() / PAGE_SIZE as u64) as u32),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(EngineError::io(&path, e)),
        }
    }

    /// Read a page; pages past the end of the file read as zeroes. A read
    /// creates no file: a relation dropped under a reader (reads take no
    /// table lock) must not come back as an empty file.
    pub fn read_page(&self, rel: RelFileId, block: u32, buf: &mut [u8]) -> Result<()> {
        let Some(f) = self.open_file(rel, false)? else {
            buf.fill(0);
            return Ok(());
        };
        let off = block as u64 * PAGE_SIZE as u64;
        let mut done = 0;
        while done < PAGE_SIZE {
            match f.read_at(&mut buf[done..], off + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(EngineError::io(self.path(rel), e)),
            }
        }
        buf[done..].fill(0);
        Ok(())
    }

    /// Write a page, or consecutive pages from `block` on (`buf` is a
    /// multiple of the page size).
    pub fn write_page(&self, rel: RelFileId, block: u32, buf: &[u8]) -> Result<()> {
        debug_assert_eq!(buf.len() % PAGE_SIZE, 0);
        let f = self.file(rel)?;
        f.write_all_at(buf, block as u64 * PAGE_SIZE as u64)
            .map_err(|e| EngineError::io(self.path(rel), e))?;
        self.unsynced.lock().insert(rel);
        Ok(())
    }

    /// fsync every relation file written since the last call.
    pub fn sync_all(&self) -> Result<()> {
        let rels: Vec<RelFileId> = self.unsynced.lock().drain().collect();
        if !self.fsync {
            return Ok(());
        }
        for rel in rels {
            let f = match self.files.lock().get(&rel) {
                Some(f) => f.clone(),
                None => continue,
            };
            f.sync_all()
                .map_err(|e| EngineError::io(self.path(rel), e))?;
        }
        sync_dir(&self.dir)
    }

    /// Whether the relation has a file (or an open handle).
    pub fn exists(&self, rel: RelFileId) -> bool {
        self.files.lock().contains_key(&rel) || self.path(rel).exists()
    }

    /// fsync one relation's file and the directory that holds it (the
    /// file may be new).
    pub fn sync_relation(&self, rel: RelFileId) -> Result<()> {
        if !self.fsync {
            return Ok(());
        }
        let f = self.file(rel)?;
        f.sync_all()
            .map_err(|e| EngineError::io(self.path(rel), e))?;
        sync_dir(&self.dir)
    }

    /// fdatasync one relation's file: its data and size, not the directory
    /// entry (a head start for a later `sync_relation`).
    pub fn sync_relation_data(&self, rel: RelFileId) -> Result<()> {
        if !self.fsync {
            return Ok(());
        }
        let f = self.file(rel)?;
        f.sync_data()
            .map_err(|e| EngineError::io(self.path(rel), e))
    }

    /// Delete a relation's file (after its buffers were discarded).
    ///
    /// The file is renamed aside at once, so its id is free for a new
    /// relation, and unlinked on a helper thread: unlinking a large file
    /// whose pages the kernel still caches takes tens of milliseconds
    /// (freeing those pages), which a DROP TABLE need not wait for. A file
    /// left aside by a crash is removed at the next start (`open`).
    pub fn remove(&self, rel: RelFileId) -> Result<()> {
        self.files.lock().remove(&rel);
        self.unsynced.lock().remove(&rel);
        let path = self.path(rel);
        let aside = self.dir.join(format!(
            "{rel}{DROPPED_SUFFIX}{}",
            DROPPED_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        match std::fs::rename(&path, &aside) {
            Ok(()) => {
                let spawned = std::thread::Builder::new().name("unlink".into()).spawn({
                    let aside = aside.clone();
                    move || remove_quietly(&aside)
                });
                if spawned.is_err() {
                    remove_quietly(&aside);
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(_) => match std::fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(EngineError::io(&path, e)),
            },
        }
    }

    /// Ids of every relation file present.
    pub fn list(&self) -> Result<Vec<RelFileId>> {
        let mut out = Vec::new();
        let rd = std::fs::read_dir(&self.dir).map_err(|e| EngineError::io(&self.dir, e))?;
        for ent in rd {
            let ent = ent.map_err(|e| EngineError::io(&self.dir, e))?;
            if let Some(id) = ent.file_name().to_str().and_then(|s| s.parse().ok()) {
                out.push(id);
            }
        }
        Ok(out)
    }
}

/// Marks a dropped relation's file renamed aside: `<id>.dropped.<n>`.
const DROPPED_SUFFIX: &str = ".dropped.";
static DROPPED_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn remove_quietly(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("could not remove {}: {e}", path.display());
        }
    }
}

/// fsync a directory so that file creations/renames/removals in it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| EngineError::io(dir, e))?;
    d.sync_all().map_err(|e| EngineError::io(dir, e))
}

/// Write `data` to `path` atomically: temp file, fsync, rename, fsync dir.
pub fn write_atomic(path: &Path, data: &[u8], fsync: bool) -> Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let f = File::create(&tmp).map_err(|e| EngineError::io(&tmp, e))?;
        f.write_all_at(data, 0)
            .map_err(|e| EngineError::io(&tmp, e))?;
        if fsync {
            f.sync_all().map_err(|e| EngineError::io(&tmp, e))?;
        }
    }
    std::fs::rename(&tmp, path).map_err(|e| EngineError::io(path, e))?;
    if fsync {
        if let Some(parent) = path.parent() {
            sync_dir(parent)?;
        }
    }
    Ok(())
}
