#!/usr/bin/env bash
# Builds the runtime image of the Dockerfile with Podman and checks it: the container serves
# against a real PostgreSQL, runs as non-root, and its CA bundle is the one rustls reads.
#
# No registry holds a base image here, and no Rust image exists, so:
#   - the base is Debian bookworm made with `debootstrap --variant=minbase` from the mirror this
#     machine's apt uses, imported with `podman import` (the tarball is cached per month under
#     ~/.cache/shopfleet/images; the first run takes minutes, later ones reuse it);
#   - the Dockerfile's builder stage is replaced by the release binary built on this host
#     (`--build-context builder=<dir holding usr/local/bin/shopfleet>`), and RUNTIME_BASE by the
#     imported base. The runtime stage itself runs as written (apt-get, user, HEALTHCHECK).
# Podman gets a private configuration and storage under ~/.cache/shopfleet/podman (runc, the
# cgroupfs manager, no default ulimits, host networking), so the machine's own setup is untouched.
#
# Checks: `shopfleet --version`; `shopfleet migrate` and then the image's default command
# (`serve`) on the database `shopfleet_test_container` of the private test cluster (TEST_PG_PORT,
# default 54339; started if needed), on 127.0.0.1:CONTAINER_PORT (default 29800); /healthz,
# /readyz and the image's HEALTHCHECK; the served process's uid is not 0; the CA bundle holds
# the public roots (S3's included) at the path rustls-native-certs reads; and, on a second
# cluster with TLS (CONTAINER_TLS_PG_PORT, default 54341), sqlx's rustls verifies the server
# (sslmode=verify-full) once a test CA is added the Debian way and fails without it.
# Prints the image's size; removes its containers, keeps the image and the cached base.
#
# Called by scripts/test.sh; runs on its own too. Installs what is missing (podman, runc,
# debootstrap). IMAGE names the result (default localhost/shopfleet:latest); DEBIAN_MIRROR and
# DEBIAN_SECURITY_MIRROR replace the mirrors read from /etc/apt/sources.list*.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/services.sh
source scripts/lib/demo_server.sh

STATE_DIR="${SHOPFLEET_STATE_DIR:-$PWD/.shopfleet}"
CACHE_DIR="$HOME/.cache/shopfleet"
TEST_PG_PORT="${TEST_PG_PORT:-54339}"
TLS_PG_PORT="${CONTAINER_TLS_PG_PORT:-54341}"
# Below the kernel's ephemeral range, like SCHEMATHESIS_PORT and E2E_PORT.
PORT="${CONTAINER_PORT:-29800}"
IMAGE="${IMAGE:-localhost/shopfleet:latest}"
DB=shopfleet_test_container
TLS_DB=shopfleet_test_container_tls
# Bump to rebuild the base when the way it is made changes; the month renews it with Debian's
# updates.
BASE_KEY="bookworm-minbase-r2-$(date -u +%Y%m)"
BASE_IMAGE="localhost/shopfleet-base:$BASE_KEY"
PODMAN_DIR="$CACHE_DIR/podman"
CONTAINER="shopfleet-check-$$"

step() { echo "==> [${SECONDS}s] $*"; }

ensure_packages podman runc debootstrap openssl

# ---- a private Podman -----------------------------------------------------------------------
mkdir -p "$PODMAN_DIR"
cat >"$PODMAN_DIR/containers.conf" <<CONF
[containers]
default_ulimits = []
pids_limit = 0
netns = "host"

[network]
network_config_dir = "$PODMAN_DIR/networks"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PODMAN_DIR/events.log"
runtime = "runc"
tmp_dir = "$PODMAN_DIR/tmp"

[engine.runtimes]
runc = ["/usr/sbin/runc"]
CONF
cat >"$PODMAN_DIR/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$PODMAN_DIR/root"
runroot = "$PODMAN_DIR/run"
CONF
# No registry is asked for anything: every image here is local.
cat >"$PODMAN_DIR/registries.conf" <<CONF
unqualified-search-registries = []
CONF
export CONTAINERS_CONF="$PODMAN_DIR/containers.conf"
export CONTAINERS_STORAGE_CONF="$PODMAN_DIR/storage.conf"
export CONTAINERS_REGISTRIES_CONF="$PODMAN_DIR/registries.conf"
# Podman runs periodic health checks with systemd timers, and a CI machine may have no systemd
# (this one has none); the checks below run the image's HEALTHCHECK once, by hand.
export DISABLE_HC_SYSTEMD=true
pm() {
  podman --root "$PODMAN_DIR/root" --runroot "$PODMAN_DIR/run" --runtime /usr/sbin/runc \
    --cgroup-manager cgroupfs "$@"
}

# ---- the base: debootstrap, cached --------------------------------------------------------
# The URI of the machine's apt source for SUITE (deb822 or one-line format).
apt_uri_for() {
  local suite="$1" uri
  uri=$(awk -v s="$suite" '/^URIs:/ {u = $2} /^Suites:/ {for (i = 2; i <= NF; i++) if ($i == s) {print u; exit}}' \
    /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk -v s="$suite" '$1 == "deb" {sub(/ \[[^]]*\]/, ""); if ($3 == s) {print $2; exit}}' \
    /etc/apt/sources.list 2>/dev/null || true)
  echo "${uri%/}"
}

