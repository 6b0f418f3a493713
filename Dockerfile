# syntax=docker/dockerfile:1
#
# One Dockerfile, three images. Pick one with --target:
#
#   docker build --target api    -t agent-runner-api .     # HTTP api; also runs `migrate`
#   docker build --target worker -t agent-runner-worker .  # consumes runs; ships git
#   docker build --target cli    -t agent-runner .         # the `agent-runner` CLI
#
# Without --target the last stage (api) is built.
# The builder stage compiles every binary once; BuildKit cache mounts keep the
# cargo registry and target/ between builds, so editing one crate recompiles
# that crate, not the dependency tree.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# ---------------------------------------------------------------------------
# builder: compile the workspace (rustls everywhere, so no OpenSSL headers).
# ---------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,id=agent-runner-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=agent-runner-cargo-git,target=/usr/local/cargo/git \
    --mount=type=cache,id=agent-runner-target,target=/src/target \
    cargo build --release --bins \
 && mkdir -p /out \
 && cp target/release/agent-runner-api target/release/agent-runner-worker \
       target/release/agent-runner-sandbox target/release/agent-runner /out/

# ---------------------------------------------------------------------------
# runtime-base: what every image shares. No compiler, no package cache.
# ---------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime-base
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 agent \
 && useradd --system --uid 10001 --gid agent --create-home --home-dir /home/agent \
      --shell /usr/sbin/nologin agent
LABEL org.opencontainers.image.title="agent-runner" \
      org.opencontainers.image.description="Distributed job runner for autonomous coding agents" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /home/agent

# ---------------------------------------------------------------------------
# cli: `docker run --rm agent-runner --help`
# ---------------------------------------------------------------------------
FROM runtime-base AS cli
COPY --from=builder /out/agent-runner /usr/local/bin/agent-runner
USER 10001:10001
ENTRYPOINT ["agent-runner"]

# ---------------------------------------------------------------------------
# worker: executes runs. Needs git (worktree per run) and a writable
# WORKSPACE_ROOT. tini is PID 1 so the agent's orphaned child processes are
# reaped and SIGTERM reaches the worker, which then drains for SHUTDOWN_GRACE_S.
# Commands in worktrees run in the sandbox: agent-runner-sandbox (the launcher,
# next to the worker) and bubblewrap, used where the runtime allows user
# namespaces (docs/llm-agent.md, "The command sandbox").
# ---------------------------------------------------------------------------
FROM runtime-base AS worker
RUN apt-get update \
 && apt-get install -y --no-install-recommends git tini bubblewrap \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /workspace \
 && chown 10001:10001 /workspace
COPY --from=builder /out/agent-runner-worker /out/agent-runner-sandbox /usr/local/bin/
ENV WORKER_METRICS_ADDR=0.0.0.0:9090 \
    WORKSPACE_ROOT=/workspace
USER 10001:10001
# /metrics and /healthz
EXPOSE 9090
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["agent-runner-worker", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "agent-runner-worker"]

# ---------------------------------------------------------------------------
# api (default target): `serve` by default; `migrate`, `healthcheck` and
# `token create` are subcommands of the same binary.
# ---------------------------------------------------------------------------
FROM runtime-base AS api
COPY --from=builder /out/agent-runner-api /usr/local/bin/agent-runner-api
ENV API_ADDR=0.0.0.0:8080
USER 10001:10001
# HTTP api, /healthz, /readyz and /metrics
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["agent-runner-api", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["agent-runner-api"]
CMD ["serve"]
