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
PGBIN=/usr/lib/postgresql/15/bin
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/sargdb-bench.XXXXXX)
PG_PORT=$((56000 + RANDOM % 1000))
SDB_PORT=$((57000 + RANDOM % 1000))

cleanup() {
    [ -n "${SDB_PID:-}" ] && kill "$SDB_PID" 2>/dev/null || true
    if [ -d "$WORK/pg" ]; then
        as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

echo "building sargdb (release)..." >&2
(cd "$ROOT" && cargo build --release -p sargdb-server >/dev/null 2>&1)

mkdir -p "$WORK/pg" "$WORK/sdb"
if [ "$(id -u)" -eq 0 ]; then chown -R postgres "$WORK"; fi
as_pg "$PGBIN/initdb" -D "$WORK/pg" --locale=C -E UTF8 -A trust -U postgres >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$WORK -c shared_buffers=$MEM -c fsync=on -c synchronous_commit=on -c max_wal_size=4GB" \
    start >/dev/null
"$ROOT/target/release/sargdb" --listen "127.0.0.1:$SDB_PORT" --data-dir "$WORK/sdb" \
    --buffer-pool "$MEM" --log-level warn 2>"$WORK/sdb.log" &
SDB_PID=$!
for _ in $(seq 1 100); do
    psql -h 127.0.0.1 -p "$SDB_PORT" -U sargdb -d sargdb -Atqc 'select 1' >/dev/null 2>&1 && break
    sleep 0.1
done

# psql against server $1 (pg|sdb)
q() {
    local who=$1; shift
    if [ "$who" = pg ]; then
        psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -X -Atq "$@"
    else
        psql -h 127.0.0.1 -p "$SDB_PORT" -U sargdb -d sargdb -X -Atq "$@"
    fi
}

# seconds taken by one statement
timed() {
    local who=$1 sql=$2 t0 t1
    t0=$(date +%s.%N)
    q "$who" -c "$sql" >/dev/null
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
}

# pgbench TPS for a script on server $1
tps() {
    local who=$1 script=$2 n=$3 args
    if [ "$who" = pg ]; then args=(-h 127.0.0.1 -p "$PG_PORT" -U postgres postgres); else args=(-h 127.0.0.1 -p "$SDB_PORT" -U sargdb sargdb); fi
    pgbench -n -M prepared -c 1 -t "$n" -f "$script" "${args[@]}" 2>/dev/null | awk '/^tps/ {print $3}'
}

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
    q "$who" -c "ANALYZE bi" >/dev/null
    R[$who.lookup]=$(tps "$who" "$WORK/lookup.sql" "$LOOKUPS")
    R[$who.range]=$(tps "$who" "$WORK/range.sql" "$RANGES")
done

ratio() { echo "scale=2; $1 / $2" | bc -l; }
mb() { echo "scale=1; $1 / 1048576" | bc -l; }
printf '\nB+Tree benchmark: %s rows, %s lookups, %s range scans (1 client, prepared), memory %s\n' "$ROWS" "$LOOKUPS" "$RANGES" "$MEM"
printf '%-34s %14s %14s %10s\n' "measure" "PostgreSQL 15" "sargdb" "sargdb/PG"
printf '%-34s %14.2f %14.2f %10s\n' "build int index (s)" "${R[pg.build_int]}" "${R[sdb.build_int]}" "$(ratio "${R[sdb.build_int]}" "${R[pg.build_int]}")"
printf '%-34s %14.2f %14.2f %10s\n' "build text index (s)" "${R[pg.build_text]}" "${R[sdb.build_text]}" "$(ratio "${R[sdb.build_text]}" "${R[pg.build_text]}")"
printf '%-34s %14s %14s %10s\n' "int index size (MB)" "$(mb "${R[pg.size_int]}")" "$(mb "${R[sdb.size_int]}")" "$(ratio "${R[sdb.size_int]}" "${R[pg.size_int]}")"
printf '%-34s %14s %14s %10s\n' "text index size (MB)" "$(mb "${R[pg.size_text]}")" "$(mb "${R[sdb.size_text]}")" "$(ratio "${R[sdb.size_text]}" "${R[pg.size_text]}")"
printf '%-34s %14.0f %14.0f %10s\n' "point lookups (per s)" "${R[pg.lookup]}" "${R[sdb.lookup]}" "$(ratio "${R[sdb.lookup]}" "${R[pg.lookup]}")"
printf '%-34s %14.0f %14.0f %10s\n' "range scans of 1000 rows (per s)" "${R[pg.range]}" "${R[sdb.range]}" "$(ratio "${R[sdb.range]}" "${R[pg.range]}")"
