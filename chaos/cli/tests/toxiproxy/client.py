"""Toxiproxy's own Python client (toxiproxy-python, from PyPI) driving `chaos toxiproxy`.

    python3 client.py API_PORT

Starts an echo server, makes a proxy to it through the client, and checks each toxic from a
socket's side: latency in the round trip, limit_data as a close after so many bytes, reset_peer
as a reset, timeout as silence; then disable, reset and destroy. Prints one line per check and
exits 0 when all hold, 1 (with the reason) when one does not.
"""
import socket
import sys
import time

from echo import start_echo
from toxiproxy import Toxiproxy
from toxiproxy.exceptions import ProxyExists


def main(port):
    upstream = "127.0.0.1:%d" % start_echo()

    server = Toxiproxy()
    server.update_api_consumer("127.0.0.1", port)
    check(server.running(), "the API answers")
    check(b"version" in server.version(), "version: %r" % server.version())
    proxy = server.create(upstream=upstream, name="echo", listen="127.0.0.1:0")
    host, listen = proxy.listen.rsplit(":", 1)
    listen = int(listen)
    check(listen > 0 and proxy.enabled, "created on %s" % proxy.listen)
    try:
        server.create(upstream=upstream, name="echo")
        fail("a second proxy of the same name was accepted")
    except ProxyExists:
        print("ok: a taken name is refused")

    def connect():
        return socket.create_connection((host, listen), timeout=3)

    def rtt(s, msg=b"ping"):
        start = time.monotonic()
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            got += s.recv(65536)
        check(got == msg, "echoed intact")
        return time.monotonic() - start

    with connect() as s:
        check(rtt(s) < 0.1, "fast without toxics")
        proxy.add_toxic(type="latency", attributes={"latency": 200, "jitter": 0})
        check("latency_downstream" in proxy.toxics(), "the toxic is listed under its default name")
        took = rtt(s)
        check(took >= 0.2, "latency 200 ms on an open connection: %.3f s" % took)
        proxy.destroy_toxic("latency_downstream")
        check(rtt(s) < 0.1, "fast again once the toxic is gone")

    proxy.add_toxic(type="limit_data", name="cut", attributes={"bytes": 10})
    with connect() as s:
        s.sendall(b"0123456789abcdefghij")
        got = b""
        while True:
            part = s.recv(65536)
            if not part:
                break
            got += part
        check(got == b"0123456789", "limit_data: 10 bytes, then the close: %r" % got)
    proxy.destroy_toxic("cut")

    proxy.add_toxic(type="reset_peer", stream="upstream", attributes={"timeout": 0})
    with connect() as s:
        s.sendall(b"hello")
        try:
            data = s.recv(10)
            fail("reset_peer: got %r instead of a reset" % data)
        except ConnectionResetError:
            print("ok: reset_peer resets the connection")
    proxy.destroy_toxic("reset_peer_upstream")

    proxy.add_toxic(type="timeout", attributes={"timeout": 0})
    with connect() as s:
        s.settimeout(0.5)
        s.sendall(b"anyone?")
        try:
            data = s.recv(10)
            fail("timeout: got %r" % data)
        except socket.timeout:
            print("ok: timeout 0 lets nothing through and keeps the connection")
    check(server.reset(), "reset")
    check(proxy.toxics() == {}, "reset removes every toxic")

    proxy.disable()
    try:
        connect().close()
        fail("a disabled proxy accepted a connection")
    except OSError:
        print("ok: a disabled proxy refuses connections")
    proxy.enable()
    with connect() as s:
        check(rtt(s) < 0.1, "enabled again")
    check(proxy.destroy(), "destroyed")
    check(server.proxies() == {}, "no proxy left")


def check(cond, what):
    if not cond:
        fail(what)
    print("ok: " + what)


def fail(why):
    print("FAILED: " + why)
    sys.exit(1)


if __name__ == "__main__":
    main(int(sys.argv[1]))
