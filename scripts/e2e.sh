#!/usr/bin/env bash
# Browser end-to-end tests of the storefront (e2e/): Debian's Chromium, driven by playwright-core
# (npm), against the demo shops on a server of their own. Fails on any failed test, any
# serious or critical axe-core violation and any console or page error.
#
# Installs what is missing: the `chromium` and `chromium-driver` Debian packages, and e2e's npm
# packages (`npm ci`, when e2e/node_modules is missing or older than its package-lock.json).
# Starts the database `shopfleet_test_e2e` on the private test cluster (TEST_PG_PORT, default
# 54339; started if needed), runs `shopfleet migrate` and `shopfleet seed-demo` with the debug
# build of this tree, serves it on 127.0.0.1:E2E_PORT (default 29790) with
# BASE_DOMAIN=shops.localhost, runs the specs and stops the server.
#
# Called by scripts/test.sh; runs on its own too. Screenshots and HTML of failed tests, the
# axe-core reports and the server's log go to $SHOPFLEET_STATE_DIR/e2e-output (E2E_OUTPUT).
# E2E_ONLY=<part of a test name> runs some tests only.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/services.sh
source scripts/lib/demo_server.sh

STATE_DIR="${SHOPFLEET_STATE_DIR:-$PWD/.shopfleet}"
TEST_PG_PORT="${TEST_PG_PORT:-54339}"
# Below the kernel's ephemeral range, like SCHEMATHESIS_PORT.
PORT="${E2E_PORT:-29790}"
OUTPUT="${E2E_OUTPUT:-$STATE_DIR/e2e-output}"
DB=shopfleet_test_e2e

ensure_packages chromium chromium-driver
ensure_node_modules e2e

start_postgres "$STATE_DIR/test-pg" "$TEST_PG_PORT"
BIN=$(shopfleet_binary)
rm -rf "$OUTPUT"
mkdir -p "$OUTPUT"
OUTPUT="$(cd "$OUTPUT" && pwd)"

start_demo_server "$BIN" "$DB" "$PORT" "$OUTPUT/server.log"
trap stop_demo_server EXIT

status=0
E2E_PORT="$PORT" E2E_BASE_DOMAIN=shops.localhost E2E_OUTPUT="$OUTPUT" node e2e/run.mjs || status=$?
stop_demo_server
trap - EXIT
if [ "$status" -ne 0 ]; then
  echo "browser tests failed; screenshots, page HTML, axe-core reports and the server's log are in $OUTPUT" >&2
  exit "$status"
fi
