#!/usr/bin/env bash
# End-to-end syslog ingest, side by side with rsyslog: the same RFC 5424
# sshd lines are sent over one TCP connection to a release `ward serve`
# (fsync before acknowledgement, redaction, the built-in rules live) and to
# a local rsyslogd (imtcp -> omfile, its defaults), each started fresh in a
# temporary directory. A run ends when the last message is stored (Ward:
# `ward_store_events_total`; rsyslog: lines in its output file). Runs
# alternate Ward and rsyslog. Then the HTTP NDJSON figure, `ward bench
# ingest` against a fresh `ward serve`.
#
#   scripts/bench-syslog.sh [MESSAGES] [RUNS]     # defaults 300000 and 1
#
# Also printed for each Ward run: CPU per message of each group of server
# threads (from /proc/PID/task/*/stat), the server's own per-stage
# figures (`ward_stage_cpu_nanoseconds_total` from /metrics, read with an
# admin key: the per-source series are shown to admins only) and the share
# of events detection took from memory (`ward_detect_from_memory_total`).
#
# Needs a release build (cargo build --release -p ward), rsyslogd
# (Debian package rsyslog) and python3. WARD=path overrides the binary;
# CONFIG=path gives `ward serve` a configuration file (e.g. `[detect]
# workers`); HTTP=0 skips the HTTP figure; RATE=N sends about N lines a
# second instead of as fast as Ward reads (detection then keeps up).
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-300000}
runs=${2:-1}
ward=$(realpath "${WARD:-target/release/ward}")
http_bench=${HTTP:-1}
config=()
[ -n "${CONFIG:-}" ] && config=(--config "$(realpath "$CONFIG")")
command -v rsyslogd >/dev/null || { echo "rsyslogd not found: apt-get install rsyslog" >&2; exit 1; }
[ -x "$ward" ] || { echo "$ward not found: cargo build --release -p ward" >&2; exit 1; }
. scripts/bench-lib.sh

# The corpus: a day's ordinary sshd traffic as RFC 5424 frames separated
# by LF: logins, session opens and closes, disconnects, and 1% failed
# passwords spread over 5,000 accounts and many addresses (so few enough to
# raise no alert: this measures ingest, not an alert storm).
python3 - "$messages" "$work/lines.txt" <<'PY'
import sys
n, out = int(sys.argv[1]), open(sys.argv[2], "w")
for i in range(n):
    u = f"user{i % 4999}"
    ip = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
    ts = f"2026-12-06T10:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}Z"
    port, pid = 40000 + i % 20000, 1000 + i % 5000
    kind = i % 4
    if i % 100 == 0:
        msg = f"Failed password for {u} from {ip} port {port} ssh2"
    elif kind == 0:
        msg = f"Accepted publickey for {u} from {ip} port {port} ssh2: ED25519 SHA256:{i:043x}"
    elif kind == 1:
        msg = f"pam_unix(sshd:session): session opened for user {u}(uid={1000 + i % 4999}) by (uid=0)"
    elif kind == 2:
        msg = f"pam_unix(sshd:session): session closed for user {u}"
    else:
        msg = f"Disconnected from user {u} {ip} port {port}"
    out.write(f"<38>1 {ts} host{i % 16:02d}.example.net sshd {pid} - - {msg}\n")
PY
echo "corpus: $messages RFC 5424 sshd lines, $(du -k "$work/lines.txt" | cut -f1) KB"

