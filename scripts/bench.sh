#!/usr/bin/env bash
# Benchmarks behind docs/BENCHMARKS.md. Starts its own PostgreSQL (port 54349, a fresh
# database each run), its own server (port 18080), for `storefront` its own Redis (port 54389)
# and, for `media`, its own S3-compatible server (moto, port 54380); touches nothing else.
#   scripts/bench.sh            all of them
#   scripts/bench.sh signup     one of: signup migrate storefront fleet pages search media
#                               checkout outbox shutdown
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/services.sh

STATE_DIR="${SHOPFLEET_STATE_DIR:-$PWD/.shopfleet}"
BENCH_PG_PORT="${BENCH_PG_PORT:-54349}"
BENCH_HTTP_PORT="${BENCH_HTTP_PORT:-18080}"
BENCH_S3_PORT="${BENCH_S3_PORT:-54380}"
BENCH_REDIS_PORT="${BENCH_REDIS_PORT:-54389}"
FLEET_SHOPS="${FLEET_SHOPS:-10000}"
MEDIA_UPLOADS="${MEDIA_UPLOADS:-200}"
MEDIA_CONCURRENCY="${MEDIA_CONCURRENCY:-8}"
OUTBOX_SHOPS="${OUTBOX_SHOPS:-4}"
OUTBOX_EVENTS="${OUTBOX_EVENTS:-500}"
OUTBOX_RATE="${OUTBOX_RATE:-100}"
DURATION="${BENCH_DURATION:-20s}"
PAGES_CONNECTIONS="${PAGES_CONNECTIONS:-16}"
what="${1:-all}"

ensure_packages wrk
start_postgres "$STATE_DIR/bench-pg" "$BENCH_PG_PORT"
pg_super -c "drop database if exists shopfleet_bench with (force)" >/dev/null
pg_super -c "do \$\$ declare r record; begin
    for r in select rolname from pg_roles where rolname like 'shop\_%' loop
      execute format('drop role %I', r.rolname);
    end loop; end \$\$;" >/dev/null
ensure_database shopfleet_bench
export DATABASE_URL="postgres://shopfleet:shopfleet@127.0.0.1:$BENCH_PG_PORT/shopfleet_bench"

echo "==> building (release)"
cargo build --release --quiet --bin shopfleet --example bench_fleet --example bench_media --example bench_checkout --example bench_outbox
bin="$CARGO_TARGET_DIR/release"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, PostgreSQL $("$(pg_bin_dir)/postgres" --version | awk '{print $3}')"

# The release server on $BENCH_HTTP_PORT, in the background until stop_server; arguments are
# extra environment (`REDIS_URL=…`). Shop rate limits are off: the load is far above any plan's
# budget, and refusals are not what is measured.
start_server() {
  env JWT_SECRET="bench-secret-bench-secret-bench-secret" LISTEN_ADDR="127.0.0.1:$BENCH_HTTP_PORT" \
    BASE_DOMAIN=shops.bench DATABASE_MAX_CONNECTIONS=32 RUST_LOG=warn SHOP_RATE_LIMITS=false "$@" \
    "$bin/shopfleet" serve > "$STATE_DIR/bench-server.log" 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$BENCH_HTTP_PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.2
  done
}

stop_server() {
  kill "$server"; wait "$server" 2>/dev/null || true
  trap - EXIT
}

if [[ "$what" == all || "$what" == signup ]]; then
  echo "==> signup: 200 sequential signups over HTTP"
  "$bin/examples/bench_fleet" signup 200
fi

if [[ "$what" == all || "$what" == migrate ]]; then
  echo "==> migrate over 1,000 shops"
  "$bin/examples/bench_fleet" migrate 1000
fi

# GET /v1/store/products over the shops of $1, 64 connections: a 3 s warm-up, then measured.
storefront_list() {
  SLUGS_FILE="$1" wrk -t2 -c64 -d3s -s scripts/bench/rotate_shops.lua "http://127.0.0.1:$BENCH_HTTP_PORT/v1/store/products" >/dev/null
  SLUGS_FILE="$1" wrk -t2 -c64 -d"$DURATION" --latency -s scripts/bench/rotate_shops.lua \
    "http://127.0.0.1:$BENCH_HTTP_PORT/v1/store/products" | grep -E "Requests/sec|^ +(50|90|99)%|Non-2xx|Socket errors"
}

