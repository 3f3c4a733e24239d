#!/bin/bash
# HTTP/1.1 pipelining side by side against the same nginx on loopback:
# volley --pipeline M, wrk with bench/pipeline.lua (M requests per write)
# and h2load --h1 -m M; same connections and duration, alternating rounds.
# Per run: requests/s and requests per generator CPU-second (user+sys from
# /usr/bin/time). With -b BASE (another volley binary) the runs also include
# volley without --pipeline ("v-m1") and BASE without it ("base"): the cost
# of the in-flight FIFO on the ordinary keep-alive path.
#
# usage: bench/pipeline.sh [-m DEPTH] [-c CONNS] [-d SECONDS] [-r ROUNDS] [-b BASE]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DEPTH=16 CONNS=10 DUR=5 ROUNDS=3 BASE=""
while getopts "m:c:d:r:b:" o; do
    case $o in
        m) DEPTH=$OPTARG ;; c) CONNS=$OPTARG ;; d) DUR=$OPTARG ;; r) ROUNDS=$OPTARG ;;
        b) BASE=$(realpath "$OPTARG") ;;
        *) echo "usage: $0 [-m DEPTH] [-c CONNS] [-d SECONDS] [-r ROUNDS] [-b BASE]" >&2; exit 2 ;;
    esac
done

bench_setup
nginx_ok

# run TOOL: prints "rps cpu_s rss_kb"
run() {
    case $1 in
        volley) measure volley "$VOLLEY" run -q --json --no-save -c "$CONNS" -t 1 -d "${DUR}s" \
                    --pipeline "$DEPTH" "$URL" ;;
        v-m1)   measure volley "$VOLLEY" run -q --json --no-save -c "$CONNS" -t 1 -d "${DUR}s" "$URL" ;;
        base)   measure volley "$BASE" run -q --json --no-save -c "$CONNS" -t 1 -d "${DUR}s" "$URL" ;;
        wrk)    measure wrk wrk -c "$CONNS" -t 1 -d "${DUR}s" -s bench/pipeline.lua "$URL" -- "$DEPTH" ;;
        h2load) measure h2load h2load --h1 -c "$CONNS" -t 1 -m "$DEPTH" -D "$DUR" "$URL" ;;
    esac
}

TOOLS=(volley wrk h2load)
[ -n "$BASE" ] && TOOLS+=(v-m1 base)
bench_rounds "${TOOLS[@]}"
bench_summary "-c $CONNS -m $DEPTH -t 1 -d ${DUR}s, nginx 1 worker" "${TOOLS[@]}"
if [ -n "$BASE" ]; then
    printf "  v-m1/base (no --pipeline, this build / BASE) requests per generator cpu-s: %.3f\n" \
        "$(echo "$(median_of CPU v-m1) / $(median_of CPU base)" | bc -l)"
fi
