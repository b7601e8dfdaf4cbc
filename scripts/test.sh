#!/usr/bin/env bash
# Sets up the real services the tests need (a private PostgreSQL) and runs every test.
# Idempotent; touches only the services it starts itself (ports 54339 and up).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/services.sh

STATE_DIR="${SHOPFLEET_STATE_DIR:-$PWD/.shopfleet}"
TEST_PG_PORT="${TEST_PG_PORT:-54339}"

start_postgres "$STATE_DIR/test-pg" "$TEST_PG_PORT"
# A fresh database per run; shop roles are cluster-wide, so drop those of earlier runs too.
pg_super -c "drop database if exists shopfleet_test with (force)" >/dev/null
pg_super -c "do \$\$ declare r record; begin
    for r in select rolname from pg_roles where rolname like 'shop\_%' loop
      execute format('drop role %I', r.rolname);
    end loop; end \$\$;" >/dev/null
ensure_database shopfleet_test
export TEST_DATABASE_URL="postgres://shopfleet:shopfleet@127.0.0.1:$TEST_PG_PORT/shopfleet_test"

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
