"""free_port(): a loopback port for a server a test starts on a port it
names (nginx, Prometheus, tinyproxy, a `--metrics-listen`...), or for a
port where nothing must listen.

The port is picked at random below the kernel's ephemeral range
(net.ipv4.ip_local_port_range, 32768 and up here) and checked free by a
bind. The ephemeral range is where bind(port 0) and every outgoing
connection take their local ports: a port picked there and released could
be taken, before the server binds it, by another test's client (a run of
400 connections) or port-0 listener, which the xdist workers of `make
integration` run side by side. Below the range only another pick can take
it, and the picks are random over 20,000 ports.
"""
import random
import socket

_rng = random.SystemRandom()


def ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    top = ephemeral_low()
    if top > 11000:
        for _ in range(200):
            port = _rng.randrange(10000, top)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    # A kernel without room below its ephemeral range: any free port.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
