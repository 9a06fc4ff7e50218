#!/usr/bin/env bash
# Fuzzes every parser with libFuzzer (+AddressSanitizer). Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]
# (default 10; the test command runs it briefly, run it for hours by hand). Seeds come from
# Tests/FuzzCorpus/<target>/ (the checked examples); a crash is written to .build-fuzz/crashes/ —
# copy it into Tests/FuzzCorpus/<target>/ so `PosternFuzz` replays it as a regression test.
set -uo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
# lld: gold hits an internal error formatting diagnostics for the sanitized link.
FLAGS=(--scratch-path .build-fuzz --product PosternFuzz -Xswiftc -DPOSTERN_FUZZ -Xswiftc -sanitize=fuzzer,address
       -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld)
swift build "${FLAGS[@]}" >/tmp/postern-fuzz-build.log 2>&1 \
  || { echo "fuzz build failed:"; grep -v "Cannot export" /tmp/postern-fuzz-build.log | tail -20; exit 1; }
BIN=$(swift build "${FLAGS[@]}" --show-bin-path)/PosternFuzz
mkdir -p .build-fuzz/crashes .build-fuzz/corpus
failed=0
for t in gy modbus ascii lines evdev hidpos ga467 pass credential config csv log photo; do
  mkdir -p ".build-fuzz/corpus/$t"
  out=$(POSTERN_FUZZ_TARGET=$t "$BIN" ".build-fuzz/corpus/$t" "Tests/FuzzCorpus/$t" -max_total_time="$SECS" -max_len=4096 \
        -artifact_prefix=".build-fuzz/crashes/$t-" -print_final_stats=1 2>&1); rc=$?
  execs=$(echo "$out" | awk '/stat::number_of_executed_units/{print $2}')
  if [ $rc = 0 ]; then echo "fuzz $t: PASS, ${execs:-?} executions in ${SECS}s"; else echo "fuzz $t: FAIL (status $rc)"; echo "$out" | grep -E "ERROR|SUMMARY|Test unit written" | head -5; failed=1; fi
done
exit $failed
