#!/usr/bin/env bash
# Runs license-errors-promql.yaml with Prometheus scraping the run: starts Prometheus (Debian's
# `prometheus`) on 127.0.0.1:19090 with prometheus.yml and a fresh store, runs
# `chaos run --metrics 127.0.0.1:19465 ARGS... license-errors-promql.yaml`, stops Prometheus
# on every path and exits with chaos run's code.
#
#   experiments/systems/prometheus/run.sh [CHAOS RUN FLAGS...]     # e.g. --mutant, --out DIR
#   CHAOS=target/release/chaos experiments/systems/prometheus/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
chaos="${CHAOS:-chaos}"
command -v prometheus >/dev/null || { echo "run.sh: prometheus is not installed (apt-get install prometheus)" >&2; exit 2; }

store=$(mktemp -d)
prometheus --config.file="$here/prometheus.yml" --storage.tsdb.path="$store" \
  --web.listen-address=127.0.0.1:19090 --log.level=warn >"$store/prometheus.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$store"' EXIT

# Ready, and its scrape loop for the run's endpoint started (Prometheus starts scrape loops up to
# 5 s after it is ready; the endpoint itself is not up until chaos run starts), within 30 s
# (60 tries, 0.5 s apart) — or its log and exit 2.
ready=$(python3 - <<'PY'
import json, time, urllib.request
for _ in range(60):
    try:
        with urllib.request.urlopen("http://127.0.0.1:19090/api/v1/targets", timeout=1) as r:
            targets = json.load(r)["data"]["activeTargets"]
        if any("19465" in t["scrapeUrl"] for t in targets):
            print("yes"); break
    except Exception:
        pass
    time.sleep(0.5)
PY
)
if [ "$ready" != yes ]; then
  echo "run.sh: Prometheus on 127.0.0.1:19090 did not get ready to scrape 127.0.0.1:19465" >&2
  cat "$store/prometheus.log" >&2
  exit 2
fi
set +e
"$chaos" run --metrics 127.0.0.1:19465 "$@" "$here/license-errors-promql.yaml"
code=$?
set -e
exit "$code"
