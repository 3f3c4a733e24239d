"""A hostile HTTP/2 server for the HTTP/2 hostile tests (Debian python3-h2
for the state machine, hyperframe for the frames it must not send). It
listens on 127.0.0.1:0, speaks h2c with prior knowledge (or h2 by ALPN over
TLS with tls=(cert, key)), a thread per connection, one mode per server:

    with H2BadServer("refuse", n=3) as bad:
        ... volley run --h2c bad.url ...

Every stream ends in the log (`log`: (connection, stream id, outcome)) and
its counters (`count["answered"]`, `"refused"`, `"unprocessed"`, ...), so a
test compares the server's view with volley's exactly. A client that breaks
the protocol (more streams than allowed, DATA beyond the window) is recorded
in `violations`; a bug in this server in `errors`. MODES lists the modes.
"""
import collections
import select
import socket
import ssl
import threading
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hpack
from hyperframe.frame import (ContinuationFrame, DataFrame, GoAwayFrame, HeadersFrame,
                              PingFrame, SettingsFrame)

MODES = {
    "ok": "answers every stream: 200, body 'ok' (delay_ms before each answer)",
    "goaway": "after k streams on a connection: GOAWAY(last-stream-id = the k-th), "
              "answers the streams up to it (those in flight finish), ignores later ones",
    "refuse": "RST_STREAM(REFUSED_STREAM) on every n-th stream (counted server-wide)",
    "zero_window": "INITIAL_WINDOW_SIZE 0 and never a WINDOW_UPDATE: no DATA once the "
                   "client has our SETTINGS (at most the 65,535-byte connection window "
                   "before), so a request body never completes; GETs are answered",
    "max_streams_1": "SETTINGS_MAX_CONCURRENT_STREAMS 1; answers after delay_ms",
    "continuation_flood": "answers HEADERS without END_HEADERS, then CONTINUATION "
                          "frames without end (a header each, or empty=True)",
    "ping_flood": "PING frames without end, never reading the client's ACKs",
    "settings_flood": "SETTINGS frames without end, never reading the client's ACKs",
    "ping_many": "n PINGs before each answer, reading the ACKs (counted)",
    "settings_many": "n SETTINGS before each answer, reading the ACKs (counted)",
    "hpack_bomb": "answers with one HEADERS frame of about 16 KB that decodes to 48 MB "
                  "of fields: a 4,000-byte field indexed once, then referenced 12,000 "
                  "times (refs=N), then DATA 'ok'",
    "garbage": "a valid SETTINGS, then bytes that are no HTTP/2 frame, then FIN "
               "(keep_open=True: the connection stays open)",
    "http1": "an HTTP/1.1 400 response to the preface (an HTTP/1.1-only server)",
}

# Flood modes stop after this many bytes or seconds, whichever comes first,
# so a client that never gives up cannot keep this server busy forever.
FLOOD_BYTES = 256 << 20
FLOOD_S = 20.0


class Done(Exception):
    """The client went away, or the server is stopping."""


class H2BadServer:
    def __init__(self, mode, tls=None, **opts):
        if mode not in MODES:
            raise ValueError("unknown mode %r" % mode)
        self.mode = mode
        self.opts = opts
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.sock.settimeout(0.1)  # so the accept loop notices stop()
        self.port = self.sock.getsockname()[1]
        self.tls = None
        if tls:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(*tls)
            self.tls.set_alpn_protocols(["h2"])
        self.url = "%s://127.0.0.1:%d/" % ("https" if tls else "http", self.port)
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.conns = set()
        self.accepted = 0
        self.log = []  # (connection number, stream id, outcome)
        self.count = collections.Counter()
        self.streams_seen = 0  # server-wide, for refuse's every n-th
        self.violations = []  # the client broke the protocol
        self.errors = []  # a bug in this server
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.stopping.set()
        self.thread.join(5)
        self.sock.close()
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def note(self, conn_no, sid, outcome):
        with self.lock:
            self.log.append((conn_no, sid, outcome))
            self.count[outcome] += 1

    def next_stream_no(self):
        with self.lock:
            self.streams_seen += 1
            return self.streams_seen

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            with self.lock:
                self.accepted += 1
                n = self.accepted
                self.conns.add(c)
            threading.Thread(target=self._serve, args=(c, n), daemon=True).start()

    def _serve(self, c, n):
        try:
            c.settimeout(5)
            if self.tls:
                c = self.tls.wrap_socket(c, server_side=True)
            Conn(self, c, n).run()
        except (Done, OSError, ssl.SSLError):
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


