#!/bin/bash
# Pacing accuracy of the open model: how late does volley send each request
# relative to its scheduled time (send lag = first byte written - scheduled),
# at several rates against nginx on loopback. Also checks the achieved rate.
# The target is p99 under 1 ms while the server keeps up.
#
# usage: bench/pacing.sh [-d SECONDS] [-t THREADS] [RATE...]   (default 5000 20000)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DUR=10 THREADS=1
while getopts "d:t:" o; do
    case $o in d) DUR=$OPTARG ;; t) THREADS=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
RATES=("${@:-5000 20000}")
[ $# -eq 0 ] && RATES=(5000 20000)

./scripts/setup-deps.sh bench
[ -x ./volley ] || make -s volley

TMP=$(mktemp -d)
trap 'kill $NGINX_PID 2>/dev/null; wait $NGINX_PID 2>/dev/null; rm -rf "$TMP"' EXIT
PORT=$(free_port)
nginx_start "$TMP" "server { listen 127.0.0.1:$PORT; location / { return 200 \"ok\"; } }"
printf "%8s %10s %9s %9s %9s %9s %9s %9s %9s\n" rate achieved "lag p50" "lag p90" "lag p99" "lag p99.9" "lag max" "lat p99" "cpu s"
for r in "${RATES[@]}"; do
    /usr/bin/time -f "%U %S" -o "$TMP/time" ./volley run --no-save -q --json -t "$THREADS" \
        --rate "$r" -d "${DUR}s" "http://127.0.0.1:$PORT/" > "$TMP/r.json"
    read -r u s < "$TMP/time"
    python3 - "$TMP/r.json" "$r" "$(echo "$u + $s" | bc -l)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); rate = float(sys.argv[2]); cpu = float(sys.argv[3])
lag = r["send_lag"]; p = lag["percentiles"]
print("%8.0f %10.1f %8.3fms %8.3fms %8.3fms %8.3fms %8.3fms %8.3fms %9.2f" % (
    rate, r["totals"]["rps"], p["p50"], p["p90"], p["p99"], p["p99.9"], lag["max"],
    r["latency"]["percentiles"]["p99"], cpu))
PY
done
