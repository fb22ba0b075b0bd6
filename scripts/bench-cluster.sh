#!/usr/bin/env bash
# Cluster mode against a single node, on one machine: the same NDJSON
# authentication events are sent by `ward send` (one sender, 1,000 events a
# request) to a fresh `ward serve`, alternately single node and a one-node
# cluster on a local tansu broker. A run ends when every event went
# through detection (`ward_detect_events_total`). Printed per run: events/s
# and CPU per event of the Ward process and, in cluster mode, of the
# broker. Then the rebalance figure: a second node joins a running
# one-node cluster and the time until both own partitions is printed.
#
#   scripts/bench-cluster.sh [EVENTS] [RUNS]     # defaults 50000 and 2
#
# Needs tansu (scripts/test.sh installs it), python3, curl and a build:
# WARD=target/debug/ward for a debug build, else target/release/ward.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-50000}
runs=${2:-2}
ward=$(realpath "${WARD:-target/release/ward}")
[ -x "$ward" ] || { echo "$ward not found: cargo build --release -p ward" >&2; exit 1; }
command -v tansu >/dev/null || { echo "tansu not found: run scripts/test.sh" >&2; exit 1; }
. scripts/bench-lib.sh
hz=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

python3 - "$events" "$work/events.ndjson" <<'PY'
import json, sys
n, out = int(sys.argv[1]), open(sys.argv[2], "w")
for i in range(n):
    out.write(json.dumps({
        "@timestamp": f"2026-12-06T10:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}Z",
        "event": {"category": "authentication", "action": "login",
                  "outcome": "failure" if i % 100 == 0 else "success"},
        "user": {"name": f"user{i % 4999}"}, "source": {"ip": f"10.0.{(i >> 8) & 255}.{i & 255}"},
        "service": {"name": "sso"}, "message": f"login of user{i % 4999}",
    }) + "\n")
PY

broker_port=$(free_port)
(cd "$work" && RUST_LOG=warn exec tansu --listener-url "tcp://127.0.0.1:$broker_port" \
    --advertised-listener-url "tcp://127.0.0.1:$broker_port" --storage-engine sqlite://./t.db \
    > "$work/tansu.log" 2>&1) &
broker_pid=$!
pids+=("$broker_pid")
sleep 1

# start_ward DIR [NODE PREFIX]: a fresh server; cluster mode with a node id.
start_ward() {
    local dir=$1 node=${2:-} prefix=${3:-} http
    mkdir -p "$dir"
    http=$(free_port)
    echo "http://127.0.0.1:$http" > "$dir/url"
    if [ -n "$node" ]; then
        printf '[cluster]\nenabled = true\nnode_id = "%s"\nbrokers = "127.0.0.1:%s"\ntopic_prefix = "%s"\n' \
            "$node" "$broker_port" "$prefix" > "$dir/ward.toml"
    else
        : > "$dir/ward.toml"
    fi
    "$ward" apikey create --data-dir "$dir/data" --name bench --role admin --expires 1d > "$dir/key" 2>/dev/null
    WARD_DATA_DIR="$dir/data" WARD_HTTP_ADDR="127.0.0.1:$http" WARD_SYSLOG_ADDR="127.0.0.1:$(free_port)" \
        WARD_INGEST_TOKEN=$token RUST_LOG=warn,ward::cluster=info "$ward" serve --config "$dir/ward.toml" \
        > "$dir/ward.log" 2>&1 &
    echo $! > "$dir/pid"
    pids+=("$!")
    wait_up "http://127.0.0.1:$http" "$dir/ward.log" 600
}

run() {
    local mode=$1 i=$2 dir=$work/$1-$2 pid url key
    if [ "$mode" = cluster ]; then start_ward "$dir" n1 "bench$i."; else start_ward "$dir"; fi
    pid=$(cat "$dir/pid"); url=$(cat "$dir/url"); key=$(cat "$dir/key")
    sleep 3  # the group settles
    local c0 b0 t0 t1 c1 b1
    c0=$(cpu "$pid"); b0=$(cpu "$broker_pid"); t0=$(now)
    WARD_URL=$url WARD_TOKEN=$token "$ward" send "$work/events.ndjson" > /dev/null
    while [ "$(metric "$url" "$key" ward_detect_events_total)" -lt "$events" ]; do sleep 0.05; done
    t1=$(now); c1=$(cpu "$pid"); b1=$(cpu "$broker_pid")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    python3 - "$mode" "$events" "$t0" "$t1" "$c0" "$c1" "$b0" "$b1" "$hz" <<'PY'
import sys
mode, n, t0, t1, c0, c1, b0, b1, hz = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:9]), int(sys.argv[9])
broker = f", broker {(b1 - b0) / hz / n * 1e6:.1f} us/event" if mode == "cluster" else ""
print(f"{mode:8} {n / (t1 - t0):>8,.0f} events/s through detection ({t1 - t0:.2f} s), "
      f"ward {(c1 - c0) / hz / n * 1e6:.1f} us/event{broker}")
PY
}

for i in $(seq "$runs"); do
    run single "$i"
    run cluster "$i"
done

# Rebalance: a second node joins a running one-node cluster.
start_ward "$work/r1" r1 rebalance.
sleep 5
t0=$(now)
start_ward "$work/r2" r2 rebalance.
for _ in $(seq 1200); do  # at most a minute
    [ "$(grep -c 'cluster partitions assigned' "$work/r2/ward.log" 2>/dev/null)" -ge 2 ] && break
    sleep 0.05
done
t1=$(now)
python3 -c "import sys; print(f'rebalance: a second node owns partitions of both groups {float(sys.argv[2]) - float(sys.argv[1]):.2f} s after it was started')" "$t0" "$t1"