# Sends the corpus over one TCP connection and closes it; RATE=N sends
# about N lines a second (in twentieths of a second) instead of at once.
send() {
    python3 - "$1" "$work/lines.txt" "${RATE:-0}" <<'PY'
import socket, sys, time
data = open(sys.argv[2], "rb").read()
rate = int(sys.argv[3])
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
if rate <= 0:
    s.sendall(data)
else:
    lines, step, start = data.splitlines(keepends=True), max(1, rate // 20), time.monotonic()
    for i in range(0, len(lines), step):
        s.sendall(b"".join(lines[i:i + step]))
        time.sleep(max(0.0, start + (i + step) / rate - time.monotonic()))
s.shutdown(socket.SHUT_WR)
s.close()
PY
}

# utime+stime in clock ticks of the whole process PID, threads that have
# ended included (a blocking-pool thread ends after 10 s idle, and its
# time then leaves /proc/PID/task).
process_cpu() {
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' /proc/"$1"/stat
}

# utime+stime in clock ticks of every thread of PID, as "name ticks" lines.
threads_cpu() {
    for t in /proc/"$1"/task/*/stat; do
        sed -E 's/^[0-9]+ \((.*)\) [A-Za-z] (([^ ]+ ){10})([0-9]+) ([0-9]+).*/\1 \4 \5/' "$t" 2>/dev/null || true
    done | awk '{ n = $1; sub(/-[0-9]+$/, "", n); sub(/[0-9]+$/, "", n); print n, $2 + $3 }'
}

start_ward() {
    local dir=$1 http=$2 syslog=$3
    mkdir -p "$dir"
    WARD_DATA_DIR="$dir/data" WARD_HTTP_ADDR="127.0.0.1:$http" WARD_SYSLOG_ADDR="127.0.0.1:$syslog" \
        WARD_INGEST_TOKEN=$token RUST_LOG=error "$ward" serve "${config[@]}" > "$dir/ward.log" 2>&1 &
    echo $! > "$dir/pid"
    pids+=("$!")
    wait_up "http://127.0.0.1:$http" "$dir/ward.log" 300
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

run_ward() {
    local dir=$work/ward-$1 http syslog pid key url
    http=$(free_port); syslog=$(free_port); url="http://127.0.0.1:$http"
    mkdir -p "$dir"
    key=$("$ward" apikey create --data-dir "$dir/data" --name bench --role admin --expires 1d 2>/dev/null)
    start_ward "$dir" "$http" "$syslog"
    pid=$(cat "$dir/pid")
    threads_cpu "$pid" > "$dir/cpu0"
    process_cpu "$pid" > "$dir/pcpu0"
    local t0 t1 stored
    t0=$(now)
    send "$syslog"
    while :; do
        stored=$(metric "$url" "$key" 'ward_store_events_total{input="syslog-tcp"')
        [ "$stored" -ge "$messages" ] && break
        sleep 0.02
    done
    t1=$(now)
    threads_cpu "$pid" > "$dir/cpu1"
    # Detection reads the stored log behind the store; wait for it too.
    while [ "$(metric "$url" "$key" 'ward_detect_events_total')" -lt "$messages" ]; do sleep 0.02; done
    local t2; t2=$(now)
    threads_cpu "$pid" > "$dir/cpu2"
    process_cpu "$pid" > "$dir/pcpu2"
    curl -s -H "authorization: Bearer $key" "$url/metrics" > "$dir/metrics"
    stop "$pid"
    python3 - "$messages" "$t0" "$t1" "$t2" "$dir" "$(getconf CLK_TCK)" <<'PY'
import sys, collections
n, t0, t1, t2, d, hz = int(sys.argv[1]), *map(float, sys.argv[2:5]), sys.argv[5], int(sys.argv[6])
def load(f):
    c = collections.Counter()
    for line in open(f"{d}/{f}"):
        name, ticks = line.rsplit(" ", 1)
        c[name] += int(ticks)
    return c
a, c = load("cpu0"), load("cpu2")
print(f"ward:    {n / (t1 - t0):>9,.0f} msg/s stored ({t1 - t0:.2f} s), "
      f"{n / (t2 - t0):,.0f} msg/s through detection ({t2 - t0:.2f} s)")
total = sum(c.values()) - sum(a.values())
parts = ", ".join(f"{k} {(c[k] - a[k]) / hz / n * 1e6:.1f}"
                  for k in sorted(c, key=lambda k: a[k] - c[k]) if c[k] - a[k] > 0)
process = int(open(f"{d}/pcpu2").read()) - int(open(f"{d}/pcpu0").read())
print(f"         CPU {process / hz / n * 1e6:.1f} us/msg in all; threads alive at the end: {total / hz / n * 1e6:.1f} ({parts})")
stages = {}
for line in open(f"{d}/metrics"):
    if line.startswith("ward_stage_cpu_nanoseconds_total{"):
        stage = line.split('stage="', 1)[1].split('"', 1)[0]
        stages[stage] = stages.get(stage, 0) + float(line.split()[-1]) / 1e9
if stages:
    print("         stages " + ", ".join(f"{k} {v / n * 1e6:.1f}" for k, v in sorted(stages.items())) + " us/msg")
findings = sum(float(l.split()[-1]) for l in open(f"{d}/metrics") if l.startswith("ward_detect_findings_total"))
print(f"         findings {findings:.0f}")
memory = sum(float(l.split()[-1]) for l in open(f"{d}/metrics") if l.startswith("ward_detect_from_memory_total"))
print(f"         detection took {memory / n * 100:.0f}% of the events from memory, read the rest from the store")
open(f"{d}/rate", "w").write(str(n / (t1 - t0)))
PY
}

run_rsyslog() {
    local dir=$work/rsyslog-$1 port pid t0 t1
    port=$(free_port)
    mkdir -p "$dir"
    cat > "$dir/rsyslog.conf" <<EOF
global(workDirectory="$dir")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="$port")
action(type="omfile" file="$dir/out.log")
EOF
    rsyslogd -n -f "$dir/rsyslog.conf" -i "$dir/rsyslog.pid" > "$dir/rsyslog.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 100); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $port)).close()" 2>/dev/null && break
        sleep 0.1
    done
    # The readiness probe above is a connection with no data: rsyslog logs nothing for it.
    t0=$(now)
    send "$port"
    while [ "$( (wc -l < "$dir/out.log") 2>/dev/null || echo 0)" -lt "$messages" ]; do sleep 0.02; done
    t1=$(now)
    stop "$pid"
    python3 -c "n=$messages; d=$t1-$t0; print(f'rsyslog: {n/d:>9,.0f} msg/s written ({d:.2f} s)'); open('$dir/rate','w').write(str(n/d))"
}

for r in $(seq "$runs"); do
    echo "== run $r"
    run_ward "$r"
    run_rsyslog "$r"
    python3 -c "print(f'ratio:   ward / rsyslog = {float(open(\"$work/ward-$r/rate\").read()) / float(open(\"$work/rsyslog-$r/rate\").read()):.2f}')"
done

if [ "$http_bench" = 1 ]; then
    echo "== HTTP NDJSON (ward bench ingest --events 200000 --concurrency 16 --batch 500)"
    dir=$work/ward-http; http=$(free_port)
    start_ward "$dir" "$http" "$(free_port)"
    pid=$(cat "$dir/pid")
    threads_cpu "$pid" > "$dir/cpu0"
    process_cpu "$pid" > "$dir/pcpu0"
    "$ward" bench ingest --url "http://127.0.0.1:$http" --token "$token" --events 200000 --concurrency 16 --batch 500
    threads_cpu "$pid" > "$dir/cpu1"
    process_cpu "$pid" > "$dir/pcpu1"
    python3 - "$dir" "$(getconf CLK_TCK)" <<'PY'
import sys
d, hz = sys.argv[1], int(sys.argv[2])
s = lambda f: sum(int(l.rsplit(" ", 1)[1]) for l in open(f"{d}/{f}"))
p = lambda f: int(open(f"{d}/{f}").read())
print(f"server CPU {(p('pcpu1') - p('pcpu0')) / hz / 200000 * 1e6:.1f} us/event in all "
      f"(threads alive at the end: {(s('cpu1') - s('cpu0')) / hz / 200000 * 1e6:.1f})")
PY
    stop "$pid"
fi
