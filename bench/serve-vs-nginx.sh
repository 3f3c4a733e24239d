#!/bin/sh
# serve-vs-nginx: GET /health on `volley serve --threads 1` against nginx with
# one worker (`return 200 "ok"`), loaded by wrk in turns, ROUNDS rounds.
# Prints requests/s and server CPU-seconds per 100k requests (utime+stime from
# /proc/PID/stat before and after each wrk run; nginx = master + worker), then
# the ratio volley/nginx. Loopback only.
#   usage: bench/serve-vs-nginx.sh [ROUNDS]      env: DURATION=5s CONNS=50 VOLLEY=./volley
set -eu

cd "$(dirname "$0")/.."
ROUNDS=${1:-${ROUNDS:-3}}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-50}
VOLLEY=${VOLLEY:-./volley}

./scripts/setup-deps.sh bench
[ -x "$VOLLEY" ] || make volley
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
CLK_TCK=$(getconf CLK_TCK)

TMP=$(mktemp -d)
VPID=""
NPID=""
cleanup() {
    [ -n "$VPID" ] && kill "$VPID" 2>/dev/null || true
    [ -n "$NPID" ] && kill "$NPID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# --- volley serve ---
"$VOLLEY" serve --listen 127.0.0.1:0 --threads 1 --quiet >"$TMP/volley.out" 2>"$TMP/volley.err" &
VPID=$!
i=0
while ! grep -q '^listening on ' "$TMP/volley.out" 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt 100 ] && { echo "volley serve did not start:" >&2; cat "$TMP/volley.err" >&2; exit 1; }
    sleep 0.05
done
VURL="$(sed -n 's/^listening on //p' "$TMP/volley.out")/health"

# --- nginx: one worker, plain process, everything in $TMP ---
NPORT=$(free_port)
mkdir -p "$TMP/nginx/logs"
cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NPORT;
        location /health { return 200 "ok"; }
    }
}
EOF
"$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" 2>"$TMP/nginx/stderr" &
NPID=$!
i=0
while ! python3 -c "import socket; socket.create_connection(('127.0.0.1',$NPORT),0.2)" 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt 100 ] && { echo "nginx did not start:" >&2; cat "$TMP/nginx/stderr" >&2; exit 1; }
    sleep 0.05
done
NURL="http://127.0.0.1:$NPORT/health"

# CPU ticks (utime+stime) of a process and its children processes by pid.
ticks() {
    t=0
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] || continue
        # fields 14 and 15, after the ")" that ends the command name
        v=$(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')
        t=$((t + v))
    done
    echo "$t"
}
nginx_pids() { echo "$NPID $(pgrep -P "$NPID" | tr '\n' ' ')"; }

# Runs wrk; prints "requests cpu_seconds".
measure() {
    url=$1
    shift
    before=$(ticks "$@")
    out=$(wrk -t1 -c"$CONNS" -d"$DURATION" "$url")
    after=$(ticks "$@")
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}')
    [ -n "$errs" ] && echo "  wrk: $errs" >&2
    echo "$reqs $(echo "$before $after $CLK_TCK" | awk '{printf "%.3f", ($2-$1)/$3}')"
}

printf "GET /health, wrk -t1 -c%s -d%s, %s rounds (volley serve --threads 1 vs nginx 1 worker)\n" \
    "$CONNS" "$DURATION" "$ROUNDS"
printf "%-6s %-7s %12s %14s\n" round server "requests/s" "cpu-s/100k"
vr=0 vc=0 nr=0 nc=0
secs=$(echo "$DURATION" | sed 's/s$//')
r=1
while [ "$r" -le "$ROUNDS" ]; do
    # alternate who goes first, so drift in the machine does not favour one
    if [ $((r % 2)) -eq 1 ]; then order="volley nginx"; else order="nginx volley"; fi
    for who in $order; do
        if [ "$who" = volley ]; then set -- $(measure "$VURL" "$VPID"); else set -- $(measure "$NURL" $(nginx_pids)); fi
        rps=$(echo "$1 $secs" | awk '{printf "%.0f", $1/$2}')
        cpu=$(echo "$2 $1" | awk '{ if ($2 > 0) printf "%.3f", $1*100000/$2; else print "nan" }')
        printf "%-6s %-7s %12s %14s\n" "$r" "$who" "$rps" "$cpu"
        if [ "$who" = volley ]; then vr=$((vr + $1)); vc=$(echo "$vc $2" | awk '{print $1+$2}');
        else nr=$((nr + $1)); nc=$(echo "$nc $2" | awk '{print $1+$2}'); fi
    done
    r=$((r + 1))
done

echo "$vr $vc $nr $nc $ROUNDS $secs" | awk '{
    vrps = $1/($5*$6); nrps = $3/($5*$6);
    vcpu = $2*100000/$1; ncpu = $4*100000/$3;
    printf "total  volley  %12.0f %14.3f\n", vrps, vcpu;
    printf "total  nginx   %12.0f %14.3f\n", nrps, ncpu;
    printf "ratio volley/nginx: requests/s %.2f, cpu per request %.2f (lower is better)\n", vrps/nrps, vcpu/ncpu;
}'
