#!/usr/bin/env bash
# Every benchmark in one command: installs what is missing, builds notnets-bench (Release) and
# runs `notnets-bench all` with the arguments given. Tables go to the terminal; CSVs, the report
# and PNG plots to results/<timestamp>/ (or --out DIR). About 5-10 minutes on 2 CPUs.
#   scripts/bench-all.sh                 the default run
#   scripts/bench-all.sh --long          more calls per case and per point
#   scripts/bench-all.sh --sections main,size --out /tmp/bench
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)" --target notnets-bench
build/bench/notnets-bench all "$@"
