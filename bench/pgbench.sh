#!/usr/bin/env bash
# pgbench harness (issue 5): sargdb and PostgreSQL 15 side by side on this
# machine, in one run, with the same memory (sargdb's buffer pool =
# shared_buffers) and the same durability (fsync on; a commit waits for its
# WAL flush: synchronous_commit=on on Postgres, --fsync on for sargdb).
#
# The matrix:
#   - `pgbench -i -s N` for each N in INIT_SCALES (timed, default 10 and 50);
#   - then at scale RUN_SCALE (default 10): each script in SCRIPTS
#     (select-only, simple-update, tpcb-like) x each client count in CLIENTS
#     (1 8 32) x each protocol mode in MODES (simple extended prepared), for
#     DURATION seconds per line, Postgres and sargdb one after the other.
# Prints one table: TPS, average and p99 latency (ms) for both servers and the
# TPS ratio sargdb / PostgreSQL; failed transactions are counted and any
# failure is reported. Latencies come from pgbench's per-transaction log.
#
# Usage: bench/pgbench.sh
#        DURATION=5 CLIENTS="1 8" MODES=prepared SCRIPTS=select-only INIT_SCALES=10 bench/pgbench.sh
#        INIT_SCALES=10 SCRIPTS= CLIENTS= MODES= bench/pgbench.sh   (only the timed inits)
# A variable set to the empty string empties that part of the matrix (unset
# means its default); with no runs left, the extra init at RUN_SCALE is
# skipped too. The sargdb binary is built in CARGO_TARGET_DIR if set.
# Each timed init also prints pgbench's own per-step times for both servers.
# Needs: PostgreSQL 15 binaries, psql, pgbench; builds sargdb (release) itself.
set -euo pipefail

INIT_SCALES=${INIT_SCALES-"10 50"}
RUN_SCALE=${RUN_SCALE:-10}
SCRIPTS=${SCRIPTS-"select-only simple-update tpcb-like"}
CLIENTS=${CLIENTS-"1 8 32"}
MODES=${MODES-"simple extended prepared"}
DURATION=${DURATION:-10}
MEM=${MEM:-256MB}
PGBIN=/usr/lib/postgresql/15/bin
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d /tmp/sargdb-pgbench.XXXXXX)
PG_PORT=${PG_PORT:-$((56000 + RANDOM % 1000))}
SDB_PORT=${SDB_PORT:-$((57000 + RANDOM % 1000))}

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
    [ -n "${SDB_PID:-}" ] && kill "$SDB_PID" 2>/dev/null || true
    if [ -d "$WORK/pg" ]; then
        as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "building sargdb (release)..." >&2
(cd "$ROOT" && cargo build --release -p sargdb-server >/dev/null 2>&1)

mkdir -p "$WORK/pg" "$WORK/sdb" "$WORK/logs"
if [ "$(id -u)" -eq 0 ]; then chown -R postgres "$WORK"; fi
chmod 777 "$WORK/logs"
as_pg "$PGBIN/initdb" -D "$WORK/pg" --locale=C -E UTF8 -A trust -U postgres >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$WORK -c shared_buffers=$MEM -c fsync=on -c synchronous_commit=on -c max_connections=100" \
    start >/dev/null
"$TARGET/release/sargdb" --listen "127.0.0.1:$SDB_PORT" --data-dir "$WORK/sdb" \
    --buffer-pool "$MEM" --fsync on --log-level warn 2>"$WORK/sdb.log" &
SDB_PID=$!
for _ in $(seq 1 100); do
    psql -h 127.0.0.1 -p "$SDB_PORT" -U sargdb -d sargdb -Atqc 'select 1' >/dev/null 2>&1 && break
    sleep 0.1
done

conn() {
    if [ "$1" = pg ]; then echo "-h 127.0.0.1 -p $PG_PORT -U postgres postgres"; else echo "-h 127.0.0.1 -p $SDB_PORT -U sargdb sargdb"; fi
}
name() { if [ "$1" = pg ]; then echo "PostgreSQL 15"; else echo "sargdb"; fi; }

# seconds taken by `pgbench -i -s $2` on server $1
init() {
    local who=$1 scale=$2 t0 t1
    # Start on a quiet disk: without this, the previous init's data (the
    # other server's) is still being written back while this one runs and
    # fsyncs, and whichever server goes second pays for both.
    sync
    sleep 1
    t0=$(date +%s.%N)
    # shellcheck disable=SC2046
    pgbench -i -q -s "$scale" $(conn "$who") >"$WORK/init.out" 2>&1 || {
        echo "pgbench -i -s $scale failed on $(name "$who"):" >&2
        cat "$WORK/init.out" >&2
        exit 1
    }
    t1=$(date +%s.%N)
    # pgbench's own split of the steps ("done in ... (drop tables ...)").
    echo "  $(name "$who"), scale $scale: $(grep -o 'done in.*' "$WORK/init.out")" >&2
    echo "$t1 - $t0" | bc -l
}

