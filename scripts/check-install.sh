#!/usr/bin/env bash
# Installs the build in build/ to a temporary prefix and builds tests/install against it with
# find_package(notnets), as another project would.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install build --prefix "$prefix" > /dev/null
cmake -S tests/install -B "$prefix/check" -DCMAKE_PREFIX_PATH="$prefix" > /dev/null
cmake --build "$prefix/check" > /dev/null
"$prefix/check/install_check"
