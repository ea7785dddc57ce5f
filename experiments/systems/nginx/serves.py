"""A command probe: exit 0 when GET URL answers 200 within 2 s, printing the body; else 1.

    python3 serves.py http://127.0.0.1:18002/index.html
"""
import sys
import urllib.request

try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as answer:
        print(answer.read().decode("utf-8", "replace"))
except Exception as error:  # any failure is the probe's "no"
    print(f"{sys.argv[1]}: {error}", file=sys.stderr)
    sys.exit(1)
