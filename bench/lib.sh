# bench/lib.sh: what the bench scripts share (source it): a free loopback
# port, and a private nginx with one worker in a temporary prefix.

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
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
