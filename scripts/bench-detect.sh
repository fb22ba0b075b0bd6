#!/usr/bin/env bash
# Benchmark of `ward detect` on raw Windows JSON with all SigmaHQ Windows
# rules: events/s on one core and maximum resident memory, on a plain
# NDJSON corpus and on a gzip corpus ten times larger (to show memory does
# not grow with the input). The corpus repeats the SigmaHQ regression
# events (evtx_dump JSON, one object per line).
#
#   scripts/bench-detect.sh [REPEATS]      # default 300 (71,400 events, ~105 MB)
#
# Needs a release build (cargo build --release -p ward) and the SigmaHQ
# data at ../shared/data/sigma.
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-300}
sigma=${SIGMA:-../shared/data/sigma}
ward=${WARD:-target/release/ward}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$sigma/regression_data" "$work/unit.jsonl" <<'PY'
import glob, json, sys
out = open(sys.argv[2], "w")
for p in sorted(glob.glob(sys.argv[1] + "/**/*.json", recursive=True)):
    text, dec, i = open(p).read(), json.JSONDecoder(), 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        v, i = dec.raw_decode(text, i)
        out.write(json.dumps(v, separators=(",", ":")) + "\n")
PY
for _ in $(seq "$repeats"); do cat "$work/unit.jsonl"; done > "$work/windows.jsonl"
for _ in $(seq 10); do cat "$work/windows.jsonl"; done | gzip -1 > "$work/windows-x10.jsonl.gz"
events=$(wc -l < "$work/windows.jsonl")
echo "corpus: $events events, $(du -m "$work/windows.jsonl" | cut -f1) MB; gzip corpus: $((events * 10)) events"
run() {
    local file=$1 n=$2
    /usr/bin/time -f "%e s wall, %U s user, %M KB max RSS" taskset -c 0 \
        "$ward" detect -q --rules "$sigma/rules/windows" "$file" > "$work/out.txt" 2> "$work/time.txt"
    tail -1 "$work/time.txt"
    local wall
    wall=$(tail -1 "$work/time.txt" | cut -d' ' -f1)
    python3 -c "print(f'{$n / $wall:,.0f} events/s on one core')"
    grep -E "rules loaded|events no rule" "$work/out.txt"
}
echo "== plain NDJSON"; run "$work/windows.jsonl" "$events"
echo "== gzip, 10x"; run "$work/windows-x10.jsonl.gz" $((events * 10))
