#!/bin/bash
# Memory per idle TLS connection: volley and wrk each hold CONNS (default
# 10,000) keep-alive HTTPS connections, then SMALL (100); the RSS difference
# over the difference in connections is the cost of one. The server is
# `volley serve` with TLS (2 threads) and every request asks for
# /delay/60000, so after the handshake each connection sits with its
# request sent and nothing to read: idle, as far as TLS buffers go. (nginx
# has no such route: its limit_req queue answered some connections at full
# speed while others waited in the handshake, which is not idle.) RSS is
# read from /proc once every connection is up and the tool and the server
# are idle: two samples 0.5 s apart with the tool's RSS within 1 % and
# under 0.02 CPU-s of both together between them (TCP connections are
# established long before their TLS handshakes are done, a burst of
# handshakes can hold RSS flat while it runs, and the tool can sit idle
# while the server works through its share). "ramp
# s" is the time from the tool's start until then, "cpu s" the tool's CPU
# (user+sys) by then: the cost of the handshakes.
#
# usage: bench/tls-idle.sh   (env: CONNS=10000 SMALL=100 ROUNDS=1 WAIT_S=90
#                              TOOLS="volley wrk" VOLLEY_FLAGS="")
# VOLLEY_FLAGS: more `volley run` flags, e.g. --share-tls-sessions (the
# connections after a worker's first ones resume its session: no
# certificate per connection, no full handshake; not what wrk does).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

CONNS=${CONNS:-10000} SMALL=${SMALL:-100} ROUNDS=${ROUNDS:-1}
./scripts/setup-deps.sh bench
[ -x ./volley ] || make -s volley
VOLLEY=${VOLLEY:-./volley}
read -r -a VFLAGS <<< "${VOLLEY_FLAGS:-}"
TOOLS=${TOOLS:-volley wrk}
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt $((CONNS + 100)) ] || { echo "bench: need more than $CONNS fds" >&2; exit 1; }

TMP=$(mktemp -d)
NGINX_PID= TOOL_PID=  # NGINX_PID: the server
cleanup() {
    [ -n "$TOOL_PID" ] && kill -9 "$TOOL_PID" 2>/dev/null
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
make_certs "$TMP"
PORT=$(free_port)
"$VOLLEY" serve -l "127.0.0.1:$PORT" -t 2 --tls-cert "$TMP/srv.pem" --tls-key "$TMP/srv.key" \
    > "$TMP/serve.log" 2>&1 &
NGINX_PID=$!   # the server, stopped by cleanup
wait_port "$PORT"
URL="https://127.0.0.1:$PORT/delay/60000"

established() {
    ss -Htn state established "( dport = :$PORT )" 2>/dev/null | wc -l
}

rss_kb() {
    awk '/^VmRSS/ {print $2}' "/proc/$1/status"
}

# cpu_s PID: user+sys CPU seconds of the process so far.
cpu_s() {
    awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); print ($12 + $13) / hz}' "/proc/$1/stat"
}

# idle_rss TOOL N: starts TOOL with N connections, waits (up to WAIT_S) for
# them and for its RSS to settle, prints "RSS_KiB CONNECTIONS_HELD", stops it.
idle_rss() {
    local tool=$1 n=$2
    case $tool in
        volley) "$VOLLEY" run --no-save -q --cacert "$TMP/ca.pem" -c "$n" -t 1 -d 120s --connect-timeout 60s \
                    --timeout 90s "${VFLAGS[@]}" "$URL" > /dev/null 2>&1 & ;;
        wrk)    wrk -c "$n" -t 1 -d 120s --timeout 90s "$URL" > /dev/null 2>&1 & ;;
    esac
    TOOL_PID=$!
    local deadline=$((SECONDS + ${WAIT_S:-90})) prev=0 cur t0 ramp
    t0=$(date +%s.%N)
    until [ "$(established)" -ge "$n" ] || [ $SECONDS -ge $deadline ]; do sleep 0.2; done
    local cpu0 cpu1
    cpu0=$(echo "$(cpu_s "$TOOL_PID") + $(cpu_s "$NGINX_PID")" | bc -l)
    while [ $SECONDS -lt $deadline ]; do
        sleep 0.5
        cur=$(rss_kb "$TOOL_PID") cpu1=$(echo "$(cpu_s "$TOOL_PID") + $(cpu_s "$NGINX_PID")" | bc -l)
        [ "$prev" -gt 0 ] && [ $(( (cur > prev ? cur - prev : prev - cur) * 100 )) -le "$cur" ] &&
            [ "$(echo "$cpu1 - $cpu0 < 0.02" | bc -l)" = 1 ] && break
        prev=$cur cpu0=$cpu1
    done
    ramp=$(echo "$(date +%s.%N) - $t0 - 0.5" | bc -l)
    local got; got=$(established)
    [ "$got" -ge "$n" ] || echo "bench: $tool holds only $got of $n connections" >&2
    echo "$(rss_kb "$TOOL_PID") $got $ramp $(cpu_s "$TOOL_PID")"
    kill -9 "$TOOL_PID"; wait "$TOOL_PID" 2>/dev/null || true; TOOL_PID=
    # let nginx drop the closed connections before the next run
    deadline=$((SECONDS + 30))
    until [ "$(established)" -eq 0 ] || [ $SECONDS -ge $deadline ]; do sleep 0.5; done
}

declare -A PER
printf "%-8s %-6s %12s %12s %16s %8s %8s\n" tool round "rss@$SMALL KiB" "rss@$CONNS KiB" \
    "KiB/connection" "ramp s" "cpu s"
for r in $(seq "$ROUNDS"); do
    for t in $TOOLS; do
        read -r small nsmall _ < <(idle_rss "$t" "$SMALL")
        read -r big nbig ramp cpu < <(idle_rss "$t" "$CONNS")
        per=$(echo "($big - $small) / ($nbig - $nsmall)" | bc -l)
        printf "%-8s %-6s %12s %12s %16.2f %8.1f %8.2f   (%s and %s connections held)\n" "$t" \
            "$r" "$small" "$big" "$per" "$ramp" "$cpu" "$nsmall" "$nbig"
        PER[$t]="${PER[$t]:-} $per"
    done
done
echo
for t in $TOOLS; do
    printf "median over %s rounds: %-6s %.2f KiB per idle TLS connection\n" "$ROUNDS" "$t" \
        "$(echo ${PER[$t]} | median)"
done
