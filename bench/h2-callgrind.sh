#!/bin/bash
# Instructions per request, volley against h2load, under callgrind: both
# send the same N requests over HTTP/2 (-c 10 -m 100 by default) to one
# nginx worker on loopback, over TLS (ALPN h2) or h2c. Instruction counts
# do not move with the machine's load, so they steer work on the cost per
# request where a busy machine makes CPU-second ratios noisy; the
# CPU-second ratio itself comes from bench/h2-vs-h2load.sh. Counts include
# start-up and the end of the run (results, the closed-model correction),
# so use a large N.
#
# usage: bench/h2-callgrind.sh [-n REQUESTS] [-c CONNS] [-m STREAMS] [-p tls|h2c]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

N=30000 CONNS=10 M=100 PROTO=tls
while getopts "n:c:m:p:" o; do
    case $o in
        n) N=$OPTARG ;; c) CONNS=$OPTARG ;; m) M=$OPTARG ;; p) PROTO=$OPTARG ;;
        *) echo "usage: $0 [-n REQUESTS] [-c CONNS] [-m STREAMS] [-p tls|h2c]" >&2; exit 2 ;;
    esac
done
./scripts/setup-deps.sh bench
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 1; }
[ -x ./volley ] || make -s volley
VOLLEY=${VOLLEY:-./volley}

TMP=$(mktemp -d)
NGINX_PID=
trap '[ -n "$NGINX_PID" ] && kill $NGINX_PID 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT
NGINX_CONNS=4096 nginx_h2_start "$TMP"
if [ "$PROTO" = tls ]; then
    url=$H2S_URL vflags=(--http 2 --cacert "$TMP/ca.pem")
else
    url=$H2C_URL vflags=(--h2c)
fi

total() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'; }

valgrind --tool=callgrind --callgrind-out-file="$TMP/volley.cg" -q "$VOLLEY" run --no-save -q \
    "${vflags[@]}" -c "$CONNS" --max-streams "$M" -t 1 -n "$N" "$url" 2>/dev/null
valgrind --tool=callgrind --callgrind-out-file="$TMP/h2load.cg" -q h2load -c "$CONNS" -m "$M" \
    -t 1 -n "$N" "$url" > "$TMP/h2load.out" 2>&1
grep -q " $N succeeded" "$TMP/h2load.out" || { cat "$TMP/h2load.out" >&2; exit 1; }
v=$(total "$TMP/volley.cg") h=$(total "$TMP/h2load.cg")
echo "$PROTO -c $CONNS -m $M, $N requests"
printf "  volley  %12d instructions  %7.0f per request\n" "$v" "$(echo "$v / $N" | bc -l)"
printf "  h2load  %12d instructions  %7.0f per request\n" "$h" "$(echo "$h / $N" | bc -l)"
printf "  h2load/volley (volley's cost per request, h2load = 1): %.3f\n" "$(echo "$h / $v" | bc -l)"
