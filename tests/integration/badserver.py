"""A small scriptable bad HTTP server for the hostile-server tests (stdlib
only). It listens on 127.0.0.1:0 and runs one behaviour per connection, in
a thread each, chosen by name:

    with BadServer("garbage") as bad:
        ... volley run bad.url ...

Behaviours are functions (server, sock) in BEHAVIOURS; each reads the
request it needs with read_request() and misbehaves in its own way. The
server counts the connections it accepted (`accepted`) and stops cleanly:
stop() closes the listening socket and every open connection.
"""
import socket
import struct
import threading
import time

CHUNK = 64 * 1024


class Gone(Exception):
    """The client went away, or the server is stopping."""


class BadServer:
    def __init__(self, behaviour, **opts):
        self.behaviour = BEHAVIOURS[behaviour] if isinstance(behaviour, str) else behaviour
        self.name = behaviour if isinstance(behaviour, str) else behaviour.__name__
        self.opts = opts
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.sock.settimeout(0.1)  # so the accept loop notices stop()
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d/" % self.port
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.conns = set()
        self.accepted = 0
        self.answered = 0  # responses sent (behaviours that count them)
        self.errors = []  # unexpected exceptions in behaviours
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            c.settimeout(0.25)
            with self.lock:
                self.accepted += 1
                self.conns.add(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            self.behaviour(self, c)
        except (Gone, OSError):
            pass
        except Exception as e:  # a bug in the test server itself
            self.errors.append(repr(e))
        finally:
            with self.lock:
                self.conns.discard(c)
            try:
                c.close()
            except OSError:
                pass

    def stop(self):
        self.stopping.set()
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(5)

    # ---- helpers for behaviours ----

    def recv(self, c, n=CHUNK):
        """recv that gives up when the server stops; b"" at EOF."""
        while not self.stopping.is_set():
            try:
                return c.recv(n)
            except socket.timeout:
                continue
        raise Gone()

    def read_request(self, c, buf=b""):
        """Reads one request head (no body: volley sends GETs here).
        Returns (head, rest) or raises Gone at EOF."""
        while b"\r\n\r\n" not in buf:
            d = self.recv(c)
            if not d:
                raise Gone()
            buf += d
        head, _, rest = buf.partition(b"\r\n\r\n")
        return head, rest

    def send(self, c, data):
        """sendall that gives up when the server stops."""
        view = memoryview(data)
        while view:
            if self.stopping.is_set():
                raise Gone()
            try:
                n = c.send(view)
            except socket.timeout:
                continue
            view = view[n:]

    def sleep(self, s):
        if self.stopping.wait(s):
            raise Gone()

    def wait_for_close(self, c):
        """Reads and drops everything until the client closes."""
        while self.recv(c):
            pass
        raise Gone()


def reset(c):
    """Closes with RST (SO_LINGER 0)."""
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()


OK_HEAD = b"HTTP/1.1 200 OK\r\n"


def per_request(respond):
    """A behaviour that answers each request on a keep-alive connection."""
    def behaviour(srv, c):
        rest = b""
        while True:
            _, rest = srv.read_request(c, rest)
            respond(srv, c)
    behaviour.__name__ = respond.__name__
    return behaviour


# ---- behaviours ----

def garbage(srv, c):
    """Something that is not HTTP at all instead of a status line."""
    srv.read_request(c)
    srv.send(c, b"SSH-2.0-OpenSSH_9.2\r\nthis is not an HTTP response\r\n\r\n")
    srv.wait_for_close(c)


def status_then_close(srv, c):
    """A status line, then the connection closes (no headers end)."""
    srv.read_request(c)
    srv.send(c, OK_HEAD)
    c.shutdown(socket.SHUT_WR)
    srv.wait_for_close(c)


def cl_larger(srv, c):
    """Content-Length: 100 but 10 body bytes, then close."""
    srv.read_request(c)
    srv.send(c, OK_HEAD + b"Content-Length: 100\r\n\r\n0123456789")
    c.shutdown(socket.SHUT_WR)
    srv.wait_for_close(c)


@per_request
def cl_smaller(srv, c):
    """Content-Length: 2 and more bytes after the body, same segment."""
    srv.send(c, OK_HEAD + b"Content-Length: 2\r\n\r\nokTHESE-BYTES-WERE-NEVER-ASKED-FOR")


def chunk_not_hex(srv, c):
    srv.read_request(c)
    srv.send(c, OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
    srv.wait_for_close(c)


def chunk_2_63(srv, c):
    """A chunk size of 2^63, then data forever (a parser that accepts the
    size would wait for 8 EiB)."""
    srv.read_request(c)
    srv.send(c, OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n8000000000000000\r\n")
    block = b"x" * CHUNK
    while True:
        srv.send(c, block)


def chunk_overflow(srv, c):
    """A chunk size that does not fit in 64 bits."""
    srv.read_request(c)
    srv.send(c, OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\nx\r\n0\r\n\r\n")
    srv.wait_for_close(c)


def headers_1mb(srv, c):
    """1 MiB of headers (1024 lines of 1 KiB), then a small body."""
    srv.read_request(c)
    line = b"X-Pad: " + b"a" * 1015 + b"\r\n"
    srv.send(c, OK_HEAD + line * 1024 + b"Content-Length: 2\r\n\r\nok")
    srv.wait_for_close(c)


def headers_100k(srv, c):
    """100,000 header lines (~1 MB), then a small body; keep-alive."""
    rest = b""
    many = b"X-H: v\r\n" * 100000
    while True:
        _, rest = srv.read_request(c, rest)
        srv.send(c, OK_HEAD + many + b"Content-Length: 2\r\n\r\nok")


def header_no_colon(srv, c):
    srv.read_request(c)
    srv.send(c, OK_HEAD + b"Content-Length: 2\r\nThisLineHasNoColon\r\n\r\nok")
    srv.wait_for_close(c)


def trickle(srv, c):
    """A valid response, one byte per second."""
    srv.read_request(c)
    for b in OK_HEAD + b"Content-Length: 2\r\n\r\nok":
        srv.send(c, bytes([b]))
        srv.sleep(1.0)
    srv.wait_for_close(c)


def endless_body(srv, c):
    """A close-delimited body that never ends, as fast as the client reads."""
    srv.read_request(c)
    srv.send(c, OK_HEAD + b"Content-Type: application/octet-stream\r\n\r\n")
    block = b"y" * CHUNK
    while True:
        srv.send(c, block)


def endless_chunks(srv, c):
    """A chunked body whose last chunk never comes."""
    srv.read_request(c)
    srv.send(c, OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
    block = b"%x\r\n%s\r\n" % (CHUNK, b"z" * CHUNK)
    while True:
        srv.send(c, block)


def reset_mid_response(srv, c):
    """Half a response, then RST."""
    srv.read_request(c)
    srv.send(c, OK_HEAD + b"Content-Length: 1000\r\n\r\n" + b"r" * 100)
    srv.sleep(0.02)
    reset(c)


def never_answer(srv, c):
    """Accepts and reads the request, never answers."""
    srv.read_request(c)
    srv.wait_for_close(c)


def close_before_read(srv, c):
    """Closes at once, before reading the request."""
    c.close()


def close_idle(srv, c):
    """Keep-alive responses (no Connection: close), but the connection is
    closed silently after `per_conn` of them (option, default 1), as a
    server whose keep-alive timeout or request limit ran out does. Counts
    the responses it sent in srv.answered. With `hold_ms`, the close waits
    for the next request and comes that long after it (a stale attempt
    that costs the client time)."""
    rest = b""
    for _ in range(srv.opts.get("per_conn", 1)):
        _, rest = srv.read_request(c, rest)
        srv.send(c, OK_HEAD + b"Content-Length: 2\r\n\r\nok")
        with srv.lock:
            srv.answered += 1
    if srv.opts.get("hold_ms"):
        srv.read_request(c, rest)
        srv.sleep(srv.opts["hold_ms"] / 1000.0)
    if srv.opts.get("rst"):
        reset(c)


def unsolicited(srv, c):
    """A response before the request (as servers that time out idle
    connections do with 408), then close."""
    srv.send(c, b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    c.shutdown(socket.SHUT_WR)
    srv.wait_for_close(c)


def batch(srv, c):
    """Answers only once `k` requests (option, default 4) have arrived, then
    all k at once: a client that does not pipeline waits forever. Counts
    the responses in srv.answered."""
    rest, k = b"", srv.opts.get("k", 4)
    while True:
        for _ in range(k):
            _, rest = srv.read_request(c, rest)
        srv.send(c, (OK_HEAD + b"Content-Length: 2\r\n\r\nok") * k)
        with srv.lock:
            srv.answered += k


def answer_k_then_fin(srv, c):
    """Answers `k` requests (option, default 3) of a pipeline, then closes
    cleanly (FIN, no Connection: close) and drains what the client still
    sends, so no RST destroys the responses in flight. srv.answered."""
    rest = b""
    for _ in range(srv.opts.get("k", 3)):
        _, rest = srv.read_request(c, rest)
        srv.send(c, OK_HEAD + b"Content-Length: 2\r\n\r\nok")
        with srv.lock:
            srv.answered += 1
    c.shutdown(socket.SHUT_WR)
    srv.wait_for_close(c)


def by_path(srv, c):
    """Each response tells which request it answers: /s/NNN gets status NNN
    and a body of NNN bytes; keep-alive, requests read as they come."""
    rest = b""
    while True:
        head, rest = srv.read_request(c, rest)
        path = head.split(b" ", 2)[1]
        code = int(path.rsplit(b"/", 1)[1]) if path.startswith(b"/s/") else 200
        srv.send(c, b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n" % (code, code) + b"x" * code)


BEHAVIOURS = {f.__name__: f for f in [
    garbage, status_then_close, cl_larger, cl_smaller, chunk_not_hex, chunk_2_63,
    chunk_overflow, headers_1mb, headers_100k, header_no_colon, trickle, endless_body,
    endless_chunks, reset_mid_response, never_answer, close_before_read, unsolicited,
    close_idle, batch, answer_k_then_fin, by_path,
]}


if __name__ == "__main__":
    import sys
    with BadServer(sys.argv[1]) as s:
        print("listening on", s.url, flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
