#!/usr/bin/env bash
# Sets up the real services the tests need (a private PostgreSQL, an S3-compatible server) and
# runs every test. Idempotent; touches only the services it starts itself (ports 54339 and up,
# moto on 54370).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/services.sh

STATE_DIR="${SHOPFLEET_STATE_DIR:-$PWD/.shopfleet}"
TEST_PG_PORT="${TEST_PG_PORT:-54339}"
TEST_S3_PORT="${TEST_S3_PORT:-54370}"

start_postgres "$STATE_DIR/test-pg" "$TEST_PG_PORT"
# Fresh databases per run; shop roles are cluster-wide, so drop those of earlier runs too.
# Servers with the S3 store get a database of their own: one database, one store.
pg_super -c "drop database if exists shopfleet_test with (force)" >/dev/null
pg_super -c "drop database if exists shopfleet_test_s3 with (force)" >/dev/null
pg_super -c "drop database if exists shopfleet_test_search_down with (force)" >/dev/null
for db in shopfleet_test_webhook_retry shopfleet_test_webhook_restart shopfleet_test_webhook_strict; do
  pg_super -c "drop database if exists $db with (force)" >/dev/null
done
pg_super -c "do \$\$ declare r record; begin
    for r in select rolname from pg_roles where rolname like 'shop\_%' loop
      execute format('drop role %I', r.rolname);
    end loop; end \$\$;" >/dev/null
ensure_database shopfleet_test
ensure_database shopfleet_test_s3
# Servers configured differently must not share a database: every one runs an outbox worker,
# and any worker may deliver any shop's events (LISTEN is database-wide).
ensure_database shopfleet_test_search_down
# tests/webhooks.rs: a short retry backoff; servers stopped and restarted (no other worker may
# run there); private networks refused.
ensure_database shopfleet_test_webhook_retry
ensure_database shopfleet_test_webhook_restart
ensure_database shopfleet_test_webhook_strict
export TEST_DATABASE_URL="postgres://shopfleet:shopfleet@127.0.0.1:$TEST_PG_PORT/shopfleet_test"
export TEST_S3_DATABASE_URL="postgres://shopfleet:shopfleet@127.0.0.1:$TEST_PG_PORT/shopfleet_test_s3"
export TEST_SEARCH_DOWN_DATABASE_URL="postgres://shopfleet:shopfleet@127.0.0.1:$TEST_PG_PORT/shopfleet_test_search_down"
export TEST_WEBHOOK_RETRY_DATABASE_URL="postgres://shopfleet:shopfleet@127.0.0.1:$TEST_PG_PORT/shopfleet_test_webhook_retry"
export TEST_WEBHOOK_RESTART_DATABASE_URL="postgres://shopfleet:shopfleet@127.0.0.1:$TEST_PG_PORT/shopfleet_test_webhook_restart"
export TEST_WEBHOOK_STRICT_DATABASE_URL="postgres://shopfleet:shopfleet@127.0.0.1:$TEST_PG_PORT/shopfleet_test_webhook_strict"

# S3: moto's server; tests make their own buckets. Dummy credentials: moto accepts any.
start_moto "$STATE_DIR/test-s3" "$TEST_S3_PORT"
export TEST_S3_ENDPOINT="$MOTO_ENDPOINT" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1

command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest
echo "==> cargo nextest run (target dir $CARGO_TARGET_DIR)"
cargo nextest run --all-targets --no-fail-fast "$@"
# Doc tests are not run by nextest.
cargo test --doc --quiet

echo "==> validating the OpenAPI document"
python3 -c "import openapi_spec_validator" 2>/dev/null || python3 -m pip install -q openapi-spec-validator
spec="$(mktemp --suffix=.json)"
cargo run --quiet -- openapi > "$spec"
python3 -m openapi_spec_validator "$spec"
rm -f "$spec"
