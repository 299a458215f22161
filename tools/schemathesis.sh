#!/usr/bin/env bash
# API conformance: schemathesis generates requests from /openapi.json of a running server and
# checks that none answers 5xx, that every status, content type and body matches the document,
# and (through the document: every error response is application/problem+json with the Problem
# schema) that every error is a problem. Before that, openapi-spec-validator checks the served
# document itself against the OpenAPI 3.1 specification (structure, every `$ref`, every schema
# against the 2020-12 dialect). Runs on a fresh SQLite file, then on a fresh PostgreSQL
# database that it creates and drops, each loaded with the demo.
# Usage: tools/schemathesis.sh [path/to/partnerfeed]   (default: target/debug/partnerfeed)
# Environment: ST_MAX_EXAMPLES (default 50 per operation), ST_PG_BASE (default
# postgres://postgres@127.0.0.1:5432), ST_VENV (default target/schemathesis-venv),
# ST_BACKENDS (default "sqlite postgres").
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(realpath "${1:-target/debug/partnerfeed}")"
ST_VERSION=4.32.5
OSV_VERSION=0.9.0
MAX_EXAMPLES="${ST_MAX_EXAMPLES:-50}"
PG_BASE="${ST_PG_BASE:-postgres://postgres@127.0.0.1:5432}"
VENV="$(realpath -m "${ST_VENV:-target/schemathesis-venv}")"
TOOLS="$(pwd)/tools"
REPORTS="$(pwd)/target/schemathesis"
BACKENDS="${ST_BACKENDS:-sqlite postgres}"

if [ "$("$VENV/bin/st" --version 2>/dev/null)" != "st, version $ST_VERSION" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "schemathesis==$ST_VERSION"
fi
if ! "$VENV/bin/pip" show -q "openapi-spec-validator" 2>/dev/null ||
    [ "$("$VENV/bin/pip" show openapi-spec-validator | awk '$1 == "Version:" { print $2 }')" != "$OSV_VERSION" ]; then
    "$VENV/bin/pip" install -q "openapi-spec-validator==$OSV_VERSION"
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

WORK="$(mktemp -d)"
SERVER=""
PG_DB=""
cleanup() {
    if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
    if [ -n "$PG_DB" ]; then psql -q "$PG_BASE/postgres" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# One pass: serve on `$1` (a database URL), load the demo, run schemathesis with the admin token.
run_pass() {
    local name="$1" url="$2" dir="$WORK/$1" port
    mkdir -p "$dir"
    port="$(free_port)"
    PARTNERFEED_DATA_DIR="$dir" DATABASE_URL="$url" RUST_LOG=warn PARTNERFEED_RATE_LIMIT=0 PARTNERFEED_TOKEN_CONCURRENCY=0 \
        PARTNERFEED_WEBHOOK_ALLOW=127.0.0.0/8 \
        "$BIN" serve --bind "127.0.0.1:$port" >"$dir/serve.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
        sleep 0.2
    done
    PARTNERFEED_DATA_DIR="$dir" DATABASE_URL="$url" "$BIN" demo --products 200 >"$dir/demo.txt"
    local base="http://127.0.0.1:$port" admin shop started=$SECONDS status=0
    admin="$(cat "$dir/admin.token")"
    shop="$(awk '$1 == "shop-42:" { print $2 }' "$dir/demo.txt")"
    # Tokens made by another process (the demo) are known to the server within a second.
    for _ in $(seq 1 50); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $shop" "$base/v1/channels")" = 200 ] && break
        sleep 0.1
    done
    # Values for the path parameters (tools/schemathesis.toml): a product and a subscription.
    ST_SKU="$(curl -sf "$base/v1/products?limit=1" -H "Authorization: Bearer $admin" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["products"][0]["sku"])')"
    ST_SUBSCRIPTION="$(curl -sf -X POST "$base/v1/channels/fr-resellers/subscriptions" \
        -H "Authorization: Bearer $shop" -H 'Content-Type: application/json' \
        -d '{"url": "http://127.0.0.1:9/hook", "format": "json"}' |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')"
    export ST_SKU ST_SUBSCRIPTION
    echo "== openapi-spec-validator on the $name server's /openapi.json"
    curl -sf "$base/openapi.json" -o "$dir/openapi.json"
    "$VENV/bin/openapi-spec-validator" --schema 3.1 --validation-errors all "$dir/openapi.json" || status=1
    echo "== schemathesis on $name (at most $MAX_EXAMPLES examples per operation)"
    (cd "$WORK" && PYTHONPATH="$TOOLS" "$VENV/bin/st" --config-file "$TOOLS/schemathesis.toml" \
        run "$base/openapi.json" \
        --header "Authorization: Bearer $admin" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
        --max-examples "$MAX_EXAMPLES" --seed 1 --workers 2 \
        --suppress-health-check all --request-timeout 30 \
        --report junit --report-dir "$REPORTS/$name") || status=$?
    echo "== schemathesis on $name: exit $status after $((SECONDS - started)) s"
    kill "$SERVER" && wait "$SERVER" 2>/dev/null || true
    SERVER=""
    if grep -q "panicked" "$dir/serve.log"; then
        echo "the server panicked during the $name pass:" >&2
        grep -A5 "panicked" "$dir/serve.log" >&2
        status=1
    fi
    return "$status"
}

failed=0
for backend in $BACKENDS; do
    case "$backend" in
    sqlite) run_pass sqlite "sqlite://$WORK/sqlite/partnerfeed.db" || failed=1 ;;
    postgres)
        PG_DB="pf_schemathesis_$$"
        psql -q "$PG_BASE/postgres" -c "CREATE DATABASE $PG_DB"
        run_pass postgres "$PG_BASE/$PG_DB" || failed=1
        psql -q "$PG_BASE/postgres" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)"
        PG_DB=""
        ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
    esac
done
if [ "$failed" != 0 ]; then
    echo "schemathesis: FAILED" >&2
    exit 1
fi
echo "schemathesis: ok"
