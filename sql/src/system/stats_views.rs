//! The statistics relations: Postgres's `pg_stat_*` / `pg_statio_*` views
//! (same columns, types and order as PostgreSQL 15), and sargdb's own
//! `pg_stat_indexes`, `memory_stats`, `buffer_residency`,
//! `pg_stat_statements` and the `pgstatindex(...)` table function.
//!
//! Like the catalog relations they are materialized when a statement is
//! bound, here from the engine's live counters (`sargdb_engine::stats`), the
//! buffer pool and the workload capture (`crate::statements`). Definitions of
//! every column are in docs/observability.md. Only relations sargdb stores
//! appear: its system catalogs are computed, not stored, so the `_sys_`
//! variants are empty.

use std::sync::atomic::Ordering;

use sargdb_catalog::types::DataType;
use sargdb_catalog::{Catalog, IndexDef, TableDef, Value};
use sargdb_engine::stats::{Counter, Latency, RelationStats};
use sargdb_engine::{IndexHandle, IndexKind, IndexStats, KindStats};

use super::{o, relation, t, SysContext, SystemRelation, NULL};
use crate::session::Database;

pub(super) const NAMES: &[&str] = &[
    "pg_stat_all_tables",
    "pg_stat_user_tables",
    "pg_stat_sys_tables",
    "pg_statio_all_tables",
    "pg_statio_user_tables",
    "pg_statio_sys_tables",
    "pg_stat_all_indexes",
    "pg_stat_user_indexes",
    "pg_stat_sys_indexes",
    "pg_statio_all_indexes",
    "pg_statio_user_indexes",
    "pg_statio_sys_indexes",
    "pg_stat_indexes",
    "memory_stats",
    "buffer_residency",
    "pg_stat_statements",
    "pg_stats",
    "pg_stat_wal",
];

const PG_STAT_WAL: &[&str] = &[
    "wal_records int8",
    "wal_fpi int8",
    "wal_bytes numeric",
    "wal_buffers_full int8",
    "wal_write int8",
    "wal_sync int8",
    "wal_write_time float8",
    "wal_sync_time float8",
    "stats_reset timestamptz",
];

const STAT_TABLES: &[&str] = &[
    "relid oid",
    "schemaname name",
    "relname name",
    "seq_scan int8",
    "seq_tup_read int8",
    "idx_scan int8",
    "idx_tup_fetch int8",
    "n_tup_ins int8",
    "n_tup_upd int8",
    "n_tup_del int8",
    "n_tup_hot_upd int8",
    "n_live_tup int8",
    "n_dead_tup int8",
    "n_mod_since_analyze int8",
    "n_ins_since_vacuum int8",
    "last_vacuum timestamptz",
    "last_autovacuum timestamptz",
    "last_analyze timestamptz",
    "last_autoanalyze timestamptz",
    "vacuum_count int8",
    "autovacuum_count int8",
    "analyze_count int8",
    "autoanalyze_count int8",
];

const STATIO_TABLES: &[&str] = &[
    "relid oid",
    "schemaname name",
    "relname name",
    "heap_blks_read int8",
    "heap_blks_hit int8",
    "idx_blks_read int8",
    "idx_blks_hit int8",
    "toast_blks_read int8",
    "toast_blks_hit int8",
    "tidx_blks_read int8",
    "tidx_blks_hit int8",
];

/// PostgreSQL 15's columns, then `last_idx_scan` (PostgreSQL 16's, kept
/// last so the 15 layout is unchanged).
const STAT_INDEXES: &[&str] = &[
    "relid oid",
    "indexrelid oid",
    "schemaname name",
    "relname name",
    "indexrelname name",
    "idx_scan int8",
    "idx_tup_read int8",
    "idx_tup_fetch int8",
    "last_idx_scan timestamptz",
];

const STATIO_INDEXES: &[&str] = &[
    "relid oid",
    "indexrelid oid",
    "schemaname name",
    "relname name",
    "indexrelname name",
    "idx_blks_read int8",
    "idx_blks_hit int8",
];

