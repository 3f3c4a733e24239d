#!/bin/bash
# volley merge at scale: 1,000 results files of 100 endpoints each (real
# segments of one run against nginx on loopback, cycled to 1,000 segment
# numbers) merged in one command. Prints wall seconds, CPU seconds and peak
# RSS per round and their medians; the target is under 2 s and 256 MB.
#
# usage: bench/merge.sh [-n FILES] [-e ENDPOINTS] [-r ROUNDS] [-k DIR]
#   -k DIR  make the inputs in DIR and keep them; reused when DIR/in exists
#           (same FILES and ENDPOINTS), e.g. to profile one merge
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

FILES=1000 EPS=100 ROUNDS=3 KEEP=
while getopts "n:e:r:k:" o; do
    case $o in
        n) FILES=$OPTARG ;; e) EPS=$OPTARG ;; r) ROUNDS=$OPTARG ;; k) KEEP=$OPTARG ;; *) exit 2 ;;
    esac
done

./scripts/setup-deps.sh bench
[ -x ./volley ] || make -s volley

NGINX_PID=
if [ -n "$KEEP" ]; then
    mkdir -p "$KEEP"
    TMP=$(cd "$KEEP" && pwd)
    trap '[ -n "$NGINX_PID" ] && kill $NGINX_PID 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP/out"' EXIT
else
    TMP=$(mktemp -d)
    trap '[ -n "$NGINX_PID" ] && kill $NGINX_PID 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT
fi

# make_inputs: FILES segment results in $TMP/in (and the 4 real ones).
make_inputs() {
PORT=$(free_port)
nginx_start "$TMP" "server { listen 127.0.0.1:$PORT; location / { return 200 \"ok\"; } }"

# Four real segments of a 50-endpoint run (mixed mode: one load spread over
# the endpoints), 2 s at 2000 req/s in all; a run has at most 64 endpoints,
# so each endpoint's block is repeated under a second name to make EPS.
eps=()
for i in $(seq $(( EPS < 50 ? EPS : 50 ))); do eps+=(--endpoint "e$i=http://127.0.0.1:$PORT/p$i"); done
for k in 1 2 3 4; do
    ./volley run -q --no-save --json --segment "$k/4" --mode mixed --rate 2000 -d 2s -t 1 \
        "${eps[@]}" > "$TMP/real$k.json"
done
# FILES segments of one plan: the real ones cycled, renumbered k/FILES.
python3 - "$TMP" "$FILES" "$EPS" <<'PY'
import copy, json, os, sys
tmp, n, neps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
real = [json.load(open(os.path.join(tmp, f"real{k}.json"))) for k in (1, 2, 3, 4)]
for d in real:
    base = d["endpoints"]
    while len(d["endpoints"]) < neps:
        e = copy.deepcopy(base[len(d["endpoints"]) % len(base)])
        e["name"] += "-b"
        e["url"] += "b"
        d["endpoints"].append(e)
os.makedirs(os.path.join(tmp, "in"))
for i in range(n):
    d = real[i % 4]
    d["segment"] = {"index": i + 1, "count": n}
    with open(os.path.join(tmp, "in", f"seg{i + 1:04d}.json"), "w") as f:
        json.dump(d, f, indent=1)
PY
kill "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null || true; NGINX_PID=
}
[ -d "$TMP/in" ] && [ "$(ls "$TMP/in" | wc -l)" = "$FILES" ] || { rm -rf "$TMP/in"; make_inputs; }
size=$(du -sm "$TMP/in" | cut -f1)
echo "merging $FILES files of $EPS endpoints ($size MB of JSON), $ROUNDS rounds"
printf "%-6s %10s %10s %10s\n" round "wall s" "cpu s" "rss MiB"
W="" C="" R=""
for r in $(seq "$ROUNDS"); do
    rm -rf "$TMP/out"
    /usr/bin/time -f "%e %U %S %M" -o "$TMP/time" ./volley merge "$TMP"/in/*.json \
        --out "$TMP/out" -f txt > /dev/null 2> "$TMP/merge.err" || { cat "$TMP/merge.err"; exit 1; }
    read -r wall usr sys rss < "$TMP/time"
    cpu=$(echo "$usr + $sys" | bc -l)
    printf "%-6s %10.2f %10.2f %10.1f\n" "$r" "$wall" "$cpu" "$(echo "$rss/1024" | bc -l)"
    W="$W $wall" C="$C $cpu" R="$R $rss"
done
got=$(python3 -c "import json;print(json.load(open('$TMP/out/results.json'))['totals']['requests'])")
want=$(python3 - "$TMP" "$FILES" <<'PY'
import json, os, sys
tmp, n = sys.argv[1], int(sys.argv[2])
r = [json.load(open(os.path.join(tmp, f"real{k}.json")))["totals"]["requests"] for k in (1, 2, 3, 4)]
print(sum(r[i % 4] for i in range(n)))
PY
)
mw=$(echo "$W" | median) mc=$(echo "$C" | median) mr=$(echo "$R" | median)
printf "median %10.2f %10.2f %10.1f\n" "$mw" "$mc" "$(echo "$mr/1024" | bc -l)"
echo "merged requests $got (inputs' sum $want)"
[ "$got" = "$want" ] || { echo "FAIL: merged count differs"; exit 1; }
ok=$(echo "$mw < 2 && $mr < 262144" | bc -l)
[ "$ok" = 1 ] && echo "target met: under 2 s and 256 MB" || echo "target missed: 2 s / 256 MB"
