#!/bin/bash
# `volley report` on a big run: a real short run against `volley serve`
# gives results.json; its requests.csv is then replaced by ROWS synthetic
# rows (default 10M, over 60 s, latencies 1..50 ms with a tail, a 503 every
# 1009th row, a timeout every 100003rd) for its endpoint. Times the redraw
# (html + png, the scatter from the reduced requests.csv) with its CPU time
# and max RSS, REPEAT times; prints the medians and the largest RSS. On a
# busy machine wall time waits for a core: quote CPU time beside it.
#
# usage: bench/report-big.sh   (env: ROWS=10000000 REPEAT=3 FORMAT=html,png)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

ROWS=${ROWS:-10000000} REPEAT=${REPEAT:-3} FORMAT=${FORMAT:-html,png}
[ -x ./volley ] || make -s volley
VOLLEY=${VOLLEY:-./volley}

TMP=$(mktemp -d)
SERVE_PID=
trap '[ -n "$SERVE_PID" ] && kill $SERVE_PID 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT
PORT=$(free_port)
"$VOLLEY" serve -l "127.0.0.1:$PORT" -t 1 > "$TMP/serve.log" 2>&1 &
SERVE_PID=$!
wait_port "$PORT"
"$VOLLEY" run -q --raw --out "$TMP/run" -c 4 -t 1 -d 2s "http://127.0.0.1:$PORT/health" > /dev/null
kill $SERVE_PID; wait $SERVE_PID 2>/dev/null || true; SERVE_PID=
EP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["endpoints"][0]["name"])' \
    "$TMP/run/results.json")

t0=$(date +%s.%N)
awk -v n="$ROWS" -v ep="$EP" 'BEGIN {
    print "offset_ms,step,endpoint,status,latency_ms,service_ms,ttfb_ms,bytes_in,bytes_out,error"
    srand(7)
    for (i = 0; i < n; i++) {
        off = i * 60000.0 / n; lat = 1 + 49 * rand(); if (i % 7919 == 0) lat *= 40
        if (i % 100003 == 0)     printf "%.3f,0,%s,0,30000.000,0.000,0.000,0,38,timeout\n", off, ep
        else if (i % 1009 == 0)  printf "%.3f,0,%s,503,%.3f,%.3f,%.3f,120,38,\n", off, ep, lat, lat, lat / 2
        else                     printf "%.3f,0,%s,200,%.3f,%.3f,%.3f,131,38,\n", off, ep, lat, lat, lat / 2
    }
}' > "$TMP/run/requests.csv"
t1=$(date +%s.%N)
printf "requests.csv: %s rows, %.0f MB, made in %.1f s\n" "$ROWS" \
    "$(echo "$(stat -c %s "$TMP/run/requests.csv") / 1000000" | bc -l)" "$(echo "$t1 - $t0" | bc -l)"

WALL=() RSS=() CPUS=()
for r in $(seq "$REPEAT"); do
    /usr/bin/time -f "%e %M %U %S" -o "$TMP/time" "$VOLLEY" report -f "$FORMAT" -o "$TMP/out" \
        "$TMP/run/results.json" > /dev/null
    read -r wall rss u s < "$TMP/time"
    printf "round %s: %.2f s wall, %.2f s cpu (user+sys), max rss %.1f MiB\n" "$r" "$wall" \
        "$(echo "$u + $s" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
    WALL+=("$wall") RSS+=("$rss") CPUS+=("$(echo "$u + $s" | bc -l)")
done
printf "volley report -f %s on %s rows: median %.2f s wall, %.2f s cpu, max rss %.1f MiB\n" \
    "$FORMAT" "$ROWS" "$(echo "${WALL[@]}" | median)" "$(echo "${CPUS[@]}" | median)" \
    "$(echo "$(printf '%s\n' "${RSS[@]}" | sort -g | tail -1) / 1024" | bc -l)"
