#!/usr/bin/env bash
# Runs the hotel-reservation graph (apps/hotel) three ways in one run and compares them:
#   http2  every hop over gRPC HTTP/2 on loopback;
#   pool   every hop through one notnets pool, all services on this host;
#   hosts  the pool, with the services in three emulated hosts (frontend | search geo rate |
#          profile recommendation user reservation), each its own pid, mount, uts, ipc and
#          network namespace (unshare), sharing only /dev/shm: no network between them. Needs
#          root; skipped with a message otherwise.
#   http2+memcached, pool+memcached
#          as http2 and pool, with profile and rate reading through a memcached of their own
#          (the Debian package, installed if missing and started per step), as the original.
#          Only when hotel_service was built with libmemcached-dev.
# For each way it sweeps the offered rate (a fresh graph per step, so that every step starts
# from the same reservations), stops at saturation, and reports the highest rate held at the p99
# objective with the CPU per request of the services. Every step's checksum must be the same
# for all ways that served it without errors, or the script fails.
#
#   scripts/hotel.sh           the sweep: CSV, PNGs and tables in docs/perf/hotel/, and the
#                              tables into docs/PERFORMANCE.md between its hotel markers
#   scripts/hotel.sh --check   the CI check: pool and HTTP/2 for a few seconds at a low rate,
#                              same checksums, no failed request; writes nothing
#
# HOTEL_BIN: directory of hotel_service and hotel_loadgen (default: build them in
# $NOTNETS_BUILD_DIR, default build, configured as Release if new). HOTEL_RATES (offered rates,
# requests/s, ascending), HOTEL_DURATION (s per step), HOTEL_TIMEOUT_MS (each request's deadline;
# 1000, or 5000 for --check), HOTEL_SLOS_US (p99 objectives, µs, the
# first drawn in the plot; default "5000 20000"), HOTEL_SEED, HOTEL_WAYS (default
# "http2 pool hosts").
set -euo pipefail
cd "$(dirname "$0")/.."

mode=sweep
[ "${1:-}" = --check ] && mode=check
seed=${HOTEL_SEED:-1}
slos_us=${HOTEL_SLOS_US:-5000 20000}
slo_us=${slos_us%% *}
if [ "$mode" = check ]; then
  rates=${HOTEL_RATES:-200}
  duration=${HOTEL_DURATION:-2}
  ways=${HOTEL_WAYS:-http2 pool}
  # The check is about answers, not speed: a deadline that a loaded or sanitized build meets.
  timeout_ms=${HOTEL_TIMEOUT_MS:-5000}
else
  timeout_ms=${HOTEL_TIMEOUT_MS:-1000}
  rates=${HOTEL_RATES:-100 200 400 600 800 1000 1500 2000 3000 4000 6000 8000 12000 16000}
  duration=${HOTEL_DURATION:-4}
  ways=${HOTEL_WAYS:-http2 pool hosts http2+memcached pool+memcached}
fi

if [ -n "${HOTEL_BIN:-}" ]; then
  bin=$HOTEL_BIN
else
  build=${NOTNETS_BUILD_DIR:-build}
  [ -f "$build/CMakeCache.txt" ] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release > /dev/null
  cmake --build "$build" -j"$(nproc)" --target hotel_service hotel_loadgen > /dev/null
  bin=$build/apps/hotel
fi

