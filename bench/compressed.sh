#!/bin/bash
# What --compressed costs the generator: nginx (1 worker) serves a 120 KB
# text file pre-compressed with gzip (gzip_static, so nginx does no
# compression work), and three clients ask for it with Accept-Encoding:
# gzip, alternating, several rounds:
#   volley  volley run --compressed (decodes every body, times it apart)
#   raw     volley run -H 'Accept-Encoding: gzip' (the same wire bytes, not decoded)
#   wrk     wrk -H 'Accept-Encoding: gzip' (does not decode)
# Per run: requests/s, requests per generator CPU-second, peak RSS; then
# the decode distribution's p50 from volley's results. Quote ratios.
#
# usage: bench/compressed.sh [-c CONNS] [-d SECONDS] [-r ROUNDS] [-t THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

CONNS=10 DUR=3 ROUNDS=3 THREADS=1
while getopts "c:d:r:t:" o; do
    case $o in
        c) CONNS=$OPTARG ;; d) DUR=$OPTARG ;; r) ROUNDS=$OPTARG ;; t) THREADS=$OPTARG ;;
        *) echo "usage: $0 [-c CONNS] [-d SECONDS] [-r ROUNDS] [-t THREADS]" >&2; exit 2 ;;
    esac
done

[ -x ./volley ] || make -s volley
VOLLEY=${VOLLEY:-./volley}

TMP=$(mktemp -d)
chmod 755 "$TMP"
NGINX_PID=
trap '[ -n "$NGINX_PID" ] && kill $NGINX_PID 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT

mkdir -p "$TMP/www"
python3 - "$TMP/www/big.txt" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(3000):
        f.write("volley decodes line %05d of a text that compresses well\n" % i)
PY
gzip -k -9 "$TMP/www/big.txt"
chmod -R a+rX "$TMP/www"
SIZE=$(stat -c %s "$TMP/www/big.txt")
GZ=$(stat -c %s "$TMP/www/big.txt.gz")

PORT=$(free_port)
nginx_start "$TMP" "server { listen 127.0.0.1:$PORT; location / { root $TMP/www; gzip_static on; } }"
URL="http://127.0.0.1:$PORT/big.txt"

# run TOOL: prints "rps cpu_s rss_kb"
run() {
    local tool=$1 out="$TMP/$1.out" tm="$TMP/$1.time"
    case $tool in
        volley) /usr/bin/time -f "%U %S %M" -o "$tm" "$VOLLEY" run --no-save -q --json \
                    --compressed -c "$CONNS" -t "$THREADS" -d "${DUR}s" "$URL" > "$out"
                python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["decode"]["percentiles"]["p50"])' \
                    "$out" >> "$TMP/decode_p50" ;;
        raw)    /usr/bin/time -f "%U %S %M" -o "$tm" "$VOLLEY" run --no-save -q --json \
                    -H "Accept-Encoding: gzip" -c "$CONNS" -t "$THREADS" -d "${DUR}s" "$URL" > "$out" ;;
        wrk)    /usr/bin/time -f "%U %S %M" -o "$tm" wrk -H "Accept-Encoding: gzip" -c "$CONNS" \
                    -t "$THREADS" -d "${DUR}s" "$URL" > "$out" ;;
    esac
    local rps
    case $tool in
        volley|raw) rps=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["rps"])' "$out") ;;
        wrk)        rps=$(awk '/Requests\/sec/ {print $2}' "$out") ;;
    esac
    read -r u s rss < "$tm"
    echo "$rps $(echo "$u + $s" | bc -l) $rss"
}

bench_rounds volley raw wrk
bench_summary "GET of a ${SIZE}-byte file sent as ${GZ} bytes of gzip, -c $CONNS -t $THREADS -d ${DUR}s, nginx 1 worker" volley raw wrk
echo "  volley --compressed: decode p50 per body $(median < "$TMP/decode_p50") ms (kept out of latency)"
