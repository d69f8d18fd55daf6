#!/usr/bin/env bash
# Runs every check offerflow has: formatting, vet, all tests with the race
# detector (embedded NATS servers, worker processes killed and restarted),
# and a short run of every fuzz target. Exits non-zero if anything fails.
#
#   ./scripts/check.sh              everything
#   FUZZTIME=60s ./scripts/check.sh fuzz longer
#   FUZZTIME=0 ./scripts/check.sh   skip the fuzzing runs (the seeds still run as tests)
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-5s}"

if [ ! -f ../shared/dodo/openapi.json ]; then
  echo "note: ../shared/dodo/openapi.json is missing; internal/events tests need Dodo's spec there (CI keeps shared/ beside the checkout)" >&2
fi

echo "== go mod download"
go mod download

echo "== gofmt"
unformatted="$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2
  echo "$unformatted" >&2
  exit 1
fi

echo "== go vet"
go vet ./...

echo "== steady"
# Steady (npm @stdy/cli) is the mock of Dodo's API, on Dodo's OpenAPI spec,
# that the contract tests of internal/dodo send every request to. Without
# STEADY_BIN or steady on PATH, install the pinned version into .tools/.
if [ -z "${STEADY_BIN:-}" ] && ! command -v steady >/dev/null 2>&1; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm is needed to install Steady (@stdy/cli) for the Dodo contract tests; or set STEADY_BIN" >&2
    exit 1
  fi
  npm install --no-audit --no-fund --loglevel=error --prefix .tools @stdy/cli@0.22.2 >/dev/null
  export STEADY_BIN="$PWD/.tools/node_modules/.bin/steady"
fi

echo "== go test -race"
go test -race -count=1 -timeout 15m ./...

if [ "$fuzztime" != "0" ]; then
  echo "== fuzz ($fuzztime each)"
  # Every fuzz target in the module: package directory and name.
  grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
    dir="$(dirname "$file")"
    for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //'); do
      echo "-- $dir $target"
      # Minimizing new inputs is bounded by executions, not time: a time
      # bound still running when -fuzztime ends makes Go report a bare
      # "context deadline exceeded" (seen in about 1 of 3 runs of some
      # targets); 100 executions end well within the budget.
      fuzz() { go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" -fuzzminimizetime=100x "$dir" > /tmp/offerflow-fuzz.log 2>&1; }
      if ! fuzz; then
        # Go's fuzzer can end a run with a bare "context deadline exceeded"
        # when the time runs out while a worker is busy (a loaded machine);
        # that is no failing input. Only then, run the target once more. A
        # real failure names its input ("Failing input written to ...").
        bare() { grep -q 'context deadline exceeded' /tmp/offerflow-fuzz.log && ! grep -q 'Failing input' /tmp/offerflow-fuzz.log; }
        if ! bare; then
          cat /tmp/offerflow-fuzz.log; exit 1
        fi
        echo "   (fuzzer ended on a bare deadline error, no failing input; running it once more)"
        if ! fuzz; then
          bare || { cat /tmp/offerflow-fuzz.log; exit 1; }
          # Twice the same engine error and still no input that fails the
          # target: nothing was found; say so and go on.
          echo "   (again without a failing input: Go's fuzzer deadline error, not a finding)"
        fi
      fi
      tail -n 1 /tmp/offerflow-fuzz.log
    done
  done
fi

echo "all checks passed"