const PG_STAT_INDEXES: &[&str] = &[
    "schemaname name",
    "tablename name",
    "indexname name",
    "indexrelid oid",
    "access_method name",
    "lookups int8",
    "range_scans int8",
    "rows_returned int8",
    "inserts int8",
    "deletes int8",
    "lookup_p50_us float8",
    "lookup_p95_us float8",
    "lookup_p99_us float8",
    "range_p50_us float8",
    "range_p95_us float8",
    "range_p99_us float8",
    "insert_p50_us float8",
    "insert_p95_us float8",
    "insert_p99_us float8",
    "last_used timestamptz",
    "created_at timestamptz",
    "last_rebuilt timestamptz",
    "size_bytes int8",
    "entries int8",
    "dead_entries int8",
    "height int4",
    "leaf_pages int8",
    "avg_leaf_density float8",
    "fragmentation_pct float8",
    "buffer_pages int8",
    "buffer_hit_ratio float8",
    "splits int8",
    "bucket_pages int8",
    "overflow_pages int8",
    "free_pct float8",
    "pages_per_range int4",
    "ranges int8",
    "summarized_ranges int8",
];

/// pgstattuple's `pgstatindex` result columns.
pub const PGSTATINDEX: &[&str] = &[
    "version int4",
    "tree_level int4",
    "index_size int8",
    "root_block_no int8",
    "internal_pages int8",
    "leaf_pages int8",
    "empty_pages int8",
    "deleted_pages int8",
    "avg_leaf_density float8",
    "leaf_fragmentation float8",
];

const MEMORY_STATS: &[&str] = &[
    "consumer text",
    "bytes_used int8",
    "bytes_reserved int8",
    "peak_bytes int8",
    "limit_bytes int8",
    "entries int8",
    "hits int8",
    "misses int8",
    "evictions int8",
    "dirty_pages int8",
];

const BUFFER_RESIDENCY: &[&str] = &[
    "schemaname name",
    "relation name",
    "relid oid",
    "relkind text",
    "pages int8",
    "dirty_pages int8",
    "pct_of_pool float8",
];

/// pg_stat_statements 1.10 (PostgreSQL 15): every column, in its order.
const PG_STAT_STATEMENTS: &[&str] = &[
    "userid oid",
    "dbid oid",
    "toplevel bool",
    "queryid int8",
    "query text",
    "plans int8",
    "total_plan_time float8",
    "min_plan_time float8",
    "max_plan_time float8",
    "mean_plan_time float8",
    "stddev_plan_time float8",
    "calls int8",
    "total_exec_time float8",
    "min_exec_time float8",
    "max_exec_time float8",
    "mean_exec_time float8",
    "stddev_exec_time float8",
    "rows int8",
    "shared_blks_hit int8",
    "shared_blks_read int8",
    "shared_blks_dirtied int8",
    "shared_blks_written int8",
    "local_blks_hit int8",
    "local_blks_read int8",
    "local_blks_dirtied int8",
    "local_blks_written int8",
    "temp_blks_read int8",
    "temp_blks_written int8",
    "blk_read_time float8",
    "blk_write_time float8",
    "temp_blk_read_time float8",
    "temp_blk_write_time float8",
    "wal_records int8",
    "wal_fpi int8",
    "wal_bytes numeric",
    "jit_functions int8",
    "jit_generation_time float8",
    "jit_inlining_count int8",
    "jit_inlining_time float8",
    "jit_optimization_count int8",
    "jit_optimization_time float8",
    "jit_emission_count int8",
    "jit_emission_time float8",
];

/// PostgreSQL 15's pg_stats (anyarray columns as their text form).
const PG_STATS: &[&str] = &[
    "schemaname name",
    "tablename name",
    "attname name",
    "inherited bool",
    "null_frac float4",
    "avg_width int4",
    "n_distinct float4",
    "most_common_vals anyarray",
    "most_common_freqs float4[]",
    "histogram_bounds anyarray",
    "correlation float4",
    "most_common_elems anyarray",
    "most_common_elem_freqs float4[]",
    "elem_count_histogram float4[]",
];

fn i8v(v: u64) -> Value {
    Value::Int8(i64::try_from(v).unwrap_or(i64::MAX))
}

