"""A server under test for --exec: listens at once, but its first request
takes COLD_MS (a module compiled on first use), later ones are fast. It logs
each request (method, path, body length) to LOG, one line each, and prints
a line to stdout and to stderr at start (for the server.log checks).
With BURN_US, each request also spins the CPU that long (a server whose
cost grows with the rate). Usage: python3 coldserver.py PORT LOG COLD_MS [BURN_US]"""
import socket
import sys
import threading
import time

port, log, cold_ms = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
burn_s = (int(sys.argv[4]) if len(sys.argv) > 4 else 0) / 1e6
warm = threading.Event()
lock = threading.Lock()


def serve(c):
    rest = b""
    with c:
        while True:
            while b"\r\n\r\n" not in rest:
                d = c.recv(65536)
                if not d:
                    return
                rest += d
            head, rest = rest.split(b"\r\n\r\n", 1)
            n = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    n = int(v)
            while len(rest) < n:
                rest += c.recv(65536)
            body, rest = rest[:n], rest[n:]
            method, path = head.split(b" ")[:2]
            with lock:
                if not warm.is_set():
                    time.sleep(cold_ms / 1000)
                    warm.set()
                with open(log, "a") as f:
                    f.write("%s %s %d\n" % (method.decode(), path.decode(), len(body)))
            end = time.perf_counter() + burn_s
            while time.perf_counter() < end:
                pass
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


print("coldserver: stdout line", flush=True)
print("coldserver: stderr line", file=sys.stderr, flush=True)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(128)
while True:
    conn, _ = s.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
