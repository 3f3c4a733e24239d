"""Start a private nginx on a free loopback port for tests and benchmarks.

Each instance has its own prefix directory (config, pid, logs, temp paths),
so nothing of the system nginx is touched. The access log has one line per
request, which is the server-side count the tests compare volley against.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

CONF = """
worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 20000; }}
http {{
    log_format counted '$status $request_length $bytes_sent';
    access_log {access};
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests {keepalive_requests};
    keepalive_timeout 60s;
    {http_extra}
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location / {{ return 200 "ok\\n"; }}
        location /health {{ return 200 "ok"; }}
        {server_extra}
    }}
}}
"""


from ports import free_port  # noqa: E402,F401 (test_run_h2 and test_tls import it from here)


class Nginx:
    def __init__(self, keepalive_requests=100000, workers=1, access_log=True, http_extra="",
                 server_extra="", extra=""):
        """http_extra / server_extra (or extra): more directives for the http /
        server block; "{prefix}" in them is this instance's directory."""
        server_extra = server_extra + extra
        self.prefix = tempfile.mkdtemp(prefix="volley-nginx-")
        self.port = free_port()
        self.log = os.path.join(self.prefix, "access.log")
        access = f"{self.log} counted" if access_log else "off"
        with open(os.path.join(self.prefix, "nginx.conf"), "w") as f:
            f.write(CONF.format(prefix=self.prefix, port=self.port, access=access,
                                workers=workers, keepalive_requests=keepalive_requests,
                                http_extra=http_extra,
                                server_extra=server_extra.replace("{prefix}", self.prefix)))
        self.proc = subprocess.Popen(
            [NGINX, "-p", self.prefix, "-c", os.path.join(self.prefix, "nginx.conf"),
             "-e", os.path.join(self.prefix, "error.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("nginx failed: " + self.proc.stderr.read().decode())
                time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError("nginx did not start")
        self.url = f"http://127.0.0.1:{self.port}"

    def logged(self):
        """Number of requests nginx has logged so far."""
        try:
            with open(self.log, "rb") as f:
                return sum(1 for _ in f)
        except FileNotFoundError:
            return 0

    def logged_settled(self, timeout=5.0):
        """The log count once it stops changing (nginx writes after the response)."""
        last, stable_since = -1, time.time()
        deadline = time.time() + timeout
        while time.time() < deadline:
            n = self.logged()
            if n != last:
                last, stable_since = n, time.time()
            elif time.time() - stable_since > 0.3:
                break
            time.sleep(0.05)
        return last

    def reset_log(self):
        open(self.log, "w").close()
        # nginx keeps its fd; truncation is enough because it appends (O_APPEND).

    def pids(self):
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return [self.proc.pid] + [int(p) for p in out.stdout.split()]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.prefix, ignore_errors=True)
