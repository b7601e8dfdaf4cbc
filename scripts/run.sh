#!/usr/bin/env bash
# Sets up everything shopfleet needs on this machine and starts it with two demo shops:
#   - a private PostgreSQL cluster in ./.shopfleet/pg on 127.0.0.1:54329 (unless DATABASE_URL
#     is set, in which case that database is used and no server is started);
#   - a JWT secret generated once and kept in ./.shopfleet/jwt_secret;
#   - a release build, `shopfleet migrate`, the demo platform admin, `shopfleet seed-demo`;
#   - then `shopfleet serve` on port 8080 (PORT=… to change it), in the foreground.
# Idempotent: run it again at any time. It touches only services it started itself.
#
# Environment (all optional):
#   DATABASE_URL              use this database instead of the private cluster
#   PORT                      HTTP port (default 8080)
#   SHOPFLEET_ADMIN_PASSWORD  password of the demo platform admin (default platform-demo-2026)
#   SHOPFLEET_STATE_DIR       where local state lives (default ./.shopfleet)
#   SHOPFLEET_PG_PORT         port of the private PostgreSQL (default 54329)
#   JWT_SECRET                use this secret instead of the generated one
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/services.sh

STATE_DIR="${SHOPFLEET_STATE_DIR:-$PWD/.shopfleet}"
RUN_PG_PORT="${SHOPFLEET_PG_PORT:-54329}"
PORT="${PORT:-8080}"
BASE_DOMAIN=shops.localhost
ADMIN_EMAIL=admin@shopfleet.test
ADMIN_PASSWORD="${SHOPFLEET_ADMIN_PASSWORD:-platform-demo-2026}"

# Fail early, before a long build, if the HTTP port is taken (by an earlier run, say).
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "error: something already listens on port $PORT (an earlier scripts/run.sh?)." >&2
  echo "       Stop it, or choose another port: PORT=8081 scripts/run.sh" >&2
  exit 1
fi

# A Rust toolchain: Debian's rustc is too old for this crate (edition 2024), so use rustup.
ensure_rust() {
  if [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
  # A C compiler and linker: rustc links with `cc`, and some crates compile C code.
  ensure_packages gcc libc6-dev
  if ! command -v cargo >/dev/null; then
    ensure_packages ca-certificates curl
    echo "==> installing the Rust toolchain with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
}

# 1. The database.
if [ -z "${DATABASE_URL:-}" ]; then
  start_postgres "$STATE_DIR/pg" "$RUN_PG_PORT"
  ensure_database shopfleet
  export DATABASE_URL="postgres://shopfleet:shopfleet@127.0.0.1:$RUN_PG_PORT/shopfleet"
  db_note="private PostgreSQL on 127.0.0.1:$RUN_PG_PORT, data in $PG_SOCKET_DIR"
else
  db_note="DATABASE_URL from the environment"
fi

# 2. The JWT secret: made once, kept across runs so tokens stay valid after a restart.
mkdir -p "$STATE_DIR"
if [ -z "${JWT_SECRET:-}" ]; then
  secret_file="$STATE_DIR/jwt_secret"
  if [ ! -s "$secret_file" ]; then
    echo "==> generating a JWT secret in $secret_file"
    (
      umask 077
      if command -v openssl >/dev/null; then
        openssl rand -hex 32
      else
        od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; echo
      fi > "$secret_file.tmp"
    )
    mv "$secret_file.tmp" "$secret_file"
  fi
  JWT_SECRET=$(cat "$secret_file")
fi
export JWT_SECRET

# 3. The binary.
ensure_rust
echo "==> cargo build --release (target dir $CARGO_TARGET_DIR)"
cargo build --release
BIN="$CARGO_TARGET_DIR/release/shopfleet"

# 4. Schema, demo platform admin, demo shops.
echo "==> shopfleet migrate"
"$BIN" migrate

echo "==> platform admin $ADMIN_EMAIL"
if output=$(SHOPFLEET_ADMIN_PASSWORD="$ADMIN_PASSWORD" "$BIN" admin create --email "$ADMIN_EMAIL" 2>&1); then
  echo "$output"
elif grep -q "email_taken" <<<"$output"; then
  echo "$ADMIN_EMAIL exists, left as it is (its password is the one it was created with)"
else
  echo "$output" >&2
  exit 1
fi

echo "==> shopfleet seed-demo"
"$BIN" seed-demo

# Brings search up to date, e.g. for demo shops made before search existed (fast for two).
echo "==> shopfleet reindex"
"$BIN" reindex

# 5. What to try.
url="http://localhost:$PORT"
cat <<EOF

================================================================================
 shopfleet is starting on $url  ($db_note)

 Storefronts (*.localhost resolves to 127.0.0.1 in curl and browsers):
   http://tinashop.$BASE_DOMAIN:$PORT/v1/store/products     Tina Shop, clothing, VND
   http://micocah.$BASE_DOMAIN:$PORT/v1/store/products      Mi Cocah Coffee, USD
   http://tinashop.$BASE_DOMAIN:$PORT/v1/store/categories

 The same on the platform host, naming the shop in a header:
   curl -s -H 'X-Shop: tinashop' $url/v1/store/products
   curl -s -H 'X-Shop: micocah'  $url/v1/store/products

 API documentation:
   $url/docs             Swagger UI
   $url/openapi.json     OpenAPI document

 Demo logins:
   tinashop owner   owner@tinashop.test / tinashop-demo-2026
   micocah owner    owner@micocah.test  / micocah-demo-2026
   platform admin   $ADMIN_EMAIL / $ADMIN_PASSWORD

 Sign in as a shop owner, then use the admin API with the token:
   TOKEN=\$(curl -s -H 'X-Shop: tinashop' -H 'Content-Type: application/json' \\
     -d '{"email":"owner@tinashop.test","password":"tinashop-demo-2026"}' \\
     $url/v1/admin/auth/login | jq -r .access_token)
   curl -s -H 'X-Shop: tinashop' -H "Authorization: Bearer \$TOKEN" $url/v1/admin/products

 Sign in as the platform admin and list the shops:
   PTOKEN=\$(curl -s -H 'Content-Type: application/json' \\
     -d '{"email":"$ADMIN_EMAIL","password":"$ADMIN_PASSWORD"}' \\
     $url/v1/platform/auth/login | jq -r .access_token)
   curl -s -H "Authorization: Bearer \$PTOKEN" $url/v1/platform/shops

 Stop with Ctrl-C. The PostgreSQL server keeps running; scripts/run.sh reuses it.
================================================================================

EOF

# 6. The server, in the foreground.
export BASE_DOMAIN
export LISTEN_ADDR="${LISTEN_ADDR:-0.0.0.0:$PORT}"
# (The default is built outside `${…:-…}`: braces inside it would end the expansion early.)
default_template="http://{host}:$PORT"
export PUBLIC_URL_TEMPLATE="${PUBLIC_URL_TEMPLATE:-$default_template}"
# Product images: the local store under the state directory unless S3_BUCKET (or STORAGE_DIR) is set.
export STORAGE_DIR="${STORAGE_DIR:-$STATE_DIR/objects}"
exec "$BIN" serve
