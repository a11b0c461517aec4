# Orbit API image. Build from the repo root:
#   docker build -t orbit-api .                             # runtime (default, last stage)
#   docker build --target migrate -t orbit-api-migrate .    # one-shot `orbit migrate up`
#
# Stages: chef → planner (dependency recipe) → builder (cached deps, then the app)
#         → base (debian-slim + tini + ca-certificates + user) → migrate, runtime.

FROM rust:1.95-slim-bookworm AS chef
# 0.1.78 (2026-04-13) was released before rustc 1.95, so its locked dependency tree builds on it.
RUN cargo install --locked cargo-chef@0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# Dependencies only (the workspace's path crates become stubs); this layer is reused until
# Cargo.toml/Cargo.lock change.
RUN cargo chef cook --release --locked --recipe-path recipe.json --bin orbit
COPY . .
RUN cargo build --release --locked --bin orbit \
 && install -D -m 0755 target/release/orbit /out/orbit

FROM debian:bookworm-slim AS base
# ca-certificates: rustls verifies Postgres/Resend/etc. certificates against the system roots.
# tini: PID 1 that forwards SIGTERM and reaps zombies, so graceful shutdown works.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && groupadd --system --gid 10001 orbit \
 && useradd --system --uid 10001 --gid orbit --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin orbit
# Owned by root on purpose: the app writes nothing to disk (no SQLite in production).
WORKDIR /app
ENV APP_ENV=production

FROM base AS migrate
COPY --from=builder /out/orbit /usr/local/bin/orbit
USER 10001:10001
# Arguments replace the action: `docker run orbit-api-migrate status`.
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/orbit", "migrate"]
CMD ["up"]

FROM base AS runtime
COPY --from=builder /out/orbit /usr/local/bin/orbit
USER 10001:10001
ENV PORT=4002
EXPOSE 4002
# No curl in the image (it would add ~10 MB of libraries): bash, already in debian-slim, speaks
# just enough HTTP over /dev/tcp. Passes only on a `200` status line from /health.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${PORT:-4002} && printf 'GET /health HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && read -r status <&3 && [[ $status == *' 200 '* ]]"]
# The entrypoint is tini alone and `orbit` sits in CMD, so a platform's one-off command
# (Fly release_command, Railway/Render pre-deploy) can be `orbit migrate up` whether the
# platform replaces CMD (Fly) or the entrypoint (Railway).
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["/usr/local/bin/orbit", "serve"]
