#!/usr/bin/env bash
# Load run of the router against the real local stack: N requests for U users (each with a phone
# and an email) are queued on notify.requests through the gateway's batch endpoint with the router
# stopped; then a router drains them and the script prints requests/s from its metrics. Run twice:
# with a warm directory cache (TTL 60 s, U users re-read rarely) and a cold one (TTL 1 ms: every
# request reads user, devices, preferences and category from Cassandra).
#
#   benches/load/router.sh [requests=50000] [users=1000]
set -euo pipefail
cd "$(dirname "$0")/../.."
total=${1:-50000}
users=${2:-1000}

scripts/stack up >/dev/null
cargo build --release --locked -q -p notify
notify=target/release/notify
export NOTIFY_STORE__KEYSPACE=load_router NOTIFY_INGEST__TENANT_RATE_PER_S=0 NOTIFY_INGEST__TENANT_NOTIFICATIONS_PER_S=0
export NOTIFY_INGEST__LISTEN_ADDR=127.0.0.1:18081 NOTIFY_TELEMETRY__LOG_FILTER=warn
"$notify" migrate >/dev/null
tenant=$("$notify" tenants create --name load | awk '/^tenant_id:/ {print $2}')
creds=$("$notify" apps create --tenant "$tenant" --scopes send,status,admin 2>/dev/null)
auth="$(awk '/^app_key:/ {k=$2} /^app_secret:/ {s=$2} END {print k ":" s}' <<<"$creds")"

run() { # name cache_ttl_ms
  local name=$1 ttl=$2 prefix
  prefix="load-router-$name-$$"
  export NOTIFY_KAFKA__TOPIC_PREFIX=$prefix
  "$notify" topics create >/dev/null
  NOTIFY_TELEMETRY__METRICS_ADDR=127.0.0.1:19465 "$notify" ingest & local ingest=$!
  for _ in $(seq 50); do curl -sf http://127.0.0.1:18081/healthz >/dev/null && break; sleep 0.2; done
  seq "$users" | xargs -P 8 -I{} curl -sf -o /dev/null -u "$auth" -X PUT -H 'content-type: application/json' \
    "http://127.0.0.1:18081/v1/users/u{}" -d '{"phone":"+821012345678","email":"u@example.com"}'
  python3 - "$total" "$users" > /tmp/notify-router-batch.json <<'PY'
import json, sys
total, users = int(sys.argv[1]), int(sys.argv[2])
items = [{"user_id": f"u{i % users + 1}", "category": "load",
          "content": {"sms": {"text": f"load {i}"}, "email": {"subject": "load", "text": f"load {i}"}}}
         for i in range(1000)]
print(json.dumps({"items": items}))
PY
  for _ in $(seq $((total / 1000))); do
    curl -sf -o /dev/null -u "$auth" -H 'content-type: application/json' http://127.0.0.1:18081/v1/notifications/batch \
      --data-binary @/tmp/notify-router-batch.json
  done
  kill "$ingest"; wait "$ingest" 2>/dev/null || true
  NOTIFY_ROUTER__CACHE_TTL_MS=$ttl NOTIFY_ROUTER__GROUP_ID="$prefix" NOTIFY_TELEMETRY__METRICS_ADDR=127.0.0.1:19466 \
    "$notify" router & local router=$!
  # the clock starts at the first routed batch, so start-up and the group join are not counted
  local start="" first=0 done=0
  while [ "$done" -lt "$total" ]; do
    sleep 0.2
    done=$(curl -sf http://127.0.0.1:19466/metrics | awk '/^notify_router_requests_total/ {print $2}' || true)
    done=${done:-0}
    if [ -z "$start" ] && [ "$done" -gt 0 ]; then start=$EPOCHREALTIME; first=$done; fi
  done
  local secs; secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN {print b - a}')
  local measured=$((total - first))
  kill "$router"; wait "$router" 2>/dev/null || true
  awk -v n="$measured" -v s="$secs" -v name="$name" \
    'BEGIN {printf "== router, %s cache: %d requests (2 deliveries each) in %.1f s = %.0f requests/s\n", name, n, s, n / s}'
}
run warm 60000
run cold 1
