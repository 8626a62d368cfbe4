#!/usr/bin/env bash
# The mutation check of issue #14 (docs/mutation-check.md): every call site of the visibility
# primitives (Publish, Consume, Arrived, WriteBack, Invalidate in src/) is needed by some test
# that runs under the cache simulator. A NOTNETS_FAULT_INJECTION build can turn one site off
# (src/pool/call_site_switch.h); a site is caught when, with it off, a test fails or hangs.
#
#   scripts/mutation-check.sh sites            today's sites, one per line: PATH:LINE PRIMITIVE
#   scripts/mutation-check.sh sweep [SITE...]  turns each site off in turn (all by default) and
#                                              prints its table row with the first test that fails
#   scripts/mutation-check.sh check [N]        docs/mutation-check.md lists exactly today's sites,
#                                              and for N rows picked at random (default 3), the
#                                              test the row names fails with that site off
#
# Settings (environment): NOTNETS_MUTATION_BUILD_DIR, a built NOTNETS_FAULT_INJECTION build
# (default build-test-normal, the one scripts/test.sh makes); NOTNETS_MUTATION_TIMEOUT, seconds
# one suite may run with a site off before it counts as hung (default 120);
# NOTNETS_MUTATION_GRPC=1 also tries the gRPC suite (about 25 s more for each site it runs for).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${NOTNETS_MUTATION_BUILD_DIR:-build-test-normal}
timeout_s=${NOTNETS_MUTATION_TIMEOUT:-120}
table=docs/mutation-check.md
call='visibility(_|\(\))?(\.|->)(Publish|Consume|Arrived|WriteBack|Invalidate)\('

# PATH:LINE PRIMITIVE for every call of a primitive in src/, in file and line order.
sites() {
  grep -rnE --include='*.h' --include='*.cc' "$call" src |
    grep -v '^src/pool/shared_memory\.' | sort -t: -k1,1 -k2,2n |
    sed -E "s/^([^:]+):([0-9]+):.*$call.*/\1:\2 \5/"
}

# The source line of SITE (PATH:LINE), trimmed, with | escaped for a Markdown table.
snippet() {
  sed -n "${1##*:}p" "${1%:*}" | sed -E 's/^ +//; s/ +$//; s/\|/\\|/g'
}

