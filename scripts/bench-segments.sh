#!/usr/bin/env bash
# Sealed segments in a bucket (cluster.segments_bucket), on one machine:
# moto's S3 server with Object Lock and a tansu broker on loopback.
#
# 1. Upload: node n1 stores EVENTS authentication events in segments of
#    about 1 MiB (store.segment_max_bytes), without a bucket; it is
#    restarted with cluster.segments_bucket, and the time from its start
#    until every sealed segment is uploaded, locked and recorded in
#    <prefix>segments (ward_cluster_segments_uploaded_total) is printed:
#    segments/s and MB/s.
# 2. Search: n1 is stopped and its data directory removed; node n2 (its
#    own empty store) runs `ward search --cluster` RUNS times for a narrow
#    query (one user: the term filters skip most blocks) and a broad one
#    (every event of one minute, limit 1000): latency and what was read.
#
#   scripts/bench-segments.sh [EVENTS] [RUNS]     # defaults 100000 and 3
#
# Needs moto_server and boto3, tansu (scripts/test.sh installs them),
# python3, curl and a build: WARD=target/debug/ward for a debug build,
# else target/release/ward.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-100000}
runs=${2:-3}
ward=$(realpath "${WARD:-target/release/ward}")
[ -x "$ward" ] || { echo "$ward not found: cargo build --release -p ward" >&2; exit 1; }
command -v tansu >/dev/null || { echo "tansu not found: run scripts/test.sh" >&2; exit 1; }
command -v moto_server >/dev/null || { echo "moto_server not found: run scripts/test.sh" >&2; exit 1; }
. scripts/bench-lib.sh

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

s3_port=$(free_port)
moto_server -H 127.0.0.1 -p "$s3_port" > "$work/moto.log" 2>&1 &
pids+=("$!")
broker_port=$(free_port)
(cd "$work" && RUST_LOG=warn exec tansu --listener-url "tcp://127.0.0.1:$broker_port" \
    --advertised-listener-url "tcp://127.0.0.1:$broker_port" --storage-engine sqlite://./t.db \
    > "$work/tansu.log" 2>&1) &
pids+=("$!")
export AWS_ENDPOINT_URL="http://127.0.0.1:$s3_port" AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s AWS_REGION=us-east-1
for _ in $(seq 100); do curl -s "$AWS_ENDPOINT_URL" > /dev/null && break; sleep 0.1; done
python3 -c "
import boto3, sys
boto3.client('s3', endpoint_url=sys.argv[1]).create_bucket(Bucket='bench-segs', ObjectLockEnabledForBucket=True)
" "$AWS_ENDPOINT_URL"

# start_ward DIR NODE BUCKET(0|1): a server on DIR/data, cluster node NODE.
start_ward() {
    local dir=$1 node=$2 bucket=$3 http
    mkdir -p "$dir"
    http=$(free_port)
    echo "http://127.0.0.1:$http" > "$dir/url"
    printf '[store]\nsegment_max_bytes = 1048576\n[cluster]\nenabled = true\nnode_id = "%s"\nbrokers = "127.0.0.1:%s"\ntopic_prefix = "bench."\n' \
        "$node" "$broker_port" > "$dir/ward.toml"
    if [ "$bucket" = 1 ]; then
        printf 'segments_bucket = "s3://bench-segs/c1"\nsegments_interval = "200ms"\n' >> "$dir/ward.toml"
    fi
    [ -s "$dir/key" ] || "$ward" apikey create --data-dir "$dir/data" --name bench --role admin --expires 1d > "$dir/key" 2>/dev/null
    WARD_DATA_DIR="$dir/data" WARD_HTTP_ADDR="127.0.0.1:$http" WARD_SYSLOG_ADDR="127.0.0.1:$(free_port)" \
        WARD_INGEST_TOKEN=$token RUST_LOG=warn "$ward" serve --config "$dir/ward.toml" \
        > "$dir/ward.log" 2>&1 &
    echo $! > "$dir/pid"
    pids+=("$!")
    wait_up "http://127.0.0.1:$http" "$dir/ward.log" 600
}

stop_ward() { local pid; pid=$(cat "$1/pid"); kill "$pid"; wait "$pid" 2>/dev/null || true; }

# 1. Upload.
n1=$work/n1
start_ward "$n1" n1 0
WARD_URL=$(cat "$n1/url") WARD_TOKEN=$token "$ward" send "$work/events.ndjson" > /dev/null
while [ "$(metric "$(cat "$n1/url")" "$(cat "$n1/key")" ward_store_records)" -lt "$events" ]; do sleep 0.2; done
sleep 2
stop_ward "$n1"
segs=$(find "$n1/data/events/segments" -name '*.seg' | wc -l)
bytes=$(find "$n1/data/events/segments" -name '*.seg' -printf '%s\n' | awk '{ s += $1 } END { print s }')
t0=$(now)
start_ward "$n1" n1 1
url=$(cat "$n1/url"); key=$(cat "$n1/key")
while [ "$(metric "$url" "$key" ward_cluster_segments_uploaded_total)" -lt "$segs" ]; do sleep 0.05; done
t1=$(now)
python3 -c "
import sys
n, b, t = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[4]) - float(sys.argv[3])
print(f'upload: {n} sealed segments, {b / 1e6:.1f} MB in {t:.2f} s from start: {n / t:.1f} segments/s, {b / 1e6 / t:.2f} MB/s')
" "$segs" "$bytes" "$t0" "$t1"
stop_ward "$n1"
rm -rf "$n1/data"

# 2. Search from another node.
n2=$work/n2
start_ward "$n2" n2 1
url=$(cat "$n2/url"); key=$(cat "$n2/key")
search() {
    WARD_URL=$url WARD_TOKEN=$key "$ward" search --cluster --since 3650d --limit "$2" --format json "$1"
}
for _ in $(seq 600); do
    [ "$(search 'user.name:user17' 1000 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["hits"]))')" -gt 0 ] && break
    sleep 0.1
done
for q in 'user.name:user17' '@timestamp:[2026-12-06T10:00:10Z TO 2026-12-06T10:00:11Z]'; do
    for _ in $(seq "$runs"); do
        t0=$(now)
        search "$q" 1000 > "$work/answer.json"
        t1=$(now)
        python3 - "$q" "$t0" "$t1" "$work/answer.json" <<'PY'
import json, sys
q, t0, t1, a = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), json.load(open(sys.argv[4]))
c = a["cluster"]
print(f"search {q!r}: {(t1 - t0) * 1000:.0f} ms, {len(a['hits'])} hits, {c['segments_searched']} of "
      f"{c['segments']} segments, {c['blocks_scanned']} blocks searched (+{c['blocks_for_proof']} for proofs, "
      f"{c['blocks_skipped']} skipped), {c['ranged_gets']} ranged GETs, {c['bytes_fetched'] / 1e3:.0f} of "
      f"{c['bytes_in_segments'] / 1e3:.0f} kB read")
PY
    done
done
