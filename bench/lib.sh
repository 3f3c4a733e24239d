# bench/lib.sh: what the bench scripts share (source it): the setup (peers,
# volley, a temporary directory cleaned on exit), a free loopback port, a
# private nginx with one worker in a temporary prefix (or `volley serve`),
# one measured run of a tool, and the alternating rounds with their medians.

# bench_setup: the test peers installed, volley built ($VOLLEY, default
# ./volley), a temporary directory ($TMP) and a trap that stops the servers
# started here (NGINX_PID, SERVE_PID) and removes $TMP on exit.
bench_setup() {
    ./scripts/setup-deps.sh bench
    [ -x ./volley ] || make -s volley
    VOLLEY=${VOLLEY:-./volley}
    TMP=$(mktemp -d)
    NGINX_PID= SERVE_PID=
    trap bench_cleanup EXIT
}

bench_cleanup() {
    if [ -n "${NGINX_PID:-}" ]; then kill "$NGINX_PID" 2>/dev/null || true; fi
    if [ -n "${SERVE_PID:-}" ]; then kill "$SERVE_PID" 2>/dev/null || true; fi
    wait 2>/dev/null || true
    rm -rf "$TMP"
}

# free_port: a free loopback port, any the kernel gives, or one picked at
# random in BENCH_PORTS=LOW-HIGH when set (a range of one's own on a host
# where several people run benches and tests at once).
free_port() {
    python3 - "${BENCH_PORTS:-}" <<'PY'
import random, socket, sys
rng = sys.argv[1]
lo, hi = (int(x) for x in rng.split("-")) if rng else (0, 0)
for _ in range(200 if rng else 1):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", random.randint(lo, hi) if rng else 0))
        except OSError:
            continue
        print(s.getsockname()[1])
        sys.exit(0)
sys.exit("free_port: no free port in BENCH_PORTS=" + rng)
PY
}

wait_port() {
    for _ in $(seq 100); do
        (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "bench: nothing listening on 127.0.0.1:$1" >&2
    return 1
}

# nginx_start DIR SERVER_BLOCK [HTTP_EXTRA]: writes DIR/nginx.conf with the
# given server { } block, starts nginx in the background (NGINX_PID) and
# waits for the port named in the block's listen line ($PORT). NGINX_CONNS
# (default 4096) is its worker_connections.
nginx_start() {
    local dir=$1 server=$2 extra=${3:-}
    cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile $((${NGINX_CONNS:-4096} * 2));
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections ${NGINX_CONNS:-4096}; }
http {
    access_log off;
    client_body_temp_path $dir/body; proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi; uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
    keepalive_requests 1000000;
    $extra
    $server
}
CONF
    nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" &
    NGINX_PID=$!
    wait_port "$PORT"
}

# nginx_ok [tls]: nginx_start in $TMP on a free port, answering every
# request with 200 "ok" (over TLS with a certificate made by make_certs,
# and a session cache, when asked): sets PORT, URL and NGINX_PID.
nginx_ok() {
    PORT=$(free_port)
    if [ "${1:-}" = tls ]; then
        make_certs "$TMP"
        nginx_start "$TMP" "server { listen 127.0.0.1:$PORT ssl; ssl_certificate $TMP/srv.pem;
            ssl_certificate_key $TMP/srv.key; location / { return 200 \"ok\"; } }" \
            "ssl_session_cache shared:SSL:10m;"
        URL="https://127.0.0.1:$PORT/"
    else
        nginx_start "$TMP" "server { listen 127.0.0.1:$PORT; location / { return 200 \"ok\"; } }"
        URL="http://127.0.0.1:$PORT/"
    fi
}

# serve_start ARGS...: `$VOLLEY serve` (1 thread) with ARGS on a free port:
# sets PORT and SERVE_PID. serve_stop stops it.
serve_start() {
    PORT=$(free_port)
    "$VOLLEY" serve -q -l 127.0.0.1:"$PORT" -t 1 "$@" > /dev/null &
    SERVE_PID=$!
    wait_port "$PORT"
}

serve_stop() {
    kill "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
    SERVE_PID=
}

# measure KIND CMD...: runs CMD under /usr/bin/time, its output in $TMP,
# and prints "rps cpu_seconds rss_kb" (the line bench_rounds wants from
# `run`). KIND says how to read the rate from the output: volley (--json),
# wrk, h2load, or floor (bench/floor's "requests seconds").
measure() {
    local kind=$1 out="$TMP/measure.out" tm="$TMP/measure.time" rps u s rss
    shift
    /usr/bin/time -f "%U %S %M" -o "$tm" "$@" > "$out"
    case $kind in
        volley) rps=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["rps"])' \
                    "$out") ;;
        wrk)    rps=$(awk '/Requests\/sec/ {print $2}' "$out") ;;
        h2load) rps=$(awk '/^finished in/ {gsub(",","",$4); print $4}' "$out") ;;
        floor)  rps=$(awk '{print $1 / $2}' "$out") ;;
        *)      echo "measure: unknown kind $kind" >&2; return 2 ;;
    esac
    read -r u s rss < "$tm"
    echo "$rps $(echo "$u + $s" | bc -l) $rss"
}