build_base_tarball() {
  local tarball="$1" mirror security work
  mirror="${DEBIAN_MIRROR:-$(apt_uri_for bookworm)}"
  mirror="${mirror:-http://deb.debian.org/debian}"
  security="${DEBIAN_SECURITY_MIRROR:-$(apt_uri_for bookworm-security)}"
  security="${security:-http://deb.debian.org/debian-security}"
  work="$CACHE_DIR/images/rootfs.$$"
  rm -rf "$work"
  step "debootstrap --variant=minbase bookworm from $mirror (minutes; cached afterwards)"
  debootstrap --variant=minbase bookworm "$work" "$mirror" >"$CACHE_DIR/images/debootstrap.log" 2>&1 || {
    tail -n 20 "$CACHE_DIR/images/debootstrap.log" >&2
    return 1
  }
  # The sources of the official image: the release, its updates and security.
  rm -f "$work/etc/apt/sources.list"
  cat >"$work/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  # Slim like debian:bookworm-slim: no manuals, info pages, translations or documentation but
  # the copyrights, now or from later installs.
  cat >"$work/etc/dpkg/dpkg.cfg.d/slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
DPKG
  rm -rf "$work"/usr/share/{groff,info,linda,lintian/overrides,man}/*
  find "$work/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  find "$work/usr/share/doc" -type f ! -name copyright -delete
  find "$work/usr/share/doc" -type d -empty -delete
  chroot "$work" apt-get clean
  rm -rf "$work"/var/lib/apt/lists/* "$work"/var/log/*.log "$work"/var/cache/ldconfig/aux-cache
  tar --numeric-owner --xattrs -C "$work" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$work"
}

ensure_base_image() {
  local tarball="$CACHE_DIR/images/$BASE_KEY.tar"
  mkdir -p "$CACHE_DIR/images"
  if pm image exists "$BASE_IMAGE"; then
    return 0
  fi
  # Earlier bases (an earlier month's or recipe's) lose their tag; the prune after the build
  # deletes them once no image is built on them.
  pm images --format '{{.Repository}}:{{.Tag}}' localhost/shopfleet-base | while read -r old; do
    pm untag "$old"
  done
  if [ ! -f "$tarball" ]; then
    rm -f "$CACHE_DIR"/images/bookworm-minbase-*.tar
    build_base_tarball "$tarball"
  fi
  step "podman import $tarball as $BASE_IMAGE"
  pm import --quiet --change 'ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD=["bash"]' "$tarball" "$BASE_IMAGE" >/dev/null
}

# ---- the image -------------------------------------------------------------------------------
step "release binary (cargo build --release --locked)"
BIN=$(shopfleet_binary --release --locked)
ensure_base_image

step "podman build $IMAGE (runtime stage on $BASE_IMAGE, builder stage = this host's binary)"
binary_context="$PODMAN_DIR/binary-context"
rm -rf "$binary_context"
install -D -m 0755 "$BIN" "$binary_context/usr/local/bin/shopfleet"
# docker format: the OCI format has no HEALTHCHECK.
pm build --format docker --network host --pull=never --quiet \
  --build-arg "RUNTIME_BASE=$BASE_IMAGE" --build-context "builder=$binary_context" \
  -t "$IMAGE" -f Dockerfile . >/dev/null
rm -rf "$binary_context"
pm image prune -f >/dev/null

# ---- checks --------------------------------------------------------------------------------
cleanup() {
  pm rm -f -t 0 "$CONTAINER" >/dev/null 2>&1 || true
}
trap cleanup EXIT
# An earlier run's containers, if it was killed before its own cleanup.
pm ps -a -q --filter 'name=^shopfleet-check-' | while read -r id; do pm rm -f -t 0 "$id" >/dev/null; done

fail() {
  echo "container check failed: $*" >&2
  exit 1
}

step "checks"
version=$(pm run --rm "$IMAGE" --version)
[ "$version" = "$("$BIN" --version)" ] || fail "the image's binary says '$version'"
echo "    $version"

# The CA bundle: Debian's, where openssl-probe (rustls-native-certs: sqlx, the AWS SDK) looks
# first, with Mozilla's roots, among them those S3's certificates chain to. (The script runs in
# the container: its variables are its own.)
# shellcheck disable=SC2016
pm run --rm --entrypoint /bin/sh "$IMAGE" -c '
  set -e
  bundle=/etc/ssl/certs/ca-certificates.crt
  count=$(grep -c "BEGIN CERTIFICATE" "$bundle")
  [ "$count" -gt 100 ] || { echo "only $count certificates in $bundle"; exit 1; }
  for root in Amazon_Root_CA_1 Starfield_Services_Root_Certificate_Authority_-_G2; do
    openssl verify -CAfile "$bundle" "/usr/share/ca-certificates/mozilla/$root.crt" >/dev/null
  done
  echo "    $bundle: $count certificates, Amazon Root CA 1 and Starfield Services G2 among them"
' || fail "CA certificates"

start_postgres "$STATE_DIR/test-pg" "$TEST_PG_PORT"
fresh_database "$DB"
if port_in_use "$PORT"; then
  fail "port $PORT is taken; choose another (CONTAINER_PORT)"
fi
database_url="postgres://shopfleet:shopfleet@127.0.0.1:$TEST_PG_PORT/$DB"
pm run --rm -e DATABASE_URL="$database_url" "$IMAGE" migrate >/dev/null || fail "shopfleet migrate"
pm run -d --name "$CONTAINER" -e DATABASE_URL="$database_url" \
  -e JWT_SECRET=container-check-only-secret-0123456789abcdef -e BASE_DOMAIN=shops.localhost \
  -e LISTEN_ADDR="127.0.0.1:$PORT" "$IMAGE" >/dev/null
healthy=""
for _ in $(seq 1 150); do
  if curl -fsS -m 2 "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then healthy=yes; break; fi
  [ "$(pm inspect -f '{{.State.Running}}' "$CONTAINER")" = true ] || break
  sleep 0.2
done
if [ -z "$healthy" ]; then
  pm logs "$CONTAINER" 2>&1 | tail -n 20 >&2
  fail "/healthz did not answer on port $PORT"
fi
curl -fsS -m 5 -o /dev/null "http://127.0.0.1:$PORT/readyz" || fail "/readyz is not 200"
pm healthcheck run "$CONTAINER" >/dev/null || fail "the image's HEALTHCHECK failed"
echo "    serve: /healthz and /readyz 200, HEALTHCHECK healthy"

# Non-root: the served process's own uid, seen from the host (no user namespace here), and the
# user a `podman exec` gets.
pid=$(pm inspect -f '{{.State.Pid}}' "$CONTAINER")
host_uid=$(ps -o uid= -p "$pid" | tr -d ' ')
exec_uid=$(pm exec "$CONTAINER" id -u)
if [ "$host_uid" = 0 ] || [ "$exec_uid" = 0 ]; then
  fail "runs as root (uid $host_uid, exec uid $exec_uid)"
fi
echo "    user: $(ps -o comm= -p "$pid") runs as uid $host_uid ($(pm exec "$CONTAINER" id -un))"
cleanup

# TLS with the binary's own rustls: sqlx (tls-rustls-ring-native-roots) verifying a PostgreSQL
# whose certificate a test CA signed. It must fail with the image's bundle alone and pass once
# the CA is added with update-ca-certificates: so the binary reads the bundle that tool writes.
tls_dir="$STATE_DIR/container-tls"
mkdir -p "$tls_dir"
if [ ! -f "$tls_dir/server.crt" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=shopfleet container check CA" -keyout "$tls_dir/ca.key" -out "$tls_dir/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
    -keyout "$tls_dir/server.key" -out "$tls_dir/server.csr" 2>/dev/null
  openssl x509 -req -in "$tls_dir/server.csr" -CA "$tls_dir/ca.crt" -CAkey "$tls_dir/ca.key" \
    -CAcreateserial -days 3650 -out "$tls_dir/server.crt" 2>/dev/null \
    -extfile <(printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n')
fi
start_postgres "$STATE_DIR/container-tls-pg" "$TLS_PG_PORT"
install -o postgres -g postgres -m 0600 "$tls_dir/server.crt" "$tls_dir/server.key" "$PG_SOCKET_DIR/"
pg_super -c "alter system set ssl = on" -c "select pg_reload_conf()" >/dev/null
for _ in $(seq 1 50); do
  [ "$(pg_super -tAc 'show ssl')" = on ] && break
  sleep 0.1
done
fresh_database "$TLS_DB"
tls_url="postgres://shopfleet:shopfleet@localhost:$TLS_PG_PORT/$TLS_DB?sslmode=verify-full"
if output=$(pm run --rm -e DATABASE_URL="$tls_url" "$IMAGE" migrate 2>&1); then
  fail "verify-full passed without the test CA: the check proves nothing"
fi
grep -q "UnknownIssuer" <<<"$output" || fail "verify-full without the test CA failed for another reason: $output"
pm run --rm --user 0 --entrypoint /bin/sh -e DATABASE_URL="$tls_url" \
  -v "$tls_dir/ca.crt:/usr/local/share/ca-certificates/shopfleet-check.crt:ro" "$IMAGE" -c '
    update-ca-certificates >/dev/null 2>&1 &&
    exec setpriv --reuid=shopfleet --regid=shopfleet --init-groups shopfleet migrate' >/dev/null ||
  fail "TLS to PostgreSQL with the test CA added"
echo "    TLS: rustls (sqlx, verify-full) trusts the bundle update-ca-certificates writes; without the CA it refuses"
as_pg_user "$(pg_bin_dir)/pg_ctl" -D "$PG_SOCKET_DIR" stop -m fast >/dev/null

size=$(pm image inspect -f '{{.Size}}' "$IMAGE")
step "container image $IMAGE ok: $((size / 1024 / 1024)) MiB"
