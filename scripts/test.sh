#!/usr/bin/env bash
# The test command: install the test harness, build every binary, run every test.
#   bash scripts/test.sh            (extra arguments go to cargo nextest, e.g. a test filter)
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup
if ! command -v cargo-nextest >/dev/null 2>&1; then
  echo "cargo-nextest not found; install it with: cargo install cargo-nextest --locked" >&2
  exit 1
fi
cargo build --workspace --bins --locked
cargo nextest run --workspace --locked --no-fail-fast "$@"
