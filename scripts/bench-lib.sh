# Shared by the benchmark scripts (sourced from the repository root): a
# temporary work directory and the processes to stop on exit, a free
# loopback port, the time, and a summed /metrics series.
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
token=bench-token-0123456789abcdef

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

now() { date +%s.%N; }

# metric URL KEY PREFIX: the sum of the series whose line starts with PREFIX.
metric() {
    curl -s -H "authorization: Bearer $2" "$1/metrics" |
        awk -v m="$3" 'index($0, m) == 1 { s += $NF } END { printf "%d\n", s }'
}

# wait_up URL LOG TRIES: until URL/healthz answers (tenths of a second);
# else print LOG and stop the script.
wait_up() {
    for _ in $(seq "$3"); do
        curl -sf "$1/healthz" > /dev/null && return 0
        sleep 0.1
    done
    echo "ward serve did not start:" >&2; cat "$2" >&2; exit 1
}