/// Unix microseconds (0 = never) as a timestamptz value.
pub fn ts(unix_us: u64) -> Value {
    if unix_us == 0 {
        return NULL;
    }
    let pg_epoch_offset: i64 = 946_684_800_000_000;
    Value::Timestamptz(unix_us as i64 - pg_epoch_offset)
}

fn f8(v: Option<f64>) -> Value {
    v.map(Value::Float8).unwrap_or(NULL)
}

/// A latency quantile in microseconds, rounded to 0.01.
fn quantile_us(s: &RelationStats, l: Latency, q: f64) -> Value {
    f8(s.latency(l)
        .quantile(q)
        .map(|ns| (ns / 10.0).round() / 100.0))
}

/// The view builder for `name`, if it is one of ours.
pub(super) fn build(name: &str, ctx: &SysContext) -> Option<SystemRelation> {
    if !NAMES.contains(&name) {
        return None;
    }
    let db = ctx.session.db.as_ref().map(|d| &*d.0);
    let cat = ctx.catalog;
    let rel = |spec: &[&str], rows| Some(relation("pg_catalog", name, spec, rows));
    if name == "pg_stats" {
        return rel(PG_STATS, pg_stats(cat, &ctx.session.types));
    }
    let sys = name.contains("_sys_");
    let Some(db) = db else {
        // No running server (unit tests of the binder): the right shape.
        let spec = match name {
            n if n.starts_with("pg_stat_") && n.ends_with("_tables") => STAT_TABLES,
            n if n.starts_with("pg_statio_") && n.ends_with("_tables") => STATIO_TABLES,
            n if n.starts_with("pg_stat_") && n.ends_with("_indexes") && n != "pg_stat_indexes" => {
                STAT_INDEXES
            }
            n if n.starts_with("pg_statio_") => STATIO_INDEXES,
            "pg_stat_indexes" => PG_STAT_INDEXES,
            "memory_stats" => MEMORY_STATS,
            "buffer_residency" => BUFFER_RESIDENCY,
            "pg_stat_wal" => PG_STAT_WAL,
            _ => PG_STAT_STATEMENTS,
        };
        return rel(spec, vec![]);
    };
    let reg = db.engine.relation_stats();
    match name {
        "pg_stat_all_tables" | "pg_stat_user_tables" | "pg_stat_sys_tables" => {
            let rows: Vec<Vec<Value>> = tables(cat, sys)
                .map(|tb| {
                    let s = reg.get(tb.oid);
                    let idx: Vec<_> = cat.indexes_of(tb.oid).map(|i| reg.get(i.oid)).collect();
                    let sum = |c| -> Value {
                        if idx.is_empty() {
                            NULL
                        } else {
                            i8v(idx.iter().map(|i| i.get(c)).sum())
                        }
                    };
                    vec![
                        o(tb.oid),
                        t(tb.schema.clone()),
                        t(tb.name.clone()),
                        i8v(s.get(Counter::SeqScan)),
                        i8v(s.get(Counter::SeqTupRead)),
                        sum(Counter::IdxScan),
                        sum(Counter::IdxTupFetch),
                        i8v(s.get(Counter::TupIns)),
                        i8v(s.get(Counter::TupUpd)),
                        i8v(s.get(Counter::TupDel)),
                        i8v(s.get(Counter::TupHotUpd)),
                        i8v(s.get(Counter::LiveTup)),
                        i8v(s.get(Counter::DeadTup)),
                        i8v(s.get(Counter::ModSinceAnalyze)),
                        i8v(s.get(Counter::InsSinceVacuum)),
                        ts(s.get(Counter::LastVacuum)),
                        ts(s.get(Counter::LastAutovacuum)),
                        ts(s.get(Counter::LastAnalyze)),
                        ts(s.get(Counter::LastAutoanalyze)),
                        i8v(s.get(Counter::VacuumCount)),
                        i8v(s.get(Counter::AutovacuumCount)),
                        i8v(s.get(Counter::AnalyzeCount)),
                        i8v(s.get(Counter::AutoanalyzeCount)),
                    ]
                })
                .collect();
            rel(STAT_TABLES, rows)
        }
        "pg_statio_all_tables" | "pg_statio_user_tables" | "pg_statio_sys_tables" => {
            let io = db.engine.buffer_io();
            let get = |storage| io.get(&storage).copied().unwrap_or((0, 0));
            let rows: Vec<Vec<Value>> = tables(cat, sys)
                .map(|tb| {
                    let (hit, read) = get(tb.storage);
                    let idx: Vec<(u64, u64)> =
                        cat.indexes_of(tb.oid).map(|i| get(i.storage)).collect();
                    let (ih, ir) = idx.iter().fold((0, 0), |(h, r), (h2, r2)| (h + h2, r + r2));
                    let (ih, ir) = if idx.is_empty() {
                        (NULL, NULL)
                    } else {
                        (i8v(ih), i8v(ir))
                    };
                    vec![
                        o(tb.oid),
                        t(tb.schema.clone()),
                        t(tb.name.clone()),
                        i8v(read),
                        i8v(hit),
                        ir,
                        ih,
                        NULL,
                        NULL,
                        NULL,
                        NULL,
                    ]
                })
                .collect();
            rel(STATIO_TABLES, rows)
        }
        "pg_stat_all_indexes" | "pg_stat_user_indexes" | "pg_stat_sys_indexes" => {
            let rows: Vec<Vec<Value>> = indexes(cat, sys)
                .map(|(tb, ix)| {
                    let s = reg.get(ix.oid);
                    vec![
                        o(tb.oid),
                        o(ix.oid),
                        t(ix.schema.clone()),
                        t(tb.name.clone()),
                        t(ix.name.clone()),
                        i8v(s.get(Counter::IdxScan)),
                        i8v(s.get(Counter::IdxTupRead)),
                        i8v(s.get(Counter::IdxTupFetch)),
                        ts(s.get(Counter::LastUsed)),
                    ]
                })
                .collect();
            rel(STAT_INDEXES, rows)
        }
        "pg_statio_all_indexes" | "pg_statio_user_indexes" | "pg_statio_sys_indexes" => {
            let io = db.engine.buffer_io();
            let rows: Vec<Vec<Value>> = indexes(cat, sys)
                .map(|(tb, ix)| {
                    let (hit, read) = io.get(&ix.storage).copied().unwrap_or((0, 0));
                    vec![
                        o(tb.oid),
                        o(ix.oid),
                        t(ix.schema.clone()),
                        t(tb.name.clone()),
                        t(ix.name.clone()),
                        i8v(read),
                        i8v(hit),
                    ]
                })
                .collect();
            rel(STATIO_INDEXES, rows)
        }
        "pg_stat_indexes" => rel(PG_STAT_INDEXES, pg_stat_indexes(db, cat)),
        "memory_stats" => rel(MEMORY_STATS, memory_stats(db, cat)),
        "buffer_residency" => rel(BUFFER_RESIDENCY, buffer_residency(db, cat)),
        "pg_stat_statements" => rel(PG_STAT_STATEMENTS, pg_stat_statements()),
        "pg_stat_wal" => rel(PG_STAT_WAL, vec![pg_stat_wal(db)]),
        _ => None,
    }
}

