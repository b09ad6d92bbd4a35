#!/usr/bin/env bash
# Hash and BRIN benchmark: sargdb and PostgreSQL 15 side by side on this
# machine, in one run, with the same memory and durability (bench/lib.sh).
# For each server:
#   - hash: ROWS random integers; CREATE INDEX ... USING hash timed, its
#     size, then LOOKUPS equality lookups through it (pgbench, prepared,
#     1 client);
#   - BRIN: a ROWS-row table whose timestamp column follows insertion order;
#     CREATE INDEX ... USING brin timed, its size, then RANGES range queries
#     each selecting 0.1% of the rows, through the BRIN index and written so
#     that no index applies (a sequential scan), per second.
# Prints one table with both servers and the ratio sargdb / PostgreSQL.
#
# Usage: bench/hash_brin.sh        (ROWS=5000000 LOOKUPS=1000000 RANGES=200
#                                  SEQ_RANGES=10: the sequential scans are slow)
#        ROWS=500000 LOOKUPS=100000 RANGES=50 bench/hash_brin.sh
# Needs: a release build (built here), PostgreSQL 15 binaries, psql, pgbench.
set -euo pipefail

ROWS=${ROWS:-5000000}
LOOKUPS=${LOOKUPS:-1000000}
RANGES=${RANGES:-200}
SEQ_RANGES=${SEQ_RANGES:-10}
MEM=${MEM:-256MB}
source "$(dirname "$0")/lib.sh"

WIDTH=$((ROWS / 1000))
RANGE="ts >= timestamp '2024-01-01' + :s::int * interval '1 second' AND ts < timestamp '2024-01-01' + (:s::int + $WIDTH) * interval '1 second'"
SEQ_RANGE="ts + interval '0 seconds' >= timestamp '2024-01-01' + :s::int * interval '1 second' AND ts + interval '0 seconds' < timestamp '2024-01-01' + (:s::int + $WIDTH) * interval '1 second'"
cat >"$WORK/lookup.sql" <<EOF
\set k random(1, $ROWS)
SELECT v FROM hi WHERE k = :k;
EOF
cat >"$WORK/brin.sql" <<EOF
\set s random(0, $((ROWS - WIDTH)))
SELECT count(*) FROM tb WHERE $RANGE;
EOF
# The same predicate on an expression no index covers: a sequential scan.
cat >"$WORK/seq.sql" <<EOF
\set s random(0, $((ROWS - WIDTH)))
SELECT count(*) FROM tb WHERE $SEQ_RANGE;
EOF

declare -A R
for who in pg sdb; do
    echo "loading $ROWS rows into $who..." >&2
    q "$who" -c "CREATE TABLE hi (k int, v int)"
    q "$who" -c "CREATE TABLE tb (ts timestamp, v int)"
    # A random permutation of 1..ROWS (so lookups hit); timestamps one
    # second apart in insertion order.
    q "$who" -c "INSERT INTO hi SELECT ((g::bigint * 7919) % $ROWS) + 1, g FROM generate_series(1, $ROWS) g"
    q "$who" -c "INSERT INTO tb SELECT timestamp '2024-01-01' + g * interval '1 second', g FROM generate_series(1, $ROWS) g"
    q "$who" -c "CHECKPOINT" >/dev/null 2>&1 || true
    R[$who.build_hash]=$(timed "$who" "CREATE INDEX hi_k ON hi USING hash (k)")
    R[$who.build_brin]=$(timed "$who" "CREATE INDEX tb_ts ON tb USING brin (ts)")
    R[$who.size_hash]=$(q "$who" -c "SELECT pg_relation_size(oid) FROM pg_class WHERE relname = 'hi_k'")
    R[$who.size_brin]=$(q "$who" -c "SELECT pg_relation_size(oid) FROM pg_class WHERE relname = 'tb_ts'")
    # VACUUM both tables before the measured queries, on both servers: on
    # tables this size sargdb's autovacuum (insert-triggered, checked every
    # 10 s) would otherwise visit every page of a freshly loaded table
    # (marking it all-visible, logging a page image of each) in the middle
    # of the lookups, and PostgreSQL's (60 s naptime, throttled) would not.
    # The checkpoint writes what VACUUM dirtied, so neither server starts
    # the lookups with evictions that must write.
    q "$who" -c "VACUUM ANALYZE hi" >/dev/null
    q "$who" -c "VACUUM ANALYZE tb" >/dev/null
    q "$who" -c "CHECKPOINT" >/dev/null
    R[$who.plan_lookup]=$(q "$who" -c "EXPLAIN (COSTS OFF) SELECT v FROM hi WHERE k = 42" | head -1)
    R[$who.plan_brin]=$(q "$who" -c "EXPLAIN (COSTS OFF) SELECT count(*) FROM tb WHERE ${RANGE//:s::int/1000}" | grep -o 'Bitmap Heap Scan\|Seq Scan\|Index Scan' | head -1)
    c0=$(phase_counters "$who" hi)
    R[$who.lookup]=$(tps "$who" "$WORK/lookup.sql" "$LOOKUPS")
    sleep 1 # PostgreSQL flushes a backend's counters when it exits
    R[$who.io_lookup]=$(phase_delta "$c0" "$(phase_counters "$who" hi)")
    R[$who.brin]=$(tps "$who" "$WORK/brin.sql" "$RANGES")
    R[$who.seq]=$(tps "$who" "$WORK/seq.sql" "$SEQ_RANGES")
