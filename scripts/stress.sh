#!/usr/bin/env bash
# Runs the whole test suite N times in a row (default 20) with the race
# detector and -count=1, beside a CPU-heavy background load, and prints a
# table of failures per test. A test that fails in any run is a bug, in the
# code or in the test: find which before saying an issue is resolved.
#
#   ./scripts/stress.sh              20 runs
#   ./scripts/stress.sh 5            5 runs
#   STRESS_CPU=all ./scripts/stress.sh 3
#
# Settings (environment):
#   STRESS_CPU   rotate (default): run i passes -cpu 1, 2, 4, then none (the
#                machine's cores), in turn, so every GOMAXPROCS is tried;
#                all: every run passes -cpu 1,2,4 (each test three times, so
#                three times as long)
#   STRESS_LOAD  busy processes beside the tests (default: one per core)
#   STRESS_PKGS  packages (default ./...)
#   STRESS_LOGS  where each run's output is kept (default a temporary dir)
#
# Steady (the mock of Dodo's API) is found as scripts/check.sh finds it:
# STEADY_BIN, steady on PATH, or .tools/ (run check.sh once to install it).
set -uo pipefail
cd "$(dirname "$0")/.."
# The toolchain check.sh tests with (see there).
export GOTOOLCHAIN="${GOTOOLCHAIN_CHECK:-go1.27.3}"

runs="${1:-20}"
case "$runs" in
'' | *[!0-9]*)
  echo "usage: $0 [runs]   (runs is a positive number, default 20)" >&2
  exit 2
  ;;
esac
if [ "$runs" -lt 1 ]; then
  echo "usage: $0 [runs]   (runs is a positive number, default 20)" >&2
  exit 2
fi
cpu_mode="${STRESS_CPU:-rotate}"
case "$cpu_mode" in
rotate | all) ;;
*)
  echo "STRESS_CPU must be rotate or all, not $cpu_mode" >&2
  exit 2
  ;;
esac
cores="$(nproc)"
load="${STRESS_LOAD:-$cores}"
pkgs="${STRESS_PKGS:-./...}"
logs="${STRESS_LOGS:-$(mktemp -d /tmp/offerflow-stress.XXXXXX)}"
mkdir -p "$logs"

if [ -z "${STEADY_BIN:-}" ] && ! command -v steady >/dev/null 2>&1 && [ -x .tools/node_modules/.bin/steady ]; then
  export STEADY_BIN="$PWD/.tools/node_modules/.bin/steady"
fi

# The background load: busy loops at normal priority, competing with the
# tests for every core, so that timing assumptions in tests and code show.
loaders=()
stop_load() {
  for pid in "${loaders[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${loaders[@]}"; do wait "$pid" 2>/dev/null; done
  loaders=()
}
trap stop_load EXIT
trap 'stop_load; exit 130' INT TERM
for _ in $(seq 1 "$load"); do
  (while :; do :; done) &
  loaders+=("$!")
done

echo "stress: $runs runs of go test -race -count=1 $pkgs, cpu $cpu_mode, $load busy processes on $cores cores; logs in $logs"
failed_runs=0
start_all=$(date +%s)
for i in $(seq 1 "$runs"); do
  cpu_flag=()
  case "$cpu_mode" in
  all) cpu_flag=(-cpu 1,2,4) ;;
  rotate)
    case $(((i - 1) % 4)) in
    0) cpu_flag=(-cpu 1) ;;
    1) cpu_flag=(-cpu 2) ;;
    2) cpu_flag=(-cpu 4) ;;
    esac
    ;;
  esac
  log="$logs/run-$i.log"
  start=$(date +%s)
  # shellcheck disable=SC2086 # pkgs may name several packages
  go test -race -count=1 -timeout 20m "${cpu_flag[@]}" $pkgs >"$log" 2>&1
  rc=$?
  took=$(($(date +%s) - start))
  if [ "$rc" -eq 0 ]; then
    echo "run $i/$runs ${cpu_flag[*]:-(default cpu)}: ok (${took}s)"
  else
    failed_runs=$((failed_runs + 1))
    echo "run $i/$runs ${cpu_flag[*]:-(default cpu)}: FAIL (${took}s), see $log"
  fi
done
stop_load

# The table: each failing test (subtests included) and each failing
# package, with the runs it failed in. A package can fail with no failing
# test (a goleak report in TestMain, a panic, a timeout, a build error).
echo
echo "failures per test, over $runs runs ($(($(date +%s) - start_all))s):"
table="$(
  for i in $(seq 1 "$runs"); do
    log="$logs/run-$i.log"
    [ -f "$log" ] || continue
    grep -oE -- '--- FAIL: [^ ]+' "$log" | sed 's/--- FAIL: //' | sort -u | sed "s/\$/ $i/"
    grep -E '^FAIL[[:space:]]+[^[:space:]]+' "$log" | awk '{print $2}' | sort -u | while read -r pkg; do
      echo "$pkg(package) $i"
    done
  done | awk '{runs[$1] = runs[$1] " " $2; n[$1]++} END {for (t in n) printf "%4d  %-90s runs:%s\n", n[t], t, runs[t]}' | sort -k1,1nr -k2
)"
if [ -z "$table" ]; then
  echo "   none"
else
  echo "   n  test                                                                                       runs"
  echo "$table"
fi
echo
if [ "$failed_runs" -gt 0 ]; then
  echo "stress: $failed_runs of $runs runs failed"
  exit 1
fi
echo "stress: all $runs runs passed"
