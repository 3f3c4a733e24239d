#!/bin/sh
# make demo: start the built-in server on a free loopback port, benchmark it
# with volley for a few seconds, print the summary and write results.json.
# (`volley demo` will replace this script once reports land.)
set -eu
cd "$(dirname "$0")/.."
OUT="volley-results/demo-$(date -u +%Y%m%dT%H%M%SZ)"
LOG=$(mktemp)
./volley serve --listen 127.0.0.1:0 --threads 1 > "$LOG" 2>&1 &
SERVE=$!
trap 'kill $SERVE 2>/dev/null; wait $SERVE 2>/dev/null; rm -f "$LOG"' EXIT
URL=""
for _ in $(seq 100); do
    URL=$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$LOG")
    [ -n "$URL" ] && break
    sleep 0.05
done
[ -n "$URL" ] || { echo "demo: volley serve did not start:" >&2; cat "$LOG" >&2; exit 1; }
echo "demo: volley serve is answering at $URL"
printf 'demo: GET /health -> '
curl -s "$URL/health"; echo
echo "demo: 50 connections for 5s against $URL/delay/1?jitter_ms=4"
./volley run -c 50 -t 1 -d 5s --out "$OUT" "$URL/delay/1?jitter_ms=4"
echo "demo: 50 connections for 5s against $URL/health"
./volley run -c 50 -t 1 -d 5s --out "$OUT/health" "$URL/health"
