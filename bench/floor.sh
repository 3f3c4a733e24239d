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
# whether batching syscalls lowers the floor; and "uring-ms", its receive
# as one multishot recv per connection from a ring of provided buffers.
# URING=0 leaves them out.
#
# usage: bench/floor.sh [-c CONNS] [-d SECONDS] [-r ROUNDS]   (ROUNDS/DUR env too;
#        FLOOR_TOOLS="floor uring-ms" runs only those; floor is needed)
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

bench_setup
mkdir -p build/bench
cc -O2 -Wall -Wextra -Werror -o build/bench/floor bench/floor.c
TOOLS="floor volley wrk h2load"
if [ "${URING:-1}" = 1 ] && pkg-config --exists liburing 2>/dev/null; then
    cc -O2 -Wall -Wextra -Werror -DHAVE_URING -o build/bench/floor-uring bench/floor.c \
        $(pkg-config --libs liburing)
    TOOLS="floor uring uring-ms volley wrk h2load"
fi
TOOLS=${FLOOR_TOOLS:-$TOOLS}  # e.g. FLOOR_TOOLS="floor uring-ms": only those

nginx_ok

# run TOOL: prints "rps cpu_s rss_kb" (one thread each: the floor has one)
run() {
    case $1 in
        floor)  measure floor build/bench/floor 127.0.0.1 "$PORT" "$CONNS" "$DUR" ;;
        uring)  measure floor env FLOOR_URING=1 build/bench/floor-uring 127.0.0.1 "$PORT" "$CONNS" \
                    "$DUR" ;;
        uring-ms) measure floor env FLOOR_URING=2 build/bench/floor-uring 127.0.0.1 "$PORT" \
                    "$CONNS" "$DUR" ;;
        volley) measure volley "$VOLLEY" run --no-save -q --json -c "$CONNS" -t 1 -d "${DUR}s" "$URL" ;;
        wrk)    measure wrk wrk -c "$CONNS" -t 1 -d "${DUR}s" "$URL" ;;
        h2load) measure h2load h2load --h1 -c "$CONNS" -t 1 -D "$DUR" "$URL" ;;
    esac
}

bench_rounds $TOOLS
echo
echo "medians over $ROUNDS rounds (-c $CONNS -t 1 -d ${DUR}s, nginx 1 worker):"
F=$(median_of CPU floor)
for t in $TOOLS; do
    c=$(median_of CPU "$t")
    printf "  %-8s req per generator cpu-s %10.0f   fraction of the floor %5.2f   req/s %8.0f\n" \
        "$t" "$c" "$(echo "$c / $F" | bc -l)" "$(median_of RPS "$t")"
done
