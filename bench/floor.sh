#!/bin/bash
# The floor: how far volley, wrk and h2load (--h1) are from a client that
# does nothing but write a fixed GET and read to the end of the response on
# N keep-alive connections with epoll (bench/floor.c: no timing, no
# histograms, no parsing beyond the response's end). All four against the
# same nginx (1 worker, `return 200 "ok"`) on loopback, alternating rounds;
# each tool's requests per generator CPU-second (user+sys from
# /usr/bin/time) as a fraction of the floor's, medians over the rounds.
# volley runs with its full measurement (histograms, series, per-status).
# With liburing (liburing-dev) the floor also runs on io_uring ("uring"):
# the same client with its recv/send as SQEs, submitted in batches, to see
# whether batching syscalls lowers the floor. URING=0 leaves it out.
#
# usage: bench/floor.sh [-c CONNS] [-d SECONDS] [-r ROUNDS]   (ROUNDS/DUR env too)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

CONNS=${CONNS:-50} DUR=${DUR:-5} ROUNDS=${ROUNDS:-3}
while getopts "c:d:r:" o; do
    case $o in
        c) CONNS=$OPTARG ;; d) DUR=$OPTARG ;; r) ROUNDS=$OPTARG ;;
        *) echo "usage: $0 [-c CONNS] [-d SECONDS] [-r ROUNDS]" >&2; exit 2 ;;
    esac
done

./scripts/setup-deps.sh bench
[ -x ./volley ] || make -s volley
VOLLEY=${VOLLEY:-./volley}
mkdir -p build/bench
cc -O2 -Wall -Wextra -Werror -o build/bench/floor bench/floor.c
TOOLS="floor volley wrk h2load"
if [ "${URING:-1}" = 1 ] && pkg-config --exists liburing 2>/dev/null; then
    cc -O2 -Wall -Wextra -Werror -DHAVE_URING -o build/bench/floor-uring bench/floor.c \
        $(pkg-config --libs liburing)
    TOOLS="floor uring volley wrk h2load"
fi

TMP=$(mktemp -d)
NGINX_PID=
trap '[ -n "$NGINX_PID" ] && kill $NGINX_PID 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT
PORT=$(free_port)
nginx_start "$TMP" "server { listen 127.0.0.1:$PORT; location / { return 200 \"ok\"; } }"
URL="http://127.0.0.1:$PORT/"

# run TOOL: prints "rps cpu_s rss_kb" (one thread each: the floor has one)
run() {
    local tool=$1 out="$TMP/$1.out" tm="$TMP/$1.time"
    local t=(/usr/bin/time -f "%U %S %M" -o "$tm")
    case $tool in
        floor)  "${t[@]}" build/bench/floor 127.0.0.1 "$PORT" "$CONNS" "$DUR" > "$out" ;;
        uring)  FLOOR_URING=1 "${t[@]}" build/bench/floor-uring 127.0.0.1 "$PORT" "$CONNS" "$DUR" \
                    > "$out" ;;
        volley) "${t[@]}" "$VOLLEY" run --no-save -q --json -c "$CONNS" -t 1 -d "${DUR}s" "$URL" > "$out" ;;
        wrk)    "${t[@]}" wrk -c "$CONNS" -t 1 -d "${DUR}s" "$URL" > "$out" ;;
        h2load) "${t[@]}" h2load --h1 -c "$CONNS" -t 1 -D "$DUR" "$URL" > "$out" ;;
    esac
    local rps
    case $tool in
        floor|uring) rps=$(awk '{print $1 / $2}' "$out") ;;
        volley) rps=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["rps"])' "$out") ;;
        wrk)    rps=$(awk '/Requests\/sec/ {print $2}' "$out") ;;
        h2load) rps=$(awk '/^finished in/ {gsub(",","",$4); print $4}' "$out") ;;
    esac
    read -r u s rss < "$tm"
    echo "$rps $(echo "$u + $s" | bc -l) $rss"
}

bench_rounds $TOOLS
echo
echo "medians over $ROUNDS rounds (-c $CONNS -t 1 -d ${DUR}s, nginx 1 worker):"
F=$(echo ${CPU[floor]} | median)
for t in $TOOLS; do
    c=$(echo ${CPU[$t]} | median)
    printf "  %-8s req per generator cpu-s %10.0f   fraction of the floor %5.2f   req/s %8.0f\n" \
        "$t" "$c" "$(echo "$c / $F" | bc -l)" "$(echo ${RPS[$t]} | median)"
done
