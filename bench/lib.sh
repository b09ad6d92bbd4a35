# Shared helpers of the index benchmarks (bench/btree.sh, bench/hash_brin.sh):
# start PostgreSQL 15 and sargdb side by side with the same memory (buffer
# pool = shared_buffers), durability (fsync on) and checkpoint distance
# (max_wal_size 4GB for both; PG_EXTRA adds `-c name=value` settings to
# PostgreSQL's command line and SDB_EXTRA flags to sargdb's), and run SQL,
# timings and
# pgbench against either. Source it after setting MEM; it sets WORK (a
# scratch directory removed on exit) and defines q, timed, tps, ratio, mb.
PGBIN=/usr/lib/postgresql/15/bin
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/sargdb-bench.XXXXXX)
PG_PORT=${PG_PORT:-$((56000 + RANDOM % 1000))}
SDB_PORT=${SDB_PORT:-$((57000 + RANDOM % 1000))}

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
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$WORK -c shared_buffers=$MEM -c fsync=on -c synchronous_commit=on -c max_wal_size=4GB ${PG_EXTRA:-}" \
    start >/dev/null
"$ROOT/target/release/sargdb" --listen "127.0.0.1:$SDB_PORT" --data-dir "$WORK/sdb" \
    --buffer-pool "$MEM" --max-wal-size 4GB --log-level warn ${SDB_EXTRA:-} 2>"$WORK/sdb.log" &
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

ratio() { echo "scale=2; $1 / $2" | bc -l; }
mb() { echo "scale=1; $1 / 1048576" | bc -l; }

# Counters of table $2 on server $1 around a measured phase, one line:
# heap hits, heap reads, index hits, index reads (pg_statio_user_tables: a
# read is a miss of the buffer pool / shared_buffers, served by the OS),
# then WAL full-page images and WAL fsyncs (pg_stat_wal).
phase_counters() {
    q "$1" -F' ' -c "SELECT heap_blks_hit, heap_blks_read, idx_blks_hit, idx_blks_read, (SELECT wal_fpi FROM pg_stat_wal), (SELECT wal_sync FROM pg_stat_wal) FROM pg_statio_user_tables WHERE relname = '$2'"
}

# What happened between two phase_counters lines, in words.
phase_delta() {
    local a=($1) b=($2)
    local hh=$((b[0] - a[0])) hr=$((b[1] - a[1])) ih=$((b[2] - a[2])) ir=$((b[3] - a[3]))
    printf 'heap %d of %d accesses missed (%.1f%%), index %d of %d (%.1f%%); %d WAL page images, %d WAL fsyncs' \
        "$hr" "$((hh + hr))" "$(echo "100 * $hr / ($hh + $hr + 0.0001)" | bc -l)" \
        "$ir" "$((ih + ir))" "$(echo "100 * $ir / ($ih + $ir + 0.0001)" | bc -l)" \
        "$((b[4] - a[4]))" "$((b[5] - a[5]))"
}
