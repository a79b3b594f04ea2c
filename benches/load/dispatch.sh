#!/usr/bin/env bash
# Load run of the dispatchers against the real local stack and the provider simulators: for each
# channel, N rendered deliveries for U users are queued on notify.deliveries.<channel> with the
# dispatcher stopped; then one release dispatcher drains them through the real provider client
# (HTTP/2 + TLS for APNs, OAuth2 for FCM, RFC 8291 encryption for web push, Twilio REST for SMS,
# SendGrid REST for email) into `notify sim`, and the script prints deliveries/s. Each channel is
# run with 0 ms and with 50 ms of latency injected at the simulators.
#
#   benches/load/dispatch.sh [deliveries=5000] [users=1000] [channels="apns fcm webpush sms email"]
set -euo pipefail
cd "$(dirname "$0")/../.."
total=${1:-5000}
users=${2:-1000}
channels=${3:-apns fcm webpush sms email}

scripts/stack up >/dev/null
cargo build --release --locked -q -p notify -p notify-benches --bin notify --bin load_deliveries
notify=target/release/notify
load=target/release/load_deliveries
simdir=$(mktemp -d)
export NOTIFY_STORE__KEYSPACE=load_dispatch NOTIFY_TELEMETRY__LOG_FILTER=warn
"$notify" migrate >/dev/null
"$notify" sim --dir "$simdir" --port-base 47200 >"$simdir/sim.out" 2>&1 & sim=$!
trap 'kill $sim 2>/dev/null || true; rm -rf "$simdir"' EXIT
for _ in $(seq 50); do [ -s "$simdir/providers.toml" ] && break; sleep 0.2; done
sims=$(awk '/_sim\/ledger/ {print $2}' "$simdir/sim.out")
webpush=$(awk '/^webpush:/ {print $2}' "$simdir/sim.out")

run() { # channel latency_ms
  local channel=$1 latency=$2 prefix
  prefix="load-dispatch-$channel-$latency-$$"
  export NOTIFY_KAFKA__TOPIC_PREFIX=$prefix NOTIFY_DISPATCH__GROUP_ID_PREFIX=$prefix
  export NOTIFY_DISPATCH__RETRY_GROUP_ID_PREFIX=$prefix-retry
  "$notify" topics create >/dev/null
  for url in $sims; do
    curl -sf --cacert "$simdir/sim-ca.pem" -X PUT -H 'content-type: application/json' "$url/_sim/faults" -d "{\"latency_ms\":$latency}"
  done
  "$load" "$channel" "$total" "$users" --webpush-sim "$webpush" 2>/dev/null
  NOTIFY_TELEMETRY__METRICS_ADDR=127.0.0.1:19467 \
    "$notify" --config "$simdir/providers.toml" dispatch --channel "$channel" & local dispatcher=$!
  # the clock starts at the first delivery, so start-up and the group join are not counted
  local start="" first=0 done=0 deadline=$((SECONDS + 600))
  while [ "$done" -lt "$total" ]; do
    sleep 0.2
    [ "$SECONDS" -lt "$deadline" ] || { echo "dispatch $channel: only $done of $total after 600 s" >&2; break; }
    done=$(curl -sf http://127.0.0.1:19467/metrics \
      | awk '/^notify_dispatch_deliveries_total/ {n += $2} END {print n + 0}' || echo 0)
    done=${done%.*}
    if [ -z "$start" ] && [ "$done" -gt 0 ]; then start=$EPOCHREALTIME; first=$done; fi
  done
  local secs; secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN {print b - a}')
  local sent; sent=$(curl -sf http://127.0.0.1:19467/metrics \
    | awk '/^notify_dispatch_deliveries_total/ && /outcome="sent"/ {n += $2} END {print n + 0}')
  kill "$dispatcher"; wait "$dispatcher" 2>/dev/null || true
  awk -v n="$((total - first))" -v s="$secs" -v ch="$channel" -v l="$latency" -v sent="$sent" \
    'BEGIN {printf "== dispatch %-8s latency %2d ms: %d deliveries in %.1f s = %.0f deliveries/s (%d sent)\n", ch, l, n, s, n / s, sent}'
}
for latency in 0 50; do
  for channel in $channels; do
    run "$channel" "$latency"
  done
done