/// The tables a view lists: all of them, none for the `_sys_` views.
fn tables(cat: &Catalog, sys: bool) -> impl Iterator<Item = &TableDef> {
    let mut v: Vec<&TableDef> = cat.tables.values().filter(|_| !sys).collect();
    v.sort_by_key(|t| t.oid);
    v.into_iter()
}

/// The indexes a view lists: all of them, none for the `_sys_` views.
fn indexes(cat: &Catalog, sys: bool) -> impl Iterator<Item = (&TableDef, &IndexDef)> {
    let mut v: Vec<(&TableDef, &IndexDef)> = cat
        .indexes
        .values()
        .filter(|_| !sys)
        .filter_map(|i| cat.tables.get(&i.table).map(|t| (t, i)))
        .collect();
    v.sort_by_key(|(_, i)| i.oid);
    v.into_iter()
}

/// The engine's handle of an index (opened if no statement has yet).
pub fn index_handle(db: &Database, table: &TableDef, ix: &IndexDef) -> Option<IndexHandle> {
    let kind = IndexKind::from_name(&ix.method)?;
    db.engine
        .open_index(
            table.storage,
            ix.storage,
            kind,
            crate::executor::index_maint::index_options(ix),
        )
        .ok()
}

/// The physical figures of an index, as `pgstatindex` reports them.
pub fn pgstatindex_row(st: &IndexStats) -> Vec<Value> {
    vec![
        Value::Int4(st.version as i32),
        Value::Int4(st.tree_level as i32),
        i8v(st.index_size),
        Value::Int8(i64::from(st.root_block_no)),
        i8v(st.internal_pages),
        i8v(st.leaf_pages),
        i8v(st.empty_pages),
        i8v(st.deleted_pages),
        Value::Float8(st.avg_leaf_density),
        Value::Float8(st.leaf_fragmentation),
    ]
}

