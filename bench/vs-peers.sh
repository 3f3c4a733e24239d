#!/bin/bash
# Load generators side by side against the same nginx on loopback:
# volley, wrk and h2load (--h1), same connections and duration, alternating,
# several rounds. For each run: requests/s, requests per CPU-second of the
# load generator (user+sys from /usr/bin/time) and its peak RSS.
# On 2 cores the server and the generator compete, so CPU per request is the
# figure that matters; rps is given for context. Quote ratios, not absolutes.
#
# usage: bench/vs-peers.sh [-c CONNS] [-d SECONDS] [-r ROUNDS] [-t THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

CONNS=50 DUR=5 ROUNDS=3 THREADS=1
while getopts "c:d:r:t:" o; do
    case $o in
        c) CONNS=$OPTARG ;; d) DUR=$OPTARG ;; r) ROUNDS=$OPTARG ;; t) THREADS=$OPTARG ;;
        *) echo "usage: $0 [-c CONNS] [-d SECONDS] [-r ROUNDS] [-t THREADS]" >&2; exit 2 ;;
    esac
done

./scripts/setup-deps.sh bench
[ -x ./volley ] || make -s volley

TMP=$(mktemp -d)
trap 'kill $NGINX_PID 2>/dev/null; wait $NGINX_PID 2>/dev/null; rm -rf "$TMP"' EXIT
PORT=$(free_port)
nginx_start "$TMP" "server { listen 127.0.0.1:$PORT; location / { return 200 \"ok\"; } }"
URL="http://127.0.0.1:$PORT/"

# run TOOL: prints "rps cpu_s rss_kb"
run() {
    local tool=$1 out="$TMP/$1.out" tm="$TMP/$1.time"
    case $tool in
        volley) /usr/bin/time -f "%U %S %M" -o "$tm" ./volley run -q --json -c "$CONNS" -t "$THREADS" -d "${DUR}s" "$URL" > "$out" ;;
        wrk)    /usr/bin/time -f "%U %S %M" -o "$tm" wrk -c "$CONNS" -t "$THREADS" -d "${DUR}s" "$URL" > "$out" ;;
        h2load) /usr/bin/time -f "%U %S %M" -o "$tm" h2load --h1 -c "$CONNS" -t "$THREADS" -D "$DUR" "$URL" > "$out" ;;
    esac
    local rps
    case $tool in
        volley) rps=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["rps"])' "$out") ;;
        wrk)    rps=$(awk '/Requests\/sec/ {print $2}' "$out") ;;
        h2load) rps=$(awk '/^finished in/ {gsub(",","",$4); print $4}' "$out") ;;
    esac
    read -r u s rss < "$tm"
    echo "$rps $(echo "$u + $s" | bc -l) $rss"
}

bench_rounds volley wrk h2load
bench_summary "-c $CONNS -t $THREADS -d ${DUR}s, nginx 1 worker" volley wrk h2load
