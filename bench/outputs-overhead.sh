#!/bin/bash
# outputs-overhead: what the live outputs cost the load. The same closed-model
# run against nginx (one worker) with --metrics-listen, --dashboard and
# --out-influx all on (a real InfluxDB receiving, /metrics scraped and
# /events read once a second) against all off, in alternating rounds.
# Prints requests/s and requests per generator CPU-second (volley's user+sys
# from /usr/bin/time -v) per run, the medians and the ratio on/off.
# Loopback only.
#   usage: bench/outputs-overhead.sh [ROUNDS]   env: DUR=5 CONNS=50 THREADS=1 VOLLEY=./volley
#          BENCH_PORTS=LOW-HIGH (ports picked there)
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
        # What they got is counted (a scrape answered, an event read) to
        # show that the outputs were really at work in the "on" rounds.
        ( for _ in $(seq $((DUR + 3))); do
              sleep 1
              curl -sf "127.0.0.1:$mport/metrics" 2>/dev/null | grep -q '^volley_requests_total ' &&
                  echo >> "$TMP/scrapes"
          done ) &
        local scraper=$!
        ( sleep 0.5; curl -sN -m $((DUR + 2)) "127.0.0.1:$dport/events" 2>/dev/null |
              grep '^event: snap' >> "$TMP/events" || true ) &
        local sse=$!
    fi
    /usr/bin/time -v -o "$TMP/time" "$VOLLEY" run "$URL" -d "${DUR}s" -c "$CONNS" -t "$THREADS" \
        --out "$TMP/r" -q "${extra[@]}" 2>"$TMP/err" || { cat "$TMP/err" >&2; exit 1; }
    if [ "$1" = on ]; then
        wait "$scraper" "$sse" 2>/dev/null || true
        # Every InfluxDB point delivered, else the round did not measure the output.
        grep -q '^--out-influx: [0-9]* points delivered$' "$TMP/err" || {
            echo "outputs-overhead: InfluxDB did not get every point:" >&2
            cat "$TMP/err" >&2
            touch "$TMP/undelivered"
        }
    fi
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
# Each round's on/off, then their median: the two runs of a round are
# seconds apart, so what the other users of a shared host do weighs less.
paired=$(paste <(echo ${CPU[on]} | tr ' ' '\n') <(echo ${CPU[off]} | tr ' ' '\n') |
         awk '{printf "%.4f ", $1 / $2}')
printf "  median of the rounds' on/off requests per generator cpu-s: %.3f (rounds: %s)\n" \
    "$(echo $paired | median)" "$paired"
printf "  outputs at work in the %s on rounds: %s /metrics scrapes answered, %s dashboard events read\n" \
    "$ROUNDS" "$(wc -l < "$TMP/scrapes" 2>/dev/null || echo 0)" "$(wc -l < "$TMP/events" 2>/dev/null || echo 0)"
if [ -e "$TMP/undelivered" ]; then
    echo "  InfluxDB: some points NOT delivered (above): these figures do not count" >&2
    exit 1
fi
echo "  InfluxDB: every point of every on round delivered"
