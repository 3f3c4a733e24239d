#!/bin/bash
# find-max against targets whose capacity is known, and the closed-model
# correction against wrk, on loopback.
# Part 1: for each R, `volley serve --capacity R` (one queue, service 1/R)
# and `volley find-max` with the SLO; per round: the maximum found and the
# knee as a share of R, the steps, wall seconds and the generator's CPU
# seconds (/usr/bin/time). Medians over rounds, and the spread (min-max).
# Part 1b: the same against nginx `limit_req rate=Rr/s burst=R/4` (a
# delaying leaky bucket, 503 beyond the burst) for each R of -N.
# Part 2: `volley serve --stall-every 3s --stall-for 1s`, volley -c 10 and
# wrk -c 10 alternating: volley's raw and corrected p99 beside wrk's p99
# (medians, and corrected/wrk ratio).
#
# usage: bench/find-max.sh [-R "500 2000 8000"] [-N "400 2000"] [-r ROUNDS]
#                          [-s SLO] [-p "1 2"] [-a FIND_MAX_ARGS]
#   -R ""/-N "" skips that target; -p picks the parts (1: both find-max
#   targets, 2: the closed-model correction); -a adds find-max flags.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

RATES="500 2000 8000" NGINX_RATES="400 2000" ROUNDS=3 SLO='p(99)<50ms,errors<1%' PARTS="1 2"
EXTRA=
while getopts "R:N:r:s:p:a:" o; do
    case $o in
        R) RATES=$OPTARG ;; N) NGINX_RATES=$OPTARG ;; r) ROUNDS=$OPTARG ;; s) SLO=$OPTARG ;;
        p) PARTS=$OPTARG ;; a) EXTRA=$OPTARG ;;
        *) echo "usage: $0 [-R \"500 2000 8000\"] [-N \"400 2000\"] [-r ROUNDS] [-s SLO]" \
                "[-p \"1 2\"] [-a FIND_MAX_ARGS]" >&2; exit 2 ;;
    esac
done

bench_setup

# CPU seconds (user + sys) of the command whose `time -v` output is in $1.
cpu_of() {
    awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {print u + s}' "$1"
}

# "min-max" of the numbers on stdin.
spread() {
    tr ' ' '\n' | grep -v '^$' | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {
        printf "%.3f-%.3f", lo, hi }'
}

# find_max_rounds NAME R URL START-SERVER STOP-SERVER: ROUNDS searches of
# URL (capacity R), a fresh server each round; a line per round, then the
# medians and spreads.
find_max_rounds() {
    local name=$1 R=$2 path=$3 start=$4 stop=$5
    local MAXR='' KNEER='' WALL='' CPUS='' round
    for round in $(seq "$ROUNDS"); do
        $start "$R"
        t0=$(date +%s.%N)
        # shellcheck disable=SC2086
        /usr/bin/time -v -o "$TMP/time" "$VOLLEY" find-max "http://127.0.0.1:$PORT$path" \
            --slo "$SLO" --start-rate "$((R / 4))" --step-max 5s --cooldown 500ms -t 1 \
            $EXTRA --no-save --json -q > "$TMP/fm.json" 2> /dev/null || true
        wall=$(echo "$(date +%s.%N) - $t0" | bc -l)
        $stop
        read -r max knee steps < <(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["max_rps"], d["knee_rps"], len(d["steps"]))' "$TMP/fm.json")
        cpu=$(cpu_of "$TMP/time")
        mr=$(echo "$max / $R" | bc -l) kr=$(echo "$knee / $R" | bc -l)
        printf "%-8s %-6s %-6s %10.1f %8.3f %8.3f %6s %8.1f %8.2f\n" "$name" "$R" "$round" \
            "$max" "$mr" "$kr" "$steps" "$wall" "$cpu"
        MAXR="$MAXR $mr" KNEER="$KNEER $kr" WALL="$WALL $wall" CPUS="$CPUS $cpu"
    done
    printf "  %s R=%s medians: max/R %.3f (%s)  knee/R %.3f (%s)  wall %.1f s  cpu %.2f s\n" \
        "$name" "$R" "$(echo $MAXR | median)" "$(echo $MAXR | spread)" \
        "$(echo $KNEER | median)" "$(echo $KNEER | spread)" "$(echo $WALL | median)" \
        "$(echo $CPUS | median)"
}

capacity_start() { serve_start --capacity "$1" --capacity-queue 200ms; }

# nginx with limit_req at R/s (one key: every request comes from
# 127.0.0.1), a burst of R/4 delayed, 503 beyond it; a static file, since
# `return` answers before limit_req is consulted.
nginx_limit_start() {
    local R=$1
    mkdir -p "$TMP/ng"
    chmod 755 "$TMP" "$TMP/ng"
    echo ok > "$TMP/ng/ok.txt"
    chmod 644 "$TMP/ng/ok.txt"
    PORT=$(free_port)
    nginx_start "$TMP/ng" "server { listen 127.0.0.1:$PORT; location = /limited {
        limit_req zone=cap burst=$((R / 4)); limit_req_status 503;
        default_type text/plain; alias $TMP/ng/ok.txt; } }" \
        "limit_req_zone \$binary_remote_addr zone=cap:1m rate=${R}r/s;"
}

nginx_stop() {
    kill "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=
}

if [[ " $PARTS " == *" 1 "* ]]; then
    echo "part 1: find-max against volley serve --capacity R and nginx limit_req, SLO $SLO" \
        "${EXTRA:+(find-max $EXTRA)}"
    printf "%-8s %-6s %-6s %10s %8s %8s %6s %8s %8s\n" target R round "max/s" "max/R" "knee/R" \
        steps "wall s" "cpu s"
    for R in $RATES; do
        find_max_rounds serve "$R" /health capacity_start serve_stop
    done
    for R in $NGINX_RATES; do
        find_max_rounds nginx "$R" /limited nginx_limit_start nginx_stop
    done
fi
[[ " $PARTS " == *" 2 "* ]] || exit 0

echo
echo "part 2: closed model on a server stalling 1 s every 3 s, -c 10, 5 s runs"
printf "%-6s %14s %14s %10s\n" round "volley raw" "corrected" "wrk"
RAW= COR= WRKP=
for round in $(seq "$ROUNDS"); do
    serve_start --stall-every 3s --stall-for 1s
    read -r raw cor < <("$VOLLEY" run "http://127.0.0.1:$PORT/health" -c 10 -t 1 -d 5s \
        --no-save --json -q | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["latency"]["percentiles"]["p99"], d["latency_corrected"]["percentiles"]["p99"])')
    serve_stop
    serve_start --stall-every 3s --stall-for 1s
    w=$(wrk -c 10 -t 1 -d 5s --latency "http://127.0.0.1:$PORT/health" | awk '
        $1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
                      print v * (u == "us" ? 0.001 : u == "s" ? 1000 : 1) }')
    serve_stop
    printf "%-6s %11.2f ms %11.2f ms %7.2f ms\n" "$round" "$raw" "$cor" "$w"
    RAW="$RAW $raw" COR="$COR $cor" WRKP="$WRKP $w"
done
c=$(echo $COR | median) w=$(echo $WRKP | median)
printf "  medians: volley raw p99 %.2f ms, corrected p99 %.2f ms, wrk p99 %.2f ms; corrected/wrk %.3f\n" \
    "$(echo $RAW | median)" "$c" "$w" "$(echo "$c / $w" | bc -l)"
