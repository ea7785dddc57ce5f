"""Runs chaostoolkit.json with Chaos Toolkit (`python3 -m chaostoolkit run`) against the
Toxiproxy API on 127.0.0.1:API_PORT (`chaos toxiproxy`), twice: as it is, the latency toxic must
break the hypothesis (Chaos Toolkit's verdict: deviated, exit 1); with the toxic's toxicity 0 it
must not (completed, exit 0). An echo server is the upstream; the proxy is made through the API.

    python3 chaostoolkit_run.py API_PORT
"""
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

from echo import start_echo

HERE = os.path.dirname(os.path.abspath(__file__))


def make_proxy(api_port, upstream_port):
    body = json.dumps({"name": "echo", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:%d" % upstream_port})
    req = urllib.request.Request("http://127.0.0.1:%d/proxies" % api_port, data=body.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=5) as answer:
        return int(json.load(answer)["listen"].rsplit(":", 1)[1])


def run(experiment, env, work):
    path = os.path.join(work, "experiment.json")
    journal = os.path.join(work, "journal.json")
    with open(path, "w") as f:
        json.dump(experiment, f)
    done = subprocess.run(
        [sys.executable, "-m", "chaostoolkit", "--no-version-check", "run", "--journal-path", journal, path],
        env=env, capture_output=True, text=True, timeout=120,
    )
    with open(journal) as f:
        return done.returncode, json.load(f), done.stdout + done.stderr


def main(api_port):
    env = dict(os.environ, TOXIPROXY_PORT=str(api_port), PYTHONPATH=HERE,
               ECHO_PROXY_PORT=str(make_proxy(api_port, start_echo())))
    with open(os.path.join(HERE, "chaostoolkit.json")) as f:
        experiment = json.load(f)
    with tempfile.TemporaryDirectory() as work:
        code, journal, said = run(experiment, env, work)
        after = journal["steady_states"]["after"]["probes"][0]["output"]
        print("latency toxic: exit %d, status %s, deviated %s, round trip after %.0f ms"
              % (code, journal["status"], journal["deviated"], after))
        if not (code == 1 and journal["deviated"] and after >= 300):
            sys.exit("expected the hypothesis to break:\n" + said)
        experiment["method"][0]["provider"]["arguments"]["toxicity"] = 0.0
        code, journal, said = run(experiment, env, work)
        after = journal["steady_states"]["after"]["probes"][0]["output"]
        print("toxicity 0: exit %d, status %s, deviated %s, round trip after %.1f ms"
              % (code, journal["status"], journal["deviated"], after))
        if not (code == 0 and journal["status"] == "completed" and not journal["deviated"]):
            sys.exit("expected the hypothesis to hold:\n" + said)


if __name__ == "__main__":
    main(int(sys.argv[1]))