done

printf '\nHash/BRIN benchmark: %s rows, %s lookups, %s range queries of %s rows (1 client, prepared), memory %s\n' "$ROWS" "$LOOKUPS" "$RANGES" "$WIDTH" "$MEM"
printf '%-36s %14s %14s %10s\n' "measure" "PostgreSQL 15" "sargdb" "sargdb/PG"
printf '%-36s %14.2f %14.2f %10s\n' "build hash index (s)" "${R[pg.build_hash]}" "${R[sdb.build_hash]}" "$(ratio "${R[sdb.build_hash]}" "${R[pg.build_hash]}")"
printf '%-36s %14s %14s %10s\n' "hash index size (MB)" "$(mb "${R[pg.size_hash]}")" "$(mb "${R[sdb.size_hash]}")" "$(ratio "${R[sdb.size_hash]}" "${R[pg.size_hash]}")"
printf '%-36s %14.0f %14.0f %10s\n' "hash equality lookups (per s)" "${R[pg.lookup]}" "${R[sdb.lookup]}" "$(ratio "${R[sdb.lookup]}" "${R[pg.lookup]}")"
printf '%-36s %14.3f %14.3f %10s\n' "build brin index (s)" "${R[pg.build_brin]}" "${R[sdb.build_brin]}" "$(ratio "${R[sdb.build_brin]}" "${R[pg.build_brin]}")"
printf '%-36s %14s %14s %10s\n' "brin index size (kB)" "$((R[pg.size_brin] / 1024))" "$((R[sdb.size_brin] / 1024))" "$(ratio "${R[sdb.size_brin]}" "${R[pg.size_brin]}")"
printf '%-36s %14.1f %14.1f %10s\n' "0.1% ranges via brin (per s)" "${R[pg.brin]}" "${R[sdb.brin]}" "$(ratio "${R[sdb.brin]}" "${R[pg.brin]}")"
printf '%-36s %14.1f %14.1f %10s\n' "0.1% ranges via seq scan (per s)" "${R[pg.seq]}" "${R[sdb.seq]}" "$(ratio "${R[sdb.seq]}" "${R[pg.seq]}")"
printf 'plans: lookup  PG: %s | sargdb: %s\n' "${R[pg.plan_lookup]}" "${R[sdb.plan_lookup]}"
printf '       range   PG: %s | sargdb: %s\n' "${R[pg.plan_brin]}" "${R[sdb.plan_brin]}"
printf 'during the lookups:\n  PG:     %s\n  sargdb: %s\n' "${R[pg.io_lookup]}" "${R[sdb.io_lookup]}"
