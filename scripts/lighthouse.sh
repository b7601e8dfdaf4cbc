#!/usr/bin/env bash
# Lighthouse scores (performance, accessibility, best practices, SEO) of the demo shop's home,
# category and product pages: the figures of docs/BENCHMARKS.md. Not part of scripts/test.sh.
#
# Installs what is missing: Debian's `chromium` and Lighthouse 12.2.3 (npm, pinned in
# e2e/lighthouse/package-lock.json, installed there on first use; the browser tests do not need
# it). Serves the demo shops like scripts/e2e.sh: database `shopfleet_test_lighthouse` on the
# private test cluster (TEST_PG_PORT, default 54339), 127.0.0.1:LIGHTHOUSE_PORT (default
# 29791), BASE_DOMAIN=shops.localhost; with the release build when this checkout has one
# (`cargo build --release` was run: it is brought up to date), the debug build otherwise
# (LIGHTHOUSE_PROFILE=release|debug to choose).
#
# Lighthouse starts Debian's Chromium (CHROME_PATH=/usr/bin/chromium) through chrome-launcher,
# with the flags of the browser tests (e2e/lib/browser.mjs) on top of chrome-launcher's own and
# a fresh temporary profile. Each page is measured with each of LIGHTHOUSE_PRESETS (default
# "mobile desktop": Lighthouse's default mobile emulation with simulated slow 4G and 4x CPU
# slowdown, and its desktop preset). Reports (HTML and JSON) go to
# $SHOPFLEET_STATE_DIR/lighthouse.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/services.sh
source scripts/lib/demo_server.sh

STATE_DIR="${SHOPFLEET_STATE_DIR:-$PWD/.shopfleet}"
TEST_PG_PORT="${TEST_PG_PORT:-54339}"
PORT="${LIGHTHOUSE_PORT:-29791}"
OUTPUT="${LIGHTHOUSE_OUTPUT:-$STATE_DIR/lighthouse}"
PRESETS="${LIGHTHOUSE_PRESETS:-mobile desktop}"
DB=shopfleet_test_lighthouse
# The browser tests' flags (e2e/lib/browser.mjs).
CHROMIUM_FLAGS="--headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking --disable-component-update --disable-sync"

if [ -z "${LIGHTHOUSE_PROFILE:-}" ]; then
  if [ -x "$CARGO_TARGET_DIR/release/shopfleet" ]; then LIGHTHOUSE_PROFILE=release; else LIGHTHOUSE_PROFILE=debug; fi
fi

ensure_packages chromium
ensure_node_modules e2e/lighthouse
start_postgres "$STATE_DIR/test-pg" "$TEST_PG_PORT"
if [ "$LIGHTHOUSE_PROFILE" = release ]; then
  echo "==> cargo build --release --bin shopfleet"
  BIN=$(shopfleet_binary --release)
else
  echo "==> no release build in $CARGO_TARGET_DIR: measuring the debug build (slower pages)"
  BIN=$(shopfleet_binary)
fi
mkdir -p "$OUTPUT"
OUTPUT="$(cd "$OUTPUT" && pwd)"
start_demo_server "$BIN" "$DB" "$PORT" "$OUTPUT/server.log"
trap stop_demo_server EXIT

base="http://tinashop.shops.localhost:$PORT"
pages=(home "$base/" category "$base/categories/t-shirts" product "$base/products/classic-crew-tee")
# Warm the server's caches (tenant, statements, search lexicon) as a visited shop's would be.
for ((i = 1; i < ${#pages[@]}; i += 2)); do
  curl -fsS -o /dev/null --resolve "tinashop.shops.localhost:$PORT:127.0.0.1" "${pages[i]}"
done

echo "==> Lighthouse 12.2.3 on $base ($LIGHTHOUSE_PROFILE build), $(/usr/bin/chromium --version 2>/dev/null)"
printf '%-9s %-8s %12s %14s %15s %4s\n' page preset performance accessibility best-practices seo
for ((i = 0; i < ${#pages[@]}; i += 2)); do
  name="${pages[i]}" url="${pages[i + 1]}"
  for preset in $PRESETS; do
    preset_flag=()
    [ "$preset" = desktop ] && preset_flag=(--preset=desktop)
    report="$OUTPUT/$name-$preset"
    CHROME_PATH=/usr/bin/chromium e2e/lighthouse/node_modules/.bin/lighthouse "$url" \
      --quiet --output=json --output=html --output-path="$report" \
      --only-categories=performance,accessibility,best-practices,seo \
      "${preset_flag[@]}" --chrome-flags="$CHROMIUM_FLAGS" >"$report.log" 2>&1 || {
      echo "error: Lighthouse failed on $url; see $report.log" >&2
      exit 1
    }
    node - "$report.report.json" "$name" "$preset" <<'JS'
const [file, name, preset] = process.argv.slice(2);
const lhr = JSON.parse(require('node:fs').readFileSync(file, 'utf8'));
const score = (id) => Math.round(lhr.categories[id].score * 100);
const ids = ['performance', 'accessibility', 'best-practices', 'seo'];
const pad = (v, n) => String(v).padStart(n);
console.log(`${name.padEnd(9)} ${preset.padEnd(8)} ${pad(score(ids[0]), 12)} ${pad(score(ids[1]), 14)} ${pad(score(ids[2]), 15)} ${pad(score(ids[3]), 4)}`);
// Where a category lost points: its weighted audits that did not pass.
for (const id of ids) {
  if (score(id) === 100) continue;
  for (const ref of lhr.categories[id].auditRefs) {
    const audit = lhr.audits[ref.id];
    if (ref.weight > 0 && audit.score !== null && audit.score < 1) {
      console.log(`          ${id}: ${audit.id} (${audit.score}): ${audit.title}${audit.displayValue ? ` — ${audit.displayValue}` : ''}`);
    }
  }
}
JS
  done
done
stop_demo_server
trap - EXIT
echo "reports: $OUTPUT"
