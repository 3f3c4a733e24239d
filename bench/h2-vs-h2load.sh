#!/bin/bash
# HTTP/2 load: volley vs h2load against the same nginx (one worker) on
# loopback, over h2c (prior knowledge) and over TLS (ALPN h2), -c 10 with
# -m 10 and -m 100 streams per connection, alternating rounds, one thread
# each. Per run: requests/s, requests per generator CPU-second (user+sys
# from /usr/bin/time) and peak RSS; medians and volley's ratios. Then 1,000
# connections x 100 streams over h2c: each tool's peak RSS (and req/s).
#
# usage: bench/h2-vs-h2load.sh [-d SECONDS] [-r ROUNDS] [-m "10 100"] [-p "h2c tls"] [-B]
#   -B skips the 1,000 x 100 run
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DUR=5 ROUNDS=3 MS="10 100" PROTOS="h2c tls" BIG=1 CONNS=10
while getopts "d:r:m:p:B" o; do
    case $o in
        d) DUR=$OPTARG ;; r) ROUNDS=$OPTARG ;; m) MS=$OPTARG ;; p) PROTOS=$OPTARG ;; B) BIG=0 ;;
        *) echo "usage: $0 [-d SECONDS] [-r ROUNDS] [-m \"10 100\"] [-p \"h2c tls\"] [-B]" >&2
           exit 2 ;;
    esac
done

./scripts/setup-deps.sh bench
[ -x ./volley ] || make -s volley
VOLLEY=${VOLLEY:-./volley}

TMP=$(mktemp -d)
NGINX_PID=
trap '[ -n "$NGINX_PID" ] && kill $NGINX_PID 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT
NGINX_CONNS=4096 nginx_h2_start "$TMP"

# run TOOL: prints "rps cpu_s rss_kb" for one run of $PROTO, $CONNS, $M.
run() {
    local tool=$1 out="$TMP/$1.out" tm="$TMP/$1.time" url=$H2C_URL vflags=(--h2c) rps
    if [ "$PROTO" = tls ]; then
        url=$H2S_URL vflags=(--http 2 --cacert "$TMP/ca.pem")
    fi
    case $tool in
        volley) /usr/bin/time -f "%U %S %M" -o "$tm" "$VOLLEY" run --no-save -q --json \
                    "${vflags[@]}" -c "$CONNS" --max-streams "$M" -t 1 -d "${DUR}s" "$url" > "$out" ;;
        h2load) /usr/bin/time -f "%U %S %M" -o "$tm" h2load -c "$CONNS" -m "$M" -t 1 \
                    -D "$DUR" "$url" > "$out" ;;
    esac
    case $tool in
        volley) rps=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["totals"]
assert t["transport_errors"] <= t["errors_by_kind"]["cancelled"], t["errors_by_kind"]
print(t["rps"])' "$out") ;;
        h2load) grep -q ' 0 errored' "$out" || { cat "$out" >&2; exit 1; }
                rps=$(awk '/^finished in/ {gsub(",","",$4); print $4}' "$out") ;;
    esac
    read -r u s rss < "$tm"
    echo "$rps $(echo "$u + $s" | bc -l) $rss"
}

for PROTO in $PROTOS; do
    for M in $MS; do
        unset RPS CPU RSS
        echo
        echo "== $PROTO, -c $CONNS -m $M -t 1 -d ${DUR}s, nginx 1 worker"
        bench_rounds volley h2load
        bench_summary "$PROTO -c $CONNS -m $M" volley h2load
    done
done

if [ "$BIG" = 1 ]; then
    PROTO=h2c CONNS=1000 M=100
    unset RPS CPU RSS
    echo
    echo "== h2c, -c 1000 -m 100 -t 1 -d ${DUR}s: peak RSS"
    bench_rounds volley h2load
    bench_summary "h2c -c 1000 -m 100" volley h2load
fi
