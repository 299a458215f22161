#!/usr/bin/env bash
# End-to-end smoke test as a new user would run it: serve on a fresh SQLite data directory,
# load the demo, then let an independent RFC 8785 implementation verify every reseller channel.
# Usage: tools/smoke.sh [path/to/partnerfeed]   (default: target/debug/partnerfeed)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-target/debug/partnerfeed}"
PORT="${SMOKE_PORT:-18080}"
DIR="$(mktemp -d)"
export PARTNERFEED_DATA_DIR="$DIR" RUST_LOG=warn
unset DATABASE_URL
python3 -c 'import rfc8785' 2>/dev/null || pip install -q rfc8785

"$BIN" serve --bind "127.0.0.1:$PORT" >"$DIR/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 1 50); do
    curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
    sleep 0.2
done
"$BIN" demo --products 1000 >"$DIR/demo.txt"
token() { awk -v r="$1:" '$1 == r { print $2 }' "$DIR/demo.txt"; }

# The generator absorbs the demo (polling picks up CLI writes); wait for an empty backlog.
for _ in $(seq 1 100); do
    curl -s "http://127.0.0.1:$PORT/metrics" | grep -q '^partnerfeed_outbox_backlog 0$' \
        && ! curl -s "http://127.0.0.1:$PORT/metrics" | grep -q 'reevaluating{.*} 1' && break
    sleep 0.2
done
python3 tools/verify_replica.py --url "http://127.0.0.1:$PORT" --token "$(token shop-42)" --channel fr-resellers
python3 tools/verify_replica.py --url "http://127.0.0.1:$PORT" --token "$(token market-one)" --channel eu-marketplace
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(token shop-42)" \
    "http://127.0.0.1:$PORT/v1/channels/eu-marketplace/feed")
[ "$status" = 404 ] || { echo "another reseller's channel answered $status, not 404" >&2; exit 1; }
echo "smoke: ok"
