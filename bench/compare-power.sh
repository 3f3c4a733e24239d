#!/bin/bash
# The power of `volley compare` on short runs: against `volley serve` on
# loopback, many 4 s runs of /delay/1 (A; -m picks another delay) and of two variants made 20 %
# slower with ?extra_us (Bm: +20 % mean, Bp: +20 % p99, sized from three
# calibration runs of A), rounds alternating A, Bm, Bp. Then:
#   - false "different" rate per metric: every pair of runs of the same
#     route (identical servers); goal <= 1 %;
#   - detection rate: A_i vs Bm_i called "worse" in mean, A_i vs Bp_i
#     called "worse" in p99; goal >= 95 %.
# Also prints the generator's CPU seconds per run (median).
#
# usage: bench/compare-power.sh [-n ROUNDS] [-r RATE] [-d SECONDS] [-m DELAY_MS]
#        (defaults 40, 1000, 4, 1: the route is /delay/DELAY_MS)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

ROUNDS=40 RATE=1000 DUR=4 DELAY=1
while getopts "n:r:d:m:" o; do
    case $o in
    n) ROUNDS=$OPTARG ;; r) RATE=$OPTARG ;; d) DUR=$OPTARG ;; m) DELAY=$OPTARG ;; *) exit 2 ;;
    esac
done
[ -x ./volley ] || make -s volley

TMP=$(mktemp -d)
SERVE_PID=
# KEEP=DIR keeps every run's results.json there (to study the verdicts).
trap '[ -n "$SERVE_PID" ] && kill $SERVE_PID 2>/dev/null; wait 2>/dev/null
      [ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$TMP"/*.json "$KEEP"/; rm -rf "$TMP"' EXIT
PORT=$(free_port)
./volley serve -l "127.0.0.1:$PORT" -t 1 >"$TMP/serve.log" 2>&1 &
SERVE_PID=$!
wait_port "$PORT"
BASE="http://127.0.0.1:$PORT/delay/$DELAY"

# one_run NAME URL: a DUR-second open-model run saved as $TMP/NAME.json;
# appends its CPU seconds to $TMP/cpu.
one_run() {
    /usr/bin/time -f "%U %S" -o "$TMP/time" ./volley run -q --no-save -t 1 --rate "$RATE" \
        -d "${DUR}s" --save-baseline "$TMP/$1.json" "$2" >/dev/null
    awk '{print $1 + $2}' "$TMP/time" >>"$TMP/cpu"
}

metric() { # FILE KEY: mean or p99 of a results.json in microseconds
    python3 -c 'import json,sys; l=json.load(open(sys.argv[1]))["latency"]
print(round(1000 * (l["mean"] if sys.argv[2] == "mean" else l["percentiles"]["p99"])))' "$1" "$2"
}

for i in 1 2 3; do one_run "cal$i" "$BASE"; done
MEAN_US=$(for i in 1 2 3; do metric "$TMP/cal$i.json" mean; done | median)
P99_US=$(for i in 1 2 3; do metric "$TMP/cal$i.json" p99; done | median)
XM=$((MEAN_US / 5)) XP=$((P99_US / 5))
echo "calibration: A mean ${MEAN_US} us, p99 ${P99_US} us -> Bm +${XM} us, Bp +${XP} us"
echo "$ROUNDS rounds of A, Bm, Bp; ${DUR} s each at ${RATE} req/s; $BASE"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

for i in $(seq "$ROUNDS"); do
    one_run "A$i" "$BASE"
    one_run "Bm$i" "$BASE?extra_us=$XM"
    one_run "Bp$i" "$BASE?extra_us=$XP"
    printf "."
done
echo

python3 - "$TMP" "$ROUNDS" ./volley <<'PY'
import itertools, json, subprocess, sys
tmp, n, volley = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def verdicts(a, b):
    p = subprocess.run([volley, "compare", "--json", f"{tmp}/{a}.json", f"{tmp}/{b}.json"],
                       capture_output=True, text=True, check=True)
    return {r["metric"]: r for r in json.loads(p.stdout)["rows"] if r["endpoint"] == "total"}
metrics = ["rps", "mean", "p50", "p90", "p99", "errors"]
false = {m: 0 for m in metrics}
held = {m: 0 for m in metrics}  # "same (host)": the busy-host rule held a change
pairs = 0
for g in ["A", "Bm", "Bp"]:
    for i, k in itertools.combinations(range(1, n + 1), 2):
        v = verdicts(f"{g}{i}", f"{g}{k}")
        pairs += 1
        for m in metrics:
            false[m] += v[m]["verdict"] != "same"
            held[m] += v[m].get("host", False)
print(f"\nidentical servers: {pairs} pairs (every pair of runs of the same route)")
for m in metrics:
    print(f"  {m:7s} false 'different' {false[m]:5d}  {100.0 * false[m] / pairs:6.2f} %"
          f"   (held as 'same (host)': {held[m]})")
det = {"mean": [0, [], 0], "p99": [0, [], 0]}
for i in range(1, n + 1):
    for m, g in [("mean", "Bm"), ("p99", "Bp")]:
        r = verdicts(f"A{i}", f"{g}{i}")[m]
        det[m][0] += r["verdict"] == "worse"
        det[m][1].append(r["change_pct"])
        det[m][2] += r.get("host", False)
print(f"\nreal 20 % change: {n} pairs each")
for m in ["mean", "p99"]:
    ch = sorted(det[m][1])
    print(f"  {m:5s} detected 'worse' {det[m][0]:3d}/{n}  {100.0 * det[m][0] / n:6.2f} %"
          f"   measured change median {ch[len(ch) // 2]:+.1f} %"
          f"   (held as 'same (host)': {det[m][2]})")
PY
echo "generator cpu seconds per run (median): $(median <"$TMP/cpu")"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
