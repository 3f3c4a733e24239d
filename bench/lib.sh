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
# waits for the port named in the block's listen line ($PORT).
nginx_start() {
    local dir=$1 server=$2 extra=${3:-}
    cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
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
