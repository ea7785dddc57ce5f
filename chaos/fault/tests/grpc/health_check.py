"""One unary call of grpc.health.v1.Health/Check through a channel of Python's grpcio (Debian's
python3-grpcio), with raw bytes: no generated stubs needed. Prints `OK <reply hex>` or
`<CODE> <details>`, one line per call.

    /usr/bin/python3 health_check.py 127.0.0.1:PORT [CALLS]
"""
import sys

import grpc

target = sys.argv[1]
calls = int(sys.argv[2]) if len(sys.argv) > 2 else 1
with grpc.insecure_channel(target) as channel:
    check = channel.unary_unary("/grpc.health.v1.Health/Check")
    for _ in range(calls):
        try:
            # An empty HealthCheckRequest (service "") is zero bytes.
            reply = check(b"", timeout=5)
            print("OK", reply.hex(), flush=True)
        except grpc.RpcError as e:
            print(e.code().name, e.details(), flush=True)
