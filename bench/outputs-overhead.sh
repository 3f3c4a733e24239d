#!/bin/bash
# outputs-overhead: what the live outputs cost the load. The same closed-model
# run against nginx (one worker) with --metrics-listen, --dashboard and
# --out-influx all on (a real InfluxDB receiving, /metrics scraped and
# /events read once a second) against all off, in alternating rounds.
# Prints requests/s and requests per generator CPU-second (volley's user+sys
# from /usr/bin/time -v) per run, the medians and the ratio on/off.
# Loopback only.
#   usage: bench/outputs-overhead.sh [ROUNDS]   env: DUR=5 CONNS=50 THREADS=1 VOLLEY=./volley
set -euo pipefail

cd "$(dirname "$0")/.."
. bench/lib.sh
ROUNDS=${1:-${ROUNDS:-5}}
DUR=${DUR:-5}
CONNS=${CONNS:-50}
THREADS=${THREADS:-1}
VOLLEY=${VOLLEY:-./volley}

./scripts/setup-deps.sh bench
[ -x "$VOLLEY" ] || make volley

TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -n "${NGINX_PID:-}" ] && kill "$NGINX_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

PORT=$(free_port)
mkdir -p "$TMP/nginx"
nginx_start "$TMP/nginx" "server { listen 127.0.0.1:$PORT; location / { return 200 \"ok\"; } }"
URL="http://127.0.0.1:$PORT/"

IPORT=$(free_port)
mkdir -p "$TMP/influx"
cat > "$TMP/influx/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$(free_port)"
[meta]
  dir = "$TMP/influx/meta"
[data]
  dir = "$TMP/influx/data"
  wal-dir = "$TMP/influx/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:$IPORT"
  log-enabled = false
[monitor]
  store-enabled = false
CONF
influxd -config "$TMP/influx/influxdb.conf" >"$TMP/influx/log" 2>&1 &
PIDS+=($!)
wait_port "$IPORT"
for _ in $(seq 50); do
    curl -sf -XPOST "http://127.0.0.1:$IPORT/query" --data-urlencode 'q=CREATE DATABASE volley' \
        >/dev/null && break
    sleep 0.2
done

# run on|off: prints "rps cpu_seconds rss_kb" of one run.
run() {
    local extra=() mport dport
    if [ "$1" = on ]; then
        mport=$(free_port); dport=$(free_port)
        extra=(--metrics-listen "$mport" --dashboard "127.0.0.1:$dport"
               --out-influx "http://127.0.0.1:$IPORT")
        # Readers, as Prometheus and a browser would be: /metrics each second, /events open.
        ( for _ in $(seq $((DUR + 3))); do sleep 1; curl -s "127.0.0.1:$mport/metrics" >/dev/null || true; done ) &
        local scraper=$!
        ( sleep 0.5; curl -sN -m $((DUR + 2)) "127.0.0.1:$dport/events" >/dev/null 2>&1 || true ) &
        local sse=$!
    fi
    /usr/bin/time -v -o "$TMP/time" "$VOLLEY" run "$URL" -d "${DUR}s" -c "$CONNS" -t "$THREADS" \
        --out "$TMP/r" -q "${extra[@]}" 2>"$TMP/err" || { cat "$TMP/err" >&2; exit 1; }
    [ "$1" = on ] && { wait "$scraper" "$sse" 2>/dev/null || true; }
    local rps cpu rss
    rps=$(python3 -c "import json; print(json.load(open('$TMP/r/results.json'))['totals']['rps'])")
    cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$TMP/time")
    rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$TMP/time")
    echo "$rps $cpu $rss"
}

echo "volley run $URL -d ${DUR}s -c $CONNS -t $THREADS; outputs on = --metrics-listen --dashboard --out-influx"
bench_rounds on off
echo
on=$(echo ${CPU[on]} | median); off=$(echo ${CPU[off]} | median)
ron=$(echo ${RPS[on]} | median); roff=$(echo ${RPS[off]} | median)
printf "medians over %s rounds:\n" "$ROUNDS"
printf "  outputs on : req/s %10.0f   req per generator cpu-s %10.0f\n" "$ron" "$on"
printf "  outputs off: req/s %10.0f   req per generator cpu-s %10.0f\n" "$roff" "$off"
printf "  on/off requests per generator cpu-s: %.3f   req/s: %.3f\n" \
    "$(echo "$on / $off" | bc -l)" "$(echo "$ron / $roff" | bc -l)"
