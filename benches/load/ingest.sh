#!/usr/bin/env bash
# Load run of the ingest gateway against the real local stack: single and batch requests with wrk
# (Debian package `wrk`). Prints requests/s and notifications/s. Every 202 in these numbers was
# acknowledged by Kafka (acks=all). The per-tenant rate limit is switched off for the run.
#
#   benches/load/ingest.sh [duration_s=20] [connections=64]
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-20}
connections=${2:-64}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 2; }

scripts/stack up >/dev/null
cargo build --release --locked -q -p notify
notify=target/release/notify
export NOTIFY_STORE__KEYSPACE=load_ingest NOTIFY_KAFKA__TOPIC_PREFIX=load
export NOTIFY_INGEST__TENANT_RATE_PER_S=0 NOTIFY_INGEST__TENANT_NOTIFICATIONS_PER_S=0 NOTIFY_INGEST__LISTEN_ADDR=127.0.0.1:18080
export NOTIFY_TELEMETRY__METRICS_ADDR=127.0.0.1:19464 NOTIFY_TELEMETRY__LOG_FILTER=warn
"$notify" migrate >/dev/null
"$notify" topics create >/dev/null
tenant=$("$notify" tenants create --name load | awk '/^tenant_id:/ {print $2}')
creds=$("$notify" apps create --tenant "$tenant" --scopes send,status,admin 2>/dev/null)
key=$(awk '/^app_key:/ {print $2}' <<<"$creds")
secret=$(awk '/^app_secret:/ {print $2}' <<<"$creds")
NOTIFY_AUTH="Basic $(printf '%s:%s' "$key" "$secret" | base64 -w0)"
export NOTIFY_AUTH

"$notify" ingest & pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 50); do curl -sf http://127.0.0.1:18080/readyz >/dev/null && break; sleep 0.2; done

echo "== single: POST /v1/notifications, ${duration}s, $connections connections"
wrk -t2 -c"$connections" -d"${duration}s" --latency -s benches/load/single.lua http://127.0.0.1:18080 | tee /tmp/notify-load-single.txt
echo "== batch: POST /v1/notifications/batch (100 per request), ${duration}s, 16 connections"
wrk -t2 -c16 -d"${duration}s" --latency -s benches/load/batch.lua http://127.0.0.1:18080 | tee /tmp/notify-load-batch.txt
rps=$(awk '/Requests\/sec/ {print $2}' /tmp/notify-load-batch.txt)
echo "== batch notifications/s: $(awk -v r="$rps" 'BEGIN {printf "%.0f", r * 100}')"
non2xx=$(grep -h "Non-2xx" /tmp/notify-load-single.txt /tmp/notify-load-batch.txt || true)
echo "== non-2xx responses: ${non2xx:-none}"
