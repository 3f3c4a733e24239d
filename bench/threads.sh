#!/bin/bash
# volley with 1 worker thread against volley with 2 (and 2 pinned with
# --cpus 0,1), the server (nginx, 1 worker process) in its own process on
# loopback, alternating rounds: requests/s and requests per generator
# CPU-second. On a 2-core machine nginx needs one core, so 2 threads cannot
# scale throughput here; what this shows is that a second thread costs no
# CPU per request (nothing shared on the request path). docs/performance.md
# says what to expect on more cores.
#
# usage: bench/threads.sh [-c CONNS] [-d SECONDS] [-r ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

CONNS=${CONNS:-50} DUR=${DUR:-4} ROUNDS=${ROUNDS:-3}
while getopts "c:d:r:" o; do
    case $o in
        c) CONNS=$OPTARG ;; d) DUR=$OPTARG ;; r) ROUNDS=$OPTARG ;;
        *) echo "usage: $0 [-c CONNS] [-d SECONDS] [-r ROUNDS]" >&2; exit 2 ;;
    esac
done
./scripts/setup-deps.sh bench
[ -x ./volley ] || make -s volley
VOLLEY=${VOLLEY:-./volley}

TMP=$(mktemp -d)
NGINX_PID=
trap '[ -n "$NGINX_PID" ] && kill $NGINX_PID 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT
PORT=$(free_port)
nginx_start "$TMP" "server { listen 127.0.0.1:$PORT; location / { return 200 \"ok\"; } }"
URL="http://127.0.0.1:$PORT/"

# run TOOL: t1 | t2 | t2pin; prints "rps cpu_s rss_kb"
run() {
    local tool=$1 out="$TMP/$1.out" tm="$TMP/$1.time" args=()
    case $tool in
        t1) args=(-t 1) ;; t2) args=(-t 2) ;; t2pin) args=(-t 2 --cpus 0,1) ;;
    esac
    /usr/bin/time -f "%U %S %M" -o "$tm" "$VOLLEY" run --no-save -q --json -c "$CONNS" \
        "${args[@]}" -d "${DUR}s" "$URL" > "$out"
    local rps
    rps=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["rps"])' "$out")
    read -r u s rss < "$tm"
    echo "$rps $(echo "$u + $s" | bc -l) $rss"
}

bench_rounds t1 t2 t2pin
echo
echo "medians over $ROUNDS rounds (-c $CONNS -d ${DUR}s, nginx 1 worker):"
for t in t1 t2 t2pin; do
    printf "  %-6s req/s %8.0f   req per generator cpu-s %8.0f\n" "$t" \
        "$(echo ${RPS[$t]} | median)" "$(echo ${CPU[$t]} | median)"
done
printf "  2 threads / 1 thread: req/s %.2f, req per cpu-s %.2f\n" \
    "$(echo "$(echo ${RPS[t2]} | median) / $(echo ${RPS[t1]} | median)" | bc -l)" \
    "$(echo "$(echo ${CPU[t2]} | median) / $(echo ${CPU[t1]} | median)" | bc -l)"