/// `pgstatindex('name')` as a one-row relation.
pub fn pgstatindex(db: &Database, cat: &Catalog, index_oid: u32) -> Option<SystemRelation> {
    let ix = cat.indexes.get(&index_oid)?;
    let tb = cat.tables.get(&ix.table)?;
    let st = index_handle(db, tb, ix)?.stats().ok()?;
    Some(relation(
        "pg_catalog",
        "pgstatindex",
        PGSTATINDEX,
        vec![pgstatindex_row(&st)],
    ))
}

fn pg_stat_indexes(db: &Database, cat: &Catalog) -> Vec<Vec<Value>> {
    let reg = db.engine.relation_stats();
    let io = db.engine.buffer_io();
    let resident = db.engine.buffer_residency();
    indexes(cat, false)
        .map(|(tb, ix)| {
            let s = reg.get(ix.oid);
            let phys =
                index_handle(db, tb, ix).and_then(|h| db.engine.index_stats(tb.storage, &h).ok());
            let (hit, read) = io.get(&ix.storage).copied().unwrap_or((0, 0));
            let pages = resident.get(&ix.storage).map_or(0, |r| r.0);
            let dead = phys.as_ref().and_then(|p| {
                // Entries beyond the table's live rows point at dead versions
                // (only meaningful when every row has an entry).
                ix.predicate.is_none().then(|| {
                    p.entries
                        .saturating_sub(reg.get(tb.oid).get(Counter::LiveTup))
                })
            });
            let mut row = vec![
                t(ix.schema.clone()),
                t(tb.name.clone()),
                t(ix.name.clone()),
                o(ix.oid),
                t(ix.method.clone()),
                i8v(s.get(Counter::Lookups)),
                i8v(s.get(Counter::RangeScans)),
                i8v(s.get(Counter::RowsReturned)),
                i8v(s.get(Counter::Inserts)),
                i8v(s.get(Counter::Deletes)),
            ];
            for l in [Latency::Lookup, Latency::RangeScan, Latency::Insert] {
                for q in [0.5, 0.95, 0.99] {
                    row.push(quantile_us(&s, l, q));
                }
            }
            row.extend([
                ts(s.get(Counter::LastUsed)),
                ts(s.get(Counter::CreatedAt)),
                ts(s.get(Counter::LastRebuilt)),
            ]);
            row.extend(physical_columns(phys.as_ref(), dead));
            row.push(i8v(pages));
            row.push(if hit + read == 0 {
                NULL
            } else {
                Value::Float8(hit as f64 / (hit + read) as f64)
            });
            row.extend(kind_columns(phys.as_ref()));
            row
        })
        .collect()
}

/// pg_stat_indexes' physical columns (size_bytes .. fragmentation_pct):
/// tree figures for a tree, NULL where the kind has no such thing (a hash
/// index has no levels or leaves, a BRIN index no entry per row).
fn physical_columns(phys: Option<&IndexStats>, dead: Option<u64>) -> [Value; 7] {
    let Some(p) = phys else {
        return std::array::from_fn(|_| NULL);
    };
    let size = i8v(p.index_size);
    match &p.detail {
        KindStats::None => [
            size,
            i8v(p.entries),
            dead.map(i8v).unwrap_or(NULL),
            Value::Int4(p.tree_level as i32 + 1),
            i8v(p.leaf_pages),
            Value::Float8(p.avg_leaf_density),
            Value::Float8(p.leaf_fragmentation),
        ],
        // Hash counts its dead items exactly (`Engine::index_stats`).
        KindStats::Hash(h) => [
            size,
            i8v(p.entries),
            i8v(h.dead_items),
            NULL,
            NULL,
            NULL,
            NULL,
        ],
        KindStats::Brin(_) => [size, NULL, NULL, NULL, NULL, NULL, NULL],
    }
}

