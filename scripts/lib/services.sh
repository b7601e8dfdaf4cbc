# Shared by scripts/run.sh and scripts/test.sh: install and start private service instances.
# Each instance has its own data directory and port; nothing here touches a service it did not
# start. Source this file; it defines functions only.

# Installs Debian packages that are missing (no-op when all are present).
ensure_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

pg_bin_dir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

# Runs a command as the PostgreSQL server's user: the server refuses to run as root. From /,
# since that user may not be allowed into the current directory.
as_pg_user() {
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# True when something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A data directory the server's user can reach: the wanted one, or one under /var/tmp when the
# wanted one sits below directories closed to that user (a root-owned checkout, say).
pg_data_dir_for() {
  local wanted="$1" port="$2"
  mkdir -p "$wanted"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$wanted"
    if ! runuser -u postgres -- test -w "$wanted"; then
      wanted="/var/tmp/shopfleet-pg-$port"
      mkdir -p "$wanted" && chown postgres: "$wanted"
    fi
  fi
  echo "$wanted"
}

# start_postgres DIR PORT: a private cluster in DIR on 127.0.0.1:PORT (idempotent), with an
# application role `shopfleet` (LOGIN CREATEROLE NOINHERIT, not a superuser: DESIGN.md §1).
start_postgres() {
  local dir port bin
  port="$2"
  dir=$(pg_data_dir_for "$1" "$port")
  ensure_packages postgresql
  bin=$(pg_bin_dir)
  if [ ! -f "$dir/PG_VERSION" ]; then
    echo "==> creating PostgreSQL cluster in $dir"
    as_pg_user "$bin/initdb" -D "$dir" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$dir/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 300
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
  fi
  if ! as_pg_user "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    if port_in_use "$port"; then
      echo "error: port $port is taken by a server these scripts did not start from $dir;" >&2
      echo "       choose another port (see the script's *_PG_PORT variable)." >&2
      return 1
    fi
    echo "==> starting PostgreSQL on 127.0.0.1:$port"
    as_pg_user "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start >/dev/null
  fi
  PG_SOCKET_DIR="$dir"
  PG_PORT="$port"
  pg_super -c "do \$\$ begin
      if not exists (select 1 from pg_roles where rolname = 'shopfleet') then
        create role shopfleet login createrole noinherit password 'shopfleet';
      end if; end \$\$;" >/dev/null
}

# reset_postgres DIR PORT: like start_postgres, on a new, empty cluster. The private cluster in
# DIR (and only that one) is stopped and deleted first: a fresh cluster takes seconds, while
# dropping the hundreds of databases and shop roles a test run leaves takes minutes.
reset_postgres() {
  local dir bin
  dir=$(pg_data_dir_for "$1" "$2")
  bin=$(pg_bin_dir)
  if [ -f "$dir/PG_VERSION" ] && as_pg_user "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    as_pg_user "$bin/pg_ctl" -D "$dir" stop -m immediate >/dev/null
  fi
  if [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
    # Out of the way at once, deleted in the background: a run leaves ~300k files.
    local old="${dir%/}.old.$$"
    mv "$dir" "$old" && mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    nohup rm -rf "${dir%/}".old.* >/dev/null 2>&1 </dev/null &
  fi
  start_postgres "$1" "$2"
}

# psql as the cluster's superuser, over the private socket.
pg_super() {
  as_pg_user psql -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -d postgres "$@"
}

# ensure_database NAME: a database owned by the application role (idempotent).
ensure_database() {
  local name="$1"
  if [ "$(pg_super -tAc "select 1 from pg_database where datname = '$name'")" != "1" ]; then
    pg_super -c "create database \"$name\" owner shopfleet" >/dev/null
  fi
  # The role is NOINHERIT, so it does not get pg_database_owner's rights on `public`; sqlx keeps
  # its migration table there.
  pg_super -d "$name" -c "alter schema public owner to shopfleet" >/dev/null
}

# True when the server on 127.0.0.1:PORT is moto (its own API answers).
is_moto() {
  curl -fsS -m 2 "http://127.0.0.1:$1/moto-api/data.json" >/dev/null 2>&1
}

# start_moto DIR PORT: an S3-compatible server (moto, `moto[server]` from PyPI) on
# 127.0.0.1:PORT, log and pid in DIR (idempotent: a moto already answering there is reused).
# Sets MOTO_ENDPOINT. Callers make their own buckets with random names, so runs never collide.
start_moto() {
  local dir="$1" port="$2"
  mkdir -p "$dir"
  MOTO_ENDPOINT="http://127.0.0.1:$port"
  if is_moto "$port"; then
    return 0
  fi
  if port_in_use "$port"; then
    echo "error: port $port is taken by a server that is not moto; choose another port" >&2
    echo "       (see the script's *_S3_PORT variable)." >&2
    return 1
  fi
  if ! command -v moto_server >/dev/null || ! python3 -c "import moto.server, flask" 2>/dev/null; then
    echo "==> installing moto[server] with pip"
    python3 -m pip install -q 'moto[server]'
  fi
  echo "==> starting moto (S3) on 127.0.0.1:$port"
  nohup moto_server -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 </dev/null &
  echo $! >"$dir/moto.pid"
  for _ in $(seq 1 100); do
    is_moto "$port" && return 0
    sleep 0.2
  done
  echo "error: moto did not start on port $port; see $dir/moto.log" >&2
  return 1
}

# The records directory served by the test DNS server on 127.0.0.1:PORT, printed when that is
# what answers there (it names itself: scripts/lib/dns_server.py), nothing otherwise.
test_dns_records_of() {
  python3 - "$1" 2>/dev/null <<'PY' || true
import sys
from dnslib import DNSRecord
reply = DNSRecord.parse(
    DNSRecord.question("whoami.shopfleet-test-dns", "TXT").send("127.0.0.1", int(sys.argv[1]), timeout=1)
)
for rr in reply.rr:
    value = b"".join(rr.rdata.data).decode()
    if value.startswith("shopfleet-test-dns "):
        print(value.split(" ", 1)[1])
PY
}

# start_dns DIR PORT: a DNS server for the tests (scripts/lib/dns_server.py, on `dnslib` from
# PyPI) on 127.0.0.1:PORT, UDP and TCP, answering TXT queries from the files in DIR/records (one
# file per name, one value per line); log and pid in DIR. Idempotent: the server already serving
# that directory on that port is reused. Sets DNS_ADDR and DNS_RECORDS_DIR.
start_dns() {
  local dir="$1" port="$2" serving
  mkdir -p "$dir/records"
  DNS_RECORDS_DIR="$(cd "$dir/records" && pwd)"
  DNS_ADDR="127.0.0.1:$port"
  if ! python3 -c "import dnslib" 2>/dev/null; then
    echo "==> installing dnslib with pip"
    python3 -m pip install -q dnslib
  fi
  serving="$(test_dns_records_of "$port")"
  if [ "$serving" = "$DNS_RECORDS_DIR" ]; then
    return 0
  fi
  if [ -n "$serving" ] || port_in_use "$port"; then
    echo "error: port $port is taken by a server that is not the test DNS server of $dir;" >&2
    echo "       choose another port (see the script's *_DNS_PORT variable)." >&2
    return 1
  fi
  echo "==> starting the test DNS server on 127.0.0.1:$port"
  nohup python3 "$(dirname "${BASH_SOURCE[0]}")/dns_server.py" --port "$port" \
    --records "$DNS_RECORDS_DIR" >"$dir/dns.log" 2>&1 </dev/null &
  echo $! >"$dir/dns.pid"
  for _ in $(seq 1 50); do
    [ "$(test_dns_records_of "$port")" = "$DNS_RECORDS_DIR" ] && return 0
    sleep 0.2
  done
  echo "error: the test DNS server did not start on port $port; see $dir/dns.log" >&2
  return 1
}

# The data directory of the Redis server answering on 127.0.0.1:PORT, if it answers.
redis_dir_of() {
  redis-cli -h 127.0.0.1 -p "$1" --raw config get dir 2>/dev/null | sed -n 2p
}

# start_redis DIR PORT: a private Redis (Debian's redis-server) on 127.0.0.1:PORT with its data,
# log and pid in DIR, no persistence, and the eviction policy shopfleet needs (volatile-lru).
# Idempotent: the server already serving DIR on PORT is reused. Sets STARTED_REDIS_URL.
start_redis() {
  local dir port="$2"
  mkdir -p "$1"
  dir="$(cd "$1" && pwd)"
  ensure_packages redis-server
  STARTED_REDIS_URL="redis://127.0.0.1:$port"
  if [ "$(redis_dir_of "$port")" = "$dir" ]; then
    return 0
  fi
  if port_in_use "$port"; then
    echo "error: port $port is taken by a server that is not the Redis of $dir; choose another" >&2
    echo "       port (see the script's *_REDIS_PORT variable)." >&2
    return 1
  fi
  echo "==> starting Redis on 127.0.0.1:$port"
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save "" --appendonly no \
    --maxmemory 256mb --maxmemory-policy volatile-lru >/dev/null
  for _ in $(seq 1 50); do
    [ "$(redis_dir_of "$port")" = "$dir" ] && return 0
    sleep 0.1
  done
  echo "error: Redis did not start on port $port; see $dir/redis.log" >&2
  return 1
}

# The pid of the PgBouncer started from DIR, printed when it still runs and listens on PORT.
pgbouncer_pid_of() {
  local dir="$1" port="$2" pid
  pid="$(cat "$dir/pgbouncer.pid" 2>/dev/null)" || return 0
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "pgbouncer" ] && port_in_use "$port"; then
    echo "$pid"
  fi
}

# start_pgbouncer DIR PORT PG_PORT [POOL_SIZE]: a private PgBouncer (Debian's pgbouncer) on
# 127.0.0.1:PORT in transaction mode, in front of the PostgreSQL on 127.0.0.1:PG_PORT, for the
# application role `shopfleet` (password `shopfleet`, as start_postgres makes it) and any
# database (`*`). POOL_SIZE (default 4) server connections per database, however many clients
# (up to 1000) connect. Config, userlist, pid and log in DIR; it runs as PostgreSQL's user
# (PgBouncer refuses root). Idempotent: the PgBouncer already started from DIR on PORT rereads
# its config. `shopfleet` may run SHOW commands on its admin console (database `pgbouncer`).
# Sets STARTED_PGBOUNCER_ADDR.
start_pgbouncer() {
  local dir port="$2" pg_port="$3" pool_size="${4:-4}" pid
  dir=$(pg_data_dir_for "$1" "$port")
  ensure_packages pgbouncer
  STARTED_PGBOUNCER_ADDR="127.0.0.1:$port"
  # The server's clients log in with SCRAM; a plain password here lets PgBouncer do SCRAM with
  # both the client and the server.
  echo '"shopfleet" "shopfleet"' >"$dir/userlist.txt"
  cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$pg_port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $dir
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
stats_users = shopfleet
pool_mode = transaction
default_pool_size = $pool_size
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 1000
; Each test process has databases of its own: their idle server connections go soon, or the
; pools of finished processes would fill PostgreSQL's max_connections.
server_idle_timeout = 5
; sqlx sends it at start-up; PgBouncer would refuse the connection otherwise.
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir/userlist.txt" "$dir/pgbouncer.ini"
  chmod 600 "$dir/userlist.txt"
  pid="$(pgbouncer_pid_of "$dir" "$port")"
  if [ -n "$pid" ]; then
    kill -HUP "$pid"
    return 0
  fi
  if port_in_use "$port"; then
    echo "error: port $port is taken by a server that is not the PgBouncer of $dir; choose" >&2
    echo "       another port (see the script's *_PGBOUNCER_PORT variable)." >&2
    return 1
  fi
  echo "==> starting PgBouncer on 127.0.0.1:$port (transaction mode, $pool_size server connections)"
  as_pg_user pgbouncer -d -q "$dir/pgbouncer.ini"
  for _ in $(seq 1 50); do
    [ -n "$(pgbouncer_pid_of "$dir" "$port")" ] && return 0
    sleep 0.1
  done
  echo "error: PgBouncer did not start on port $port; see $dir/pgbouncer.log" >&2
  return 1
}

# Where cargo builds: a cache outside the checkout, so fresh clones (CI) reuse earlier builds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/shopfleet/target}"
