//! The captured workload behind `pg_stat_statements`: per normalized
//! statement, how often it ran, how long it took, how many rows it
//! returned or changed and how many buffer pages it touched.
//!
//! Normalization replaces every constant (numbers, string literals) by `$n`
//! in one pass over the text, so `WHERE aid = 5` and `WHERE aid = 7` are one
//! entry; the query id is a hash of the normalized text. A prepared
//! statement normalizes once, at Parse, and keeps its entry; a simple query
//! normalizes each time it runs. Entries are atomics behind an `Arc`, found
//! through a sharded map, so recording takes one short shard lock (simple
//! queries) or none (prepared statements).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use sargdb_engine::stats::ThreadIo;

/// The server's captured workload (one database per process).
pub static STATEMENTS: std::sync::LazyLock<StatementStats> =
    std::sync::LazyLock::new(StatementStats::default);

/// Most distinct statements kept (Postgres's pg_stat_statements.max).
pub const MAX_ENTRIES: usize = 5000;
const SHARDS: usize = 16;
/// Longest query text kept per entry (the id hashes the whole text).
pub const MAX_QUERY_TEXT: usize = 8192;

/// Count, sum, extremes and spread of one kind of duration (planning or
/// execution) of a statement, in nanoseconds.
pub struct Timing {
    pub count: AtomicU64,
    pub total_ns: AtomicU64,
    /// u64::MAX until the first sample.
    pub min_ns: AtomicU64,
    pub max_ns: AtomicU64,
    /// Sum of the squares of the samples in milliseconds² (f64 bits), for
    /// the standard deviation.
    sum_sq_ms: AtomicU64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            count: AtomicU64::new(0),
            total_ns: AtomicU64::new(0),
            min_ns: AtomicU64::new(u64::MAX),
            max_ns: AtomicU64::new(0),
            sum_sq_ms: AtomicU64::new(0f64.to_bits()),
        }
    }
}

impl Timing {
    pub fn record(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.total_ns.fetch_add(ns, Ordering::Relaxed);
        // Read first: min and max rarely change, and a plain load does not
        // take the cache line away from other sessions.
        if ns < self.min_ns.load(Ordering::Relaxed) {
            self.min_ns.fetch_min(ns, Ordering::Relaxed);
        }
        if ns > self.max_ns.load(Ordering::Relaxed) {
            self.max_ns.fetch_max(ns, Ordering::Relaxed);
        }
        let ms = ns as f64 / 1e6;
        let _ = self
            .sum_sq_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some((f64::from_bits(b) + ms * ms).to_bits())
            });
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn cells(&self) -> [&AtomicU64; 5] {
        [
            &self.count,
            &self.total_ns,
            &self.min_ns,
            &self.max_ns,
            &self.sum_sq_ms,
        ]
    }

    /// (total, min, max, mean, population standard deviation) in
    /// milliseconds, as pg_stat_statements shows them; all 0 without samples.
    pub fn summary_ms(&self) -> [f64; 5] {
        let n = self.count();
        if n == 0 {
            return [0.0; 5];
        }
        let ms = |ns: u64| ns as f64 / 1e6;
        let total = ms(self.total_ns.load(Ordering::Relaxed));
        let mean = total / n as f64;
        let sq = f64::from_bits(self.sum_sq_ms.load(Ordering::Relaxed));
        // One sample has no spread (the subtraction could leave rounding
        // noise).
        let var = if n == 1 {
            0.0
        } else {
            (sq / n as f64 - mean * mean).max(0.0)
        };
        [
            total,
            ms(self.min_ns.load(Ordering::Relaxed)),
            ms(self.max_ns.load(Ordering::Relaxed)),
            mean,
            var.sqrt(),
        ]
    }
}

/// One normalized statement's totals.
pub struct StatementEntry {
    pub query: String,
    pub queryid: i64,
    /// Bind + plan, counted each time the statement was planned (a prepared
    /// statement that reuses its cached plan is not planned again).
    pub plan: Timing,
    /// Execution (the rest of the statement's time); its count is `calls`.
    pub exec: Timing,
    pub rows: AtomicU64,
    pub blks_hit: AtomicU64,
    pub blks_read: AtomicU64,
    pub blks_dirtied: AtomicU64,
    pub blks_written: AtomicU64,
    pub read_ns: AtomicU64,
    pub write_ns: AtomicU64,
    pub wal_records: AtomicU64,
    pub wal_fpi: AtomicU64,
    pub wal_bytes: AtomicU64,
}

