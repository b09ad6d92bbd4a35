//! Memory the sql layer holds outside the engine, measured for
//! `memory_stats`: per-connection state, cached plans, rows buffered by
//! queries (sorts, hash tables) and the workload capture. Each consumer is a
//! `Gauge` that is raised when memory is taken and lowered when it is given
//! back (`WorkMemory` does that on drop), so the numbers are what is held
//! now, plus the most ever held.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use sargdb_catalog::Value;

use crate::error::{Result, SqlError};

/// Bytes and entries a consumer holds now, and its peak bytes.
pub struct Gauge {
    bytes: AtomicI64,
    entries: AtomicI64,
    peak: AtomicU64,
}

impl Gauge {
    pub const fn new() -> Self {
        Gauge {
            bytes: AtomicI64::new(0),
            entries: AtomicI64::new(0),
            peak: AtomicU64::new(0),
        }
    }
    pub fn add(&self, bytes: u64, entries: i64) {
        let now = self.bytes.fetch_add(bytes as i64, Ordering::Relaxed) + bytes as i64;
        self.entries.fetch_add(entries, Ordering::Relaxed);
        self.peak.fetch_max(now.max(0) as u64, Ordering::Relaxed);
    }
    /// Adds `bytes` unless that would take the total past `limit`; returns
    /// whether it did.
    pub fn try_add(&self, bytes: u64, limit: u64) -> bool {
        let mut now = self.bytes.load(Ordering::Relaxed);
        loop {
            let next = now.max(0) as u64 + bytes;
            if next > limit {
                return false;
            }
            match self.bytes.compare_exchange_weak(
                now,
                now + bytes as i64,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.peak.fetch_max(next, Ordering::Relaxed);
                    return true;
                }
                Err(seen) => now = seen,
            }
        }
    }
    pub fn sub(&self, bytes: u64, entries: i64) {
        self.bytes.fetch_sub(bytes as i64, Ordering::Relaxed);
        self.entries.fetch_sub(entries, Ordering::Relaxed);
    }
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed).max(0) as u64
    }
    pub fn entries(&self) -> u64 {
        self.entries.load(Ordering::Relaxed).max(0) as u64
    }
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

impl Default for Gauge {
    fn default() -> Self {
        Gauge::new()
    }
}

/// The sql layer's consumers.
pub struct MemoryGauges {
    pub plans: Gauge,
    pub sessions: Gauge,
    pub work: Gauge,
    pub statements: Gauge,
    pub catalog_peak: AtomicU64,
    /// The most query work memory all running queries may hold together;
    /// 0: no limit (`set_work_limit`).
    pub work_limit: AtomicU64,
}

/// Limits query work memory (`--memory-limit` less the buffer pool), or
/// lifts the limit.
pub fn set_work_limit(bytes: Option<u64>) {
    MEMORY
        .work_limit
        .store(bytes.map_or(0, |b| b.max(1)), Ordering::Relaxed);
}

/// The query work memory limit, if there is one.
pub fn work_limit() -> Option<u64> {
    match MEMORY.work_limit.load(Ordering::Relaxed) {
        0 => None,
        b => Some(b),
    }
}

/// One process serves one database, so the gauges are process-wide.
pub static MEMORY: MemoryGauges = MemoryGauges {
    plans: Gauge::new(),
    sessions: Gauge::new(),
    work: Gauge::new(),
    statements: Gauge::new(),
    catalog_peak: AtomicU64::new(0),
    work_limit: AtomicU64::new(0),
};

/// Bytes a value occupies: its inline size plus what it owns on the heap.
pub fn value_bytes(v: &Value) -> u64 {
    let inline = std::mem::size_of::<Value>() as u64;
    inline
        + match v {
            Value::Text(s) => s.capacity() as u64,
            Value::Bytea(b) => b.capacity() as u64,
            Value::Array(items) => items.iter().map(value_bytes).sum(),
            _ => 0,
        }
}

/// Bytes a buffered row occupies.
pub fn row_bytes(row: &[Value]) -> u64 {
    std::mem::size_of::<Vec<Value>>() as u64 + row.iter().map(value_bytes).sum::<u64>()
}

/// Query work memory held by one operator; given back on drop.
#[derive(Default)]
pub struct WorkMemory {
    bytes: u64,
}

impl WorkMemory {
    pub fn add_row(&mut self, row: &[Value]) -> Result<()> {
        self.add(row_bytes(row))
    }
    /// Counts `bytes` more as held by this operator, or fails with 53200
    /// if that would take all queries' work memory past its limit (nothing
    /// is counted then; the operator gives back what it holds when the
    /// failed query drops it).
    pub fn add(&mut self, bytes: u64) -> Result<()> {
        match work_limit() {
            None => MEMORY.work.add(bytes, 0),
            Some(limit) => {
                if !MEMORY.work.try_add(bytes, limit) {
                    return Err(SqlError::OutOfMemory {
                        detail: Some(format!(
                            "Failed on request of size {bytes}: the query work memory of all \
                             running queries would exceed its limit of {limit} bytes, what \
                             --memory-limit leaves beyond the buffer pool."
                        )),
                    });
                }
            }
        }
        self.bytes += bytes;
        Ok(())
    }
    /// Give back everything this operator holds.
    pub fn release_all(&mut self) {
        self.release(self.bytes);
    }
    /// Give back `bytes` of what was added (rows the operator dropped).
    pub fn release(&mut self, bytes: u64) {
        let b = bytes.min(self.bytes);
        self.bytes -= b;
        MEMORY.work.sub(b, 0);
    }
}

impl Drop for WorkMemory {
    fn drop(&mut self) {
        MEMORY.work.sub(self.bytes, 0);
    }
}
