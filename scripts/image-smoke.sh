#!/usr/bin/env bash
# Smoke-tests offerflow's container image with podman: builds it from
# deploy/docker/Dockerfile (binaries built here first, target prebuilt on
# BASE_IMAGE=scratch, since no image registry can be reached from CI), then
# runs a nats-server container and the ingest and worker containers from the
# image, as the Kubernetes manifests run them (user 65532, read-only root
# filesystem, no capabilities, no privilege escalation), sends one signed
# payment.succeeded webhook and waits until the ingest's /v1 API shows the
# customer's access granted. Exits non-zero, with the containers' logs, if
# any step fails.
#
#   ./scripts/image-smoke.sh
#   KEEP=1 ./scripts/image-smoke.sh      keep the work directory (logs, podman store)
#
# Needs podman, curl and openssl (Debian: apt-get install -y podman runc curl
# openssl). Everything podman keeps (images, containers) lives in a
# temporary directory of its own, removed at the end: the machine's podman
# store is not touched.
#
# Why these podman options, on these machines: crun refuses to run on a
# host with cgroups in hybrid mode (v1 controllers and a v2 mount), so runc
# runs the containers when it is installed; the session has no
# CAP_SYS_RESOURCE, so podman's default rlimits (above the current hard
# limits) cannot be set and --ulimit asks for lower ones; vfs storage works
# on any filesystem; host networking avoids needing a bridge and firewall
# rules, so every port is taken free on loopback first.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN="${GOTOOLCHAIN_CHECK:-go1.27.3}"

for tool in podman curl openssl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "image-smoke: $tool is needed" >&2; exit 1; }
done

work="$(mktemp -d /tmp/offerflow-image-smoke.XXXXXX)"
name="offerflow-smoke-$$"
podman=(podman --root "$work/storage" --runroot "$work/run" --storage-driver vfs --cgroup-manager cgroupfs)
if command -v runc >/dev/null 2>&1; then
  podman+=(--runtime "$(command -v runc)")
fi
run=(run -d --network host --read-only --cap-drop ALL --security-opt no-new-privileges
  --user 65532:65532 --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 --tmpfs /tmp:rw,size=16m)

logs() {
  for c in nats ingest worker; do
    echo "--- $c logs" >&2
    "${podman[@]}" logs "$name-$c" >&2 2>&1 || true
  done
}
cleanup() {
  for c in worker ingest nats; do
    "${podman[@]}" rm -f -t 5 "$name-$c" >/dev/null 2>&1 || true
  done
  if [ -n "${KEEP:-}" ]; then
    echo "image-smoke: kept $work" >&2
  else
    "${podman[@]}" system reset -f >/dev/null 2>&1 || true
    rm -rf "$work"
  fi
}
trap cleanup EXIT
fail() {
  echo "image-smoke: FAIL: $*" >&2
  logs
  exit 1
}

# free_port prints a loopback TCP port that nothing listens on.
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  echo "image-smoke: no free port" >&2
  exit 1
}

# wait_http URL [CURL ARGS...]: until URL answers 2xx, at most 60 s.
wait_http() {
  local url="$1"
  shift
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null "$@" "$url" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$url did not answer 2xx within 60s"
    sleep 0.5
  done
}

echo "== build the binaries (static) and nats-server"
mkdir -p "$work/ctx/bin"
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o bin/ ./cmd/ingest ./cmd/worker
# The nats-server of go.mod, the version the tests embed.
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/ctx/bin/nats-server" github.com/nats-io/nats-server/v2

echo "== build the image (deploy/docker/Dockerfile, target prebuilt, BASE_IMAGE=scratch)"
"${podman[@]}" build -q -f deploy/docker/Dockerfile --target prebuilt --build-arg BASE_IMAGE=scratch \
  --build-arg TARGETOS="$(go env GOOS)" --build-arg TARGETARCH="$(go env GOARCH)" --build-arg VERSION=smoke --build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  -t localhost/offerflow:smoke . >/dev/null
user="$("${podman[@]}" image inspect --format '{{.Config.User}}' localhost/offerflow:smoke)"
[ "$user" = "65532:65532" ] || fail "the image's user is \"$user\", want 65532:65532"
printf 'FROM scratch\nCOPY bin/nats-server /nats-server\nUSER 65532:65532\nENTRYPOINT ["/nats-server"]\n' > "$work/ctx/Containerfile"
"${podman[@]}" build -q -f "$work/ctx/Containerfile" -t localhost/nats-server:smoke "$work/ctx" >/dev/null

