#!/usr/bin/env bash
# Console page times through the browser: starts a release `ward serve` in
# a temporary directory, stores EVENTS login events of the last 24 hours
# (5,000 users, one in five failing) and ALERTS marker events that one
# single-event rule turns into one alert each, then loads each view 30
# times in Debian's chromium (crates/ward/tests/it/browser/bench.mjs) and
# prints the median and 95th percentile (and the search histogram's
# fragment, fetched by the page).
#
#   scripts/console-bench.sh [EVENTS] [ALERTS]     # default 200000 10000
#
# Needs `cargo build --release -p ward` and `npm ci` in
# crates/ward/tests/it/browser.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-200000}
alerts=${2:-10000}
ward=${WARD:-$PWD/target/release/ward}
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
url=http://127.0.0.1:$port
token=console-bench-ingest-token
pid=
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT
cat > "$work/rule.yml" <<'YML'
title: Bench marker seen
id: 6a3e0f1c-0000-4000-8000-00000000be01
status: test
description: One alert per user for the console benchmark.
logsource:
  product: ward
detection:
  selection:
    event.action: bench-marker
  condition: selection
level: high
YML
printf '[detect]\nbuiltin_rules = false\nrules = ["%s"]\n' "$work/rule.yml" > "$work/ward.toml"
export WARD_DATA_DIR=$work/data WARD_HTTP_ADDR=127.0.0.1:$port \
  WARD_SYSLOG_ADDR=127.0.0.1:$((port + 1)) WARD_INGEST_TOKEN=$token
echo "bench password 0123" | "$ward" users add bench --role engineer --password-stdin > /dev/null
"$ward" serve --config "$work/ward.toml" > "$work/ward.log" 2>&1 &
pid=$!
until curl -sf "$url/healthz" > /dev/null; do sleep 0.2; done
python3 - "$events" "$alerts" "$work" <<'PY'
import json, sys, time, random
events, alerts, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
now, rnd = time.time(), random.Random(7)
ts = lambda s: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + "Z"
out = None
for i in range(events + alerts):
    if i % 20000 == 0:
        out = open(f"{work}/chunk{i // 20000:04d}.jsonl", "w")
    if i < alerts:
        e = {"@timestamp": ts(now - rnd.random() * 3600), "event": {"action": "bench-marker"},
             "user": {"name": f"user{i}"}, "message": f"marker {i}"}
    else:
        ok = rnd.random() < 0.8
        e = {"@timestamp": ts(now - rnd.random() * 86000),
             "event": {"action": "login", "outcome": "success" if ok else "failure"},
             "user": {"name": f"user{rnd.randrange(5000)}"},
             "source": {"ip": f"10.0.{rnd.randrange(256)}.{rnd.randrange(256)}"}, "message": "login attempt"}
    out.write(json.dumps(e) + "\n")
PY
for f in "$work"/chunk*.jsonl; do
  curl -sf -H "authorization: Bearer $token" -H 'content-type: application/x-ndjson' \
    --data-binary @"$f" "$url/api/v1/ingest" > /dev/null
done
echo "stored $((events + alerts)) events; waiting for $alerts alerts"
curl -sf -H "origin: $url" -c "$work/jar" -H 'content-type: application/json' \
  -d '{"name":"bench","password":"bench password 0123"}' "$url/api/v1/login" > /dev/null
# The alert count from the response figures (the alert list stops at 1,000).
count() { curl -s -b "$work/jar" "$url/api/v1/alerts/metrics" | python3 -c 'import json,sys; print(next(s["alerts"] for s in json.load(sys.stdin)["stats"] if s["team"] == s["severity"] == "*"))' 2>/dev/null || echo 0; }
until [ "$(count)" -ge "$alerts" ]; do sleep 2; done
node crates/ward/tests/it/browser/bench.mjs "$url" bench "bench password 0123" 30