if [[ "$what" == all || "$what" == storefront ]]; then
  slugs="$STATE_DIR/bench-slugs.txt"
  "$bin/examples/bench_fleet" seed-storefront 100 "$slugs"
  start_redis "$STATE_DIR/bench-redis" "$BENCH_REDIS_PORT"
  for cache in "warm cache, in-process|CACHE_MEMORY_MB=64" \
               "warm cache, Redis|REDIS_URL=$STARTED_REDIS_URL" \
               "no cache (every read from PostgreSQL)|CACHE_MEMORY_MB=0"; do
    echo "==> storefront: GET /v1/store/products, 64 connections over 100 shops, $DURATION, ${cache%%|*}"
    start_server "${cache#*|}"
    storefront_list "$slugs"
    stop_server
  done

  echo "==> pgbench -S (select-only), 64 clients, same cluster, $DURATION"
  pg_super -c "drop database if exists pgbench with (force)" >/dev/null
  pg_super -c "create database pgbench" >/dev/null
  as_pg_user pgbench -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -i -q -s 10 pgbench 2>/dev/null
  as_pg_user pgbench -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -S -c 64 -j 2 -T "${DURATION%s}" pgbench 2>/dev/null \
    | grep -E "^(tps|latency|number of transactions)"
fi

if [[ "$what" == all || "$what" == fleet ]]; then
  # The same list with a hot set of 10 shops, then rotating over the whole fleet (every request
  # another shop), in-process cache sized for the fleet; the server's memory after each.
  all="$STATE_DIR/bench-fleet-slugs.txt"
  ten="$STATE_DIR/bench-fleet-ten.txt"
  echo "==> fleet: $FLEET_SHOPS shops with 3 products each"
  "$bin/examples/bench_fleet" seed-storefront "$FLEET_SHOPS" "$all" 3
  head -n 10 "$all" > "$ten"
  start_server CACHE_MEMORY_MB=512 TENANT_CACHE_CAPACITY=$((FLEET_SHOPS + 1000))
  for slugs in "$ten" "$all"; do
    echo "--- GET /v1/store/products, 64 connections over $(wc -l < "$slugs") shops, $DURATION"
    storefront_list "$slugs"
    echo "server RSS: $(awk '/VmRSS/ {printf "%.0f MiB", $2 / 1024}' "/proc/$server/status")"
  done
  stop_server
fi

if [[ "$what" == all || "$what" == pages ]]; then
  # The HTML storefront: home, a category and a product page of the two demo shops (seed-demo),
  # each request to the next shop by its Host, beside the JSON storefront list on the same
  # shops in the same run.
  echo "==> pages: storefront HTML pages of the demo shops, 1 connection for 10 s and $PAGES_CONNECTIONS for $DURATION each"
  "$bin/shopfleet" migrate >/dev/null
  "$bin/shopfleet" seed-demo >/dev/null
  start_server
  tina=tinashop.shops.bench mico=micocah.shops.bench
  for target in \
    "home|$tina /;$mico /" \
    "category|$tina /categories/t-shirts;$mico /categories/single-origin" \
    "product|$tina /products/classic-crew-tee;$mico /products/ethiopia-yirgacheffe" \
    "json list|$tina /v1/store/products;$mico /v1/store/products"; do
    name="${target%%|*}"
    export PAGES="${target#*|}"
    echo "--- $name: $PAGES"
    wrk -t2 -c"$PAGES_CONNECTIONS" -d3s -s scripts/bench/pages.lua "http://127.0.0.1:$BENCH_HTTP_PORT" >/dev/null
    for run in "1 1 10s" "2 $PAGES_CONNECTIONS $DURATION"; do
      read -r threads connections duration <<<"$run"
      echo "$connections connection(s):"
      out=$(wrk -t"$threads" -c"$connections" -d"$duration" --latency -s scripts/bench/pages.lua "http://127.0.0.1:$BENCH_HTTP_PORT")
      echo "$out" | grep -E "Requests/sec|Transfer/sec|^ +(50|99)%|Non-2xx|Socket errors"
      if grep -q "Non-2xx" <<<"$out"; then
        echo "error: some pages did not answer 200" >&2
        exit 1
      fi
    done
  done
  stop_server
fi

