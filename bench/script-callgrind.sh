#!/bin/bash
# User-space instructions per request of a URL run and of the two scripts
# of bench/script-vs-url.sh (min: one http.get per iteration; trend: the
# same with a check and a custom Trend), counted by callgrind against one
# nginx on loopback. Instruction counts do not depend on the machine's load,
# so they steer changes that wall-clock benches on a busy host cannot see.
# Each case runs N requests and then 1 request; the difference / (N - 1) is
# the cost per request without the start-up.
#
# VOLLEY=BIN selects the binary (default ./volley); OUT=DIR keeps the
# callgrind.out files (for callgrind_annotate --inclusive=yes).
#
# usage: bench/script-callgrind.sh [-n REQUESTS] [-c CONNS] [CASE...]   (cases: url min trend)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

N=20000 CONNS=50
while getopts "n:c:" o; do
    case $o in
        n) N=$OPTARG ;; c) CONNS=$OPTARG ;;
        *) echo "usage: $0 [-n REQUESTS] [-c CONNS] [url|min|trend]..." >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
CASES=("$@")
[ ${#CASES[@]} -gt 0 ] || CASES=(url min trend)
command -v valgrind > /dev/null || { echo "bench: valgrind is not installed" >&2; exit 2; }

bench_setup
OUT=${OUT:-$TMP}
mkdir -p "$OUT"
nginx_ok

script() { # script NAME ITERATIONS
    case $1 in
        min) cat <<LUA ;;
options = { vus = $CONNS, iterations = $2 }
function default() http.get("$URL") end
LUA
        trend) cat <<LUA ;;
options = { vus = $CONNS, iterations = $2 }
local waiting = metrics.trend("waiting")
function default()
  local r = http.get("$URL")
  check(r, { ["status 200"] = function(x) return x.status == 200 end })
  waiting:add(r.timings.waiting)
end
LUA
    esac
}

# instructions CASE COUNT: total Ir of one run of COUNT requests
instructions() {
    local c=$1 n=$2 f="$OUT/callgrind.out.$1.$2" args
    if [ "$c" = url ]; then
        local conns=$CONNS
        [ "$n" -lt "$conns" ] && conns=$n
        args=(-c "$conns" -n "$n" "$URL")
    else
        script "$c" "$n" > "$TMP/$c.$n.lua"
        args=("$TMP/$c.$n.lua")
    fi
    valgrind --tool=callgrind --callgrind-out-file="$f" -q \
        "$VOLLEY" run -q --no-save -t 1 "${args[@]}" > /dev/null 2>&1
    callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done { gsub(",", "", $1); print $1; done = 1 }'
}

echo "instructions per request (callgrind, ($N requests - 1 request) / $((N - 1)), -c $CONNS -t 1):"
for c in "${CASES[@]}"; do
    big=$(instructions "$c" "$N")
    one=$(instructions "$c" 1)
    printf "  %-6s %8.0f   (start-up %.1f M)\n" "$c" "$(echo "($big - $one) / ($N - 1)" | bc -l)" \
        "$(echo "$one / 1000000" | bc -l)"
done