# The noncoherent suites, as "binary<TAB>gtest filter" lines: the multi-process suite first (most
# sites matter between processes), the gRPC suite only with NOTNETS_MUTATION_GRPC=1, never the
# soak (a script, and slow).
suites() {
  ctest --test-dir "$build" -L noncoherent --show-only=json-v1 |
    jq -r --arg grpc "${NOTNETS_MUTATION_GRPC:-0}" '.tests
      | map(select(.name == "Noncoherent.MultiProcess")) + map(select(.name != "Noncoherent.MultiProcess"))
      | map(select(.name != "Noncoherent.Grpc" or $grpc == "1"))
      | map(select(.name != "Noncoherent.Soak"))
      | .[] | [.command[0], ((.command[1:] | map(select(startswith("--gtest_filter="))) | .[0])
      // "--gtest_filter=*")] | @tsv'
}

# Runs BINARY with FILTER (and any further gtest flags) and SITE turned off under the simulator;
# prints the first test that failed or hung, or nothing if every test passed.
first_failure() {
  local binary=$1 filter=$2 site=$3 log
  shift 3
  log=$(mktemp)
  if NOTNETS_CACHE_SIMULATOR=1 NOTNETS_CACHE_SIMULATOR_EVICTIONS=0 NOTNETS_TURN_OFF_SITE=$site \
      GTEST_FAIL_FAST=1 \
      timeout -k 10 "$timeout_s" "$binary" "$filter" "$@" > "$log" 2>&1; then
    rm -f "$log"
    return
  fi
  local failed
  failed=$(sed -nE 's/^\[  FAILED  \] ([A-Za-z0-9_/.]+)( \(|, where|$).*/\1/p' "$log" | head -1)
  # Killed while a test ran (hung, or the process crashed): the last test started.
  [ -n "$failed" ] || failed=$(sed -nE 's/^\[ RUN      \] (.*)$/\1/p' "$log" | tail -1)
  echo "${failed:-$(basename "$binary")}"
  rm -f "$log"
}

row() {
  local site=$1 primitive=$2 caught=$3
  echo "| \`${site%:*}\` | $primitive | \`$(snippet "$site")\` | $caught |"
}

# Runs every suite once with the simulator, listing the sites reached (NOTNETS_LIST_SITES).
reached() {
  local list line
  list=$(mktemp)
  for line in "${suite_lines[@]}"; do
    NOTNETS_CACHE_SIMULATOR=1 NOTNETS_CACHE_SIMULATOR_EVICTIONS=0 NOTNETS_LIST_SITES=$list \
      timeout -k 10 "$timeout_s" \
      "${line%%$'\t'*}" "${line#*$'\t'}" > /dev/null 2>&1 || true
  done
  awk '{ print $1 }' "$list" | sort -u
  rm -f "$list"
}

# Runs TEST of BINARY alone with SITE off, up to three times; prints it if it failed.
confirmed() {
  first_failure "$1" "--gtest_filter=$2" "$3" --gtest_repeat=3
}

# Prints TEST if it fails alone with SITE off twice in a row and passes with no site off: a test
# that fails under the simulator anyway does not count as catching the site.
fails_each_time() {
  local run
  for run in 1 2; do
    [ -n "$(first_failure "$1" "--gtest_filter=$2" "$3")" ] || return 0
  done
  [ -z "$(first_failure "$1" "--gtest_filter=$2" "")" ] || return 0
  echo "$2"
}

# Every suite must pass with no site off, or a failure would say nothing about a site.
baseline() {
  local line failed
  for line in "${suite_lines[@]}"; do
    failed=$(first_failure "${line%%$'\t'*}" "${line#*$'\t'}" "")
    if [ -n "$failed" ]; then
      echo "mutation check: $failed fails with no site off; fix it first" >&2
      exit 1
    fi
  done
}

# Tries first the tests that caught earlier sites (most sites are caught by a few tests, in
# seconds), then whole suites.
sweep() {
  local wanted=("$@") site primitive binary filter caught reached_sites
  local -A catchers=()
  mapfile -t suite_lines < <(suites)
  baseline
  reached_sites=$(reached)
  while read -r site primitive; do
    if [ ${#wanted[@]} -gt 0 ] && [[ ! " ${wanted[*]} " == *" $site "* ]]; then continue; fi
    if ! grep -qx "$site" <<< "$reached_sites"; then
      row "$site" "$primitive" "**none**: no test of these suites reaches it"
      continue
    fi
    caught=
    for binary in "${!catchers[@]}"; do
      caught=$(first_failure "$binary" "--gtest_filter=${catchers[$binary]}" "$site")
      [ -n "$caught" ] && caught=$(fails_each_time "$binary" "$caught" "$site")
      [ -n "$caught" ] && break
    done
    if [ -z "$caught" ]; then
      for line in "${suite_lines[@]}"; do
        binary=${line%%$'\t'*}
        filter=${line#*$'\t'}
        caught=$(first_failure "$binary" "$filter" "$site")
        [ -n "$caught" ] && break
      done
      # A test that failed beside others must also fail alone, as the check runs it.
      if [ -n "$caught" ] && [ -z "$(fails_each_time "$binary" "$caught" "$site")" ]; then
        row "$site" "$primitive" "**unconfirmed**: $caught failed in its suite, not each time alone"
        continue
      fi
      [ -n "$caught" ] && catchers[$binary]+="${catchers[$binary]:+:}$caught"
    fi
    if [ -n "$caught" ]; then
      row "$site" "$primitive" "\`$(basename "$binary")\` $caught"
    else
      row "$site" "$primitive" "**none**"
    fi
  done < <(sites)
}

# The rows of the table, as PATH<TAB>PRIMITIVE<TAB>SNIPPET<TAB>CAUGHT.
table_rows() {
  sed -nE 's/^\| `([^`]+)` \| ([A-Za-z]+) \| `(.*)` \| (.*) \|$/\1\t\2\t\3\t\4/p' "$table"
}

check() {
  local sample=${1:-3} expected actual
  expected=$(sites | while read -r site primitive; do
    printf '%s\t%s\t%s\n' "${site%:*}" "$primitive" "$(snippet "$site")"
  done)
  actual=$(table_rows | cut -f1-3)
  if [ "$expected" != "$actual" ]; then
    echo "mutation check: $table does not list today's call sites (< table, > source):" >&2
    diff <(echo "$actual") <(echo "$expected") >&2 || true
    echo "run scripts/mutation-check.sh sweep SITE... for the new sites and update the table" >&2
    exit 1
  fi
  local holes
  holes=$(table_rows | cut -f4 | grep -vc '^`' || true)
  echo "mutation check: $table lists $(table_rows | wc -l) sites, $holes caught by no test"
  mapfile -t lines < <(sites)
  mapfile -t caught_rows < <(table_rows | cut -f4 | grep -n '^`' | cut -d: -f1)
  local picked binary test site
  for picked in $(shuf -e "${caught_rows[@]}" -n "$sample"); do
    site=${lines[$((picked - 1))]%% *}
    read -r binary test < <(table_rows | sed -n "${picked}p" | cut -f4 | tr -d '`')
    if [ -z "$(confirmed "$(find "$build/tests" -name "$binary" -type f | head -1)" "$test" \
      "$site")" ]; then
      echo "mutation check: with $site off, $test passed; the table says it fails" >&2
      exit 1
    fi
    echo "mutation check: $site off: $test fails, as the table says"
  done
}

case "${1:-}" in
  sites) sites ;;
  sweep) shift; sweep "$@" ;;
  check) shift; check "$@" ;;
  *) sed -n '2,16p' "$0" >&2; exit 2 ;;
esac
