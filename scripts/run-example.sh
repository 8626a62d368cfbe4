#!/usr/bin/env bash
# Runs a gRPC example over notnets: builds it, starts its server in the background, runs its
# client against the server's address, and stops the server. Both use a pool of their own
# (NOTNETS_POOL=example-<pid>), removed at the end. Exits non-zero if the server does not start,
# the client fails, or any call went over HTTP/2 instead of the pool.
#   scripts/run-example.sh helloworld            sync Greeter server, sync client
#   scripts/run-example.sh helloworld-callback   callback Greeter server, the same client
#   scripts/run-example.sh route_guide           callback RouteGuide server, all four RPCs
# NOTNETS_BUILD_DIR: the build directory (default build, configured as Release if new).
# NOTNETS_EXAMPLE_HOSTS=2: the server and the client on two emulated hosts that share only the
# pool file and have no network between them (scripts/emulated-hosts.sh; root only), so every
# call must go through the pool. NOTNETS_EXAMPLE_HOSTS=3: the same with two clients at once, on
# hosts 2 and 3.
set -euo pipefail
cd "$(dirname "$0")/.."

case ${1:-} in
  helloworld) server=greeter_server client=greeter_client ;;
  helloworld-callback) server=greeter_callback_server client=greeter_client ;;
  route_guide) server=route_guide_server client=route_guide_client ;;
  *)
    echo "usage: $0 helloworld|helloworld-callback|route_guide" >&2
    exit 2
    ;;
esac
build=${NOTNETS_BUILD_DIR:-build}

scripts/install-deps.sh
[ -f "$build/CMakeCache.txt" ] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$build" -j"$(nproc)" --target "$server" "$client" notnets-cli > /dev/null

export NOTNETS_POOL=example-$$
hosts=${NOTNETS_EXAMPLE_HOSTS:-1}
# on_host HOST COMMAND...: runs COMMAND on that emulated host with NOTNETS_EXAMPLE_HOSTS=2 or 3,
# else here. Only in a subshell (`&`, `$(...)`): it replaces it, so that $! is the process to signal.
on_host() {
  local host=$1
  shift
  if [ "$hosts" = 1 ]; then exec "$@"; fi
  exec scripts/emulated-hosts.sh run "$host" "$NOTNETS_POOL" "$@"
}
if [ "$hosts" != 1 ]; then
  case $hosts in
    2 | 3) ;;
    *) echo "run-example: NOTNETS_EXAMPLE_HOSTS must be 1, 2 or 3" >&2; exit 2 ;;
  esac
  "$build/tools/notnets" pool create "$NOTNETS_POOL" > /dev/null
fi
server_out=$(mktemp)
client_dir=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    # An emulated host's first process ignores SIGTERM (it is pid 1 there): power it off.
    if [ "$hosts" = 1 ]; then kill "$server_pid"; else kill -KILL "$server_pid"; fi 2> /dev/null || true
    wait "$server_pid" 2> /dev/null || true
  fi
  "$build/tools/notnets" pool remove "$NOTNETS_POOL" > /dev/null 2>&1 || true
  rm -rf "$server_out" "$client_dir"
}
trap cleanup EXIT

# On port 0 the server binds a free port, and says which once it serves.
on_host 1 "$build/examples/$server" 127.0.0.1:0 > "$server_out" &
server_pid=$!
address=
for _ in $(seq 100); do
  address=$(sed -n 's/^Server listening on \([^ ]*\) .*/\1/p' "$server_out")
  [ -n "$address" ] && break
  if ! kill -0 "$server_pid" 2> /dev/null; then
    echo "run-example: $server exited before serving" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$address" ]; then
  echo "run-example: $server did not serve within 10 s" >&2
  exit 1
fi
echo "\$ NOTNETS_POOL=$NOTNETS_POOL $server 127.0.0.1:0 &"
cat "$server_out"
# The clients' hosts: 2 (here, with NOTNETS_EXAMPLE_HOSTS=1), or 2 and 3, running at once.
client_hosts=(2)
[ "$hosts" = 3 ] && client_hosts=(2 3)
client_pids=()
for host in "${client_hosts[@]}"; do
  # Line-buffered, so that a client stopped by the timeout still shows how far it got.
  on_host "$host" timeout 60 stdbuf -oL "$build/examples/$client" "$address" \
    > "$client_dir/$host" 2>&1 &
  client_pids+=($!)
done
failed=0
for i in "${!client_hosts[@]}"; do
  host=${client_hosts[$i]}
  status=0
  wait "${client_pids[$i]}" || status=$?
  [ "$hosts" = 1 ] || echo "(on host $host)"
  echo "\$ NOTNETS_POOL=$NOTNETS_POOL $client $address"
  cat "$client_dir/$host"
  if [ "$status" != 0 ]; then
    echo "run-example: $client failed (or did not finish within 60 s)" >&2
    failed=1
  # The client's last line counts its calls by path; the example is there to show the pool path.
  elif ! grep -Eq '^calls through the pool: [1-9][0-9]*, over HTTP/2: 0$' "$client_dir/$host"; then
    echo "run-example: not every call went through the pool" >&2
    failed=1
  fi
done
exit "$failed"
