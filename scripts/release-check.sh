#!/usr/bin/env bash
# Before a release: the forwarding path of two commits side by side in one run — JSON and SSE
# answers at 32 calls in flight, JSON one call at a time — and a failure when the newer one
# spends more CPU per call than the limit allows.
#
#   bash scripts/release-check.sh [BEFORE_REF] [AFTER_REF]     (default: the last tag, or
#                                                               HEAD~1; and HEAD)
#   LIMIT_PCT=10 ROUNDS=5 bash scripts/release-check.sh v0.1.0 HEAD
#
# Both commits are built in release mode in worktrees under ${WORK:-/tmp/switchboard-release-check}
# (kept between runs, so a second check rebuilds only what changed: a cold build is ~8 minutes
# each on 2 cores). Everything runs on 127.0.0.1, bounded in calls. Exit 3: a regression.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
before=${1:-$(git describe --tags --abbrev=0 2>/dev/null || echo HEAD~1)}
after=${2:-HEAD}
work=${WORK:-/tmp/switchboard-release-check}
limit=${LIMIT_PCT:-10}
rounds=${ROUNDS:-5}
mkdir -p "$work"

build() { # name ref
  local dir="$work/$1" sha
  sha=$(git rev-parse --verify "$2^{commit}")
  if [ ! -d "$dir" ]; then git worktree add --detach -q "$dir" "$sha"; fi
  git -C "$dir" checkout -q --detach "$sha"
  echo "== $1: $2 ($sha), release build" >&2
  CARGO_TARGET_DIR="$work/target-$1" cargo build --release --locked -q \
    --manifest-path "$dir/Cargo.toml" -p switchboard -p bench-upstream
}
build before "$before"
build after "$after"

status=0
run() {
  python3 "$repo/scripts/ab-forwarding.py" "$work/target-before/release" "$work/target-after/release" \
    --rounds "$rounds" --fail-over "$limit" "$@" || status=$?
}
echo "before = $before, after = $after; CPU per call may grow by at most $limit %"
run --calls 20000
run --calls 20000 --sse
run --calls 5000 --concurrency 1
exit "$status"
