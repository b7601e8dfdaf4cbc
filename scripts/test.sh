#!/usr/bin/env bash
# Checks formatting, module dependencies and lints, sets up the real services the tests need (a
# private PostgreSQL, an S3-compatible server, a DNS server, a Redis) and runs every test.
# Idempotent; touches only the services it starts itself (PostgreSQL on 54339, moto on 54370,
# the DNS server on 54353, Redis on 54379, PgBouncer on 54338; TEST_PG_PORT, TEST_S3_PORT,
# TEST_DNS_PORT, TEST_REDIS_PORT, TEST_PGBOUNCER_PORT choose others; the later scripts name
# their own ports).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/services.sh

STATE_DIR="${SHOPFLEET_STATE_DIR:-$PWD/.shopfleet}"
TEST_PG_PORT="${TEST_PG_PORT:-54339}"
TEST_S3_PORT="${TEST_S3_PORT:-54370}"
TEST_DNS_PORT="${TEST_DNS_PORT:-54353}"
TEST_REDIS_PORT="${TEST_REDIS_PORT:-54379}"
TEST_PGBOUNCER_PORT="${TEST_PGBOUNCER_PORT:-54338}"
TEST_PGBOUNCER_POOL_SIZE="${TEST_PGBOUNCER_POOL_SIZE:-4}"

# Hygiene first: formatting, then no import circle between modules (docs/ARCHITECTURE.md).
echo "==> cargo fmt --check"
cargo fmt --check
echo "==> scripts/module-deps.py"
python3 scripts/module-deps.py
echo "==> terraform checks"
bash scripts/check-terraform.sh

# A new cluster per run: no database or shop role of an earlier run is left. The harness
# (tests/common) gives each test process databases of its own, made as the cluster's superuser,
# whose password exists on this private test cluster only.
reset_postgres "$STATE_DIR/test-pg" "$TEST_PG_PORT"
pg_super -c "alter role postgres password 'postgres'" >/dev/null
export TEST_DATABASE_URL="postgres://shopfleet:shopfleet@127.0.0.1:$TEST_PG_PORT/shopfleet_test"
export TEST_ADMIN_DATABASE_URL="postgres://postgres:postgres@127.0.0.1:$TEST_PG_PORT/postgres"

# S3: moto's server; tests make their own buckets. Dummy credentials: moto accepts any.
start_moto "$STATE_DIR/test-s3" "$TEST_S3_PORT"
export TEST_S3_ENDPOINT="$MOTO_ENDPOINT" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1

# DNS: custom domains are verified by TXT records, which the tests write as files for this
# server (the servers under test ask it: DNS_RESOLVER).
start_dns "$STATE_DIR/test-dns" "$TEST_DNS_PORT"
export TEST_DNS_ADDR="$DNS_ADDR" TEST_DNS_RECORDS_DIR="$DNS_RECORDS_DIR"

# Redis: the shared cache and limiter state. Tests that stop a Redis start their own.
start_redis "$STATE_DIR/test-redis" "$TEST_REDIS_PORT"
export TEST_REDIS_URL="$STARTED_REDIS_URL"

echo "==> cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest
echo "==> cargo nextest run (target dir $CARGO_TARGET_DIR)"
cargo nextest run --all-targets --no-fail-fast "$@"

# The same shops behind a transaction-mode pooler (README, "Behind PgBouncer"): the servers
# under test reach PostgreSQL through a private PgBouncer with a few server connections per
# database (DATABASE_TRANSACTION_POOLER), LISTEN and migrations straight (DATABASE_DIRECT_URL).
echo "==> isolation and tenancy suite through PgBouncer (transaction mode, $TEST_PGBOUNCER_POOL_SIZE server connections)"
start_pgbouncer "$STATE_DIR/test-pgbouncer" "$TEST_PGBOUNCER_PORT" "$TEST_PG_PORT" "$TEST_PGBOUNCER_POOL_SIZE"
TEST_POOLER_URL="postgres://shopfleet:shopfleet@$STARTED_PGBOUNCER_ADDR/shopfleet_test" \
  cargo nextest run --no-fail-fast --test isolation --test pooler --test signup --test platform \
  --test rbac --test quotas --test migrations --test outbox
# Doc tests are not run by nextest.
cargo test --doc --quiet

echo "==> validating the OpenAPI document"
python3 -c "import openapi_spec_validator" 2>/dev/null || python3 -m pip install -q openapi-spec-validator
spec="$(mktemp --suffix=.json)"
cargo run --quiet -- openapi > "$spec"
python3 -m openapi_spec_validator "$spec"
rm -f "$spec"

# The spec is the contract: schemathesis over every operation, against a server of its own
# (database `shopfleet_test_schemathesis`, port SCHEMATHESIS_PORT, default 29780).
echo "==> schemathesis"
TEST_PG_PORT="$TEST_PG_PORT" bash scripts/schemathesis.sh

# The storefront in a real browser (scripts/e2e.sh: Debian's Chromium and e2e/'s npm packages,
# installed when missing; database `shopfleet_test_e2e`, port E2E_PORT, default 29790).
echo "==> browser end-to-end tests"
TEST_PG_PORT="$TEST_PG_PORT" bash scripts/e2e.sh

# The runtime image (scripts/container.sh): Podman builds the Dockerfile's runtime stage on a
# debootstrapped Debian bookworm (cached) with this tree's release binary, then serves it against
# this cluster (database `shopfleet_test_container`) and checks it.
echo "==> container image"
TEST_PG_PORT="$TEST_PG_PORT" bash scripts/container.sh
