#!/bin/bash
# A Lua script against the same URL run, side by side on one nginx on
# loopback: both go through the one exchange (load/exchange), so a minimal
# script should cost little more generator CPU per request than a URL run.
# Tools, alternating for several rounds, same VUs/connections and duration:
#   url    volley run -c C URL
#   min    a script whose VU function is one http.get(URL)
#   trend  the same with a check and a custom Trend per request
#   base   (with -b BIN) another volley binary's URL run, e.g. the commit
#          before a change, to check URL mode did not get slower
# Prints, from medians, requests per generator CPU-second and the ratios
# min/url, trend/url (and url/base).
#
# VOLLEY=BIN selects the binary under test (default ./volley).
#
# usage: bench/script-vs-url.sh [-c CONNS] [-d SECONDS] [-r ROUNDS] [-t THREADS] [-b BIN]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

CONNS=50 DUR=5 ROUNDS=5 THREADS=1 BASE=
while getopts "c:d:r:t:b:" o; do
    case $o in
        c) CONNS=$OPTARG ;; d) DUR=$OPTARG ;; r) ROUNDS=$OPTARG ;; t) THREADS=$OPTARG ;;
        b) BASE=$OPTARG ;;
        *) echo "usage: $0 [-c CONNS] [-d SECONDS] [-r ROUNDS] [-t THREADS] [-b BIN]" >&2; exit 2 ;;
    esac
done

./scripts/setup-deps.sh bench
VOLLEY=${VOLLEY:-./volley}
[ -x "$VOLLEY" ] || make -s volley

TMP=$(mktemp -d)
trap 'kill $NGINX_PID 2>/dev/null; wait $NGINX_PID 2>/dev/null; rm -rf "$TMP"' EXIT
PORT=$(free_port)
nginx_start "$TMP" "server { listen 127.0.0.1:$PORT; location / { return 200 \"ok\"; } }"
URL="http://127.0.0.1:$PORT/"

cat > "$TMP/min.lua" <<LUA
options = { vus = $CONNS, duration = "${DUR}s" }
function default() http.get("$URL") end
LUA
cat > "$TMP/trend.lua" <<LUA
options = { vus = $CONNS, duration = "${DUR}s" }
local waiting = metrics.trend("waiting")
function default()
  local r = http.get("$URL")
  check(r, { ["status 200"] = function(x) return x.status == 200 end })
  waiting:add(r.timings.waiting)
end
LUA

# run TOOL: prints "rps cpu_s rss_kb"
run() {
    local tool=$1 out="$TMP/$1.out" tm="$TMP/$1.time" bin=$VOLLEY
    local args=(-c "$CONNS" -d "${DUR}s" "$URL")
    case $tool in
        min)   args=("$TMP/min.lua") ;;
        trend) args=("$TMP/trend.lua") ;;
        base)  bin=$BASE ;;
    esac
    /usr/bin/time -f "%U %S %M" -o "$tm" "$bin" run -q --no-save --json -t "$THREADS" \
        "${args[@]}" > "$out"
    local rps
    rps=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["rps"])' "$out")
    read -r u s rss < "$tm"
    echo "$rps $(echo "$u + $s" | bc -l) $rss"
}

TOOLS=(url min trend)
[ -n "$BASE" ] && TOOLS+=(base)
bench_rounds "${TOOLS[@]}"
echo
echo "medians over $ROUNDS rounds (-c $CONNS -t $THREADS -d ${DUR}s, nginx 1 worker):"
declare -A M
for t in "${TOOLS[@]}"; do
    M[$t]=$(echo ${CPU[$t]} | median)
    printf "  %-6s req/s %10.0f   req per generator cpu-s %10.0f\n" "$t" \
        "$(echo ${RPS[$t]} | median)" "${M[$t]}"
done
printf "  min/url   requests per generator cpu-s: %.2f\n" "$(echo "${M[min]} / ${M[url]}" | bc -l)"
printf "  trend/url requests per generator cpu-s: %.2f\n" "$(echo "${M[trend]} / ${M[url]}" | bc -l)"
[ -n "$BASE" ] && printf "  url/base  requests per generator cpu-s: %.2f\n" \
    "$(echo "${M[url]} / ${M[base]}" | bc -l)"
exit 0
