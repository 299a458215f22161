#!/usr/bin/env bash
# End-to-end smoke test as a new user would run it: serve on a fresh SQLite data directory,
# load the demo, let an independent RFC 8785 implementation verify every reseller channel, then
# subscribe a webhook receiver that checks signatures with the `standardwebhooks` library and
# see a vendor edit arrive.
# Usage: tools/smoke.sh [path/to/partnerfeed]   (default: target/debug/partnerfeed)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-target/debug/partnerfeed}"
PORT="${SMOKE_PORT:-18080}"
HOOK_PORT="${SMOKE_HOOK_PORT:-18081}"
DIR="$(mktemp -d)"
export PARTNERFEED_DATA_DIR="$DIR" RUST_LOG=warn PARTNERFEED_WEBHOOK_ALLOW=127.0.0.0/8
unset DATABASE_URL
python3 -c 'import rfc8785, standardwebhooks' 2>/dev/null || pip install -q rfc8785 standardwebhooks

"$BIN" serve --bind "127.0.0.1:$PORT" >"$DIR/serve.log" 2>&1 &
SERVER=$!
RECEIVER=""
trap 'kill $SERVER $RECEIVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 1 50); do
    curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
    sleep 0.2
done
"$BIN" demo --products 1000 >"$DIR/demo.txt"
token() { awk -v r="$1:" '$1 == r { print $2 }' "$DIR/demo.txt"; }
# Tokens made by another process (the demo) are known to the server within a second.
for _ in $(seq 1 50); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(token shop-42)" \
        "http://127.0.0.1:$PORT/v1/channels")" = 200 ] && break
    sleep 0.1
done

# The generator absorbs the demo (polling picks up CLI writes); wait for an empty backlog.
for _ in $(seq 1 100); do
    metrics() { curl -s -H "Authorization: Bearer $(cat "$DIR/admin.token")" "http://127.0.0.1:$PORT/metrics"; }
    metrics | grep -q '^partnerfeed_outbox_backlog 0$' \
        && ! metrics | grep -q 'reevaluating{.*} 1' && break
    sleep 0.2
done
python3 tools/verify_replica.py --url "http://127.0.0.1:$PORT" --token "$(token shop-42)" --channel fr-resellers
python3 tools/verify_replica.py --url "http://127.0.0.1:$PORT" --token "$(token market-one)" --channel eu-marketplace
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(token shop-42)" \
    "http://127.0.0.1:$PORT/v1/channels/eu-marketplace/feed")
[ "$status" = 404 ] || { echo "another reseller's channel answered $status, not 404" >&2; exit 1; }
# Push: a receiver verifying signatures with the standardwebhooks library gets a vendor edit.
SHOP="$(token shop-42)"
sub=$(curl -sf -X POST "http://127.0.0.1:$PORT/v1/channels/fr-resellers/subscriptions" \
    -H "Authorization: Bearer $SHOP" -H 'Content-Type: application/json' \
    -d "{\"url\": \"http://127.0.0.1:$HOOK_PORT/hook\", \"format\": \"json\"}")
secret=$(printf '%s' "$sub" | python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])')
python3 tools/webhook_receiver.py "$HOOK_PORT" "$secret" >"$DIR/hooks.log" 2>&1 &
RECEIVER=$!
sku=$(curl -sf "http://127.0.0.1:$PORT/v1/channels/fr-resellers/changes?limit=1" \
    -H "Authorization: Bearer $SHOP" | python3 -c 'import json, sys; print(json.load(sys.stdin)["changes"][0]["sku"])')
sleep 0.5
curl -sf -o /dev/null -X PATCH "http://127.0.0.1:$PORT/v1/products/$sku" \
    -H "Authorization: Bearer $(cat "$DIR/admin.token")" \
    -H 'Content-Type: application/merge-patch+json' -d '{"brand": "Smoke Test"}'
for _ in $(seq 1 50); do
    grep -q "^verified .* $sku\$" "$DIR/hooks.log" && break
    sleep 0.2
done
if ! grep -q "^verified .* $sku\$" "$DIR/hooks.log"; then
    echo "the edit of $sku did not arrive as a verified webhook:" >&2
    cat "$DIR/hooks.log" >&2
    exit 1
fi
grep "^verified" "$DIR/hooks.log" | head -n3

echo "smoke: ok"
