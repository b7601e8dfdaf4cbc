# shopfleet: one image, one binary. Build with `docker build -t shopfleet .`; then
#   docker run --rm -e DATABASE_URL=… shopfleet migrate        (a deploy step: shop schemas)
#   docker run -p 8080:8080 -e DATABASE_URL=… -e JWT_SECRET=… -e BASE_DOMAIN=… shopfleet
# Any subcommand works in place of `serve`. See README.md for the settings.
#
# CI (scripts/container.sh) builds the runtime stage with Podman on a debootstrapped bookworm
# (--build-arg RUNTIME_BASE=…) and the host's release binary in place of the builder stage
# (--build-context builder=<dir with usr/local/bin/shopfleet>); it does not run the builder stage.
ARG RUNTIME_BASE=debian:bookworm-slim

# ---- build -------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /src

# Dependencies first, in their own layer: a dummy crate with the real manifest and lock file,
# so this slow step is redone only when Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src

# The application. SQL migrations (sqlx::migrate!) and casbin policies (include_str!) are
# embedded at compile time, so they are needed here and not at run time.
COPY migrations migrations
COPY tenant-migrations tenant-migrations
COPY policies policies
COPY src src
# touch: the copied sources keep their own mtimes, which may be older than the dummy build's
# output; cargo would then keep the dummy binary.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked \
 && install -m 0755 target/release/shopfleet /usr/local/bin/shopfleet \
 && /usr/local/bin/shopfleet --version

# ---- run ---------------------------------------------------------------------------------
FROM ${RUNTIME_BASE}
# ca-certificates for outgoing TLS; curl only for the health check below.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 shopfleet \
 && useradd --system --uid 10001 --gid shopfleet --home-dir /var/lib/shopfleet --create-home \
      --shell /usr/sbin/nologin shopfleet
COPY --from=builder /usr/local/bin/shopfleet /usr/local/bin/shopfleet

USER shopfleet:shopfleet
WORKDIR /var/lib/shopfleet
ENV LISTEN_ADDR=0.0.0.0:8080 \
    RUST_LOG=info,sqlx=warn
EXPOSE 8080
# Liveness only (no database round trip); /readyz also checks PostgreSQL. The port is
# LISTEN_ADDR's, so the check follows a changed LISTEN_ADDR.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${LISTEN_ADDR##*:}/healthz" || exit 1
ENTRYPOINT ["shopfleet"]
CMD ["serve"]
