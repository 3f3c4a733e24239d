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
bench_setup
nginx_ok

# run TOOL: t1 | t2 | t2pin; prints "rps cpu_s rss_kb"
run() {
    local args=()
    case $1 in
        t1) args=(-t 1) ;; t2) args=(-t 2) ;; t2pin) args=(-t 2 --cpus 0,1) ;;
    esac
    measure volley "$VOLLEY" run --no-save -q --json -c "$CONNS" "${args[@]}" -d "${DUR}s" "$URL"
}

bench_rounds t1 t2 t2pin
echo
echo "medians over $ROUNDS rounds (-c $CONNS -d ${DUR}s, nginx 1 worker):"
for t in t1 t2 t2pin; do
    printf "  %-6s req/s %8.0f   req per generator cpu-s %8.0f\n" "$t" \
        "$(median_of RPS "$t")" "$(median_of CPU "$t")"
done
printf "  2 threads / 1 thread: req/s %.2f, req per cpu-s %.2f\n" \
    "$(echo "$(median_of RPS t2) / $(median_of RPS t1)" | bc -l)" \
    "$(echo "$(median_of CPU t2) / $(median_of CPU t1)" | bc -l)"