if [[ "$what" == all || "$what" == search ]]; then
  echo "==> search (PostgreSQL full-text): GET /v1/store/search, 1 connection for 10 s and 16 for $DURATION"
  one="$STATE_DIR/bench-search-one.txt"
  many="$STATE_DIR/bench-search-many.txt"
  "$bin/examples/bench_fleet" seed-search 1 10000 big "$one"
  "$bin/examples/bench_fleet" seed-search 100 1000 many "$many"
  start_server
  for slugs in "$one" "$many"; do
    echo "--- shops of $(basename "$slugs"), queries of scripts/bench/search_queries.txt"
    SLUGS_FILE="$slugs" QUERIES_FILE=scripts/bench/search_queries.txt \
      wrk -t2 -c16 -d3s -s scripts/bench/search_queries.lua "http://127.0.0.1:$BENCH_HTTP_PORT" >/dev/null
    echo "one connection (latency without queueing):"
    SLUGS_FILE="$slugs" QUERIES_FILE=scripts/bench/search_queries.txt \
      wrk -t1 -c1 -d10s --latency -s scripts/bench/search_queries.lua "http://127.0.0.1:$BENCH_HTTP_PORT"
    echo "16 connections:"
    SLUGS_FILE="$slugs" QUERIES_FILE=scripts/bench/search_queries.txt \
      wrk -t2 -c16 -d"$DURATION" --latency -s scripts/bench/search_queries.lua "http://127.0.0.1:$BENCH_HTTP_PORT"
  done
  stop_server
fi

if [[ "$what" == all || "$what" == checkout ]]; then
  echo "==> checkout: ${CHECKOUTS:-2000} guest checkouts by ${BUYERS:-32} concurrent buyers, spread over 1,000 variants and on one hot variant"
  RUST_LOG=warn "$bin/examples/bench_checkout" "${CHECKOUTS:-2000}" "${BUYERS:-32}"
fi

if [[ "$what" == all || "$what" == media ]]; then
  echo "==> media: $MEDIA_UPLOADS uploads of 1 MB images into moto (S3), $MEDIA_CONCURRENCY at a time"
  start_moto "$STATE_DIR/bench-s3" "$BENCH_S3_PORT"
  S3_ENDPOINT="$MOTO_ENDPOINT" AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 RUST_LOG=warn \
    "$bin/examples/bench_media" "$MEDIA_UPLOADS" "$MEDIA_CONCURRENCY"
fi

if [[ "$what" == all || "$what" == outbox ]]; then
  echo "==> outbox: webhooks to a local receiver, $OUTBOX_SHOPS shops x $OUTBOX_EVENTS events in a burst, then $OUTBOX_RATE events/s for 10 s"
  RUST_LOG=warn "$bin/examples/bench_outbox" "$OUTBOX_SHOPS" "$OUTBOX_EVENTS" "$OUTBOX_RATE"
fi

if [[ "$what" == all || "$what" == shutdown ]]; then
  # SIGTERM in the middle of 64 connections of storefront reads: the time until the process has
  # exited (requests in flight finished, pool closed) and the requests that failed. Once the
  # listener has closed, wrk's reconnections fail (its connect and write errors): expected.
  # Failed requests are non-2xx answers, timeouts and read errors (a request written on a
  # keep-alive connection just as the server closed it: at most one per connection).
  slugs="$STATE_DIR/bench-shutdown-slugs.txt"
  wrk_out="$STATE_DIR/bench-shutdown-wrk.txt"
  "$bin/examples/bench_fleet" seed-storefront 10 "$slugs"
  echo "==> shutdown: SIGTERM 5 s into GET /v1/store/products with 64 connections (SHUTDOWN_GRACE_SECS=25)"
  start_server RUST_LOG=warn,shopfleet::server::shutdown=info
  SLUGS_FILE="$slugs" wrk -t2 -c64 -d10s -s scripts/bench/rotate_shops.lua \
    "http://127.0.0.1:$BENCH_HTTP_PORT/v1/store/products" > "$wrk_out" &
  load=$!
  sleep 5
  signalled=$(date +%s%N)
  kill -TERM "$server"
  status=0
  wait "$server" || status=$?
  exited=$(date +%s%N)
  trap - EXIT
  wait "$load" || true
  echo "SIGTERM to exit: $(( (exited - signalled) / 1000000 )) ms, exit status $status"
  grep -o "shutdown complete.*" "$STATE_DIR/bench-server.log" || echo "no shutdown line in the server log"
  grep -E "requests in" "$wrk_out" || true
  read_errors=$(sed -n 's/.*Socket errors:.* read \([0-9]*\),.*/\1/p' "$wrk_out")
  timeouts=$(sed -n 's/.*Socket errors:.* timeout \([0-9]*\).*/\1/p' "$wrk_out")
  non_2xx=$(sed -n 's/.*Non-2xx or 3xx responses: \([0-9]*\).*/\1/p' "$wrk_out")
  echo "failed requests: $(( ${read_errors:-0} + ${timeouts:-0} + ${non_2xx:-0} )) (read errors ${read_errors:-0}, timeouts ${timeouts:-0}, non-2xx ${non_2xx:-0})"
fi
