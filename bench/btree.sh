#!/usr/bin/env bash
# B+Tree benchmark: sargdb and PostgreSQL 15 side by side on this machine,
# in one run, with the same memory (buffer pool = shared_buffers) and
# durability (fsync on). For each server:
#   - build a B+Tree on ROWS random integers and on ROWS 32-character text
#     keys (CREATE INDEX on a populated table), timed;
#   - the index sizes on disk;
#   - LOOKUPS point lookups through the integer index (pgbench, prepared,
#     1 client) and RANGES range scans of 1,000 rows.
# Prints one table with both servers and the ratio sargdb / PostgreSQL.
#
# Usage: bench/btree.sh            (ROWS=5000000 LOOKUPS=1000000 RANGES=10000)
#        ROWS=1000000 LOOKUPS=100000 RANGES=2000 bench/btree.sh
# Needs: a release build (built here), PostgreSQL 15 binaries, psql, pgbench.
set -euo pipefail

ROWS=${ROWS:-5000000}
LOOKUPS=${LOOKUPS:-1000000}
RANGES=${RANGES:-10000}
MEM=${MEM:-256MB}
source "$(dirname "$0")/lib.sh"

cat >"$WORK/lookup.sql" <<EOF
\set k random(1, $ROWS)
SELECT v FROM bi WHERE k = :k;
EOF
cat >"$WORK/range.sql" <<EOF
\set k random(1, $((ROWS - 1000)))
SELECT count(*) FROM (SELECT v FROM bi WHERE k >= :k ORDER BY k LIMIT 1000) s;
EOF

declare -A R
for who in pg sdb; do
    echo "loading $ROWS rows into $who..." >&2
    q "$who" -c "CREATE TABLE bi (k int, v int)"
    q "$who" -c "CREATE TABLE bt (k text, v int)"
    # A random permutation of 1..ROWS (so lookups hit), and random md5 text keys.
    q "$who" -c "INSERT INTO bi SELECT ((g::bigint * 7919) % $ROWS) + 1, g FROM generate_series(1, $ROWS) g"
    q "$who" -c "INSERT INTO bt SELECT md5(g::text), g FROM generate_series(1, $ROWS) g"
    q "$who" -c "CHECKPOINT" >/dev/null 2>&1 || true
    R[$who.build_int]=$(timed "$who" "CREATE INDEX bi_k ON bi (k)")
    R[$who.build_text]=$(timed "$who" "CREATE INDEX bt_k ON bt (k)")
    R[$who.size_int]=$(q "$who" -c "SELECT pg_relation_size(oid) FROM pg_class WHERE relname = 'bi_k'")
    R[$who.size_text]=$(q "$who" -c "SELECT pg_relation_size(oid) FROM pg_class WHERE relname = 'bt_k'")
    # VACUUM both tables before the measured queries, on both servers: on
    # tables this size sargdb's autovacuum (insert-triggered, checked every
    # 10 s) would otherwise visit every page of a freshly loaded table
    # (marking it all-visible, logging a page image of each) in the middle
    # of the lookups, and PostgreSQL's (60 s naptime, throttled) would not.
    # The checkpoint writes what VACUUM dirtied, so neither server starts
    # the lookups with evictions that must write.
    q "$who" -c "VACUUM ANALYZE bi" >/dev/null
    q "$who" -c "VACUUM bt" >/dev/null
    q "$who" -c "CHECKPOINT" >/dev/null
    c0=$(phase_counters "$who" bi)
    R[$who.lookup]=$(tps "$who" "$WORK/lookup.sql" "$LOOKUPS")
    sleep 1 # PostgreSQL flushes a backend's counters when it exits
    R[$who.io_lookup]=$(phase_delta "$c0" "$(phase_counters "$who" bi)")
    R[$who.range]=$(tps "$who" "$WORK/range.sql" "$RANGES")
done

printf '\nB+Tree benchmark: %s rows, %s lookups, %s range scans (1 client, prepared), memory %s\n' "$ROWS" "$LOOKUPS" "$RANGES" "$MEM"
printf '%-34s %14s %14s %10s\n' "measure" "PostgreSQL 15" "sargdb" "sargdb/PG"
printf '%-34s %14.2f %14.2f %10s\n' "build int index (s)" "${R[pg.build_int]}" "${R[sdb.build_int]}" "$(ratio "${R[sdb.build_int]}" "${R[pg.build_int]}")"
printf '%-34s %14.2f %14.2f %10s\n' "build text index (s)" "${R[pg.build_text]}" "${R[sdb.build_text]}" "$(ratio "${R[sdb.build_text]}" "${R[pg.build_text]}")"
printf '%-34s %14s %14s %10s\n' "int index size (MB)" "$(mb "${R[pg.size_int]}")" "$(mb "${R[sdb.size_int]}")" "$(ratio "${R[sdb.size_int]}" "${R[pg.size_int]}")"
printf '%-34s %14s %14s %10s\n' "text index size (MB)" "$(mb "${R[pg.size_text]}")" "$(mb "${R[sdb.size_text]}")" "$(ratio "${R[sdb.size_text]}" "${R[pg.size_text]}")"
printf '%-34s %14.0f %14.0f %10s\n' "point lookups (per s)" "${R[pg.lookup]}" "${R[sdb.lookup]}" "$(ratio "${R[sdb.lookup]}" "${R[pg.lookup]}")"
printf '%-34s %14.0f %14.0f %10s\n' "range scans of 1000 rows (per s)" "${R[pg.range]}" "${R[sdb.range]}" "$(ratio "${R[sdb.range]}" "${R[pg.range]}")"
printf 'during the lookups:\n  PG:     %s\n  sargdb: %s\n' "${R[pg.io_lookup]}" "${R[sdb.io_lookup]}"
