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
# data at ../shared/data/sigma. Rates are events per second of CPU (user +
# system) after subtracting a one-event run's (rule loading), so a busy
# machine inflates them less than wall time would; wall time is printed too.
# When rsigma is found (RSIGMA=path, or `cargo install rsigma@0.23.0
# --locked`), it runs on the same files and rules, alternating with Ward,
# with its built-in `sysmon` pipeline plus a pipeline for evtx_dump's
# nesting (below): the same findings as Ward on the regression events
# except where its missing logsource routing adds some, which the script
# counts.
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
# tool: ward | rsigma; FILE; events. Prints CPU and wall figures.
cpu_of() { awk '{print $1 + $2}' "$work/time.txt"; }
timed() {
    /usr/bin/time -f "%U %S %e %M" "$@" > "$work/out.txt" 2> "$work/err.txt" || true
    tail -1 "$work/err.txt" > "$work/time.txt"
}
tool() {
    case $1 in
    ward) echo taskset -c 0 "$ward" detect -q --rules "$sigma/rules/windows" ;;
    rsigma) echo taskset -c 0 "$rsigma" engine eval -q --no-stats -p sysmon -p "$work/evtx.yml" -r "$sigma/rules/windows" -e ;;
    esac
}
run() {
    local name=$1 file=$2 n=$3 pre="" base
    [ "$name" = rsigma ] && pre="@"
    # shellcheck disable=SC2046
    timed $(tool "$name") "$pre$work/one.jsonl"
    base=$(cpu_of)
    # shellcheck disable=SC2046
    timed $(tool "$name") "$pre$file"
    python3 - "$name" "$n" "$base" $(cat "$work/time.txt") <<'PY2'
import sys
name, n, base, user, sys_, wall, rss = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), *map(float, sys.argv[4:8])
cpu = user + sys_ - base
print(f"{name:7} {n:>9,} events: {n / cpu:>9,.0f} events/s per CPU second ({cpu:.2f} s CPU after {base:.2f} s loading; {wall:.1f} s wall), max RSS {rss / 1024:,.0f} MB")
PY2
}
rsigma=${RSIGMA:-$(command -v rsigma || true)}
head -1 "$work/windows.jsonl" > "$work/one.jsonl"
cat > "$work/evtx.yml" <<'YML'
name: evtx_dump JSON (Event.System / Event.EventData)
priority: 100
transformations:
  - id: evtx_system_fields
    type: field_name_mapping
    mapping:
      EventID: Event.System.EventID
      Channel: Event.System.Channel
      Provider_Name: Event.System.Provider.#attributes.Name
      Computer: Event.System.Computer
  - id: evtx_event_data
    type: field_name_prefix
    prefix: Event.EventData.
    field_name_conditions:
      - type: include_fields
        fields: [Event.System.EventID, Event.System.Channel, Event.System.Provider.#attributes.Name, Event.System.Computer]
    field_name_cond_not: true
YML
echo "== plain NDJSON, one core, alternating"
for round in 1 2 3; do
    run ward "$work/windows.jsonl" "$events"
    if [ -n "$rsigma" ]; then run rsigma "$work/windows.jsonl" "$events"; fi
done
echo "== gzip, 10x, one core (rsigma reads no gzip)"; run ward "$work/windows-x10.jsonl.gz" $((events * 10))
grep -E "rules loaded|events no rule" "$work/out.txt"
echo "== plain NDJSON, every core (--workers default)"
/usr/bin/time -f "%e s wall, %U s user" "$ward" detect -q --rules "$sigma/rules/windows" "$work/windows.jsonl" 2>&1 >/dev/null | tail -1
if [ -n "$rsigma" ]; then
    echo "== findings on the regression events, per rule: Ward vs rsigma"
    "$ward" detect -q --format ndjson --rules "$sigma/rules/windows" "$work/unit.jsonl" 2>/dev/null > "$work/w.ndjson" || true
    "$rsigma" engine eval -q --no-stats -p sysmon -p "$work/evtx.yml" -r "$sigma/rules/windows" -e "@$work/unit.jsonl" > "$work/r.ndjson" 2>/dev/null || true
    python3 - "$work/w.ndjson" "$work/r.ndjson" <<'PY2'
import collections, json, sys
w = collections.Counter(json.loads(l)["rule.id"] for l in open(sys.argv[1]))
r = collections.Counter(json.loads(l)["rule_id"] for l in open(sys.argv[2]))
same = sum(min(w[k], r[k]) for k in w)
print(f"Ward {sum(w.values())} findings, rsigma {sum(r.values())}, {same} the same (rule and count)")
for k in sorted(set(w) | set(r)):
    if w[k] != r[k]:
        print(f"  {k}: Ward {w[k]}, rsigma {r[k]}")
PY2
fi
