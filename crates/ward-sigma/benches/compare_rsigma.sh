#!/usr/bin/env bash
# Side-by-side throughput of ward-sigma and rsigma 0.23.0 on the same events
# and rules, measured the same way: a command-line run that parses NDJSON and
# matches every event. Rule-loading time is removed by subtracting a run over
# a one-event file. Runs alternate (ward, rsigma, ward, rsigma, ...); the
# median of three is reported.
#
#   cargo install rsigma@0.23.0 --locked
#   crates/ward-sigma/benches/compare_rsigma.sh [RSIGMA_BIN]
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
data="$here/../../../../shared/data/sigma"
rsigma="${1:-rsigma}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
target="${CARGO_TARGET_DIR:-$here/../../../target}"
cargo build --release -q -p ward-sigma --example throughput
ward="$target/release/examples/throughput"

# Events flattened to top-level Sigma field names: both engines run without
# a mapping pipeline and without logsource filtering.
"$ward" corpus "$work/events.ndjson" flat 40
head -1 "$work/events.ndjson" > "$work/one.ndjson"
events=$(wc -l < "$work/events.ndjson")

mkdir -p "$work/r100" "$work/all"
find "$data/rules/windows/process_creation" -name '*.yml' | sort | head -100 | xargs -I{} cp {} "$work/r100/"
for d in "$data"/rules*; do cp -r "$d" "$work/all/"; done

secs() { local s e; s=$(date +%s.%N); "$@" > /dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }

printf '| rules | events | ward-sigma events/s | rsigma events/s | ratio |\n|---|---|---|---|---|\n'
for set in r100 all; do
  w=(); r=()
  for _ in 1 2 3; do
    wb=$(secs "$ward" run "$work/$set" "$work/events.ndjson"); ws=$(secs "$ward" run "$work/$set" "$work/one.ndjson")
    rb=$(secs "$rsigma" engine eval -q --no-stats -r "$work/$set" -e "@$work/events.ndjson"); rs=$(secs "$rsigma" engine eval -q --no-stats -r "$work/$set" -e "@$work/one.ndjson")
    w+=("$(echo "($events - 1) / ($wb - $ws)" | bc)"); r+=("$(echo "($events - 1) / ($rb - $rs)" | bc)")
  done
  wm=$(median "${w[@]}"); rm_=$(median "${r[@]}")
  printf '| %s | %s | %s | %s | %.1fx |\n' "$set" "$events" "$wm" "$rm_" "$(echo "$wm / $rm_" | bc -l)"
done
