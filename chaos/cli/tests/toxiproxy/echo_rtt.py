"""A Chaos Toolkit probe: the median round trip (ms) of five pings through the proxy whose port
is in the environment variable ECHO_PROXY_PORT."""
import os
import socket
import statistics
import time


def round_trip_ms() -> float:
    port = int(os.environ["ECHO_PROXY_PORT"])
    times = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        for _ in range(5):
            start = time.monotonic()
            s.sendall(b"ping")
            got = b""
            while len(got) < 4:
                part = s.recv(64)
                if not part:
                    raise ConnectionError("the proxy closed the connection")
                got += part
            times.append((time.monotonic() - start) * 1000)
    return statistics.median(times)
