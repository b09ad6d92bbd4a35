#!/usr/bin/env bash
# The ceiling of pgbench's select-only on this machine (issue 5), measured
# side by side with PostgreSQL 15 and sargdb in one run.
#
# bench/ceiling/ is a wire-protocol server that does no SQL work (one
# constant row per execution), serving connections as sargdb's scheduler
# does. Against it pgbench measures what loopback TCP and pgbench itself
# leave for a server on this machine. Each round runs `pgbench -S -M MODE`
# for DURATION seconds on PostgreSQL, the ceiling server and sargdb, one
# after the other, for each client count in CLIENTS; the table gives TPS
# and the ratios ceiling/PG, sargdb/PG and sargdb/ceiling, then the median
# of each ratio over the rounds (this machine is noisy: only ratios within
# one round compare).
#
# Usage: bench/ceiling.sh
#        ROUNDS=5 DURATION=5 CLIENTS="8" MODE=prepared bench/ceiling.sh
# Needs: PostgreSQL 15 binaries, psql, pgbench; builds sargdb and the
# ceiling server (release) itself. The servers are set up by bench/lib.sh.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CLIENTS=${CLIENTS:-"1 8"}
MODE=${MODE:-prepared}
SCALE=${SCALE:-10}
MEM=${MEM:-256MB}
CEIL_PORT=${CEIL_PORT:-$((58000 + RANDOM % 1000))}

# PostgreSQL and sargdb side by side (WORK, PG_PORT, SDB_PORT, q, cleanup).
source "$(dirname "$0")/lib.sh"
trap '[ -n "${CEIL_PID:-}" ] && kill "$CEIL_PID" 2>/dev/null; cleanup' EXIT

echo "building the ceiling server (release)..." >&2
cargo build --release --manifest-path "$ROOT/bench/ceiling/Cargo.toml" \
    --target-dir "$ROOT/target" >/dev/null 2>&1
"$ROOT/target/release/sargdb-ceiling" "127.0.0.1:$CEIL_PORT" "$SCALE" &
CEIL_PID=$!

conn() {
    case $1 in
    pg) echo "-h 127.0.0.1 -p $PG_PORT -U postgres postgres" ;;
    sdb) echo "-h 127.0.0.1 -p $SDB_PORT -U sargdb sargdb" ;;
    ceil) echo "-h 127.0.0.1 -p $CEIL_PORT -U ceiling ceiling" ;;
    esac
}

for who in pg sdb; do
    echo "pgbench -i -s $SCALE on $who..." >&2
    # shellcheck disable=SC2046
    pgbench -i -q -s "$SCALE" $(conn "$who") >"$WORK/init.out" 2>&1 || {
        cat "$WORK/init.out" >&2
        exit 1
    }
    q "$who" -c "CHECKPOINT" >/dev/null 2>&1 || true
done

run_tps() {
    local who=$1 clients=$2 threads=$2 out
    [ "$threads" -gt 2 ] && threads=2
    # shellcheck disable=SC2046
    out=$(pgbench -n -S -M "$MODE" -c "$clients" -j "$threads" -T "$DURATION" $(conn "$who") 2>&1) || {
        echo "pgbench failed on $who:" >&2
        echo "$out" >&2
        exit 1
    }
    echo "$out" | awk '/^tps/ {printf "%d", $3}'
}
ratio2() { printf "%.2f" "$(echo "scale=4; $1 / $2" | bc -l)"; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

declare -A M
printf '%-6s %3s %10s %10s %10s %9s %9s %9s\n' round cl "PG tps" "ceil tps" "sdb tps" ceil/PG sdb/PG sdb/ceil
for r in $(seq 1 "$ROUNDS"); do
    for c in $CLIENTS; do
        pg=$(run_tps pg "$c")
        ceil=$(run_tps ceil "$c")
        sdb=$(run_tps sdb "$c")
        a=$(ratio2 "$ceil" "$pg") b=$(ratio2 "$sdb" "$pg") d=$(ratio2 "$sdb" "$ceil")
        printf '%-6s %3s %10s %10s %10s %9s %9s %9s\n' "$r" "$c" "$pg" "$ceil" "$sdb" "$a" "$b" "$d"
        M[$c.a]+=" $a" M[$c.b]+=" $b" M[$c.d]+=" $d"
    done
done
for c in $CLIENTS; do
    printf '%-6s %3s %10s %10s %10s %9s %9s %9s\n' median "$c" "" "" "" \
        "$(echo "${M[$c.a]}" | median)" "$(echo "${M[$c.b]}" | median)" "$(echo "${M[$c.d]}" | median)"
done
echo "(pgbench -S -M $MODE, scale $SCALE, $DURATION s per line, $(date +%F); ceiling = bench/ceiling, no SQL work)"