if [[ " $ways " == *" hosts "* ]] && { [ "$(id -u)" != 0 ] || ! command -v unshare > /dev/null; }; then
  echo "hotel: skipping the three emulated hosts: unshare needs root"
  ways=${ways//hosts/}
fi
if [[ "$ways" == *+memcached* ]]; then
  if ! command -v memcached > /dev/null && [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq memcached > /dev/null || true
  fi
  if ! command -v memcached > /dev/null; then
    echo "hotel: skipping the memcached ways: memcached is not installed"
    ways=${ways//http2+memcached/}
    ways=${ways//pool+memcached/}
  elif grep -q "built without libmemcached" "$bin/hotel_service"; then
    echo "hotel: skipping the memcached ways: hotel_service was built without libmemcached-dev"
    ways=${ways//http2+memcached/}
    ways=${ways//pool+memcached/}
  fi
fi

# The emulated hosts' groups of services, and each service's serving threads.
groups=("frontend" "search geo rate" "profile recommendation user reservation")
threads_of() { case $1 in frontend | search) echo 4 ;; *) echo 2 ;; esac; }
# HTTP/2 ports: eight from a base of this run's own, and memcached's after them.
port_base=$((20000 + ($$ % 4000) * 10))
memcached_port=$((port_base + 8))

running=()
namespaces=()
current_pool=
stop_graph() {
  local pid
  # unshare ignores SIGTERM; killing a pid namespace's init kills the whole namespace, and
  # unshare then exits.
  for pid in "${namespaces[@]}"; do
    # shellcheck disable=SC2046
    kill -KILL $(pgrep -P "$pid") 2> /dev/null || true
  done
  for pid in "${namespaces[@]}"; do wait "$pid" 2> /dev/null || true; done
  namespaces=()
  for pid in "${running[@]}"; do kill "$pid" 2> /dev/null || true; done
  for pid in "${running[@]}"; do wait "$pid" 2> /dev/null || true; done
  running=()
  if [ -n "$current_pool" ]; then
    # The pool and what is named after it: its services' name files, segments of the dead.
    rm -f "/dev/shm/notnets-$current_pool" "/dev/shm/notnets-$current_pool".*
    current_pool=
  fi
}
trap stop_graph EXIT
trap 'exit 130' INT TERM

# start_graph WAY POOL TAG: starts the eight services the way WAY asks.
start_graph() {
  local way=$1 pool=$2 tag=$3 transport=pool service group cache=""
  [[ "$way" == http2* ]] && transport=http2
  current_pool=$pool
  if [[ "$way" == *+memcached ]]; then
    # memcached refuses to run as root unless told which user to be.
    memcached -l 127.0.0.1 -p "$memcached_port" -U 0 -t 2 -m 64 -u "$(id -un)" &
    running+=($!)
    cache="--memcached 127.0.0.1:$memcached_port"
  fi
  service_args() {
    echo "--service $1 --transport $transport --pool $pool --port-base $port_base --seed $seed" \
      "--threads $(threads_of "$1") --tag $tag $cache"
  }
  if [ "$way" = hosts ]; then
    for group in "${groups[@]}"; do
      local commands=""
      for service in $group; do
        commands+="$bin/hotel_service $(service_args "$service") & "
      done
      unshare --pid --mount --uts --ipc --net --fork --kill-child \
        bash -c "${commands}wait" > /dev/null 2>&1 &
      namespaces+=($!)
    done
  else
    for service in frontend search geo rate profile recommendation user reservation; do
      # shellcheck disable=SC2046
      "$bin/hotel_service" $(service_args "$service") > /dev/null &
      running+=($!)
    done
  fi
}

# run_step WAY RATE: one step on a fresh graph; prints the load generator's CSV line.
run_step() {
  local way=$1 rate=$2 transport=pool
  [[ "$way" == http2* ]] && transport=http2
  local name=hotel-$$-$way-$rate
  start_graph "$way" "$name" "$name"
  timeout 300 "$bin/hotel_loadgen" --transport "$transport" --pool "$name" \
    --port-base "$port_base" --rate "$rate" --duration "$duration" --warmup 1 --seed "$seed" \
    --timeout-ms "$timeout_ms" \
    --cpu-tag "$name" --label "$way" 2> /dev/null || true
  stop_graph
}

results=$(mktemp)
header=way,offered_per_s,achieved_per_s,p50_us,p99_us,p999_us,requests,errors,cpu_us_per_request,checksum
echo "$header" > "$results"
step_out=$(mktemp)
for way in $ways; do
  for rate in $rates; do
    # Not in $(...): the graph's processes must be this shell's children, for stop_graph.
    run_step "$way" "$rate" > "$step_out"
    line=$(cat "$step_out")
    if [ -z "$line" ]; then
      echo "hotel: $way at $rate/s: the load generator gave no result" >&2
      line="$way,$rate,0,0,0,0,0,1,0,none"
    fi
    echo "$line" | tee -a "$results"
    # Saturated: requests failed (deadline 1 s) or the rate was not kept up.
    if awk -F, '{ exit !($8 > 0 || $3 < 0.9 * $2) }' <<< "$line"; then
      echo "hotel: $way saturated at $rate/s"
      break
    fi
  done
done

# The same seed, rate and duration must give the same responses every way.
mismatches=$(awk -F, 'NR > 1 && $8 == 0 {
    if (($2) in sum && sum[$2] != $10) { print "rate " $2 ": " way[$2] " " sum[$2] ", " $1 " " $10 }
    sum[$2] = $10; way[$2] = $1 }' "$results")
compared=$(awk -F, 'NR > 1 && $8 == 0 { n[$2]++ } END { c = 0; for (r in n) if (n[r] > 1) c++; print c }' "$results")
if [ -n "$mismatches" ]; then
  echo "hotel: responses differ between ways: $mismatches" >&2
  exit 1
fi
rm -f "$step_out"
echo "hotel: checksums identical across ways at $compared rates"

if [ "$mode" = check ]; then
  if awk -F, 'NR > 1 && $8 > 0 { bad = 1 } END { exit !bad }' "$results"; then
    echo "hotel: requests failed" >&2
    exit 1
  fi
  [ "$compared" -ge 1 ] || { echo "hotel: nothing compared" >&2; exit 1; }
  rm -f "$results"
  exit 0
fi

out=docs/perf/hotel
mkdir -p "$out"
cp "$results" "$out/sweep.csv"
rm -f "$results"

# Latency against offered load, and CPU per request, one line per way.
plot_ways=""
for way in $ways; do plot_ways+="$way "; done
gnuplot <<EOF
set terminal pngcairo size 900,560 font ',10'
set datafile separator ','
set grid
set key outside right top
set logscale y
set output '$out/latency.png'
set title 'hotel reservation: end-to-end latency against offered load (seed $seed)'
set xlabel 'offered requests/s'
set ylabel 'latency (us)'
W = "$plot_ways"
plot for [i=1:words(W)] '$out/sweep.csv' every ::1 \
       using (strcol(1) eq word(W, i) ? \$2 : NaN):4 with linespoints lc i title word(W, i).' p50', \
     for [i=1:words(W)] '$out/sweep.csv' every ::1 \
       using (strcol(1) eq word(W, i) ? \$2 : NaN):5 with linespoints dt 2 lc i title word(W, i).' p99', \
     $slo_us with lines lc rgb 'black' dt 3 title 'p99 objective'
unset logscale y
set output '$out/cpu.png'
set title 'hotel reservation: CPU of the eight services per request'
set ylabel 'CPU us per request'
plot for [i=1:words(W)] '$out/sweep.csv' every ::1 \
       using (strcol(1) eq word(W, i) ? \$2 : NaN):9 with linespoints lc i title word(W, i)
EOF

# The tables, and the highest rate each way held: no failure, 95% of the offered rate kept, p99
# within the objective.
{
  echo "| way | offered/s | achieved/s | p50 µs | p99 µs | p99.9 µs | failed | CPU µs/request |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  awk -F, 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $8, $9 }' \
    "$out/sweep.csv"
  echo
  echo "Highest offered rate held (no failure, 95% of it achieved, p99 within the objective):"
  echo
  echo "| way | p99 objective µs | requests/s | p50 µs there | CPU µs/request there |"
  echo "| --- | --- | --- | --- | --- |"
  for slo in $slos_us; do
    for way in $ways; do
      awk -F, -v way="$way" -v slo="$slo" '
        NR > 1 && $1 == way && $8 == 0 && $3 >= 0.95 * $2 && $5 <= slo { best = $2; p50 = $4; cpu = $9 }
        END { if (best) printf "| %s | %s | %s | %s | %s |\n", way, slo, best, p50, cpu;
              else printf "| %s | %s | none | | |\n", way, slo }' "$out/sweep.csv"
    done
  done
  echo
  echo "p50 and CPU per request over HTTP/2 divided by the same over the pool, at each rate both"
  echo "ways served without a failure:"
  echo
  echo "| offered/s | ways | p50 ratio | CPU ratio |"
  echo "| --- | --- | --- | --- |"
  awk -F, 'NR > 1 && $8 == 0 { p50[$1, $2] = $4; cpu[$1, $2] = $9; if (!($2 in seen)) { seen[$2] = 1; order[n++] = $2 } }
    END { pairs[0] = "http2 pool"; pairs[1] = "http2 hosts"; pairs[2] = "http2+memcached pool+memcached"
          for (i = 0; i < n; i++) for (j = 0; j < 3; j++) {
            split(pairs[j], w, " "); r = order[i]
            if (!(((w[1], r) in p50) && ((w[2], r) in p50)) || p50[w[2], r] == 0 || cpu[w[2], r] <= 0) continue
            printf "| %s | %s / %s | %.1f | %.1f |\n", r, w[1], w[2], p50[w[1], r] / p50[w[2], r],
              cpu[w[1], r] / cpu[w[2], r] } }' "$out/sweep.csv"
} > "$out/tables.md"
cat "$out/tables.md"

# Into docs/PERFORMANCE.md, between the markers of its "Hotel reservation" section.
awk -v tables="$out/tables.md" '
  /<!-- hotel-tables:end -->/ { skipping = 0 }
  !skipping { print }
  /<!-- hotel-tables:begin -->/ { while ((getline line < tables) > 0) print line; skipping = 1 }
' docs/PERFORMANCE.md > docs/PERFORMANCE.md.new
mv docs/PERFORMANCE.md.new docs/PERFORMANCE.md
echo "hotel: wrote $out/ and docs/PERFORMANCE.md (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