# "tps avg_ms p99_ms failed" of one pgbench run on server $1
run() {
    local who=$1 script=$2 clients=$3 mode=$4 out tps failed threads lat
    rm -f "$WORK/logs"/*
    threads=$clients
    [ "$threads" -gt 2 ] && threads=2
    # shellcheck disable=SC2046
    out=$(pgbench -n -b "$script" -M "$mode" -c "$clients" -j "$threads" -T "$DURATION" \
        --log --log-prefix="$WORK/logs/tx" $(conn "$who") 2>&1) || {
        echo "pgbench failed on $(name "$who") ($script, $clients clients, $mode):" >&2
        echo "$out" >&2
        echo "0 0 0 all"
        return
    }
    tps=$(echo "$out" | awk '/^tps/ {print $3}')
    failed=$(echo "$out" | awk -F'[: ]+' '/number of failed transactions/ {print $5}')
    # The per-transaction log: column 3 is the latency in microseconds.
    lat=$(cat "$WORK/logs"/tx* | awk '{print $3}' | sort -n | awk '
        { v[NR] = $1; s += $1 }
        END { if (NR == 0) { print "0 0"; exit }
              i = int(NR * 0.99); if (i < 1) i = 1
              printf "%.3f %.3f\n", s / NR / 1000, v[i] / 1000 }')
    echo "$tps $lat ${failed:-0}"
}

declare -A R
n=0
for scale in $INIT_SCALES; do
    n=$((n + 1))
    for who in pg sdb; do
        echo "pgbench -i -s $scale on $(name "$who")..." >&2
        R[$who.init.$n]=$(init "$who" "$scale")
    done
done
HAVE_RUNS=
[ -n "$SCRIPTS" ] && [ -n "$CLIENTS" ] && [ -n "$MODES" ] && HAVE_RUNS=1
if [ -n "$HAVE_RUNS" ] && { [[ " $INIT_SCALES " != *" $RUN_SCALE "* ]] || [ "${INIT_SCALES##* }" != "$RUN_SCALE" ]; }; then
    for who in pg sdb; do
        echo "pgbench -i -s $RUN_SCALE on $(name "$who") (for the runs)..." >&2
        init "$who" "$RUN_SCALE" >/dev/null
    done
fi
for who in pg sdb; do
    # shellcheck disable=SC2046
    psql $(conn "$who") -X -Atqc "CHECKPOINT" >/dev/null 2>&1 || true
done

ratio() { printf "%.2f" "$(echo "scale=4; $1 / $2" | bc -l)"; }
FAILED=0
LINES=()
for script in $SCRIPTS; do
    for clients in $CLIENTS; do
        for mode in $MODES; do
            for who in pg sdb; do
                echo "$script, $clients clients, $mode on $(name "$who")..." >&2
                R[$who.run]=$(run "$who" "$script" "$clients" "$mode")
            done
            read -r ptps pavg pp99 pfail <<<"${R[pg.run]}"
            read -r stps savg sp99 sfail <<<"${R[sdb.run]}"
            [ "$pfail" != 0 ] || [ "$sfail" != 0 ] && FAILED=1
            LINES+=("$(printf '%-14s %3s %-9s %10.0f %8s %8s %10.0f %8s %8s %8s %6s/%s' \
                "$script" "$clients" "$mode" "$ptps" "$pavg" "$pp99" "$stps" "$savg" "$sp99" \
                "$(ratio "$stps" "$ptps")" "$pfail" "$sfail")")
        done
    done
done

if [ -n "$HAVE_RUNS" ]; then
    printf '\npgbench: scale %s for the runs, %s s per line, memory %s, fsync on (%s)\n' "$RUN_SCALE" "$DURATION" "$MEM" "$(date -u +%Y-%m-%d)"
    printf '%-14s %3s %-9s %10s %8s %8s %10s %8s %8s %8s %8s\n' script cl mode "PG tps" "PG avg" "PG p99" "sdb tps" "sdb avg" "sdb p99" "sdb/PG" "failed"
    for l in "${LINES[@]}"; do echo "$l"; done
else
    printf '\npgbench: inits only, memory %s, fsync on (%s)\n' "$MEM" "$(date -u +%Y-%m-%d)"
fi
echo
printf '%-30s %14s %14s %10s\n' "init" "PostgreSQL 15" "sargdb" "sargdb/PG"
n=0
for scale in $INIT_SCALES; do
    n=$((n + 1))
    printf '%-30s %14.2f %14.2f %10s\n' "pgbench -i -s $scale (s)" "${R[pg.init.$n]}" "${R[sdb.init.$n]}" \
        "$(ratio "${R[sdb.init.$n]}" "${R[pg.init.$n]}")"
done
echo "(latencies in ms; failed = failed transactions PG/sargdb)"
exit $FAILED
