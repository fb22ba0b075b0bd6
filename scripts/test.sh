#!/usr/bin/env bash
# Runs Ward's whole test suite, installing first what the tests need:
# Debian packages (scripts/apt-packages.txt), Python packages
# (scripts/requirements.txt; semgrep and bandit from
# scripts/requirements-scanners.txt in a virtual environment), npm packages of the browser test
# (crates/ward/tests/it/browser) and of the webhook test
# (crates/ward/tests/it/webhooks), cargo-nextest and the tansu Kafka broker.
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
while read -r pkg bin; do
  [ -z "${pkg:-}" ] && continue
  case "$pkg" in \#*) continue ;; esac
  command -v "${bin:-$pkg}" >/dev/null 2>&1 || need_apt+=("$pkg")
done < scripts/apt-packages.txt
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if ! $PY -m pip install -q --disable-pip-version-check -r scripts/requirements.txt >/tmp/ward-pip.log 2>&1; then
  cat /tmp/ward-pip.log; exit 1
fi

# semgrep and bandit, in their own virtual environment (see the file).
SCANNERS=${WARD_SCANNERS_VENV:-target/scanners}
if [ ! -x "$SCANNERS/bin/semgrep" ] || [ ! -x "$SCANNERS/bin/bandit" ] \
  || ! cmp -s scripts/requirements-scanners.txt "$SCANNERS/requirements.txt"; then
  if ! $PY -c 'import ensurepip' >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  $PY -m venv "$SCANNERS"
  if ! "$SCANNERS/bin/pip" install -q --disable-pip-version-check -r scripts/requirements-scanners.txt >/tmp/ward-pip-scanners.log 2>&1; then
    cat /tmp/ward-pip-scanners.log; exit 1
  fi
  cp scripts/requirements-scanners.txt "$SCANNERS/requirements.txt"
fi
export WARD_SCANNERS="$PWD/$SCANNERS/bin"

# playwright-core (pinned by its lock file) drives Debian's chromium in the browser login tests;
# oidc-provider (same lock file) is the OpenID Connect provider of the single sign-on test.
npm ci --prefix crates/ward/tests/it/browser --no-audit --no-fund --silent
# GitHub's webhook payload examples (pinned by their lock file) for the webhook test.
npm ci --prefix crates/ward/tests/it/webhooks --no-audit --no-fund --silent

command -v cargo-nextest >/dev/null 2>&1 || cargo install cargo-nextest --locked
# The Kafka-compatible broker the Kafka input is tested against (a few minutes to build).
command -v tansu >/dev/null 2>&1 || cargo install tansu --version 0.6.0 --locked --features dynostore,libsql

cargo nextest run --workspace --no-fail-fast "$@"
cargo test --workspace --doc -q
