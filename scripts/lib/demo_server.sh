# Shared by scripts/e2e.sh and scripts/lighthouse.sh: the demo shops (`shopfleet seed-demo`) on a
# fresh database of a private PostgreSQL cluster, served on 127.0.0.1 with
# BASE_DOMAIN=shops.localhost, so a browser opens them at http://tinashop.shops.localhost:PORT/
# (Chromium resolves every *.localhost name to the loopback address). Source after
# scripts/lib/services.sh and after start_postgres; defines functions only.

# fresh_database NAME: drops NAME (and the shop roles of the shops it held: roles are
# cluster-wide) and creates it again, empty, for the application role.
fresh_database() {
  local name="$1" roles
  if [ "$(pg_super -tAc "select 1 from pg_database where datname = '$name'")" = "1" ]; then
    roles=$(pg_super -d "$name" -tAc "select distinct nspowner::regrole from pg_namespace where nspname like 'shop\_%'")
    pg_super -c "drop database \"$name\" with (force)" >/dev/null
    for role in $roles; do
      pg_super -c "drop role if exists $role" >/dev/null
    done
  fi
  ensure_database "$name"
}

# shopfleet_binary [--release]: builds the shopfleet binary of this tree and prints its path
# (the shared target directory's `debug/shopfleet` may be another checkout's).
shopfleet_binary() {
  cargo build --quiet "$@" --bin shopfleet --message-format=json | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and "bin" in m["target"]["kind"] and m["target"]["name"] == "shopfleet":
        print(m["executable"])'
}

# start_demo_server BIN DATABASE PORT LOG: migrates DATABASE (on the cluster of start_postgres),
# seeds the demo shops and starts `BIN serve` on 127.0.0.1:PORT in the background, its output in
# LOG, until stop_demo_server. Waits until it answers; sets DEMO_SERVER_PID.
start_demo_server() {
  local bin="$1" db="$2" port="$3" log="$4" work
  if port_in_use "$port"; then
    echo "error: port $port is taken; choose another (see the script's *_PORT variable)" >&2
    return 1
  fi
  fresh_database "$db"
  work="$(dirname "$log")"
  mkdir -p "$work"
  (
    export DATABASE_URL="postgres://shopfleet:shopfleet@127.0.0.1:$PG_PORT/$db"
    export JWT_SECRET="demo-server-only-secret-0123456789abcdef"
    export LISTEN_ADDR="127.0.0.1:$port" BASE_DOMAIN=shops.localhost
    export PUBLIC_URL_TEMPLATE="http://{host}:$port"
    export STORAGE_DIR="$work/objects" RUST_LOG="${RUST_LOG:-warn}"
    if [ -n "${TEST_DNS_ADDR:-}" ]; then export DNS_RESOLVER="$TEST_DNS_ADDR"; fi
    "$bin" migrate >/dev/null
    "$bin" seed-demo >/dev/null
    exec "$bin" serve
  ) >"$log" 2>&1 &
  DEMO_SERVER_PID=$!
  for _ in $(seq 1 300); do
    if curl -fsS -m 2 "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$DEMO_SERVER_PID" 2>/dev/null; then break; fi
    sleep 0.2
  done
  echo "error: the demo server did not start on port $port; its log ($log):" >&2
  tail -n 20 "$log" >&2
  stop_demo_server
  return 1
}

stop_demo_server() {
  if [ -n "${DEMO_SERVER_PID:-}" ]; then
    kill "$DEMO_SERVER_PID" 2>/dev/null || true
    wait "$DEMO_SERVER_PID" 2>/dev/null || true
    DEMO_SERVER_PID=""
  fi
}

# ensure_node_modules DIR: `npm ci` in DIR when its node_modules is missing or older than its
# package-lock.json. Needs Node.js 20 or later (Debian 12's own is 18: install a newer one).
ensure_node_modules() {
  local dir="$1" major
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    ensure_packages nodejs npm
  fi
  major=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$major" -lt 20 ]; then
    echo "error: $dir needs Node.js 20 or later; this is $(node --version)" >&2
    return 1
  fi
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "==> npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
