#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang, AddressSanitizer and UndefinedBehaviorSanitizer
# (the library with coverage instrumentation too) in build-fuzz, then runs each target for
# NOTNETS_FUZZ_SECONDS seconds (default 30), starting from its seed corpus in fuzz/corpus/<target>.
# Fails if any target finds a crash, undefined behaviour, a leak or a hang (an input running for
# more than 10 s); the input is left in build-fuzz/artifacts/<target>/ and the report in
# build-fuzz/logs/<target>.log.
#   scripts/fuzz.sh                                every target
#   scripts/fuzz.sh metadata_fuzzer ...            only these
#   build-fuzz/fuzz/<target> <input file>          replays one input (a crash, a corpus entry)
# NOTNETS_FUZZ_RUNS=N runs N inputs per target from a fixed seed instead: the same inputs on every
# machine, which is what CI wants (a time budget explores differently on a slower machine).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
seconds=${NOTNETS_FUZZ_SECONDS:-30}
budget=(-max_total_time="$seconds")
[ -z "${NOTNETS_FUZZ_RUNS:-}" ] || budget=(-runs="$NOTNETS_FUZZ_RUNS" -seed=1)
all_targets=(metadata_fuzzer pool_header_fuzzer directory_fuzzer connection_fuzzer response_fuzzer
  allocator_fuzzer)
targets=("$@")
[ ${#targets[@]} -ne 0 ] || targets=("${all_targets[@]}")
dir=build-fuzz

echo "=== fuzz build"
cmake -S . -B "$dir" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DNOTNETS_SANITIZE=address,undefined \
  -DNOTNETS_BUILD_FUZZERS=ON -DNOTNETS_BUILD_TESTS=OFF -DNOTNETS_BUILD_BENCH=OFF \
  -DNOTNETS_BUILD_EXAMPLES=OFF > /dev/null
cmake --build "$dir" -j2 --target "${targets[@]}"

failed=()
for target in "${targets[@]}"; do
  echo "=== $target: ${budget[*]}"
  mkdir -p "$dir/corpus/$target" "$dir/artifacts/$target" "$dir/logs"
  log=$dir/logs/$target.log
  # New inputs go to the first corpus directory (build-fuzz/corpus), never into fuzz/corpus.
  if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     "$dir/fuzz/$target" "${budget[@]}" -timeout=10 -max_len=8192 \
       -print_final_stats=1 -artifact_prefix="$dir/artifacts/$target/" \
       "$dir/corpus/$target" "fuzz/corpus/$target" > "$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    echo "ok: $runs executions ($rate/s); log $log"
  else
    failed+=("$target")
    tail -n 80 "$log"
    runs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 || true)
    echo "FAILED: $target after ${runs#\#} executions; input in $dir/artifacts/$target/, log $log"
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzzing found problems in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzzing found nothing"