# make_certs DIR: a CA (DIR/ca.pem) and a server certificate for 127.0.0.1
# signed by it (DIR/srv.pem, DIR/srv.key), so clients verify as usual.
make_certs() {
    local d=$1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
        -keyout "$d/ca.key" -out "$d/ca.pem" -subj "/CN=volley bench CA" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$d/srv.key" -out "$d/srv.csr" -subj "/CN=127.0.0.1" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\n' > "$d/ext.cnf"
    openssl x509 -req -in "$d/srv.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -days 1 -out "$d/srv.pem" -extfile "$d/ext.cnf" 2>/dev/null
}

median() {
    tr ' ' '\n' | grep -v '^$' | sort -g |
        awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
}

# bench_rounds TOOL...: ROUNDS rounds, the tools alternating; each run is the
# caller's `run TOOL`, which prints "rps cpu_seconds rss_kb" for DUR seconds.
# Prints a row per run and keeps the figures in RPS, CPU (requests per
# generator CPU-second) and RSS.
bench_rounds() {
    declare -gA RPS CPU RSS
    printf "%-8s %-6s %12s %10s %14s %10s\n" tool round "req/s" "cpu s" "req/cpu-s" "rss MiB"
    for r in $(seq "$ROUNDS"); do
        for t in "$@"; do
            read -r rps cpu rss < <(run "$t")
            rpc=$(echo "$rps * $DUR / $cpu" | bc -l)
            printf "%-8s %-6s %12.0f %10.2f %14.0f %10.1f\n" "$t" "$r" "$rps" "$cpu" "$rpc" \
                "$(echo "$rss/1024" | bc -l)"
            RPS[$t]="${RPS[$t]:-} $rps"; CPU[$t]="${CPU[$t]:-} $rpc"; RSS[$t]="${RSS[$t]:-} $rss"
        done
    done
}

# median_of ARRAY TOOL: the median of TOOL's figures in RPS, CPU or RSS.
median_of() {
    local -n arr=$1
    echo ${arr[$2]} | median
}

# bench_summary LABEL TOOL...: medians per tool, then volley's ratio to each
# other tool (the first is volley).
bench_summary() {
    local label=$1
    shift
    echo
    echo "medians over $ROUNDS rounds ($label):"
    for t in "$@"; do
        printf "  %-8s req/s %10.0f   req per generator cpu-s %10.0f   peak rss %6.1f MiB\n" "$t" \
            "$(echo ${RPS[$t]} | median)" "$(echo ${CPU[$t]} | median)" \
            "$(echo "$(echo ${RSS[$t]} | median)/1024" | bc -l)"
    done
    local v r
    v=$(echo ${CPU[volley]} | median)
    r=$(echo ${RPS[volley]} | median)
    for t in "${@:2}"; do
        printf "  volley/%s requests per generator cpu-s: %.2f   req/s: %.2f\n" "$t" \
            "$(echo "$v / $(echo ${CPU[$t]} | median)" | bc -l)" \
            "$(echo "$r / $(echo ${RPS[$t]} | median)" | bc -l)"
    done
}

# nginx_h2_start DIR: nginx (one worker) answering "ok" over HTTP/2 on two
# loopback ports: h2c with prior knowledge ($H2C_URL) and h2 over TLS by
# ALPN ($H2S_URL, certificates from make_certs in DIR: DIR/ca.pem). 128
# streams per connection (nginx's default), no request limit per connection.
nginx_h2_start() {
    local dir=$1
    make_certs "$dir"
    local h2c_port tls_port
    h2c_port=$(free_port)
    tls_port=$(free_port)
    PORT=$tls_port
    nginx_start "$dir" "server {
        listen 127.0.0.1:$h2c_port http2;
        listen 127.0.0.1:$tls_port ssl http2;
        ssl_certificate $dir/srv.pem; ssl_certificate_key $dir/srv.key;
        http2_max_concurrent_streams 128;
        location / { return 200 \"ok\"; }
    }"
    wait_port "$h2c_port"
    H2C_URL="http://127.0.0.1:$h2c_port/"
    H2S_URL="https://127.0.0.1:$tls_port/"
}
