#!/bin/bash
# Where the memory of an idle TLS connection goes: volley holds SMALL (100)
# and then CONNS (2,000) idle HTTPS connections to `volley serve` with TLS,
# as in bench/tls-idle.sh (requests to /delay/60000), with bench/tls-heap.c
# preloaded; once every connection is up and both processes are idle, the
# live heap is read inside volley. Printed per connection (the difference
# over the difference in connections): OpenSSL's live blocks by the source
# line of OpenSSL that allocated them (bytes of malloc chunks, blocks, bytes
# asked for), their totals, and glibc's heap in use (OpenSSL's and
# volley's), free inside the heap, and mapped apart (large blocks). The
# preloaded table inflates RSS: quote RSS from bench/tls-idle.sh.
#
# usage: bench/tls-heap.sh   (env: CONNS=2000 SMALL=100 WAIT_S=90 MIN_BYTES=16
#                             VOLLEY_FLAGS="", e.g. --share-tls-sessions)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

CONNS=${CONNS:-2000} SMALL=${SMALL:-100} MIN_BYTES=${MIN_BYTES:-16}
bench_setup
read -r -a VFLAGS <<< "${VOLLEY_FLAGS:-}"
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt $((CONNS + 100)) ] || { echo "bench: need more than $CONNS fds" >&2; exit 1; }
mkdir -p build/bench
cc -O2 -Wall -Wextra -Werror -shared -fPIC -o build/bench/tls-heap.so bench/tls-heap.c \
    -lcrypto -lpthread

make_certs "$TMP"
PORT=$(free_port)
"$VOLLEY" serve -q -l "127.0.0.1:$PORT" -t 2 --tls-cert "$TMP/srv.pem" --tls-key "$TMP/srv.key" \
    > /dev/null 2>&1 &
SERVE_PID=$!
wait_port "$PORT"
URL="https://127.0.0.1:$PORT/delay/60000"

established() { ss -Htn state established "( dport = :$PORT )" 2>/dev/null | wc -l; }
cpu_ticks() { awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; }

# held N: volley with N idle connections, its heap report in $TMP/heap.N
held() {
    local n=$1 trigger="$TMP/dump.$1"
    TLS_HEAP_DUMP=$trigger LD_PRELOAD=$PWD/build/bench/tls-heap.so "$VOLLEY" run --no-save -q \
        --cacert "$TMP/ca.pem" -c "$n" -t 1 -d 120s --connect-timeout 60s --timeout 90s \
        "${VFLAGS[@]}" "$URL" > /dev/null 2>&1 &
    local pid=$! deadline=$((SECONDS + ${WAIT_S:-90})) a b
    until [ "$(established)" -ge "$n" ] || [ $SECONDS -ge $deadline ]; do sleep 0.2; done
    # idle: not a clock tick of CPU in either process for a whole second
    while [ $SECONDS -lt $deadline ]; do
        a=$(( $(cpu_ticks $pid) + $(cpu_ticks "$SERVE_PID") ))
        sleep 1
        b=$(( $(cpu_ticks $pid) + $(cpu_ticks "$SERVE_PID") ))
        [ $((b - a)) -eq 0 ] && break
    done
    local got; got=$(established)
    [ "$got" -ge "$n" ] || echo "bench: volley holds only $got of $n connections" >&2
    touch "$trigger"
    while [ -e "$trigger" ] && [ $SECONDS -lt $((deadline + 30)) ]; do sleep 0.2; done
    [ -e "$trigger" ] && { echo "bench: no heap report from volley" >&2; exit 1; }
    echo "held $got" > "$TMP/heap.$n"
    cat "$trigger.out" >> "$TMP/heap.$n"
    kill -9 $pid; wait $pid 2>/dev/null || true
    deadline=$((SECONDS + 30))
    until [ "$(established)" -eq 0 ] || [ $SECONDS -ge $deadline ]; do sleep 0.5; done
}

held "$SMALL"
held "$CONNS"
echo "volley run ${VFLAGS[*]} -c $SMALL, then -c $CONNS: bytes per idle TLS connection"
awk -v min="$MIN_BYTES" '
    FNR == 1 { f++; n[f] = $2; next }
    FNR == 2 { for (i = 5; i < NF; i += 2) tot[f, $i] = $(i + 1);
               blk[f] = $2; ask[f] = $3; chk[f] = $4; next }
    { site[$1] = 1; b[f, $1] = $2; a[f, $1] = $3; c[f, $1] = $4 }
    END {
        d = n[2] - n[1]
        printf "%10s %8s %10s  %s\n", "chunk B", "blocks", "asked B", "OpenSSL source line"
        for (s in site) {
            cb = (c[2, s] - c[1, s]) / d
            if (cb >= min || cb <= -min)
                printf "%10.1f %8.2f %10.1f  %s\n", cb, (b[2, s] - b[1, s]) / d,
                       (a[2, s] - a[1, s]) / d, s | "sort -rn"
        }
        close("sort -rn")
        printf "%10.1f %8.2f %10.1f  all of OpenSSL\n", (chk[2] - chk[1]) / d,
               (blk[2] - blk[1]) / d, (ask[2] - ask[1]) / d
        printf "glibc heap: %.1f B in use (OpenSSL and volley), %.1f B free in the heap, " \
               "%.1f B mapped apart\n", (tot[2, "heap_in_use"] - tot[1, "heap_in_use"]) / d,
               (tot[2, "heap_free"] - tot[1, "heap_free"]) / d,
               (tot[2, "mmapped"] - tot[1, "mmapped"]) / d
    }' "$TMP/heap.$SMALL" "$TMP/heap.$CONNS"