/// pg_stat_indexes' kind-specific columns (splits .. summarized_ranges):
/// node splits of a B+Tree or bucket splits of a hash index; bucket and
/// overflow pages and free space of a hash index (pgstathashindex's
/// figures); the ranges of a BRIN index. NULL where they do not apply.
fn kind_columns(phys: Option<&IndexStats>) -> [Value; 7] {
    let mut v: [Value; 7] = std::array::from_fn(|_| NULL);
    let Some(p) = phys else { return v };
    match &p.detail {
        KindStats::None => v[0] = i8v(p.splits),
        KindStats::Hash(h) => {
            v[0] = i8v(h.splits);
            v[1] = i8v(h.bucket_pages);
            v[2] = i8v(h.overflow_pages);
            v[3] = Value::Float8(h.free_percent);
        }
        KindStats::Brin(b) => {
            v[4] = Value::Int4(b.pages_per_range as i32);
            v[5] = i8v(b.ranges);
            v[6] = i8v(b.summarized_ranges);
        }
    }
    v
}

/// The one row of `pg_stat_wal`. The insert buffer grows instead of
/// filling, so wal_buffers_full is always 0; the write and sync times are
/// always measured (Postgres measures them only with track_wal_io_timing).
fn pg_stat_wal(db: &Database) -> Vec<Value> {
    let (w, reset) = db.engine.wal_stats();
    vec![
        i8v(w.records),
        i8v(w.fpi),
        Value::Numeric(sargdb_catalog::types::numeric::from_i64(
            i64::try_from(w.bytes).unwrap_or(i64::MAX),
        )),
        i8v(0),
        i8v(w.writes),
        i8v(w.syncs),
        Value::Float8(w.write_ns as f64 / 1e6),
        Value::Float8(w.sync_ns as f64 / 1e6),
        ts(reset),
    ]
}

fn memory_stats(db: &Database, cat: &Catalog) -> Vec<Vec<Value>> {
    let es = db.engine.stats();
    let page = sargdb_engine::page::PAGE_SIZE as u64;
    let resident: u64 = db.engine.buffer_residency().values().map(|r| r.0).sum();
    let mut rows = vec![];
    rows.push(vec![
        t("buffer pool"),
        i8v(resident * page),
        i8v(es.buffer_frames * page),
        i8v(es.buffer_peak_resident * page),
        i8v(es.buffer_frames * page),
        i8v(es.buffer_frames),
        i8v(es.buffer_hits),
        i8v(es.buffer_misses),
        i8v(es.buffer_evictions),
        i8v(es.buffer_dirty),
    ]);
    let (wal_used, wal_reserved, wal_peak) = db.engine.wal_buffer_usage();
    rows.push(vec![
        t("wal buffers"),
        i8v(wal_used),
        i8v(wal_reserved),
        i8v(wal_peak),
        NULL,
        NULL,
        NULL,
        NULL,
        NULL,
        NULL,
    ]);
    // The commit log never shrinks, so its allocation is also its peak.
    let (clog_used, clog_reserved, xids) = db.engine.commit_log_memory();
    rows.push(vec![
        t("commit log"),
        i8v(clog_used),
        i8v(clog_reserved),
        i8v(clog_reserved),
        NULL,
        i8v(xids),
        NULL,
        NULL,
        NULL,
        NULL,
    ]);
    let m = &crate::memory::MEMORY;
    let catalog_bytes = cat.to_blob().len() as u64;
    m.catalog_peak.fetch_max(catalog_bytes, Ordering::Relaxed);
    rows.push(vec![
        t("catalog cache"),
        i8v(catalog_bytes),
        i8v(catalog_bytes),
        i8v(m.catalog_peak.load(Ordering::Relaxed)),
        NULL,
        i8v((cat.tables.len() + cat.indexes.len() + cat.sequences.len()) as u64),
        NULL,
        NULL,
        NULL,
        NULL,
    ]);
    for (name, g) in [
        ("plan cache", &m.plans),
        ("per-connection state", &m.sessions),
        ("query work memory", &m.work),
        ("statement statistics", &m.statements),
    ] {
        // Plans are trees of many small allocations sargdb does not size:
        // the plan cache reports how many plans it holds, not bytes.
        let bytes = |v: u64| if name == "plan cache" { NULL } else { i8v(v) };
        let limit = match crate::memory::work_limit() {
            Some(l) if name == "query work memory" => i8v(l),
            _ => NULL,
        };
        rows.push(vec![
            t(name),
            bytes(g.bytes()),
            bytes(g.bytes()),
            bytes(g.peak()),
            limit,
            i8v(g.entries()),
            NULL,
            NULL,
            NULL,
            NULL,
        ]);
    }
    // Index pages are the buffer pool's (see buffer_residency); outside it
    // only hash indexes keep something, the cached addressing of their
    // buckets (4 bytes a bucket).
    let open = cat.indexes.len() as u64;
    let (held, peak) = db.engine.index_memory();
    rows.push(vec![
        t("index structures"),
        i8v(held),
        i8v(held),
        i8v(peak),
        NULL,
        i8v(open),
        NULL,
        NULL,
        NULL,
        NULL,
    ]);
    rows
}

