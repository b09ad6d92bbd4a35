//! Runs every `tests/slt/**/*.slt` file against PostgreSQL 15 and against
//! sargdb, each file on a fresh PostgreSQL database and a fresh sargdb
//! server, and reports every failing record (file, line, expected vs actual)
//! at the end.
//!
//! Environment:
//! - `SLT_TARGET=postgres|sargdb|both` (default `both`)
//! - `SLT_FILTER=<substring>`: only files whose path contains it
//! - `SLT_JOBS=<n>`: files run concurrently (default 3)
//! - `SLT_COMPLETE=1`: rewrite the filtered files with PostgreSQL's actual
//!   output (used to produce expected results; review the diff!)
//!
//! Files listed in `tests/slt/sargdb-pending.txt` are still checked against
//! PostgreSQL but skipped for sargdb, with a line printed for each.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use sargdb_tests::slt::PgDriver;
use sargdb_tests::{PostgresCluster, SargdbServer};
use sqllogictest::{Record, Runner};

/// A single record may not take longer than this (a hung server must not
/// hang CI).
const RECORD_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    Postgres,
    Sargdb,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Postgres => "postgres",
            Target::Sargdb => "sargdb",
        }
    }
}

struct FileResult {
    target: Target,
    file: String,
    records: usize,
    queries: usize,
    failures: Vec<String>,
}

fn slt_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("slt")
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "slt") {
            out.push(p);
        }
    }
}

fn rel_name(p: &Path) -> String {
    p.strip_prefix(slt_dir())
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

/// Whole files (relative path, with or without `.slt`) pending for sargdb.
fn pending_list() -> Vec<String> {
    let text = std::fs::read_to_string(slt_dir().join("sargdb-pending.txt")).unwrap_or_default();
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .map(|l| l.trim_end_matches(".slt").to_string())
        .collect()
}

async fn run_file(target: Target, path: PathBuf) -> FileResult {
    let file = rel_name(&path);
    let mut result = FileResult {
        target,
        file: file.clone(),
        records: 0,
        queries: 0,
        failures: Vec::new(),
    };
    let records = match sqllogictest::parse_file::<sqllogictest::DefaultColumnType>(&path) {
        Ok(r) => r,
        Err(e) => {
            result.failures.push(format!("parse error: {e}"));
            return result;
        }
    };

    // Keep the server (or database name) alive for the whole file.
    let (conn_str, _server) = match target {
        Target::Postgres => {
            let cluster = PostgresCluster::shared();
            let db = cluster.create_database(&format!("slt_{file}")).await;
            (cluster.connection_string(&db), None)
        }
        Target::Sargdb => {
            let server = match tokio::task::spawn_blocking(SargdbServer::start).await {
                Ok(s) => s,
                Err(e) => {
                    result.failures.push(format!("could not start sargdb: {e}"));
                    return result;
                }
            };
            (server.connection_string(), Some(server))
        }
    };
    let conn_str = Arc::new(conn_str);
    let engine = target.name();
    let mut runner = Runner::new(move || {
        let conn_str = Arc::clone(&conn_str);
        async move { PgDriver::connect(&conn_str, engine).await }
    });

    for record in records {
        if let Record::Halt { .. } = record {
            break;
        }
        match &record {
            Record::Statement { .. } => result.records += 1,
            Record::Query { .. } => {
                result.records += 1;
                result.queries += 1;
            }
            _ => {}
        }
        match tokio::time::timeout(RECORD_TIMEOUT, runner.run_async(record)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => result.failures.push(format!("{}", e.display(false))),
            Err(_) => {
                result.failures.push(format!(
                    "a record timed out after {RECORD_TIMEOUT:?}; rest of file skipped"
                ));
                break;
            }
        }
    }
    // Dropping the server on a blocking thread keeps the runtime responsive.
    if let Some(server) = _server {
        let _ = tokio::task::spawn_blocking(move || drop(server)).await;
    }
    result
}

async fn complete_file(path: PathBuf) {
    let cluster = PostgresCluster::shared();
    let db = cluster.create_database("slt_complete").await;
    let conn_str = Arc::new(cluster.connection_string(&db));
    let mut runner = Runner::new(move || {
        let conn_str = Arc::clone(&conn_str);
        async move { PgDriver::connect(&conn_str, "postgres").await }
    });
    runner
        .update_test_file(
            &path,
            " ",
            sqllogictest::default_validator,
            sqllogictest::default_normalizer,
            sqllogictest::default_column_validator,
        )
        .await
        .unwrap_or_else(|e| panic!("completing {}: {e}", path.display()));
    println!("completed {}", rel_name(&path));
}

#[test]
fn sqllogictest_files() {
    let target = std::env::var("SLT_TARGET").unwrap_or_else(|_| "both".into());
    let filter = std::env::var("SLT_FILTER").unwrap_or_default();
    let jobs: usize = std::env::var("SLT_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or(3)
        .max(1);
    let complete = std::env::var("SLT_COMPLETE").is_ok_and(|v| v == "1");

    let mut files = Vec::new();
    collect_files(&slt_dir(), &mut files);
    files.sort();
    files.retain(|f| rel_name(f).contains(&filter));
    assert!(
        !files.is_empty(),
        "no .slt files match SLT_FILTER={filter:?}"
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime");

    if complete {
        rt.block_on(async {
            for f in files {
                complete_file(f).await;
            }
        });
        return;
    }

    let pending = pending_list();
    let mut work = Vec::new();
    for f in &files {
        if target == "both" || target == "postgres" {
            work.push((Target::Postgres, f.clone()));
        }
        if target == "both" || target == "sargdb" {
            let name = rel_name(f);
            if pending.iter().any(|p| name.trim_end_matches(".slt") == p) {
                println!("slt: skipping {name} for sargdb (listed in sargdb-pending.txt)");
            } else {
                work.push((Target::Sargdb, f.clone()));
            }
        }
    }
    assert!(
        matches!(target.as_str(), "both" | "postgres" | "sargdb"),
        "SLT_TARGET must be postgres, sargdb or both, not {target:?}"
    );

    let results: Vec<FileResult> = rt.block_on(async {
        futures::stream::iter(work)
            .map(|(t, f)| tokio::spawn(run_file(t, f)))
            .buffer_unordered(jobs)
            .map(|r| r.expect("slt task panicked"))
            .collect()
            .await
    });

    let mut results = results;
    results.sort_by(|a, b| {
        (a.file.as_str(), a.target.name()).cmp(&(b.file.as_str(), b.target.name()))
    });
    let mut failed_files = 0;
    let mut failed_records = 0;
    let mut report = String::new();
    for r in &results {
        let status = if r.failures.is_empty() {
            "ok"
        } else {
            "FAILED"
        };
        println!(
            "slt: {:<8} {:<32} {:>4} records {:>4} queries  {} ({} failures)",
            r.target.name(),
            r.file,
            r.records,
            r.queries,
            status,
            r.failures.len()
        );
        if !r.failures.is_empty() {
            failed_files += 1;
            failed_records += r.failures.len();
            for f in &r.failures {
                report.push_str(&format!(
                    "--- [{}] {} ---\n{}\n",
                    r.target.name(),
                    r.file,
                    f
                ));
            }
        }
    }
    let queries: usize = results
        .iter()
        .filter(|r| r.target == Target::Postgres)
        .map(|r| r.queries)
        .sum();
    println!(
        "slt: {} query records across the files run against postgres",
        queries
    );
    if failed_files > 0 {
        panic!(
            "\n{report}\nslt: {failed_records} failing records in {failed_files} file runs (see above)"
        );
    }
}