impl StatementEntry {
    fn new(query: String, queryid: i64) -> Self {
        let z = || AtomicU64::new(0);
        StatementEntry {
            query,
            queryid,
            plan: Timing::default(),
            exec: Timing::default(),
            rows: z(),
            blks_hit: z(),
            blks_read: z(),
            blks_dirtied: z(),
            blks_written: z(),
            read_ns: z(),
            write_ns: z(),
            wal_records: z(),
            wal_fpi: z(),
            wal_bytes: z(),
        }
    }

    pub fn calls(&self) -> u64 {
        self.exec.count()
    }

    /// Every number of the entry, in a fixed order (for saving).
    fn cells(&self) -> Vec<&AtomicU64> {
        let mut v: Vec<&AtomicU64> = self.plan.cells().to_vec();
        v.extend(self.exec.cells());
        v.extend([
            &self.rows,
            &self.blks_hit,
            &self.blks_read,
            &self.blks_dirtied,
            &self.blks_written,
            &self.read_ns,
            &self.write_ns,
            &self.wal_records,
            &self.wal_fpi,
            &self.wal_bytes,
        ]);
        v
    }

    /// Add one execution: its planning time if it was planned, its total
    /// time (planning included), the rows it returned or changed and what
    /// it did to buffers and the WAL.
    pub fn record(&self, plan: Option<Duration>, total: Duration, rows: u64, io: &ThreadIo) {
        if let Some(p) = plan {
            self.plan.record(p);
        }
        self.exec
            .record(total.saturating_sub(plan.unwrap_or_default()));
        let add = |a: &AtomicU64, v: u64| {
            if v != 0 {
                a.fetch_add(v, Ordering::Relaxed);
            }
        };
        add(&self.rows, rows);
        add(&self.blks_hit, io.blks_hit);
        add(&self.blks_read, io.blks_read);
        add(&self.blks_dirtied, io.blks_dirtied);
        add(&self.blks_written, io.blks_written);
        add(&self.read_ns, io.read_ns);
        add(&self.write_ns, io.write_ns);
        add(&self.wal_records, io.wal_records);
        add(&self.wal_fpi, io.wal_fpi);
        add(&self.wal_bytes, io.wal_bytes);
    }
}

/// Every captured statement.
pub struct StatementStats {
    shards: Vec<Mutex<HashMap<i64, Arc<StatementEntry>>>>,
}

