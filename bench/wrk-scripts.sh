#!/bin/bash
# wrk scripts unchanged: the same wrk script run by wrk and by
# `volley run -s`, side by side against one nginx on loopback, alternating
# for several rounds with the same -t/-c/-d. Scripts: examples/wrk/rotate.lua
# (request() per request) and examples/wrk/report.lua (setup, init,
# response() per response, done). Prints requests/s and requests per
# generator CPU-second (user + system from /usr/bin/time), medians and
# volley/wrk ratios.
#
# VOLLEY=BIN selects the binary under test (default ./volley).
#
# usage: bench/wrk-scripts.sh [-c CONNS] [-d SECONDS] [-r ROUNDS] [-t THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

CONNS=50 DUR=5 ROUNDS=5 THREADS=1
while getopts "c:d:r:t:" o; do
    case $o in
        c) CONNS=$OPTARG ;; d) DUR=$OPTARG ;; r) ROUNDS=$OPTARG ;; t) THREADS=$OPTARG ;;
        *) echo "usage: $0 [-c CONNS] [-d SECONDS] [-r ROUNDS] [-t THREADS]" >&2; exit 2 ;;
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

# run TOOL: prints "rps cpu_s rss_kb" for the script in $SCRIPT
run() {
    local tool=$1 out="$TMP/$1.out" tm="$TMP/$1.time" rps
    if [ "$tool" = wrk ]; then
        /usr/bin/time -f "%U %S %M" -o "$tm" wrk -t "$THREADS" -c "$CONNS" -d "${DUR}s" \
            -s "$SCRIPT" "$URL" > "$out"
        rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    else
        /usr/bin/time -f "%U %S %M" -o "$tm" "$VOLLEY" run -s "$SCRIPT" "$URL" -t "$THREADS" \
            -c "$CONNS" -d "${DUR}s" -q --no-save --json > "$out"
        # done() may print before the JSON (as wrk prints its own)
        rps=$(python3 -c 'import json,sys; t=open(sys.argv[1]).read(); i=t.find("{")
print(json.loads(t[i:])["totals"]["rps"])' "$out")
    fi
    read -r u s rss < "$tm"
    echo "$rps $(echo "$u + $s" | bc -l) $rss"
}

for name in rotate report; do
    SCRIPT=examples/wrk/$name.lua
    echo "== $SCRIPT (-c $CONNS -t $THREADS -d ${DUR}s, nginx 1 worker)"
    unset RPS CPU RSS
    bench_rounds volley wrk
    bench_summary "$name.lua" volley wrk
    echo
done
