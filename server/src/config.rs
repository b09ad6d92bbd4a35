//! The server's configuration: one typed struct, filled from the command line.
//!
//! Every setting is documented here once; `sargdb --help` prints these docs.
//! This module only parses and validates values (sizes in Postgres's units,
//! durations, on/off switches); it must not open files or sockets.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Command-line configuration of the `sargdb` server.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "sargdb",
    version,
    about = "sargdb: a PostgreSQL-compatible database server that knows its indexes",
    long_about = "sargdb: a PostgreSQL-compatible database server that knows its indexes.\n\n\
                  Clients (psql, libpq, JDBC, tokio-postgres, psycopg) connect over the \
                  PostgreSQL v3 wire protocol with trust authentication."
)]
pub struct Config {
    /// Address and TCP port to accept PostgreSQL client connections on.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:5432")]
    pub listen: String,

    /// Directory holding the database files (pages, WAL, catalog); created if
    /// it does not exist. Only one sargdb may use a data directory at a time.
    #[arg(long, value_name = "DIR", default_value = "./sargdb-data")]
    pub data_dir: PathBuf,

    /// Size of the buffer pool (page cache), in PostgreSQL's units:
    /// a number followed by B, kB, MB, GB or TB (e.g. 8MB, 1GB, 512kB); at least 128kB.
    #[arg(long, value_name = "SIZE", default_value = "128MB", value_parser = parse_size)]
    pub buffer_pool: u64,

    /// The server's memory budget, in PostgreSQL's units; must be larger
    /// than the buffer pool. What it leaves beyond the buffer pool is the
    /// limit of query work memory (the rows held by sorts, hash joins and
    /// hash aggregates of all running queries together): a query that would
    /// go past it fails with SQLSTATE 53200 and the server goes on serving.
    /// Without it, query work memory is not limited.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<u64>,

    /// How much the server logs to stderr: error, warn, info, debug or trace.
    #[arg(long, value_name = "LEVEL", value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,

    /// Flush the WAL to disk (fsync) before acknowledging a commit: on or off.
    /// Turning it off loses recent commits on a crash; only for tests.
    #[arg(
        long,
        value_name = "on|off",
        default_value = "on",
        num_args = 0..=1,
        default_missing_value = "on",
        value_parser = parse_switch
    )]
    pub fsync: bool,

    /// Time between automatic checkpoints, which bound recovery time: seconds,
    /// or a number with a unit s, min or h (e.g. 300, 30s, 5min).
    #[arg(long, value_name = "DURATION", default_value = "300", value_parser = parse_duration)]
    pub checkpoint_interval: Duration,

    /// WAL written since the last checkpoint that starts a new one, in
    /// PostgreSQL's units (like Postgres's max_wal_size, whose default it
    /// shares): larger means fewer checkpoints and a longer recovery.
    #[arg(long, value_name = "SIZE", default_value = "1GB", value_parser = parse_size)]
    pub max_wal_size: u64,

    /// Count activity for the statistics views (pg_stat_*, pg_stat_indexes,
    /// pg_stat_statements): on or off. Off only to measure what counting
    /// costs.
    #[arg(
        long,
        value_name = "on|off",
        default_value = "on",
        num_args = 0..=1,
        default_missing_value = "on",
        value_parser = parse_switch
    )]
    pub track_counts: bool,

    /// Connections are served by this many threads at a time (lanes), 0
    /// meaning one per core. Each connection belongs to one lane; a thread
    /// that waits (a lock, the WAL flush, a client that does not read) or
    /// runs one request for more than a few milliseconds hands its lane to
    /// another thread, so more threads than lanes may exist. At most 1024.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=1024)
    )]
    pub lanes: usize,
}

impl Config {
    /// The query work memory limit that `--memory-limit` leaves beyond the
    /// buffer pool (None: unlimited), or why the two do not fit.
    pub fn work_memory_limit(&self) -> Result<Option<u64>, String> {
        match self.memory_limit {
            None => Ok(None),
            Some(limit) if limit > self.buffer_pool => Ok(Some(limit - self.buffer_pool)),
            Some(limit) => Err(format!(
                "--memory-limit ({limit} bytes) must be larger than --buffer-pool ({} bytes): \
                 the buffer pool is part of the budget",
                self.buffer_pool
            )),
        }
    }

    /// The engine configuration these settings describe.
    pub fn engine_config(&self) -> sargdb_engine::EngineConfig {
        let mut engine = sargdb_engine::EngineConfig::new(self.data_dir.clone());
        engine.buffer_pool_bytes = usize::try_from(self.buffer_pool).unwrap_or(usize::MAX);
        engine.fsync = self.fsync;
        engine.checkpoint_interval = self.checkpoint_interval;
        engine.checkpoint_wal_bytes = self.max_wal_size;
        engine.track_counts = self.track_counts;
        engine
    }
}

