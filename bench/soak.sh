#!/usr/bin/env bash
# bench/soak.sh: a long open-model run against a private nginx on loopback
# (default 10 minutes at 20k req/s) that samples volley's RSS every 10 s
# after the first minute and prints the growth per 10 minutes (least-squares
# slope of the samples). Goal: < 1 MiB per 10 minutes; only the per-second
# series may grow, by one row a second.
# Usage: [VOLLEY=path] bench/soak.sh [SECONDS [RATE]]  (niced on a shared machine)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

SOAK_S=${1:-600}
RATE=${2:-20000}
SETTLE_S=60
[ "$SOAK_S" -gt $((SETTLE_S + 30)) ] || { echo "soak: need more than $((SETTLE_S + 30)) s" >&2; exit 2; }

dir=$(mktemp -d)
PORT=$(free_port)
cleanup() {
    [ -n "${VPID:-}" ] && kill "$VPID" 2>/dev/null || true
    [ -n "${NGINX_PID:-}" ] && kill "$NGINX_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
nginx_start "$dir" "server { listen 127.0.0.1:$PORT; location / { return 200 'ok'; } }"

"${VOLLEY:-./volley}" run "http://127.0.0.1:$PORT/" --rate "$RATE" -d "${SOAK_S}s" -t 1 -q --out "$dir/out" &
VPID=$!

# VmRSS, and its anonymous (heap, stacks) and file-backed (code and
# libraries paged in) parts: a code path run for the first time (a stall's
# backlog, say) pages in code, which is no growth of the heap.
rss_kb() { awk '/^(VmRSS|RssAnon|RssFile):/ {printf "%s ", $2}' "/proc/$VPID/status" 2>/dev/null; }
cpu_s() { awk '{print ($14 + $15) / 100}' "/proc/$VPID/stat" 2>/dev/null; }

echo "soak: ${SOAK_S}s at ${RATE} req/s against nginx on 127.0.0.1:$PORT (volley pid $VPID)"
sleep "$SETTLE_S"
samples=()
cpu=0
t=$SETTLE_S
while kill -0 "$VPID" 2>/dev/null && [ "$t" -le $((SOAK_S - 10)) ]; do
    r=$(rss_kb)
    # shellcheck disable=SC2086
    [ -n "$r" ] && samples+=("$t $r") && printf "  t=%4ds rss %8d KiB (anon %d, file %d)\n" "$t" $r
    c=$(cpu_s) && [ -n "$c" ] && cpu=$c
    sleep 10
    t=$((t + 10))
done
wait "$VPID" || true
VPID=

printf '%s\n' "${samples[@]}" | awk -v soak="$SOAK_S" -v cpu="$cpu" '
    { n++; x[n] = $1; y[n] = $2; a[n] = $3; f[n] = $4 }
    # least-squares slope of v[] against x[], KiB per second
    function slope(v,    i, mx, my, num, den) {
        for (i = 1; i <= n; i++) { mx += x[i] / n; my += v[i] / n }
        for (i = 1; i <= n; i++) { num += (x[i] - mx) * (v[i] - my); den += (x[i] - mx) ^ 2 }
        return num / den
    }
    END {
        if (n < 2) { print "soak: too few samples"; exit 1 }
        printf "samples %d, first %d KiB, last %d KiB, generator cpu %.1f s (to the last sample)\n", n, y[1], y[n], cpu
        printf "RSS growth: %.1f KiB per 10 minutes (least squares; goal < 1024)\n", slope(y) * 600
        printf "  of which anonymous %.1f KiB, file-backed %.1f KiB per 10 minutes\n", slope(a) * 600, slope(f) * 600
    }'
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); t=d["totals"]; \
print("requests %d, errors %d, dropped %d, series rows %d" % (t["requests"], t["errors"], \
t["dropped_iterations"], len(d["series"]["rows"])))' "$dir/out/results.json"
