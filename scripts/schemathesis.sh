#!/usr/bin/env bash
# Runs schemathesis (PyPI) over every operation of the OpenAPI document against a server started
# for it, on a database of its own, and fails on server errors and responses that violate their
# schema. Signs up a shop first and sends its owner's token and `X-Shop`, so admin operations
# are exercised too. A bounded number of examples per operation keeps the run at a few minutes.
#
# Called by scripts/test.sh (which has started the private PostgreSQL); runs on its own too.
# Environment: TEST_PG_PORT (default 54339), SCHEMATHESIS_PORT (default 29780),
# SCHEMATHESIS_MAX_EXAMPLES (default 10), CARGO_TARGET_DIR; TEST_DNS_ADDR (set by
# scripts/test.sh) becomes the server's DNS_RESOLVER, so domain verification asks no real DNS.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/services.sh

STATE_DIR="${SHOPFLEET_STATE_DIR:-$PWD/.shopfleet}"
TEST_PG_PORT="${TEST_PG_PORT:-54339}"
# Below the kernel's ephemeral range (32768–60999), so that no outgoing connection of the tests
# can hold the port when the server binds it.
PORT="${SCHEMATHESIS_PORT:-29780}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-10}"
DB=shopfleet_test_schemathesis

# Pinned: its command-line flags change between releases.
python3 -c "import schemathesis" 2>/dev/null || python3 -m pip install -q "schemathesis==4.32.5"
ST="$(python3 -c 'import sys, os; print(os.path.join(os.path.dirname(sys.executable), "st"))')"

start_postgres "$STATE_DIR/test-pg" "$TEST_PG_PORT"
pg_super -c "drop database if exists \"$DB\" with (force)" >/dev/null
ensure_database "$DB"

if port_in_use "$PORT"; then
  echo "error: port $PORT is taken; choose another with SCHEMATHESIS_PORT" >&2
  exit 1
fi

# The binary cargo built for this tree (the shared target directory's `debug/shopfleet` may be
# another checkout's).
BIN=$(cargo build --quiet --message-format=json | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and "bin" in m["target"]["kind"] and m["target"]["name"] == "shopfleet":
        print(m["executable"])')
work="$(mktemp -d)"
export DATABASE_URL="postgres://shopfleet:shopfleet@127.0.0.1:$TEST_PG_PORT/$DB"
export JWT_SECRET="schemathesis-only-secret-0123456789abcdef"
export LISTEN_ADDR="127.0.0.1:$PORT"
export PUBLIC_URL_TEMPLATE="http://{host}:$PORT"
export STORAGE_DIR="$work/objects"
export RUST_LOG="${RUST_LOG:-warn}"
export ACCESS_TOKEN_TTL_SECS=3600
if [ -n "${TEST_DNS_ADDR:-}" ]; then
  export DNS_RESOLVER="$TEST_DNS_ADDR"
fi
# Rate limits stay on (their headers and 429s are part of the contract), with budgets no run
# reaches: schemathesis signs up and logs in far more often than a person.
export SIGNUPS_PER_IP_PER_HOUR=1000000 SIGNUPS_PER_HOUR=1000000 AUTH_PER_IP_PER_MINUTE=1000000
export LOGIN_MAX_FAILURES=1000000 LOGIN_IDENTITY_MAX_FAILURES=1000000
"$BIN" migrate >/dev/null
pg_super -d "$DB" -c "update platform.plans set requests_per_minute = 1000000,
  storefront_requests_per_minute = 1000000" >/dev/null

"$BIN" serve >"$work/server.log" 2>&1 &
server_pid=$!
stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
}
trap stop_server EXIT
base="http://127.0.0.1:$PORT"
up=false
for _ in $(seq 1 150); do
  if curl -fsS -m 2 "$base/healthz" >/dev/null 2>&1; then up=true; break; fi
  sleep 0.2
done
if [ "$up" != true ]; then
  echo "error: the server for schemathesis did not start; its log:" >&2
  tail -n 20 "$work/server.log" >&2
  exit 1
fi

# A shop of its own, and its owner's access token.
slug="st-$(date +%s)"
token=$(curl -sS "$base/v1/signup" -H 'Content-Type: application/json' -d "{\"slug\": \"$slug\",
  \"name\": \"Schemathesis\", \"currency\": \"EUR\", \"owner_email\": \"owner@$slug.test\",
  \"owner_password\": \"quiet-harbour-9137\"}" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["tokens"]["access_token"])')

echo "==> schemathesis on $base ($MAX_EXAMPLES examples per operation; log $work/server.log)"
status=0
# From the scratch directory: schemathesis keeps a crash cache in the working directory. One
# worker: with two, CPython 3.11's ast module (used by Hypothesis to describe strategies) fails
# now and then with "AST constructor recursion depth mismatch" in a worker thread. No NUL in
# generated text: the API refuses it in every string (422, said in the document's description;
# OpenAPI has no keyword for "every string of the document").
(cd "$work" && "$ST" run "$base/openapi.json" \
  --checks not_a_server_error,response_schema_conformance \
  --max-examples "$MAX_EXAMPLES" \
  --phases examples,coverage,fuzzing \
  --workers 1 \
  --request-timeout 20 \
  --seed 1 \
  --suppress-health-check all \
  --generation-unique-inputs \
  --generation-allow-x00 false \
  -H "Authorization: Bearer $token" \
  -H "X-Shop: $slug" \
  --no-color) || status=$?
stop_server
trap - EXIT
if [ "$status" -ne 0 ]; then
  echo "schemathesis failed; the server's log is in $work/server.log" >&2
  exit "$status"
fi
rm -rf "$work"
