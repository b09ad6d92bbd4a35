#!/usr/bin/env bash
# Spilling benchmark: queries whose working set is far larger than their
# work memory, on sargdb and PostgreSQL 15 side by side in one run
# (bench/lib.sh), with the same work memory for one query: PostgreSQL's
# work_mem = WORK_MEM, sargdb's --memory-limit = MEM + WORK_MEM (what the
# limit leaves beyond the buffer pool is the query work memory).
# Each query runs ROUNDS times on each server, alternating; the table gives
# the median seconds of each and the ratio sargdb / PostgreSQL. EXPLAIN
# ANALYZE's Sort line of the first query is printed for both, to show that
# both sorts spilled.
#
# Usage: bench/spill.sh                    (N=2000000 WORK_MEM=8MB ROUNDS=3)
#        N=500000 ROUNDS=1 bench/spill.sh
# Needs: a release build (built here), PostgreSQL 15 binaries, psql.
set -euo pipefail

N=${N:-2000000}
WORK_MEM=${WORK_MEM:-8MB}
ROUNDS=${ROUNDS:-3}
MEM=${MEM:-64MB}
mem_bytes() {
    local v=${1%B} n
    case $v in
    *k) n=$((${v%k} * 1024)) ;;
    *M) n=$((${v%M} * 1048576)) ;;
    *G) n=$((${v%G} * 1073741824)) ;;
    *) n=$v ;;
    esac
    echo "$n"
}
LIMIT=$(($(mem_bytes "$MEM") + $(mem_bytes "$WORK_MEM")))
PG_EXTRA="-c work_mem=$WORK_MEM"
SDB_EXTRA="--memory-limit ${LIMIT}B"
source "$(dirname "$0")/lib.sh"

# OFFSET past the end: every row is produced, none is sent.
SKIP=$((N * 10))
declare -a NAMES=(
    "sort of N rows by a text key"
    "hash aggregate, N/4 groups"
    "DISTINCT, N/4 keys"
    "hash join, N-row build side"
)
declare -a QUERIES=(
    "SELECT g, md5(g::text) AS h FROM generate_series(1, $N) g ORDER BY h OFFSET $SKIP"
    "SELECT g % ($N / 4), count(*), sum(g) FROM generate_series(1, $N) g GROUP BY 1 OFFSET $SKIP"
    "SELECT DISTINCT g % ($N / 4) FROM generate_series(1, $N) g OFFSET $SKIP"
    "SELECT count(*) FROM generate_series(1, $N) a JOIN (SELECT g, md5(g::text) AS h FROM generate_series(1, $N) g) b ON a = b.g"
)

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "sort lines (EXPLAIN ANALYZE of the first query):" >&2
for who in pg sdb; do
    echo "  $who: $(q "$who" -c "EXPLAIN ANALYZE ${QUERIES[0]}" | grep -m1 'Sort Method' | sed 's/^ *//')" >&2
done

declare -A T
for i in "${!QUERIES[@]}"; do
    for who in pg sdb; do T[$who.$i]=""; done
    for _ in $(seq 1 "$ROUNDS"); do
        for who in pg sdb; do
            T[$who.$i]="${T[$who.$i]} $(timed "$who" "${QUERIES[$i]}")"
        done
    done
done

printf '\nspilling: N=%s, work memory %s per query, buffer pool / shared_buffers %s, median of %s (%s)\n' \
    "$N" "$WORK_MEM" "$MEM" "$ROUNDS" "$(date -u +%Y-%m-%d)"
printf '%-34s %14s %10s %10s\n' "query" "PostgreSQL 15" "sargdb" "sargdb/PG"
for i in "${!QUERIES[@]}"; do
    pg=$(echo "${T[pg.$i]}" | median)
    sdb=$(echo "${T[sdb.$i]}" | median)
    printf '%-34s %14.2f %10.2f %10s\n' "${NAMES[$i]}" "$pg" "$sdb" "$(ratio "$sdb" "$pg")"
done
echo "(seconds)"
