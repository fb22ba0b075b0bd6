#!/usr/bin/env bash
# What leaves the correlation owner when the Sigma rules that need no state
# are matched where events are consumed (cluster.match_where_consumed): a
# one-node cluster on a local tansu broker, every SigmaHQ Windows rule
# loaded, the SigmaHQ regression events (raw Windows JSON) sent REPEATS
# times by `ward send`. Runs alternate split on and off; each prints the
# detection CPU per event of the owner (`ward_stage_cpu_nanoseconds_total
# {stage="detect"}`) and of the consumer (`{stage="detect_consumed"}`),
# and the whole process's CPU per event. With N nodes the consumer's part
# spreads over all of them; the owner's part stays on the tenant's node.
#
#   scripts/bench-split.sh [REPEATS] [RUNS]     # defaults 20 (4,760 events) and 2
#
# Needs tansu (scripts/test.sh installs it), python3, curl, the SigmaHQ
# data at ../shared/data/sigma and a build (WARD=target/debug/ward, else
# target/release/ward). BENCH_DEBUG=1 also prints each run's detection metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-20}
runs=${2:-2}
sigma=$(realpath "${SIGMA:-../shared/data/sigma}")
ward=$(realpath "${WARD:-target/release/ward}")
[ -x "$ward" ] || { echo "$ward not found: cargo build --release -p ward" >&2; exit 1; }
command -v tansu >/dev/null || { echo "tansu not found: run scripts/test.sh" >&2; exit 1; }
. scripts/bench-lib.sh
hz=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

python3 - "$sigma/regression_data" "$repeats" "$work/events.ndjson" <<'PY'
import glob, json, sys
unit = []
for p in sorted(glob.glob(sys.argv[1] + "/**/*.json", recursive=True)):
    text, dec, i = open(p).read(), json.JSONDecoder(), 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        v, i = dec.raw_decode(text, i)
        unit.append(json.dumps(v, separators=(",", ":")))
with open(sys.argv[3], "w") as out:
    for _ in range(int(sys.argv[2])):
        out.write("\n".join(unit) + "\n")
PY
events=$(wc -l < "$work/events.ndjson")
echo "$events raw Windows events, rules: $sigma/rules/windows and the built-in pack"

broker_port=$(free_port)
(cd "$work" && RUST_LOG=warn exec tansu --listener-url "tcp://127.0.0.1:$broker_port" \
    --advertised-listener-url "tcp://127.0.0.1:$broker_port" --storage-engine sqlite://./t.db \
    > "$work/tansu.log" 2>&1) &
pids+=("$!")
sleep 1

run() {
    local split=$1 i=$2 dir=$work/$1-$2 http pid url key c0 c1
    mkdir -p "$dir"
    http=$(free_port)
    url="http://127.0.0.1:$http"
    printf '[detect]\nrules = ["%s"]\n[cluster]\nenabled = true\nnode_id = "n1"\nbrokers = "127.0.0.1:%s"\ntopic_prefix = "split%s%s."\nmatch_where_consumed = %s\n' \
        "$sigma/rules/windows" "$broker_port" "$split" "$i" "$split" > "$dir/ward.toml"
    key=$("$ward" apikey create --data-dir "$dir/data" --name bench --role admin --expires 1d 2>/dev/null)
    WARD_DATA_DIR="$dir/data" WARD_HTTP_ADDR="127.0.0.1:$http" WARD_SYSLOG_ADDR="127.0.0.1:$(free_port)" \
        WARD_INGEST_TOKEN=$token RUST_LOG=warn "$ward" serve --config "$dir/ward.toml" > "$dir/ward.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    wait_up "$url" "$dir/ward.log" 1200
    sleep 3  # the group settles
    c0=$(cpu "$pid")
    WARD_URL=$url WARD_TOKEN=$token "$ward" send "$work/events.ndjson" > /dev/null
    while [ "$(metric "$url" "$key" ward_detect_events_total)" -lt "$events" ]; do sleep 0.1; done
    c1=$(cpu "$pid")
    local owner consumer
    owner=$(metric "$url" "$key" 'ward_stage_cpu_nanoseconds_total{stage="detect"}')
    consumer=$(metric "$url" "$key" 'ward_stage_cpu_nanoseconds_total{stage="detect_consumed"}')
    [ -n "${BENCH_DEBUG:-}" ] && curl -s -H "authorization: Bearer $key" "$url/metrics" | grep -E 'ward_cluster_match|stage_cpu|detect_events' >&2
    kill "$pid"; wait "$pid" 2>/dev/null || true
    python3 - "$split" "$events" "$owner" "$consumer" "$c0" "$c1" "$hz" <<'PY'
import sys
split, n, owner, consumer, c0, c1, hz = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:7]), int(sys.argv[7])
print(f"match_where_consumed={split:5}  owner {owner / n / 1e3:7.1f} us/event  "
      f"consumer {consumer / n / 1e3:7.1f} us/event  process {(c1 - c0) / hz / n * 1e6:7.1f} us/event")
PY
}

for i in $(seq "$runs"); do
    run true "$i"
    run false "$i"
done