fn buffer_residency(db: &Database, cat: &Catalog) -> Vec<Vec<Value>> {
    let frames = db.engine.stats().buffer_frames.max(1) as f64;
    let resident = db.engine.buffer_residency();
    let mut rels: Vec<(String, String, u32, &str, u32)> = vec![];
    for tb in cat.tables.values() {
        rels.push((
            tb.schema.clone(),
            tb.name.clone(),
            tb.oid,
            "table",
            tb.storage,
        ));
    }
    for ix in cat.indexes.values() {
        rels.push((
            ix.schema.clone(),
            ix.name.clone(),
            ix.oid,
            "index",
            ix.storage,
        ));
    }
    rels.sort_by_key(|r| r.2);
    rels.into_iter()
        .filter_map(|(schema, name, oid, kind, storage)| {
            let (pages, dirty) = resident.get(&storage).copied()?;
            Some(vec![
                t(schema),
                t(name),
                o(oid),
                t(kind),
                i8v(pages),
                i8v(dirty),
                Value::Float8((pages as f64 * 10000.0 / frames).round() / 100.0),
            ])
        })
        .collect()
}

/// One row per captured statement that ran at least once. Columns sargdb
/// has no source for are 0, each because the thing they count does not
/// exist in sargdb: local buffers (temporary tables live in the shared
/// pool like any table), temporary files (sorts and hashes stay in memory) and JIT.
fn pg_stat_statements() -> Vec<Vec<Value>> {
    let ld = |a: &std::sync::atomic::AtomicU64| i8v(a.load(Ordering::Relaxed));
    let ms =
        |a: &std::sync::atomic::AtomicU64| Value::Float8(a.load(Ordering::Relaxed) as f64 / 1e6);
    let zero_i = || Value::Int8(0);
    let zero_f = || Value::Float8(0.0);
    crate::statements::STATEMENTS
        .all()
        .into_iter()
        .filter(|e| e.calls() > 0)
        .map(|e| {
            let mut row = vec![
                o(super::SUPERUSER_OID),
                o(super::DATABASE_OID),
                Value::Bool(true),
                Value::Int8(e.queryid),
                t(e.query.clone()),
                i8v(e.plan.count()),
            ];
            row.extend(e.plan.summary_ms().map(Value::Float8));
            row.push(i8v(e.calls()));
            row.extend(e.exec.summary_ms().map(Value::Float8));
            row.extend([
                ld(&e.rows),
                ld(&e.blks_hit),
                ld(&e.blks_read),
                ld(&e.blks_dirtied),
                ld(&e.blks_written),
            ]);
            // local_blks_{hit,read,dirtied,written}, temp_blks_{read,written}
            row.extend((0..6).map(|_| zero_i()));
            row.extend([ms(&e.read_ns), ms(&e.write_ns)]);
            // temp_blk_read_time, temp_blk_write_time
            row.extend([zero_f(), zero_f()]);
            row.extend([
                ld(&e.wal_records),
                ld(&e.wal_fpi),
                Value::Numeric(sargdb_catalog::types::numeric::from_i64(
                    i64::try_from(e.wal_bytes.load(Ordering::Relaxed)).unwrap_or(i64::MAX),
                )),
            ]);
            // jit_functions .. jit_emission_time: counts and times alternate.
            row.push(zero_i());
            row.push(zero_f());
            for _ in 0..3 {
                row.push(zero_i());
                row.push(zero_f());
            }
            row
        })
        .collect()
}

