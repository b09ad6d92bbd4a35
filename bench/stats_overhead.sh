#!/usr/bin/env bash
# What counting activity costs: pgbench select-only (-S, prepared) against
# the same sargdb build and data directory with statistics on
# (--track-counts on, the default) and off, alternating ROUNDS times so
# machine noise hits both alike. Prints each run's TPS and the ratio of the
# medians (on / off). The issue's goal: on is within 3% of off.
#
# Usage: bench/stats_overhead.sh        (SCALE=10 CLIENTS=2 SECONDS=15 ROUNDS=3)
# Needs: a release build (built here), pgbench and psql.
set -euo pipefail

SCALE=${SCALE:-10}
CLIENTS=${CLIENTS:-2}
SECONDS_PER_RUN=${SECONDS:-15}
ROUNDS=${ROUNDS:-3}
PGBIN=/usr/lib/postgresql/15/bin
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d /tmp/sargdb-statsbench.XXXXXX)
PORT=$((58000 + RANDOM % 1000))

cleanup() {
    [ -n "${SDB_PID:-}" ] && kill "$SDB_PID" 2>/dev/null && wait "$SDB_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

start() {
    "$TARGET/release/sargdb" --listen "127.0.0.1:$PORT" --data-dir "$WORK/sdb" \
        --log-level warn --track-counts "$1" 2>>"$WORK/sdb.log" &
    SDB_PID=$!
    for _ in $(seq 1 100); do
        psql -h 127.0.0.1 -p "$PORT" -U sargdb -d sargdb -Atqc 'select 1' >/dev/null 2>&1 && return
        sleep 0.1
    done
    echo "sargdb did not start" >&2; cat "$WORK/sdb.log" >&2; exit 1
}
stop() {
    kill "$SDB_PID"; wait "$SDB_PID" 2>/dev/null || true; SDB_PID=
}

echo "building sargdb (release)..." >&2
(cd "$ROOT" && cargo build --release -p sargdb-server >/dev/null 2>&1)

start on
"$PGBIN/pgbench" -h 127.0.0.1 -p "$PORT" -U sargdb -i -s "$SCALE" sargdb >/dev/null 2>&1
stop

declare -a ON OFF
for r in $(seq 1 "$ROUNDS"); do
    for mode in on off; do
        start "$mode"
        tps=$("$PGBIN/pgbench" -h 127.0.0.1 -p "$PORT" -U sargdb -S -M prepared \
            -c "$CLIENTS" -j "$CLIENTS" -T "$SECONDS_PER_RUN" sargdb 2>/dev/null |
            sed -n 's/^tps = \([0-9.]*\).*/\1/p')
        stop
        echo "round $r  stats $mode  tps $tps"
        if [ "$mode" = on ]; then ON+=("$tps"); else OFF+=("$tps"); fi
    done
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m_on=$(median "${ON[@]}"); m_off=$(median "${OFF[@]}")
echo "median tps: on $m_on  off $m_off  on/off $(awk -v a="$m_on" -v b="$m_off" 'BEGIN {printf "%.3f", a/b}')"
