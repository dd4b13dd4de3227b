#!/usr/bin/env bash
# Run every fuzz target (fuzz/, cargo fuzz + libFuzzer) for a fixed time and report
# executions, coverage and crashes. Loopback-free: the targets only parse bytes.
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET ...]     (default 600 s, all targets)
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Targets run two
# at a time (this machine has 2 cores). Each starts from its seeds (fuzz/seeds/<target>
# plus real files from the repository: example configs, OpenAPI specs, workflows) and keeps
# its corpus in $FUZZ_DIR/corpus/<target> between runs; a crash's input is left in
# fuzz/artifacts/<target>/ and the script exits 1. Builds without a sanitizer (-s none):
# the code is safe Rust, so what the fuzzers look for is panics, hangs and runaway memory.
set -uo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-600}
shift || true
ALL=(jsonrpc_envelope sse_decoder config_yaml openapi_import jwt request_state jq_parse)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi
FUZZ_DIR=${FUZZ_DIR:-/tmp/switchboard-fuzz}
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-/tmp/switchboard-fuzz-target}
mkdir -p "$FUZZ_DIR/logs"

seed() {
  local t=$1 dir="$FUZZ_DIR/corpus/$1"
  mkdir -p "$dir"
  [ -d "fuzz/seeds/$t" ] && cp -n fuzz/seeds/"$t"/* "$dir"/ 2>/dev/null
  case $t in
    config_yaml) cp -n examples/*.yaml "$dir"/ 2>/dev/null ;;
    openapi_import) cp -n examples/specs/* crates/admin/src/openapi.json "$dir"/ 2>/dev/null ;;
    jq_parse) grep -ho '\${{[^}]*}}' examples/*.yaml | sort -u | head -200 |
                awk -v d="$dir" '{f=sprintf("%s/wf-%03d", d, NR); printf "%s", $0 > f; close(f)}' ;;
  esac
}

(cd fuzz && cargo +nightly fuzz build -s none -O) || { echo "fuzz build failed" >&2; exit 2; }

run() {
  local t=$1
  seed "$t"
  (cd fuzz && cargo +nightly fuzz run -s none -O "$t" "$FUZZ_DIR/corpus/$t" -- \
      -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 >"$FUZZ_DIR/logs/$t.log" 2>&1)
  echo $? >"$FUZZ_DIR/logs/$t.rc"
}

running=0
for t in "${TARGETS[@]}"; do
  run "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$(nproc)" ]; then wait -n; running=$((running - 1)); fi
done
wait

failed=0
printf '| target | seconds | executions | exec/s | coverage (edges) | corpus | result |\n|---|---|---|---|---|---|---|\n'
for t in "${TARGETS[@]}"; do
  log="$FUZZ_DIR/logs/$t.log"
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  corpus=$(ls "$FUZZ_DIR/corpus/$t" | wc -l)
  rc=$(cat "$FUZZ_DIR/logs/$t.rc" 2>/dev/null || echo "?")
  if [ "$rc" = 0 ]; then result="0 crashes"; else result="**failed (exit $rc): see $log**"; failed=1; fi
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$SECS" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$corpus" "$result"
done
exit $failed
