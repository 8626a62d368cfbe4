#!/usr/bin/env bash
# README's second command: installs what is missing, then builds and runs the whole test suite
# three times: a normal build, AddressSanitizer + UndefinedBehaviorSanitizer, ThreadSanitizer.
#   scripts/test.sh            all three
#   scripts/test.sh normal     one of: normal, asan, tsan
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
jobs=$(nproc)
variants=("${@:-normal asan tsan}")
read -r -a variants <<< "${variants[*]}"

run_variant() {
  local name=$1 dir=build-test-$1 flags=()
  case $name in
    normal) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
    asan) flags=(-DCMAKE_BUILD_TYPE=Debug -DNOTNETS_SANITIZE=address,undefined) ;;
    # Without the gRPC integration, whose suites do not run under TSan (tests/grpc/CMakeLists.txt
    # says why): building them would take CI minutes for nothing.
    tsan) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DNOTNETS_SANITIZE=thread
                 -DNOTNETS_BUILD_GRPC=OFF -DNOTNETS_BUILD_APPS=OFF) ;;
    *) echo "unknown variant $name (normal, asan, tsan)" >&2; return 2 ;;
  esac
  echo "=== $name build"
  local started=$SECONDS
  cmake -S . -B "$dir" -DNOTNETS_BUILD_BENCH=OFF -DNOTNETS_BUILD_EXAMPLES=OFF \
    -DNOTNETS_FAULT_INJECTION=ON "${flags[@]}" > /dev/null
  cmake --build "$dir" -j"$jobs"
  echo "=== $name tests (the build took $((SECONDS - started)) s)"
  started=$SECONDS
  # Sanitized builds run the stress tests with fewer calls: they are 5-20x slower.
  local calls=20000
  [ "$name" = normal ] || calls=2000
  # LeakSanitizer ignores the leaks inside other projects' libraries listed there.
  local suppressions=$PWD/tests/lsan_suppressions.txt
  (cd "$dir" && NOTNETS_STRESS_CALLS=$calls \
     ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 TSAN_OPTIONS=halt_on_error=1 \
     LSAN_OPTIONS=suppressions=$suppressions ctest --output-on-failure --timeout 600)
  echo "=== $name tests took $((SECONDS - started)) s"
}

for variant in "${variants[@]}"; do run_variant "$variant"; done
