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

./scripts/setup-deps.sh bench
[ -x ./volley ] || make -s volley

TMP=$(mktemp -d)
trap 'kill $NGINX_PID 2>/dev/null; wait $NGINX_PID 2>/dev/null; rm -rf "$TMP"' EXIT
PORT=$(free_port)
nginx_start "$TMP" "server { listen 127.0.0.1:$PORT; location / { return 200 \"ok\"; } }"
URL="http://127.0.0.1:$PORT/"

vjson() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["rps"])' "$1"; }

# run TOOL: prints "rps cpu_s rss_kb"
run() {
    local tool=$1 out="$TMP/$1.out" tm="$TMP/$1.time" rps
    local T=(/usr/bin/time -f "%U %S %M" -o "$tm")
    case $tool in
        volley) "${T[@]}" ./volley run -q --json --no-save -c "$CONNS" -t 1 -d "${DUR}s" --pipeline "$DEPTH" "$URL" > "$out" ;;
        v-m1)   "${T[@]}" ./volley run -q --json --no-save -c "$CONNS" -t 1 -d "${DUR}s" "$URL" > "$out" ;;
        base)   "${T[@]}" "$BASE" run -q --json --no-save -c "$CONNS" -t 1 -d "${DUR}s" "$URL" > "$out" ;;
        wrk)    "${T[@]}" wrk -c "$CONNS" -t 1 -d "${DUR}s" -s bench/pipeline.lua "$URL" -- "$DEPTH" > "$out" ;;
        h2load) "${T[@]}" h2load --h1 -c "$CONNS" -t 1 -m "$DEPTH" -D "$DUR" "$URL" > "$out" ;;
    esac
    case $tool in
        volley|v-m1|base) rps=$(vjson "$out") ;;
        wrk)    rps=$(awk '/Requests\/sec/ {print $2}' "$out") ;;
        h2load) rps=$(awk '/^finished in/ {gsub(",","",$4); print $4}' "$out") ;;
    esac
    read -r u s rss < "$tm"
    echo "$rps $(echo "$u + $s" | bc -l) $rss"
}

TOOLS=(volley wrk h2load)
[ -n "$BASE" ] && TOOLS+=(v-m1 base)
bench_rounds "${TOOLS[@]}"
bench_summary "-c $CONNS -m $DEPTH -t 1 -d ${DUR}s, nginx 1 worker" "${TOOLS[@]}"
if [ -n "$BASE" ]; then
    printf "  v-m1/base (no --pipeline, this build / BASE) requests per generator cpu-s: %.3f\n" \
        "$(echo "$(echo ${CPU[v-m1]} | median) / $(echo ${CPU[base]} | median)" | bc -l)"
fi