/// Verbosity of the server log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// The `tracing` filter directive for this level.
    pub fn as_filter(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// Smallest accepted buffer pool: 16 pages of 8 KiB, Postgres's minimum
/// `shared_buffers`.
pub const MIN_BUFFER_POOL: u64 = 128 * 1024;

/// Parses a memory size in Postgres's units (`B`, `kB`, `MB`, `GB`, `TB`;
/// case-sensitive like Postgres, with `KB` also accepted). A bare number is bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    if num.is_empty() {
        return Err(format!(
            "invalid size \"{s}\": expected a number such as 128MB"
        ));
    }
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid size \"{s}\": number too large"))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "kB" | "KB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        other => {
            return Err(format!(
                "invalid unit \"{other}\" in size \"{s}\": valid units are B, kB, MB, GB and TB"
            ))
        }
    };
    let bytes = n
        .checked_mul(mult)
        .ok_or_else(|| format!("size \"{s}\" is too large"))?;
    if bytes < MIN_BUFFER_POOL {
        return Err(format!("size \"{s}\" is too small: the minimum is 128kB"));
    }
    Ok(bytes)
}

/// Parses a Postgres-style boolean setting: on/off, true/false, yes/no, 1/0.
pub fn parse_switch(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err(format!("invalid value \"{s}\": expected on or off")),
    }
}

/// Parses a duration: seconds, or a number with unit `ms`, `s`, `min` or `h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration \"{s}\": expected a number such as 300 or 5min"))?;
    let d = match unit.trim() {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "min" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        other => {
            return Err(format!(
                "invalid unit \"{other}\" in duration \"{s}\": valid units are ms, s, min and h"
            ))
        }
    };
    if d.is_zero() {
        return Err(format!("invalid duration \"{s}\": must be positive"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_postgres_units() {
        assert_eq!(parse_size("8MB"), Ok(8 << 20));
        assert_eq!(parse_size("1GB"), Ok(1 << 30));
        assert_eq!(parse_size("512kB"), Ok(512 << 10));
        assert_eq!(parse_size("2TB"), Ok(2 << 40));
        assert_eq!(parse_size("262144"), Ok(262144));
        assert!(
            parse_size("8mb").is_err(),
            "units are case-sensitive as in Postgres"
        );
        assert!(parse_size("MB").is_err());
        assert!(parse_size("1kB").is_err(), "below the minimum");
        assert!(parse_size("99999999999999999999GB").is_err());
    }

    #[test]
    fn switches_and_durations() {
        assert_eq!(parse_switch("off"), Ok(false));
        assert_eq!(parse_switch("ON"), Ok(true));
        assert!(parse_switch("maybe").is_err());
        assert_eq!(parse_duration("300"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("5min"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn command_line_defaults_and_flags() {
        let cfg = Config::try_parse_from(["sargdb"]).expect("defaults parse");
        assert_eq!(cfg.listen, "127.0.0.1:5432");
        assert_eq!(cfg.data_dir, PathBuf::from("./sargdb-data"));
        assert_eq!(cfg.buffer_pool, 128 << 20);
        assert_eq!(cfg.log_level, LogLevel::Info);
        assert!(cfg.fsync);
        assert_eq!(cfg.engine_config().checkpoint_wal_bytes, 1 << 30);
        let cfg = Config::try_parse_from([
            "sargdb",
            "--listen",
            "127.0.0.1:5599",
            "--buffer-pool",
            "8MB",
            "--fsync=off",
            "--log-level",
            "debug",
            "--checkpoint-interval",
            "30s",
            "--max-wal-size",
            "64MB",
        ])
        .expect("flags parse");
        assert_eq!(cfg.engine_config().checkpoint_wal_bytes, 64 << 20);
        assert_eq!(cfg.buffer_pool, 8 << 20);
        assert!(!cfg.fsync);
        assert_eq!(cfg.log_level, LogLevel::Debug);
        assert_eq!(cfg.checkpoint_interval, Duration::from_secs(30));
        assert_eq!(cfg.engine_config().buffer_pool_bytes, 8 << 20);
        assert!(Config::try_parse_from(["sargdb", "--buffer-pool", "lots"]).is_err());
        assert_eq!(cfg.work_memory_limit(), Ok(None));
        let cfg =
            Config::try_parse_from(["sargdb", "--buffer-pool", "8MB", "--memory-limit", "1GB"])
                .expect("flags parse");
        assert_eq!(cfg.work_memory_limit(), Ok(Some((1 << 30) - (8 << 20))));
        let cfg =
            Config::try_parse_from(["sargdb", "--memory-limit", "64MB"]).expect("flags parse");
        assert!(
            cfg.work_memory_limit().is_err(),
            "smaller than the 128MB pool"
        );
    }
}
