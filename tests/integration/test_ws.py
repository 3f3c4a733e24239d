"""WebSocket routes of `volley serve` (server/ws_routes): the /ws echo,
sessions (POST /api/sessions, GET /ws/sessions/{id}, DELETE
/api/sessions/{id}) and broadcast across connections and server threads,
spoken to by a minimal RFC 6455 client written here with the stdlib only."""
import base64
import hashlib
import json
import os
import socket
import struct

import pytest

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def http(serve, method, path, body=b""):
    with socket.create_connection((serve.host, serve.port), timeout=5) as s:
        req = "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (
            method, path, len(body))
        s.sendall(req.encode() + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    return status, rest


class WS:
    def __init__(self, serve, path, key=None):
        self.s = socket.create_connection((serve.host, serve.port), timeout=5)
        self.key = key or base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n" % (path, self.key)).encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.s.recv(4096)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.head = head.decode()
        self.status = int(self.head.split()[1])

    def accept_ok(self):
        want = base64.b64encode(hashlib.sha1(self.key.encode() + GUID).digest()).decode()
        return ("Sec-WebSocket-Accept: %s" % want) in self.head

    def send(self, payload, op=1, fin=True):
        if isinstance(payload, str):
            payload = payload.encode()
        mask = os.urandom(4)
        n = len(payload)
        hdr = bytes([(0x80 if fin else 0) | op])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack("!Q", n)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.s.sendall(hdr + mask + body)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("closed")
            self.buf += chunk

    def recv(self):
        """Returns (opcode, payload) of the next frame."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, "server frames must not be masked"
        n, at = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, at = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, at = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(at + n)
        payload = self.buf[at:at + n]
        self.buf = self.buf[at + n:]
        return b0 & 0x0F, payload

    def close(self):
        self.s.close()


def test_echo_handshake_and_messages(serve):
    w = WS(serve, "/ws")
    assert w.status == 101 and w.accept_ok(), w.head
    w.send("hello")
    assert w.recv() == (1, b"hello")
    big = os.urandom(70000)
    w.send(big, op=2)
    assert w.recv() == (2, big)
    # A fragmented message comes back whole.
    w.send("frag", op=1, fin=False)
    w.send("ment", op=0, fin=True)
    assert w.recv() == (1, b"fragment")
    w.send(b"are you there", op=9)
    assert w.recv() == (10, b"are you there")
    w.send(struct.pack("!H", 1000) + b"bye", op=8)
    op, payload = w.recv()
    assert op == 8 and struct.unpack("!H", payload[:2])[0] == 1000
    w.close()


def test_unmasked_client_frame_is_a_protocol_error(serve):
    w = WS(serve, "/ws")
    w.s.sendall(b"\x81\x02hi")  # not masked
    op, payload = w.recv()
    assert op == 8 and struct.unpack("!H", payload[:2])[0] == 1002
    w.close()


def test_bad_upgrades_are_http_errors(serve):
    with socket.create_connection((serve.host, serve.port), timeout=5) as s:
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert b" 400 " in s.recv(4096).split(b"\r\n")[0]
    status, _ = http(serve, "POST", "/ws")
    assert status == 405
    w = WS(serve, "/ws/sessions/nope")
    assert w.status == 404
    w.close()


def test_session_api(serve):
    status, body = http(serve, "POST", "/api/sessions")
    assert status == 201
    sid = json.loads(body)["id"]
    assert http(serve, "DELETE", "/api/sessions/" + sid)[0] == 204
    assert http(serve, "DELETE", "/api/sessions/" + sid)[0] == 404
    assert http(serve, "GET", "/api/sessions")[0] == 405


def nothing_more(w, seconds):
    """True if no byte arrives on w within seconds."""
    if w.buf:
        return False
    w.s.settimeout(seconds)
    try:
        return w.s.recv(1) == b""
    except socket.timeout:
        return True
    finally:
        w.s.settimeout(5)


def test_broadcast_reaches_every_member(serve):
    status, body = http(serve, "POST", "/api/sessions")
    sid = json.loads(body)["id"]
    # Enough members that the server's two threads both hold some.
    members = [WS(serve, "/ws/sessions/%s" % sid) for _ in range(6)]
    talker = WS(serve, "/ws/sessions/%s?broadcast=1" % sid)
    assert all(m.status == 101 for m in members) and talker.status == 101
    talker.send("news")
    assert talker.recv() == (1, b"news")
    for m in members:
        assert m.recv() == (1, b"news")
    # Without broadcast a member's message goes back to it alone.
    members[0].send("mine")
    assert members[0].recv() == (1, b"mine")
    members[1].send("x")
    assert members[1].recv() == (1, b"x")
    # ...and nobody else got "mine" or "x": each member's next frame is the
    # echo of its own marker (the talker's would go to all), and after it
    # nothing more arrives anywhere.
    for i, m in enumerate(members):
        m.send("marker%d" % i)
        assert m.recv() == (1, b"marker%d" % i), i
    for i, m in enumerate(members + [talker]):
        assert nothing_more(m, 0.3), (i, m.buf)
    for m in members + [talker]:
        m.close()
    assert http(serve, "DELETE", "/api/sessions/" + sid)[0] == 204


def test_http_still_served_beside_websockets(serve):
    w = WS(serve, "/ws")
    assert http(serve, "GET", "/health") == (200, b"ok")
    w.send("still here")
    assert w.recv() == (1, b"still here")
    w.close()
