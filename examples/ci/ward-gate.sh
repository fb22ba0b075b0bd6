#!/usr/bin/env bash
# Ward's deploy gate for one CI job: import scan results, send the AI
# attribution of the commits being deployed, and ask the gate.
#
#   ward-gate.sh SERVICE COMMIT [BASE]
#
# COMMIT is what is deployed; BASE (optional) the last deployed commit, so
# that every commit in BASE..COMMIT is attributed and the files changed
# since BASE are checked. Environment:
#   WARD_URL            the Ward server
#   WARD_TOKEN          an API key allowed to ask the gate (viewer or above)
#   WARD_INGEST_TOKEN   an ingest token: SARIF imports and attribution events
#   WARD_SARIF          SARIF files to import first (space-separated), optional
#   WARD_REPOSITORY     the repository's name (owner/name), optional
#   WARD_ENVIRONMENT    the deploy environment (chooses [gate.policy]'s section), optional
#   WARD_ARTIFACTS      files to deploy (space-separated), optional: their SHA-256
#                       digests are checked for verified provenance when the
#                       policy requires it
#
# The script sends Ward the change being deployed (an event
# `vcs.change`: each commit's AI trailers, whether git-ai left an
# authorship note for it and its files, and the files changed), and Ward's
# gate decides
# from it: an AI-generated commit (a `Co-authored-by:` trailer of a known AI
# agent, `Generated-by:`, `Assisted-by:`, a git-ai note) needs a scan result
# and a security sign-off (`ward signoff`), a change to AI instructions,
# prompts or MCP configuration a sign-off. The exit status is the gate's:
# 0 pass or warn, 1 fail, 2 error.
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: ward-gate.sh SERVICE COMMIT [BASE]" >&2
  exit 2
fi
service=$1
commit=$(git rev-parse --verify --quiet "$2^{commit}") || { echo "ward-gate: no such commit: $2" >&2; exit 2; }
base=${3:-}
if [ -n "$base" ]; then
  git rev-parse --verify --quiet "$base^{commit}" >/dev/null || { echo "ward-gate: no such commit: $base" >&2; exit 2; }
  commits=$(git rev-list "$base..$commit")
  changed=$(git diff --name-only "$base" "$commit")
else
  commits=$commit
  changed=$(git diff-tree --no-commit-id --name-only -r --root "$commit")
fi
repository=${WARD_REPOSITORY:-}
case "$service$repository" in
  *[\"\\]*|*[[:cntrl:]]*) echo "ward-gate: quotes, backslashes and control characters are not allowed in names" >&2; exit 2 ;;
esac

# A JSON string of $1: quotes, backslashes and line ends escaped, other
# control characters dropped.
json_str() {
  local v=$1
  v=${v//\\/\\\\}
  v=${v//\"/\\\"}
  v=${v//$'\n'/\\n}
  v=${v//$'\t'/ }
  v=$(printf '%s' "$v" | tr -d '\000-\037')
  printf '"%s"' "$v"
}

# A JSON list of the lines of $1.
json_lines() {
  local out="" line
  while IFS= read -r line; do
    [ -z "$line" ] && continue
    out+="${out:+,}$(json_str "$line")"
  done <<<"$1"
  printf '[%s]' "$out"
}

ingest() {
  WARD_TOKEN=${WARD_INGEST_TOKEN:?WARD_INGEST_TOKEN is needed to send to Ward} "$@"
}

# The change set: at most 1,000 commits and 2,000 paths.
list=""
for sha in $(printf '%s\n' $commits | head -n 1000); do
  trailers=$(git log -1 --format='%(trailers:key=Co-authored-by)%(trailers:key=Generated-by)%(trailers:key=Assisted-by)' "$sha")
  note=false
  if git notes --ref=ai show "$sha" >/dev/null 2>&1; then note=true; fi
  files=$(git diff-tree --no-commit-id --name-only -r --root "$sha" | head -n 2000)
  list+="${list:+,}{\"id\":\"$sha\",\"trailers\":$(json_lines "$trailers"),\"git_ai_note\":$note,\"files\":$(json_lines "$files")}"
done
files=$(json_lines "$(printf '%s\n' "$changed" | head -n 2000)")
printf '{"action":"vcs.change","service":%s,"repository":%s,"commit":"%s","base":"%s","commits":[%s],"changed_files":%s}\n' \
  "$(json_str "$service")" "$(json_str "$repository")" "$commit" "$base" "$list" "$files" | ingest ward send >/dev/null ||
  { echo "ward-gate: the change set could not be sent to Ward" >&2; exit 2; }

# Scan results after the change set: findings in files of AI-generated
# commits are marked.
for sarif in ${WARD_SARIF:-}; do
  ingest ward import sarif "$sarif" --service "$service" --commit "$commit" ${repository:+--repository "$repository"}
done

args=(gate check --service "$service" --commit "$commit" ${WARD_ENVIRONMENT:+--environment "$WARD_ENVIRONMENT"})
for a in ${WARD_ARTIFACTS:-}; do args+=(--artifact-file "$a"); done
status=0
ward "${args[@]}" || status=$?
exit "$status"
