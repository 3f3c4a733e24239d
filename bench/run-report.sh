#!/bin/bash
# run-report: what writing report.html and the charts at the end of a run
# costs. The same open-model run against `volley serve` (with --raw, so the
# per-route scatter charts read requests.csv) three ways, in alternating
# rounds: `volley run --no-report`, `volley run` (the report at the end, the
# default), and the old two-step `volley run --no-report` + `volley report DIR`.
# Prints wall and CPU seconds (user+sys, /usr/bin/time -v) per round, the
# medians, and the ratios to --no-report. Loopback only.
#   usage: bench/run-report.sh [ROUNDS]   env: DUR=3 RATE=2000 VOLLEY=./volley
set -euo pipefail

cd "$(dirname "$0")/.."
. bench/lib.sh
ROUNDS=${1:-${ROUNDS:-5}}
DUR=${DUR:-3}
RATE=${RATE:-2000}
VOLLEY=${VOLLEY:-./volley}
[ -x "$VOLLEY" ] || make volley

TMP=$(mktemp -d)
SERVE_PID=
cleanup() {
    [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

PORT=$(free_port)
"$VOLLEY" serve --listen 127.0.0.1:"$PORT" --threads 1 -q &
SERVE_PID=$!
wait_port "$PORT"
URL="http://127.0.0.1:$PORT/bytes/512"

# timed LOG CMD...: runs CMD under /usr/bin/time -v; appends "wall cpu".
timed() {
    local log=$1
    shift
    /usr/bin/time -v "$@" >/dev/null 2>"$TMP/time"
    awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); w = 0
                  for (i = 1; i <= n; i++) w = w * 60 + t[i]}
                /User time/ {u = $2} /System time/ {s = $2}
                END {printf "%.3f %.3f\n", w, u + s}' "$TMP/time" >>"$log"
}

run_args=(run -q --raw --rate "$RATE" -d "${DUR}s" -c 20 "$URL")
for r in $(seq "$ROUNDS"); do
    rm -rf "$TMP"/o-*
    timed "$TMP/bare" "$VOLLEY" "${run_args[@]}" --no-report --out "$TMP/o-bare"
    timed "$TMP/report" "$VOLLEY" "${run_args[@]}" --out "$TMP/o-report"
    timed "$TMP/two" bash -c "'$VOLLEY' ${run_args[*]} --no-report --out '$TMP/o-two' &&
                              '$VOLLEY' report '$TMP/o-two' --format html,png"
    [ -f "$TMP/o-report/report.html" ] && [ -f "$TMP/o-two/report.html" ] &&
        [ ! -e "$TMP/o-bare/report.html" ] || { echo "bench: reports not as expected" >&2; exit 1; }
    echo "round $r: --no-report $(tail -1 "$TMP/bare")  report $(tail -1 "$TMP/report")" \
         " run+report $(tail -1 "$TMP/two")  (wall s, cpu s)"
done
med() { awk "{print \$$2}" "$TMP/$1" | median; }
echo
printf '%-26s %8s %8s\n' "median over $ROUNDS rounds" "wall s" "cpu s"
for k in bare report two; do
    printf '%-26s %8.3f %8.3f\n' "$k" "$(med "$k" 1)" "$(med "$k" 2)"
done
echo "report at the end / --no-report: wall $(echo "$(med report 1) $(med bare 1)" |
    awk '{printf "%.2f", $1 / $2}')x, cpu $(echo "$(med report 2) $(med bare 2)" |
    awk '{printf "%.2f", $1 / $2}')x; requests per run: $((RATE * DUR))"
