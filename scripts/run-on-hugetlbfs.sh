#!/usr/bin/env bash
# Runs the RPC and multi-process tests with their pools on hugetlbfs: reserves huge pages, mounts
# hugetlbfs on a fresh directory, points NOTNETS_TEST_POOL_DIR at it, and puts everything back
# afterwards. CTest runs it (test Hugetlbfs.RpcOnHugePages, label hugetlbfs).
#   scripts/run-on-hugetlbfs.sh UNIT_TESTS PROCESS_TESTS   (the two test executables)
# Exits 77 (CTest: skipped) when not root or the kernel has no hugetlbfs.
set -euo pipefail
unit_tests=$1 process_tests=$2
pages=512  # 1 GiB of 2 MiB pages: the largest test pool, several times over

if [ "$(id -u)" != 0 ]; then echo "skipped: reserving huge pages needs root"; exit 77; fi
if ! grep -qw hugetlbfs /proc/filesystems; then echo "skipped: no hugetlbfs"; exit 77; fi

# One run at a time changes the machine's huge page count.
exec 9> /tmp/notnets-hugetlbfs.lock
flock 9
count_file=/proc/sys/vm/nr_hugepages
before=$(cat "$count_file")
directory=$(mktemp -d /tmp/notnets-hugetlbfs.XXXXXX)
cleanup() {
  umount "$directory" 2> /dev/null || true
  rmdir "$directory"
  echo "$before" > "$count_file"
}
trap cleanup EXIT
echo $((before + pages)) > "$count_file"
reserved=$(($(cat "$count_file") - before))
if [ "$reserved" -lt "$pages" ]; then
  echo "the kernel gave $reserved of $pages huge pages: too little free memory" >&2
  exit 1
fi
mount -t hugetlbfs -o pagesize=2M none "$directory"

export NOTNETS_TEST_POOL_DIR=$directory
"$unit_tests" --gtest_filter='PoolOnHugetlbfsTest.*:*RpcTest.*'
"$process_tests" --gtest_filter='MultiProcessTest.*'
