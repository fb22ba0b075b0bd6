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
# A commit is AI-generated when a trailer says so (`Co-authored-by:` of a
# known AI agent, `Generated-by:`, `Assisted-by:`) or when git-ai left an
# authorship note for it (refs/notes/ai). A deploy with AI-generated commits,
# or one changing AI instruction or MCP configuration files, needs a
# security sign-off (`ward signoff`). The exit status is the gate's:
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

# The AI tool a trailer or note names, as one lower-case word, or nothing.
agent_of() {
  local sha=$1 trailers
  trailers=$(git log -1 --format='%(trailers:key=Co-authored-by,valueonly)%(trailers:key=Generated-by,valueonly)%(trailers:key=Assisted-by,valueonly)' "$sha" | tr '[:upper:]' '[:lower:]')
  case "$trailers" in
    *copilot*) echo copilot; return ;;
    *claude*) echo claude; return ;;
    *cursor*) echo cursor; return ;;
    *devin*) echo devin; return ;;
    *codex*|*chatgpt*|*openai*) echo codex; return ;;
    *jules*) echo jules; return ;;
    *gemini*) echo gemini; return ;;
    *aider*) echo aider; return ;;
    *openhands*) echo openhands; return ;;
    *amazon\ q*|*amazonq*) echo amazon-q; return ;;
  esac
  # Any Generated-by: or Assisted-by: value counts, named by its first word.
  local other
  other=$(git log -1 --format='%(trailers:key=Generated-by,valueonly)%(trailers:key=Assisted-by,valueonly)' "$sha" | head -n1 | tr '[:upper:]' '[:lower:]' | tr -cs 'a-z0-9._-' ' ' | awk '{print $1}')
  if [ -n "$other" ]; then echo "$other"; return; fi
  if git notes --ref=ai show "$sha" >/dev/null 2>&1; then echo git-ai; fi
}

ingest() {
  WARD_TOKEN=${WARD_INGEST_TOKEN:?WARD_INGEST_TOKEN is needed to send to Ward} "$@"
}

for sarif in ${WARD_SARIF:-}; do
  ingest ward import sarif "$sarif" --service "$service" --commit "$commit" ${repository:+--repository "$repository"}
done

ai_commits=0
events=""
for sha in $commits; do
  tool=$(agent_of "$sha")
  [ -z "$tool" ] && continue
  ai_commits=$((ai_commits + 1))
  events+=$(printf '{"action":"ai.commit_attributed","service":"%s","ai_tool":"%s","ai_generated":true,"commit":"%s","repository":"%s"}' \
    "$service" "$tool" "$sha" "$repository")$'\n'
done
if [ -n "$events" ] && [ -n "${WARD_INGEST_TOKEN:-}" ]; then
  printf '%s' "$events" | ingest ward send
fi

ai_files=$(printf '%s\n' "$changed" | grep -E '(^|/)(AGENTS\.md|CLAUDE\.md|GEMINI\.md|copilot-instructions\.md|\.cursorrules|\.windsurfrules|\.mcp\.json|mcp\.json)$|(^|/)\.cursor/rules/|(^|/)\.github/(instructions|prompts|chatmodes)/' || true)

args=(gate check --service "$service" --commit "$commit" ${WARD_ENVIRONMENT:+--environment "$WARD_ENVIRONMENT"})
for a in ${WARD_ARTIFACTS:-}; do args+=(--artifact-file "$a"); done
if [ "$ai_commits" -gt 0 ] || [ -n "$ai_files" ]; then
  echo "ward-gate: $ai_commits AI-generated commit(s); AI-related files changed: ${ai_files:-none}; a security sign-off is required" >&2
  args+=(--require-signoff)
fi
status=0
ward "${args[@]}" || status=$?
exit "$status"
