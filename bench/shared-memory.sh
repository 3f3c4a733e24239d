#!/bin/sh
# shared(): the memory a 100 MB CSV costs when 1,000 VUs over 2 threads
# read it, against the same run without it (peak RSS, /usr/bin/time -v).
# Usage: bench/shared-memory.sh [MB]   (default 100)
set -eu
cd "$(dirname "$0")/.."
MB=${1:-100}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
python3 - "$d/big.csv" "$MB" <<'PY'
import sys
path, mb = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    f.write("id,email,name,city\n")
    i = 0
    while f.tell() < mb * 1024 * 1024:
        f.write("%d,user%d@example.com,%s,city%d\n" % (i, i, "n" * 40, i % 1000))
        i += 1
PY
cat > "$d/with.lua" <<'LUA'
local rows = shared("users", function() return csv("big.csv") end)
options = { vus = 1000, duration = "2s" }
function default()
  if not rows[rand(#rows)].email then error("no email") end
  sleep(0.05)
end
LUA
cat > "$d/without.lua" <<'LUA'
options = { vus = 1000, duration = "2s" }
function default() sleep(0.05) end
LUA
rss() { /usr/bin/time -v ./volley run "$1" -t 2 --no-save -q 2>&1 | awk '/Maximum resident/ {print $6}'; }
size_kb=$(( $(stat -c %s "$d/big.csv") / 1024 ))
base=$(rss "$d/without.lua")
with=$(rss "$d/with.lua")
echo "csv: ${size_kb} KiB; peak RSS without: ${base} KiB, with shared(): ${with} KiB"
awk -v s="$size_kb" -v b="$base" -v w="$with" 'BEGIN { printf "added: %d KiB = %.2fx the file (goal < 2x)\n", w - b, (w - b) / s }'