class Conn:
    """One connection: the h2 state machine, the streams waiting for their
    answer, and the mode's misbehaviour."""

    def __init__(self, srv, sock, no):
        self.srv, self.sock, self.no = srv, sock, no
        self.mode, self.opts = srv.mode, srv.opts
        cfg = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.h2 = h2.connection.H2Connection(config=cfg)
        self.due = []  # (time, stream id) to answer, in order
        self.done_streams = 0
        self.last_ok = None  # goaway: the last stream id that is processed
        self.acked = False  # the client acknowledged our SETTINGS
        self.pings_sent = 0

    # -- bytes -----------------------------------------------------------
    def flush(self):
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def recv(self, timeout):
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return None
        if not data:
            raise Done()
        return data

    def raw_forever(self, frame_bytes):
        """Writes frame_bytes again and again (never reading) until the
        client goes, the server stops, or the flood cap is reached."""
        self.sock.setblocking(False)
        block = frame_bytes * max(1, 16384 // len(frame_bytes))
        sent, t0, off = 0, time.monotonic(), 0
        while (not self.srv.stopping.is_set() and sent < FLOOD_BYTES
               and time.monotonic() - t0 < FLOOD_S):
            _, w, _ = select.select([], [self.sock], [], 0.25)
            if not w:
                continue
            try:
                k = self.sock.send(block[off:])
            except (BlockingIOError, ssl.SSLWantWriteError):
                continue
            except OSError:
                break  # the client gave up: reset or closed
            sent += k
            off = (off + k) % len(block)
        with self.srv.lock:
            self.srv.count["flood_bytes"] += sent
        raise Done()

    # -- the connection --------------------------------------------------
    def settings(self):
        s = {}
        if self.mode == "zero_window":
            s[h2.settings.SettingCodes.INITIAL_WINDOW_SIZE] = 0
        if self.mode == "max_streams_1":
            s[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = 1
        return s

    def run(self):
        if self.mode == "http1":
            self.recv(5)
            self.sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                              b"Connection: close\r\n\r\n")
            raise Done()
        self.h2.initiate_connection()
        # A second SETTINGS frame: python-h2 applies it (enforces it) only
        # once the client acknowledges it, as RFC 9113 says a client may
        # open streams under the defaults until then.
        if self.settings():
            self.h2.update_settings(self.settings())
        self.flush()
        if self.mode == "garbage":
            self.recv(5)
            self.sock.sendall(b"SSH-2.0-OpenSSH_9.2\r\n" + bytes(range(256)) * 4)
            self.linger(close=not self.opts.get("keep_open"))
        if self.mode in ("ping_flood", "settings_flood"):
            self.recv(5)  # the client's preface: then never read again
            frame = PingFrame(0) if self.mode == "ping_flood" else SettingsFrame(0)
            if self.mode == "ping_flood":
                frame.opaque_data = b"flooding"
            self.raw_forever(frame.serialize())
        while not self.srv.stopping.is_set():
            wait = 0.25
            if self.due:
                wait = min(wait, self.due[0][0] - time.monotonic())
            data = self.recv(wait)
            if data:
                self.feed(data)
            self.answer_due()
            self.flush()
            if self.last_ok is not None and not self.due:
                self.linger()

    def linger(self, close=True):
        """Ends our side and reads until the client closes (at most 2 s):
        closing with unread bytes would reset the connection, and a reset
        may discard what we sent before the client reads it. close=False
        keeps our side open (at most 10 s): the client must hang up."""
        if close:
            self.sock.shutdown(socket.SHUT_WR)
        end = time.monotonic() + (2 if close else 10)
        while time.monotonic() < end:
            data = self.recv(end - time.monotonic())
            if data and self.mode == "goaway":
                self.feed(data)  # logs the streams above the last one
        raise Done()

    def feed(self, data):
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            # python-h2 enforces our settings once acknowledged: more
            # streams than allowed, DATA beyond the window.
            self.srv.violations.append("connection %d: %r" % (self.no, e))
            self.flush()
            raise Done()
        for ev in events:
            self.event(ev)

    def event(self, ev):
        if isinstance(ev, h2.events.SettingsAcknowledged):
            self.acked = True
            with self.srv.lock:
                self.srv.count["settings_acks"] += 1
        elif isinstance(ev, h2.events.RequestReceived):
            self.count_open()
        elif isinstance(ev, h2.events.StreamEnded):
            self.request(ev.stream_id)
        elif isinstance(ev, h2.events.StreamReset):
            self.due = [d for d in self.due if d[1] != ev.stream_id]
            self.srv.note(self.no, ev.stream_id, "reset_by_client")
        elif isinstance(ev, h2.events.PingAckReceived):
            with self.srv.lock:
                self.srv.count["ping_acks"] += 1
        elif isinstance(ev, h2.events.DataReceived):
            with self.srv.lock:
                self.srv.count["body_bytes"] += len(ev.data)

    def count_open(self):
        """The most streams open at once on one connection, before and
        after the client acknowledged our SETTINGS."""
        n = self.h2.open_inbound_streams
        key = "max_open_after_ack" if self.acked else "max_open_before_ack"
        with self.srv.lock:
            self.srv.count[key] = max(self.srv.count[key], n)

    def request(self, sid):
        """A complete request on stream sid: answer it now, later, or not."""
        if self.mode == "refuse" and self.srv.next_stream_no() % self.opts.get("n", 3) == 0:
            self.h2.reset_stream(sid, h2.errors.ErrorCodes.REFUSED_STREAM)
            self.srv.note(self.no, sid, "refused")
            return
        if self.mode == "goaway" and self.last_ok is not None and sid > self.last_ok:
            self.srv.note(self.no, sid, "unprocessed")
            return
        if self.mode == "continuation_flood":
            self.flood_continuation(sid)
        delay = self.opts.get("delay_ms", 5 if self.mode in ("goaway", "max_streams_1") else 0)
        self.due.append((time.monotonic() + delay / 1000.0, sid))
        self.done_streams += 1
        if self.mode == "goaway" and self.done_streams == self.opts.get("k", 5):
            self.last_ok = sid
            self.flush()
            g = GoAwayFrame(0)
            g.last_stream_id, g.error_code = sid, 0
            self.sock.sendall(g.serialize())

    def answer_due(self):
        now = time.monotonic()
        while self.due and self.due[0][0] <= now:
            _, sid = self.due.pop(0)
            if sid not in self.h2.streams:
                continue  # reset by the client meanwhile
            self.before_answer()
            if self.mode == "hpack_bomb":
                self.bomb(sid)
                continue
            self.h2.send_headers(sid, [(b":status", b"200"), (b"content-length", b"2"),
                                       (b"content-type", b"text/plain")])
            self.h2.send_data(sid, b"ok", end_stream=True)
            self.srv.note(self.no, sid, "answered")

    def before_answer(self):
        n = self.opts.get("n", 100)
        if self.mode == "ping_many":
            for _ in range(n):
                self.h2.ping(b"%08d" % (self.pings_sent % 10 ** 8))
                self.pings_sent += 1
            with self.srv.lock:
                self.srv.count["pings_sent"] += n
        elif self.mode == "settings_many":
            self.flush()
            self.sock.sendall(SettingsFrame(0).serialize() * n)
            with self.srv.lock:
                self.srv.count["settings_sent"] += n

    def bomb(self, sid):
        """One header block that decodes to refs x 4 KB. Written raw, with
        this connection's own HPACK encoder for every answer (python-h2's
        would not know the table entry we added); the stream is then
        dropped from python-h2's table, which still thinks it open."""
        if not hasattr(self, "enc"):
            self.enc = hpack.Encoder()
        self.flush()
        head = HeadersFrame(sid)
        head.flags.add("END_HEADERS")
        big = self.enc.encode([(b":status", b"200"), (b"x-bomb", b"a" * 4000)])
        # The field just added is the newest dynamic entry: index 62.
        head.data = big + b"\xbe" * self.opts.get("refs", 12000)
        data = DataFrame(sid)
        data.data = b"ok"
        data.flags.add("END_STREAM")
        self.sock.sendall(head.serialize() + data.serialize())
        self.h2.streams.pop(sid, None)
        self.srv.note(self.no, sid, "answered")

    def flood_continuation(self, sid):
        """HEADERS with :status 200 and no END_HEADERS, then CONTINUATION
        frames forever: one 64-byte literal header each, or empty."""
        self.flush()
        head = HeadersFrame(sid)
        head.data = b"\x88"  # :status 200, static table index 8
        self.sock.sendall(head.serialize())
        self.srv.note(self.no, sid, "flooded")
        cont = ContinuationFrame(sid)
        if not self.opts.get("empty"):
            # Literal without indexing, new name: x-flood: 'a' * 48.
            cont.data = b"\x00\x07x-flood\x30" + b"a" * 48
        self.raw_forever(cont.serialize())


if __name__ == "__main__":
    import sys
    if len(sys.argv) < 2 or sys.argv[1] not in MODES:
        for m, what in MODES.items():
            print("%-20s %s" % (m, what))
        sys.exit(2)
    kw = dict(a.split("=", 1) for a in sys.argv[2:])
    kw = {k: (int(v) if v.isdigit() else v) for k, v in kw.items()}
    with H2BadServer(sys.argv[1], **kw) as s:
        print("listening on", s.url, flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        print(dict(s.count), "violations:", s.violations, "errors:", s.errors)