impl Default for StatementStats {
    fn default() -> Self {
        StatementStats {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl StatementStats {
    /// The entry of a statement's SQL text (normalized here), created on
    /// first use. None once MAX_ENTRIES statements are kept: new ones are
    /// not recorded until a reset.
    pub fn entry_for(&self, sql: &str) -> Option<Arc<StatementEntry>> {
        let query = normalize(sql);
        let id = query_id(&query);
        let mut shard = self.shards[(id as u64 as usize) % SHARDS].lock();
        if let Some(e) = shard.get(&id) {
            return Some(e.clone());
        }
        if shard.len() >= MAX_ENTRIES / SHARDS {
            return None;
        }
        let mut query = query;
        if query.len() > MAX_QUERY_TEXT {
            let mut end = MAX_QUERY_TEXT;
            while !query.is_char_boundary(end) {
                end -= 1;
            }
            query.truncate(end);
        }
        let e = Arc::new(StatementEntry::new(query, id));
        crate::memory::MEMORY.statements.add(
            (std::mem::size_of::<StatementEntry>() + e.query.capacity()) as u64,
            1,
        );
        shard.insert(id, e.clone());
        Some(e)
    }

    /// The entries that ran, for the statistics file: `[u32 version][u32 n]`
    /// then per entry `[i64 queryid][u32 len][query][u32 cells][u64 cell]*`.
    pub fn encode(&self) -> Vec<u8> {
        let entries: Vec<_> = self.all().into_iter().filter(|e| e.calls() > 0).collect();
        let mut out = Vec::with_capacity(8 + entries.len() * 256);
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        for e in entries {
            out.extend_from_slice(&e.queryid.to_le_bytes());
            out.extend_from_slice(&(e.query.len() as u32).to_le_bytes());
            out.extend_from_slice(e.query.as_bytes());
            let cells = e.cells();
            out.extend_from_slice(&(cells.len() as u32).to_le_bytes());
            for c in cells {
                out.extend_from_slice(&c.load(Ordering::Relaxed).to_le_bytes());
            }
        }
        out
    }

    /// Add the entries `encode` wrote (at startup). A malformed blob is an
    /// error and adds nothing.
    pub fn restore(&self, b: &[u8]) -> Result<usize, String> {
        let mut pos = 0usize;
        let mut take = |n: usize| -> Result<&[u8], String> {
            let s = b
                .get(pos..pos + n)
                .ok_or_else(|| "statement statistics are truncated".to_string())?;
            pos += n;
            Ok(s)
        };
        let u32_of = |s: &[u8]| u32::from_le_bytes(s.try_into().expect("4 bytes"));
        let u64_of = |s: &[u8]| u64::from_le_bytes(s.try_into().expect("8 bytes"));
        if u32_of(take(4)?) != 1 {
            return Err("unknown statement statistics version".into());
        }
        let n = u32_of(take(4)?) as usize;
        let mut parsed = Vec::with_capacity(n.min(MAX_ENTRIES));
        for _ in 0..n {
            let id = u64_of(take(8)?) as i64;
            let len = u32_of(take(4)?) as usize;
            let query = String::from_utf8(take(len)?.to_vec())
                .map_err(|_| "statement text is not UTF-8".to_string())?;
            let e = StatementEntry::new(query, id);
            let ncells = u32_of(take(4)?) as usize;
            let cells = e.cells();
            for i in 0..ncells {
                let v = u64_of(take(8)?);
                if let Some(c) = cells.get(i) {
                    c.store(v, Ordering::Relaxed);
                }
            }
            parsed.push(e);
        }
        let mut added = 0;
        for e in parsed {
            let mut shard = self.shards[(e.queryid as u64 as usize) % SHARDS].lock();
            if shard.len() >= MAX_ENTRIES / SHARDS || shard.contains_key(&e.queryid) {
                continue;
            }
            crate::memory::MEMORY.statements.add(
                (std::mem::size_of::<StatementEntry>() + e.query.capacity()) as u64,
                1,
            );
            shard.insert(e.queryid, Arc::new(e));
            added += 1;
        }
        Ok(added)
    }

    pub fn all(&self) -> Vec<Arc<StatementEntry>> {
        let mut v: Vec<Arc<StatementEntry>> = self
            .shards
            .iter()
            .flat_map(|s| s.lock().values().cloned().collect::<Vec<_>>())
            .collect();
        v.sort_by_key(|e| e.queryid);
        v
    }

    /// Forget every statement (`pg_stat_statements_reset()`); entries held
    /// by prepared statements keep counting but are no longer listed.
    pub fn reset(&self) {
        for s in &self.shards {
            let mut s = s.lock();
            for e in s.values() {
                crate::memory::MEMORY.statements.sub(
                    (std::mem::size_of::<StatementEntry>() + e.query.capacity()) as u64,
                    1,
                );
            }
            s.clear();
        }
    }
}

/// A stable 64-bit id of normalized text (FNV-1a: fixed across restarts and
/// builds, unlike the std hasher's random keys).
pub fn query_id(normalized: &str) -> i64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    normalized.hash(&mut h);
    h.finish() as i64
}

struct Fnv(u64);
impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// Replace constants by `$1`, `$2`, ... (numbering after any parameter the
/// text already has), keep everything else as written. Recognizes
/// 'strings' (with '' escapes, and E'..' / B'..' / X'..' prefixes),
/// $tag$dollar$tag$ strings, numbers not part of an identifier, "quoted
/// identifiers", and -- / /* */ comments (kept).
pub fn normalize(sql: &str) -> String {
    let b = sql.as_bytes();
    let mut max_param = 0usize;
    // First pass: the highest $n already present, so ours come after it.
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() && b[i + 1].is_ascii_digit() {
            let mut j = i + 1;
            let mut n = 0usize;
            while j < b.len() && b[j].is_ascii_digit() {
                n = n.saturating_mul(10).saturating_add((b[j] - b'0') as usize);
                j += 1;
            }
            max_param = max_param.max(n);
            i = j;
        } else {
            i += 1;
        }
    }
    let mut next = max_param;
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    let mut placeholder = |out: &mut String| {
        next += 1;
        out.push('$');
        out.push_str(&next.to_string());
    };
    let trimmed_end = sql.trim_end().trim_end_matches(';').trim_end().len();
    while i < trimmed_end {
        let c = b[i];
        match c {
            b'\'' => {
                // A prefix letter (E, B, X, N) right before the quote is part
                // of the literal.
                if let Some(&p) = out.as_bytes().last() {
                    if matches!(p, b'E' | b'e' | b'B' | b'b' | b'X' | b'x' | b'N' | b'n')
                        && (out.len() < 2 || !ident(out.as_bytes()[out.len() - 2]))
                    {
                        out.pop();
                    }
                }
                let mut j = i + 1;
                while j < b.len() {
                    if b[j] == b'\\' && j + 1 < b.len() {
                        j += 2;
                        continue;
                    }
                    if b[j] == b'\'' {
                        if j + 1 < b.len() && b[j + 1] == b'\'' {
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    j += 1;
                }
                placeholder(&mut out);
                i = (j + 1).min(b.len());
            }
            b'"' => {
                let j = sql[i + 1..].find('"').map_or(b.len(), |k| i + 1 + k + 1);
                out.push_str(&sql[i..j.min(b.len())]);
                i = j;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                let j = sql[i..].find('\n').map_or(b.len(), |k| i + k);
                out.push_str(&sql[i..j]);
                i = j;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let j = sql[i + 2..].find("*/").map_or(b.len(), |k| i + 2 + k + 2);
                out.push_str(&sql[i..j]);
                i = j;
            }
            b'$' => {
                // $n parameter, or a $tag$ ... $tag$ string.
                let mut j = i + 1;
                while j < b.len() && ident(b[j]) && !(j == i + 1 && b[j].is_ascii_digit()) {
                    j += 1;
                }
                if j < b.len() && b[j] == b'$' {
                    let tag = &sql[i..=j];
                    let end = sql[j + 1..]
                        .find(tag)
                        .map_or(b.len(), |k| j + 1 + k + tag.len());
                    placeholder(&mut out);
                    i = end;
                } else {
                    let mut k = i + 1;
                    while k < b.len() && b[k].is_ascii_digit() {
                        k += 1;
                    }
                    out.push_str(&sql[i..k.max(i + 1)]);
                    i = k.max(i + 1);
                }
            }
            c if c.is_ascii_digit()
                || (c == b'.' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let prev_ident = out.as_bytes().last().is_some_and(|&p| ident(p));
                if prev_ident {
                    out.push(c as char);
                    i += 1;
                    continue;
                }
                let mut j = i;
                while j < b.len()
                    && (b[j].is_ascii_alphanumeric()
                        || b[j] == b'.'
                        || ((b[j] == b'+' || b[j] == b'-')
                            && j > i
                            && matches!(b[j - 1], b'e' | b'E')))
                {
                    j += 1;
                }
                placeholder(&mut out);
                i = j;
            }
            _ => {
                let ch = sql[i..].chars().next().unwrap_or(' ');
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_become_parameters() {
        assert_eq!(
            normalize("SELECT abalance FROM pgbench_accounts WHERE aid = 42;"),
            "SELECT abalance FROM pgbench_accounts WHERE aid = $1"
        );
        assert_eq!(
            normalize("insert into t2 values (1.5e-3, 'it''s', E'x\\'y', -7)"),
            "insert into t2 values ($1, $2, $3, -$4)"
        );
        assert_eq!(
            normalize("UPDATE t SET v = v + $1 WHERE id = 3"),
            "UPDATE t SET v = v + $1 WHERE id = $2"
        );
        assert_eq!(
            normalize("select \"a1\" from t1 -- 5\n where x = $$q$$"),
            "select \"a1\" from t1 -- 5\n where x = $1"
        );
        assert_eq!(
            query_id(&normalize("SELECT 1")),
            query_id(&normalize("SELECT 2"))
        );
    }

    #[test]
    fn entries_accumulate() {
        let s = StatementStats::default();
        let a = s.entry_for("SELECT * FROM t WHERE id = 1").unwrap();
        let b = s.entry_for("SELECT * FROM t WHERE id = 2").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let io = |hit| ThreadIo {
            blks_hit: hit,
            wal_bytes: 10,
            ..Default::default()
        };
        a.record(
            Some(Duration::from_micros(4)),
            Duration::from_micros(14),
            1,
            &io(3),
        );
        b.record(None, Duration::from_micros(30), 1, &io(2));
        assert_eq!(a.calls(), 2);
        assert_eq!(a.plan.count(), 1);
        assert_eq!(a.exec.min_ns.load(Ordering::Relaxed), 10_000);
        assert_eq!(a.exec.max_ns.load(Ordering::Relaxed), 30_000);
        let [total, min, max, mean, stddev] = a.exec.summary_ms();
        assert_eq!((total, min, max), (0.04, 0.01, 0.03));
        assert!((mean - 0.02).abs() < 1e-12);
        assert!((stddev - 0.01).abs() < 1e-9, "stddev {stddev}");
        assert_eq!(a.blks_hit.load(Ordering::Relaxed), 5);
        assert_eq!(a.wal_bytes.load(Ordering::Relaxed), 20);
        assert_eq!(Timing::default().summary_ms(), [0.0; 5]);
        // Saved and restored whole.
        let back = StatementStats::default();
        let blob = s.encode();
        assert_eq!(back.restore(&blob), Ok(1));
        let r = back.all().pop().unwrap();
        assert_eq!(r.query, a.query);
        assert_eq!(r.exec.summary_ms(), a.exec.summary_ms());
        assert_eq!(r.plan.count(), 1);
        assert_eq!(r.wal_bytes.load(Ordering::Relaxed), 20);
        assert!(back.restore(&blob[..blob.len() - 1]).is_err());
        assert_eq!(s.all().len(), 1);
        s.reset();
        assert!(s.all().is_empty());
    }
}