nats_port="$(free_port)"
ingest_port="$(free_port)"
metrics_port="$(free_port)"
worker_port="$(free_port)"
secret="whsec_$(openssl rand -base64 32)"
token="$(openssl rand -hex 24)"
nats_url="nats://127.0.0.1:$nats_port"

echo "== start nats-server (JetStream), ingest and worker"
"${podman[@]}" "${run[@]}" --name "$name-nats" --tmpfs /data:rw,size=256m,mode=1777 \
  localhost/nats-server:smoke -a 127.0.0.1 -p "$nats_port" -js -sd /data >/dev/null
"${podman[@]}" "${run[@]}" --name "$name-ingest" \
  -e NATS_URL="$nats_url" -e DODO_WEBHOOK_SECRET="$secret" -e OFFERFLOW_API_TOKEN="$token" \
  -e INGEST_ADDR="127.0.0.1:$ingest_port" -e INGEST_METRICS_ADDR="127.0.0.1:$metrics_port" \
  localhost/offerflow:smoke /usr/local/bin/ingest >/dev/null
"${podman[@]}" "${run[@]}" --name "$name-worker" \
  -e NATS_URL="$nats_url" -e WORKER_METRICS_ADDR="127.0.0.1:$worker_port" \
  localhost/offerflow:smoke /usr/local/bin/worker >/dev/null

wait_http "http://127.0.0.1:$ingest_port/readyz"
wait_http "http://127.0.0.1:$worker_port/readyz"
wait_http "http://127.0.0.1:$metrics_port/metrics"

echo "== send one signed payment.succeeded"
customer="cus_smoke_$$"
product="pdt_smoke"
id="msg_smoke_$$_$RANDOM"
ts="$(date +%s)"
now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
body="$(cat <<JSON
{"business_id":"bus_smoke","type":"payment.succeeded","timestamp":"$now","data":{"payload_type":"Payment","payment_id":"pay_smoke_$$","status":"succeeded","business_id":"bus_smoke","brand_id":"bus_smoke","payment_provider":"dodo","subscription_id":null,"customer":{"customer_id":"$customer","email":"smoke@example.com","name":"Smoke Test","phone_number":null,"metadata":{}},"product_cart":[{"product_id":"$product","quantity":1}],"total_amount":1000,"currency":"USD","settlement_amount":1000,"settlement_currency":"USD","billing":{"country":"US","state":"CA","city":"San Francisco","street":"123 Main St","zipcode":"94102"},"metadata":{},"disputes":[],"refunds":[],"digital_products_delivered":false,"is_update_payment_method":false,"retry_attempt":0,"payment_method":"card","card_last_four":"4242","card_network":"VISA","created_at":"$now"}}
JSON
)"
# Standard Webhooks: base64(HMAC-SHA256(key, "id.timestamp.body")), the key
# being the base64 after whsec_.
key_hex="$(printf '%s' "${secret#whsec_}" | openssl base64 -d -A | od -An -v -tx1 | tr -d ' \n')"
sig="$(printf '%s.%s.%s' "$id" "$ts" "$body" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key_hex" -binary | openssl base64 -A)"
answer="$(curl -sS -w ' %{http_code}' -X POST "http://127.0.0.1:$ingest_port/webhooks/dodo" \
  -H 'content-type: application/json' -H "webhook-id: $id" -H "webhook-timestamp: $ts" \
  -H "webhook-signature: v1,$sig" --data-binary "$body")" || fail "POST /webhooks/dodo: $answer"
echo "   <- $answer"
case "$answer" in
*'"status":"stored"'*' 200') ;;
*) fail "the webhook was not stored: $answer" ;;
esac

echo "== wait for the worker to grant access"
deadline=$((SECONDS + 60))
while :; do
  access="$(curl -sS -H "authorization: Bearer $token" "http://127.0.0.1:$ingest_port/v1/customers/$customer/access" || true)"
  case "$access" in
  *"$product"*'"active"'* | *'"active"'*"$product"*) break ;;
  esac
  [ "$SECONDS" -lt "$deadline" ] || fail "no access granted within 60s; last answer: $access"
  sleep 0.5
done
echo "   access: $access"

curl -fsS "http://127.0.0.1:$metrics_port/metrics" | grep -q '^offerflow_ingest_requests_total{code="200"} 1$' ||
  fail "the ingest's /metrics does not count the one 200"
echo "image-smoke: ok (image user 65532, read-only root filesystem, no capabilities; webhook stored, access granted)"
