#!/bin/bash
# find-max against targets whose capacity is known, and the closed-model
# correction against wrk, on loopback.
# Part 1: for each R, `volley serve --capacity R` (one queue, service 1/R)
# and `volley find-max` with a p99 SLO; per round: the maximum found and the
# knee as a share of R, the steps, wall seconds and the generator's CPU
# seconds (/usr/bin/time). Medians over rounds.
# Part 2: `volley serve --stall-every 3s --stall-for 1s`, volley -c 10 and
# wrk -c 10 alternating: volley's raw and corrected p99 beside wrk's p99
# (medians, and corrected/wrk ratio).
#
# usage: bench/find-max.sh [-R "500 2000 8000"] [-r ROUNDS] [-s SLO]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

RATES="500 2000 8000" ROUNDS=3 SLO='p(99)<50ms,errors<1%'
while getopts "R:r:s:" o; do
    case $o in
        R) RATES=$OPTARG ;; r) ROUNDS=$OPTARG ;; s) SLO=$OPTARG ;;
        *) echo "usage: $0 [-R \"500 2000 8000\"] [-r ROUNDS] [-s SLO]" >&2; exit 2 ;;
    esac
done

bench_setup

# CPU seconds (user + sys) of the command whose `time -v` output is in $1.
cpu_of() {
    awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {print u + s}' "$1"
}

echo "part 1: find-max against volley serve --capacity R, SLO $SLO"
printf "%-6s %-6s %10s %8s %8s %6s %8s %8s\n" R round "max/s" "max/R" "knee/R" steps "wall s" "cpu s"
for R in $RATES; do
    MAXR= KNEER= WALL= CPUS=
    for round in $(seq "$ROUNDS"); do
        serve_start --capacity "$R" --capacity-queue 200ms
        t0=$(date +%s.%N)
        /usr/bin/time -v -o "$TMP/time" "$VOLLEY" find-max "http://127.0.0.1:$PORT/health" \
            --slo "$SLO" --start-rate "$((R / 4))" --step-max 5s --cooldown 500ms -t 1 \
            --no-save --json -q > "$TMP/fm.json" 2> /dev/null || true
        wall=$(echo "$(date +%s.%N) - $t0" | bc -l)
        serve_stop
        read -r max knee steps < <(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["max_rps"], d["knee_rps"], len(d["steps"]))' "$TMP/fm.json")
        cpu=$(cpu_of "$TMP/time")
        mr=$(echo "$max / $R" | bc -l) kr=$(echo "$knee / $R" | bc -l)
        printf "%-6s %-6s %10.1f %8.3f %8.3f %6s %8.1f %8.2f\n" "$R" "$round" "$max" "$mr" "$kr" \
            "$steps" "$wall" "$cpu"
        MAXR="$MAXR $mr" KNEER="$KNEER $kr" WALL="$WALL $wall" CPUS="$CPUS $cpu"
    done
    printf "  R=%s medians: max/R %.3f  knee/R %.3f  wall %.1f s  generator cpu %.2f s\n" "$R" \
        "$(echo $MAXR | median)" "$(echo $KNEER | median)" "$(echo $WALL | median)" \
        "$(echo $CPUS | median)"
done

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
