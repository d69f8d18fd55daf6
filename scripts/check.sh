#!/usr/bin/env bash
# Runs every check offerflow has: formatting, vet, staticcheck, all tests with the race
# detector (embedded NATS servers, worker processes killed and restarted),
# and a short run of every fuzz target. Exits non-zero if anything fails.
#
#   ./scripts/check.sh                everything
#   FUZZTIME=200000x ./scripts/check.sh  fuzz longer (executions per target)
#   FUZZTIME=0 ./scripts/check.sh     skip the fuzzing runs (the seeds still run as tests)
set -euo pipefail
cd "$(dirname "$0")/.."

# The toolchain of go.mod's toolchain line: Go 1.26.8's standard library
# has known vulnerabilities that offerflow's code reaches (html/template,
# net/http; govulncheck below lists them), fixed in the 1.27.3 the go
# command fetches from the module proxy. Set here because machines whose
# Go says GOTOOLCHAIN=local in its go.env ignore that line.
export GOTOOLCHAIN="${GOTOOLCHAIN_CHECK:-go1.27.3}"
go version

# A budget in executions, not seconds: with a duration, Go 1.26's fuzz
# coordinator can end a run with a bare "context deadline exceeded" when
# the time runs out while a worker is busy (golang/go#75804, fixed in Go
# 1.27), a failure that says nothing about our code. A count has no
# deadline to race. 5000 executions take 1 to 10 s a target here.
fuzztime="${FUZZTIME:-5000x}"

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

echo "== staticcheck"
# Finds what vet does not (unused code, checks that cannot fail, simpler
# forms). Pinned; the go command builds it from the module proxy once and
# caches it.
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

echo "== govulncheck"
# Known vulnerabilities on the code's call paths, in the standard library
# and every module; any finding fails. vuln.go.dev cannot be reached from
# CI, so the database is a pinned snapshot: golang.org/x/vulndb (the
# database's source, a module on the proxy) built by its own indexdb into
# the form govulncheck reads, once per checkout into .tools/. Move the
# snapshot forward with the pin (docs/contributing.md says how).
vulndb_version=v0.0.0-20261105234957-e22db6528018
vulndb=".tools/vulndb-$vulndb_version"
if [ ! -f "$vulndb/index/db.json" ]; then
  vulndb_src="$(go mod download -json "golang.org/x/vulndb@$vulndb_version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  rm -rf "$vulndb"
  go run "golang.org/x/vulndb/cmd/indexdb@$vulndb_version" -vulns "$vulndb_src/data/osv" -out "$vulndb"
fi
go run golang.org/x/vuln/cmd/govulncheck@v1.9.0 -db "file://$PWD/$vulndb" ./...

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

echo "== asyncapi"
# The published contract (contract/asyncapi.yaml and its schema files)
# parsed by AsyncAPI's own parser (npm @asyncapi/parser, pinned, installed
# into .tools/ like Steady); any diagnostic of error severity fails. The
# Go tests check the rest: every published message against its schema,
# every subject of the code against the channels (package contract).
asyncapi_parser_version=3.6.6
if [ "$(node -p "require('./.tools/node_modules/@asyncapi/parser/package.json').version" 2>/dev/null)" != "$asyncapi_parser_version" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm is needed to install @asyncapi/parser, which validates contract/asyncapi.yaml" >&2
    exit 1
  fi
  npm install --no-audit --no-fund --loglevel=error --prefix .tools "@asyncapi/parser@$asyncapi_parser_version" >/dev/null
fi
node scripts/asyncapi-validate.js contract/asyncapi.yaml
# The check can fail: a copy whose operations have no valid action must be
# refused.
broken="$(mktemp -d)"
cp -R contract/. "$broken"
sed -i.orig 's/action: send/action: publish/' "$broken/asyncapi.yaml"
if node scripts/asyncapi-validate.js "$broken/asyncapi.yaml" >/dev/null 2>&1; then
  echo "asyncapi: a broken copy of contract/asyncapi.yaml passed the parser" >&2
  exit 1
fi
rm -rf "$broken"

echo "== sdk-test"
# Dodo's official TypeScript SDK (dodopayments, pinned in
# scripts/sdk-test/package-lock.json) for the stand-in's test that every
# route the SDK has a method for answers what the SDK can parse
# (TestTypeScriptSDK in internal/dodo/standin; it skips without them).
if [ ! -d scripts/sdk-test/node_modules/dodopayments ]; then
  npm ci --no-audit --no-fund --loglevel=error --prefix scripts/sdk-test >/dev/null
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
      # Minimizing a new input is bounded by executions too.
      if ! go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" -fuzzminimizetime=100x "$dir" > /tmp/offerflow-fuzz.log 2>&1; then
        cat /tmp/offerflow-fuzz.log
        case "$fuzztime" in
        *x) ;;
        *) echo "(a bare 'context deadline exceeded' with no failing input is Go's fuzz coordinator racing the duration, golang/go#75804: give FUZZTIME as executions, e.g. 200000x)" >&2 ;;
        esac
        exit 1
      fi
      tail -n 1 /tmp/offerflow-fuzz.log
    done
  done
fi

echo "== image smoke"
# The container image built and run with podman (scripts/image-smoke.sh):
# one signed webhook through the ingest and worker containers. CI installs
# podman (.ci/run) and sets REQUIRE_IMAGE_SMOKE=1; elsewhere a machine
# without podman skips it, saying so.
if command -v podman >/dev/null 2>&1; then
  ./scripts/image-smoke.sh
elif [ "${REQUIRE_IMAGE_SMOKE:-}" = "1" ]; then
  echo "image smoke: podman is not installed (apt-get install -y podman runc)" >&2
  exit 1
else
  echo "skipped: podman is not installed (apt-get install -y podman runc curl openssl to run it)"
fi

echo "all checks passed"
