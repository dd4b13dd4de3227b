# syntax=docker/dockerfile:1.7
#
# Switchboard container image.
#
#   docker build -t switchboard .                          # the gateway (the default, last stage)
#   docker build --target company-api -t switchboard-company-api .   # the example MCP server
#                                                        # (the demo upstream of deploy/compose and deploy/k8s)
#
# Stages: chef (cargo-chef) → planner (dependency recipe) → builder (dependencies cooked in
# their own layer, then the workspace) → runtime (debian slim, non-root, tini as PID 1).
# Only the manifests and Cargo.lock decide whether the dependency layer is rebuilt, so a
# source change recompiles the workspace crates only. See docs/deploy.md.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# ---------------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS chef
WORKDIR /src
# cargo-chef computes a recipe of the workspace's dependencies (pinned for reproducible builds).
RUN cargo install cargo-chef --locked --version 0.1.78

# ---------------------------------------------------------------------------------------------
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# ---------------------------------------------------------------------------------------------
FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# Dependencies only: this layer is reused until Cargo.toml/Cargo.lock change.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo chef cook --release --locked --recipe-path recipe.json -p switchboard
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo build --release --locked -p switchboard \
    && install -D -m 0755 target/release/switchboard /out/switchboard

# The example MCP server (examples/company-api), built on top of the gateway's dependencies.
FROM builder AS company-api-builder
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo build --release --locked -p company-api \
    && install -D -m 0755 target/release/company-api /out/company-api

# ---------------------------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime-base
# ca-certificates: HTTPS upstreams, JWKS and OAuth endpoints (rustls uses the system store).
# tini: PID 1 that forwards SIGTERM to the gateway and reaps the orphans of stdio upstreams.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 switchboard \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/switchboard \
       --shell /usr/sbin/nologin switchboard \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/switchboard \
    && install -d -m 0755 /etc/switchboard
WORKDIR /var/lib/switchboard

# ---------------------------------------------------------------------------------------------
FROM runtime-base AS company-api
COPY --from=company-api-builder /out/company-api /usr/local/bin/company-api
USER 10001:10001
EXPOSE 8081
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/company-api"]
CMD ["--http", "0.0.0.0:8081"]

# ---------------------------------------------------------------------------------------------
# The gateway (default target).
FROM runtime-base AS runtime
ARG VERSION=dev
LABEL org.opencontainers.image.title="switchboard" \
      org.opencontainers.image.description="Switchboard: a production gateway for the Model Context Protocol" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=builder /out/switchboard /usr/local/bin/switchboard
ENV SWITCHBOARD_CONFIG=/etc/switchboard/switchboard.yaml
USER 10001:10001
# 8080: MCP (http.listen). 9090: admin listener (/metrics, /healthz, /readyz); keep it private.
EXPOSE 8080 9090
# For docker/compose; Kubernetes uses its own probes (deploy/k8s). No curl in the image: bash's
# /dev/tcp asks /readyz on the admin port and requires an HTTP 200.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9090 && printf 'GET /readyz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/switchboard"]
CMD ["serve", "--config", "/etc/switchboard/switchboard.yaml"]
