//! Temporary files for operators that spill when query work memory runs
//! out (`--memory-limit`): a sort's sorted runs, a hash aggregate's
//! partitions. A file holds records of values, each encoded as a tuple
//! (`encode_row`, whose values carry their own types) after its length. It
//! lives in the data directory's `tmp/` and is unlinked as soon as it is
//! created: the open file stays usable, and nothing is left behind once it
//! is closed, even after a crash.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use sargdb_catalog::Value;

use super::{ExecContext, HashKey};
use crate::error::{Result, SqlError};

/// Buffer of each writer (an operator may write many partitions at once)
/// and of each reader. These buffers are not counted as query work memory.
const WRITE_BUFFER: usize = 16 << 10;
const READ_BUFFER: usize = 32 << 10;

/// Names the temporary files of this process apart.
static FILES: AtomicU64 = AtomicU64::new(0);

fn io_error(what: &str, e: std::io::Error) -> SqlError {
    SqlError::Internal(format!("could not {what} temporary file: {e}"))
}

/// A temporary file being written.
pub struct SpillWriter {
    w: BufWriter<File>,
    rec: Vec<u8>,
    bytes: u64,
}

impl SpillWriter {
    pub fn create(ctx: &ExecContext) -> Result<SpillWriter> {
        let io = |e| io_error("create", e);
        let dir = ctx.engine.config().data_dir.join("tmp");
        std::fs::create_dir_all(&dir).map_err(io)?;
        let n = FILES.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("spill.{}.{n}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io)?;
        std::fs::remove_file(&path).map_err(io)?;
        Ok(SpillWriter {
            w: BufWriter::with_capacity(WRITE_BUFFER, file),
            rec: Vec::new(),
            bytes: 0,
        })
    }

    /// Appends one record.
    pub fn write(&mut self, values: &[Value]) -> Result<()> {
        let io = |e| io_error("write to", e);
        self.rec.clear();
        sargdb_catalog::types::encode_row(values, &mut self.rec);
        self.w
            .write_all(&(self.rec.len() as u32).to_le_bytes())
            .map_err(io)?;
        self.w.write_all(&self.rec).map_err(io)?;
        self.bytes += 4 + self.rec.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Done writing: the records, read from the start (a file with none
    /// is closed at once).
    pub fn finish(self) -> Result<SpillReader> {
        if self.bytes == 0 {
            return Ok(SpillReader {
                r: None,
                buf: Vec::new(),
            });
        }
        let io = |e| io_error("write to", e);
        let mut file = self.w.into_inner().map_err(|e| io(e.into_error()))?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        Ok(SpillReader {
            r: Some(BufReader::with_capacity(READ_BUFFER, file)),
            buf: Vec::new(),
        })
    }
}

/// A temporary file being read back.
pub struct SpillReader {
    /// None: no record was written.
    r: Option<BufReader<File>>,
    buf: Vec<u8>,
}

impl SpillReader {
    /// No record at all.
    pub fn is_empty(&self) -> bool {
        self.r.is_none()
    }

    /// The next record, or None at the end.
    pub fn next(&mut self) -> Result<Option<Vec<Value>>> {
        let io = |e| io_error("read", e);
        let Some(r) = self.r.as_mut() else {
            return Ok(None);
        };
        let mut len = [0u8; 4];
        match r.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(io(e)),
        }
        self.buf.resize(u32::from_le_bytes(len) as usize, 0);
        r.read_exact(&mut self.buf).map_err(io)?;
        Ok(Some(sargdb_catalog::types::decode_all(&self.buf)?))
    }
}

/// Removes what a previous run of the server left in `<data_dir>/tmp/`
/// (called at start, before any query runs).
pub fn remove_spill_files(data_dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(data_dir.join("tmp")) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        if name.to_string_lossy().starts_with("spill.") {
            if let Err(err) = std::fs::remove_file(e.path()) {
                tracing::warn!("could not remove {}: {err}", e.path().display());
            }
        }
    }
}

/// A partition that overflows again is split again, this many times at
/// most (each pass keeps at least one key in memory, so this is only a
/// guard against one key with more rows than the limit holds).
pub const MAX_LEVEL: u32 = 8;

/// Rows split by the hash of their key into partition files, at a spill
/// level (each level hashes differently, so the keys of one partition
/// spread over the next level's partitions). Equal keys, NULLs included,
/// always land in the same partition.
pub struct Partitions {
    files: Vec<SpillWriter>,
    level: u32,
}

impl Partitions {
    pub fn create(ctx: &ExecContext, count: usize, level: u32) -> Result<Partitions> {
        let mut files = Vec::with_capacity(count);
        for _ in 0..count {
            files.push(SpillWriter::create(ctx)?);
        }
        Ok(Partitions { files, level })
    }

    /// Appends `row` to the partition of `key`.
    pub fn write(&mut self, key: &HashKey, row: &[Value]) -> Result<()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.level.hash(&mut h);
        key.hash(&mut h);
        let n = self.files.len() as u64;
        self.files[(h.finish() % n) as usize].write(row)
    }

    /// Done writing: each partition's rows to read back, in partition
    /// order.
    pub fn finish(self) -> Result<Vec<SpillReader>> {
        self.files.into_iter().map(SpillWriter::finish).collect()
    }

    /// Done writing: queues each non-empty partition, with the next level,
    /// onto `queue`.
    pub fn queue_into(self, queue: &mut Vec<(SpillReader, u32)>) -> Result<()> {
        let next = self.level + 1;
        for r in self.finish()? {
            if !r.is_empty() {
                queue.push((r, next));
            }
        }
        Ok(())
    }
}
