#!/usr/bin/env bash
# Builds what is installed in build/ (Release if new; scripts/demo.sh makes it), installs it to a
# temporary prefix, and builds tests/install against that prefix only, with find_package(notnets),
# as another project would: a native program, and a gRPC server and client of a proto of their
# own. Runs the native program, then one gRPC call between the two in a pool of their own; fails
# if anything fails or the call did not go through the pool.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(mktemp -d)
export NOTNETS_POOL=install-check-$$
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2> /dev/null || true
    wait "$server_pid" 2> /dev/null || true
  fi
  "$prefix/bin/notnets" pool remove "$NOTNETS_POOL" > /dev/null 2>&1 || true
  rm -rf "$prefix"
}
trap cleanup EXIT

[ -f build/CMakeCache.txt ] || cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)" --target notnets_pool notnets_channel notnets_rpc notnets_grpc \
  notnets-cli protoc-gen-notnets > /dev/null
cmake --install build --prefix "$prefix" > /dev/null
cmake -S tests/install -B "$prefix/check" -DCMAKE_PREFIX_PATH="$prefix" > /dev/null
cmake --build "$prefix/check" -j"$(nproc)" > /dev/null
"$prefix/check/install_check"

server_out="$prefix/server.out"
"$prefix/check/install_check_server" 127.0.0.1:0 > "$server_out" &
server_pid=$!
address=
for _ in $(seq 100); do
  address=$(sed -n 's/^Server listening on \([^ ]*\)$/\1/p' "$server_out")
  [ -n "$address" ] && break
  if ! kill -0 "$server_pid" 2> /dev/null; then
    echo "check-install: install_check_server exited before serving" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$address" ]; then
  echo "check-install: install_check_server did not serve within 10 s" >&2
  exit 1
fi
timeout 60 "$prefix/check/install_check_client" "$address"