/// One row per column of every analyzed table, from what ANALYZE stored:
/// values kept as order-preserving keys are decoded back and printed as
/// Postgres prints an array in this session (timestamptz in its TimeZone).
/// The key encoding is equal for equal values (1.5 and 1.50); ANALYZE keeps
/// each entry's exact hint, so a value prints as the sampled row held it,
/// as Postgres prints it. The element
/// statistics of array columns are not collected: those columns are NULL.
fn pg_stats(cat: &Catalog, tctx: &sargdb_catalog::types::TypeContext) -> Vec<Vec<Value>> {
    use sargdb_catalog::types::key::apply_exact_hint;
    use sargdb_catalog::types::{decode_key, KeyColumn};
    let mut rows = vec![];
    for tb in tables(cat, false) {
        let Some(ts) = cat.stats.get(&tb.oid) else {
            continue;
        };
        // Postgres keeps no statistics of a table ANALYZE found empty.
        if ts.reltuples <= 0.0 {
            continue;
        }
        for (col, cs) in tb.columns.iter().zip(&ts.columns) {
            if col.dropped {
                continue;
            }
            let decode = |k: &[u8], hint: Option<&Vec<u8>>| {
                let v = decode_key(k, std::slice::from_ref(&col.data_type), &[KeyColumn::ASC])
                    .ok()
                    .and_then(|mut v| v.pop())
                    .unwrap_or(NULL);
                if let Some(h) = hint {
                    return apply_exact_hint(v.clone(), &col.data_type, h)
                        .map(|(v, _)| v)
                        .unwrap_or(v);
                }
                match &col.data_type {
                    // Statistics gathered before the hints were kept.
                    DataType::Numeric(Some(_)) => {
                        sargdb_catalog::types::cast(v.clone(), &col.data_type, false, tctx)
                            .unwrap_or(v)
                    }
                    _ => v,
                }
            };
            let array_text = |vals: Vec<Value>| -> Value {
                if vals.is_empty() {
                    NULL
                } else {
                    Value::Text(Value::Array(vals).to_text(tctx))
                }
            };
            let f4 = |f: f64| Value::Float4(f as f32);
            let freqs = if cs.mcv.is_empty() {
                NULL
            } else {
                Value::Array(cs.mcv.iter().map(|(_, f)| f4(*f)).collect())
            };
            rows.push(vec![
                t(tb.schema.clone()),
                t(tb.name.clone()),
                t(col.name.clone()),
                Value::Bool(false),
                f4(cs.null_frac),
                Value::Int4(cs.avg_width),
                f4(cs.n_distinct),
                array_text(
                    cs.mcv
                        .iter()
                        .enumerate()
                        .map(|(i, (k, _))| decode(k, cs.mcv_hints.get(i)))
                        .collect(),
                ),
                freqs,
                array_text(
                    cs.histogram
                        .iter()
                        .enumerate()
                        .map(|(i, k)| decode(k, cs.histogram_hints.get(i)))
                        .collect(),
                ),
                // Postgres has no correlation without two sampled non-null
                // values (ANALYZE samples up to 30,000 rows).
                if (1.0 - cs.null_frac) * ts.reltuples.min(30_000.0) >= 1.5 {
                    f4(cs.correlation)
                } else {
                    NULL
                },
                NULL,
                NULL,
                NULL,
            ]);
        }
    }
    rows
}
