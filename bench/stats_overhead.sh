#!/usr/bin/env bash
# What counting activity costs: pgbench select-only (-S, prepared) against
# the same sargdb build and data directory with statistics on
# (--track-counts on, the default) and off. Each round runs both, in
# alternating order (on/off, then off/on, ...), each after a short warm-up,
# so a drift in machine load hits both alike. Prints each run's TPS, each
# round's on/off ratio, the medians of the runs and the median of the round
# ratios (the paired figure, less sensitive to load changing between
# rounds). The issue's goal: on is within 3% of off (ratio >= 0.97).
#
# Usage: bench/stats_overhead.sh   (SCALE=10 CLIENTS=2 DURATION=20 ROUNDS=5 WARMUP=3)
# (DURATION, not SECONDS: bash keeps its own SECONDS, the time since the
# shell started, so a default for it never applies.)
# Needs: a release build (built here), pgbench and psql. sargdb only: no
# PostgreSQL is started (bench/lib.sh starts both, which this does not need).
set -euo pipefail

SCALE=${SCALE:-10}
CLIENTS=${CLIENTS:-2}
SECONDS_PER_RUN=${DURATION:-20}
ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-3}
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
bench() {
    "$PGBIN/pgbench" -h 127.0.0.1 -p "$PORT" -U sargdb -n -S -M prepared \
        -c "$CLIENTS" -j "$CLIENTS" -T "$1" sargdb 2>/dev/null |
        sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
run() {
    start "$1"
    bench "$WARMUP" >/dev/null
    local tps
    tps=$(bench "$SECONDS_PER_RUN")
    stop
    echo "$tps"
}

echo "building sargdb (release)..." >&2
(cd "$ROOT" && cargo build --release -p sargdb-server >/dev/null 2>&1)

start on
"$PGBIN/pgbench" -h 127.0.0.1 -p "$PORT" -U sargdb -i -s "$SCALE" sargdb >/dev/null 2>&1
stop

declare -a ON OFF RATIOS
for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) -eq 1 ]; then order="on off"; else order="off on"; fi
    for mode in $order; do
        tps=$(run "$mode")
        if [ "$mode" = on ]; then on=$tps; ON+=("$tps"); else off=$tps; OFF+=("$tps"); fi
    done
    ratio=$(awk -v a="$on" -v b="$off" 'BEGIN {printf "%.3f", a/b}')
    RATIOS+=("$ratio")
    echo "round $r ($order)  on $on  off $off  on/off $ratio"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m_on=$(median "${ON[@]}"); m_off=$(median "${OFF[@]}")
echo "median tps: on $m_on  off $m_off  on/off $(awk -v a="$m_on" -v b="$m_off" 'BEGIN {printf "%.3f", a/b}')"
echo "median of round ratios: $(median "${RATIOS[@]}")  (min $(printf '%s\n' "${RATIOS[@]}" | sort -g | head -1), max $(printf '%s\n' "${RATIOS[@]}" | sort -g | tail -1))"
