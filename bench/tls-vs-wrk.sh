#!/bin/bash
# HTTPS load: volley vs wrk against the same nginx with TLS (1 worker, a
# self-signed certificate made on the fly) on loopback, same connections and
# duration, alternating, several rounds. Per run: requests/s, requests per
# CPU-second of the load generator (user+sys from /usr/bin/time), peak RSS.
# -k (default) keeps connections alive: the cost of TLS records; -K closes
# every connection after one request: the cost of handshakes (volley
# resumes sessions, wrk does not). Quote ratios, not absolutes.
#
# usage: bench/tls-vs-wrk.sh [-c CONNS] [-d SECONDS] [-r ROUNDS] [-t THREADS] [-K]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

CONNS=50 DUR=5 ROUNDS=3 THREADS=1 KEEPALIVE=1
while getopts "c:d:r:t:kK" o; do
    case $o in
        c) CONNS=$OPTARG ;; d) DUR=$OPTARG ;; r) ROUNDS=$OPTARG ;; t) THREADS=$OPTARG ;;
        k) KEEPALIVE=1 ;; K) KEEPALIVE=0 ;;
        *) echo "usage: $0 [-c CONNS] [-d SECONDS] [-r ROUNDS] [-t THREADS] [-K]" >&2; exit 2 ;;
    esac
done

bench_setup
nginx_ok tls

VFLAGS=() WFLAGS=()
if [ "$KEEPALIVE" = 0 ]; then
    VFLAGS=(--no-keepalive)
    WFLAGS=(-H "Connection: close")
fi

# run TOOL: prints "rps cpu_s rss_kb"
run() {
    case $1 in
        volley) measure volley "$VOLLEY" run --no-save -q --json --cacert "$TMP/ca.pem" \
                    "${VFLAGS[@]}" -c "$CONNS" -t "$THREADS" -d "${DUR}s" "$URL" ;;
        wrk)    measure wrk wrk "${WFLAGS[@]}" -c "$CONNS" -t "$THREADS" -d "${DUR}s" "$URL" ;;
    esac
}

bench_rounds volley wrk
bench_summary "https, -c $CONNS -t $THREADS -d ${DUR}s, keep-alive $([ "$KEEPALIVE" = 1 ] && echo on || echo off), nginx 1 worker" volley wrk
