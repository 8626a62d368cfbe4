#!/usr/bin/env bash
# Runs a command on an emulated host: a group of processes with pid, mount, network, UTS and IPC
# namespaces of its own, that shares nothing with other hosts but the pool file, and has a host
# id of its own, so that notnets treats its peers elsewhere as on another kernel: liveness by
# lease, not by lock (docs/protocol.md, section 13, "Leases and fencing"). Root only.
#
#   scripts/emulated-hosts.sh run HOST_ID POOL COMMAND [ARGS...]
#
# POOL is a pool name or absolute path (as Pool::PathFor takes it); its file must exist. Inside,
# the pool's directory is the one of the other hosts (a connection's segments are files next to
# the pool file, created by one host and opened by another, as on a file system shared by real
# hosts), /proc shows only the
# host's processes, the network has only a loopback that is down, NOTNETS_HOST_ID=HOST_ID, and
# NOTNETS_DOORBELL=sleep (no futex wake: it would reach other emulated hosts through the shared
# file, which no futex does between real hosts).
# COMMAND runs as pid 1 of the host, a child of this script's process (which SIGTERM and SIGINT
# reach it through): when it dies, or this process is killed, every process of the host dies
# with it, as on a host that loses power. Other processes of the host are COMMAND's children. The tests start hosts this way (tests/process_harness.h,
# EmulatedHost); the bench's notnets-native-hosts case does too.
set -euo pipefail

pool_path() {
  case "$1" in
    */*) echo "$1" ;;
    *) echo "/dev/shm/notnets-$1" ;;
  esac
}

if [ "${1:-}" = run ] && [ $# -ge 4 ]; then
  if [ "$(id -u)" != 0 ]; then echo "emulated-hosts.sh: needs root (unshare)" >&2; exit 77; fi
  host_id=$2 pool=$3
  shift 3
  path=$(pool_path "$pool")
  [ -e "$path" ] || { echo "emulated-hosts.sh: no pool file $path" >&2; exit 2; }
  # This process stays the one the caller started (and signals), in the new namespaces.
  exec /usr/bin/unshare --mount --net --uts --ipc -- \
    /usr/bin/env bash "$0" inside "$host_id" "$path" "$@"
fi

if [ "${1:-}" = inside ] && [ $# -ge 4 ]; then
  host_id=$2 path=$3
  shift 3
  mount --make-rprivate /
  hostname "notnets-host-$host_id"
  export NOTNETS_HOST_ID=$host_id
  # One kernel's futex would wake sleepers on other emulated hosts; between real hosts none does.
  export NOTNETS_DOORBELL=sleep
  # Without --fork, the first child of this process becomes pid 1 of the new pid namespace.
  exec /usr/bin/unshare --pid -- /usr/bin/env bash "$0" spawn "$@"
fi

if [ "${1:-}" = spawn ] && [ $# -ge 2 ]; then
  shift
  # The command is pid 1 (the first thing forked here: nothing else may fork before it) of the host, with the host's own /proc. It dies with this process
  # (--pdeathsig), and every process of the host with it.
  /usr/bin/setpriv --pdeathsig KILL -- /usr/bin/env bash -c \
    'mount -t proc proc /proc && exec "$@"' bash "$@" &
  command_pid=$!
  trap 'kill -TERM "$command_pid" 2> /dev/null' TERM
  trap 'kill -INT "$command_pid" 2> /dev/null' INT
  # `wait` returns early (128 + the signal) when a trapped signal arrives: wait again until the
  # command exits. Bash may reap it in the background meanwhile; a last `wait` then gives the
  # command's own status, which bash keeps, rather than the interrupted wait's.
  while true; do
    status=0
    wait "$command_pid" || status=$?
    if ! kill -0 "$command_pid" 2> /dev/null; then
      status=0
      wait "$command_pid" || status=$?
      exit "$status"
    fi
  done
fi

echo "usage: $0 run HOST_ID POOL COMMAND [ARGS...]" >&2
exit 2
