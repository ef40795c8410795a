# syntax=docker/dockerfile:1
#
# wirewatch container image.
#
#   docker build -t wirewatch:local .
#   docker run --rm -e WIREWATCH_KAFKA_BROKERS=kafka:9092 -p 127.0.0.1:9464:9464 wirewatch:local
#
# The image runs `wirewatch run --config /etc/wirewatch/wirewatch.toml` by default; the
# subcommand is the CMD, so `docker run ... wirewatch:local process --config ...` (or a compose
# `command:`) picks another one. config/ from the build context is baked into /etc/wirewatch
# (taxonomy.toml sits next to wirewatch.toml there); docker-compose.yml mounts ./config over it
# read-only so edits are picked up without a rebuild.

ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS builder

# librdkafka (rdkafka-sys) is compiled from source with its own configure script (no cmake),
# statically linked; the `ssl` feature links the system OpenSSL, libz-sys links zlib.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        build-essential pkg-config libssl-dev zlib1g-dev python3 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# BuildKit cache mounts keep the crate registry and target/ between builds; the binary is
# copied out of the cached target/ because cache mounts are not part of the image layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin wirewatch \
 && install -D -m 0755 target/release/wirewatch /out/wirewatch

# ---------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE}

# libssl3: librdkafka's TLS (dynamically linked OpenSSL); zlib1g: librdkafka compression;
# ca-certificates: TLS to brokers and to feeds.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 wirewatch \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/wirewatch --create-home \
        --shell /usr/sbin/nologin wirewatch

COPY --from=builder /out/wirewatch /usr/local/bin/wirewatch
COPY config/ /etc/wirewatch/
COPY --chmod=0755 deploy/docker/healthcheck.sh /usr/local/bin/wirewatch-healthcheck

# Inside a container the metrics/health endpoint must listen on all interfaces to be scraped.
ENV WIREWATCH_METRICS_LISTEN=0.0.0.0:9464

USER 10001:10001
WORKDIR /var/lib/wirewatch
EXPOSE 9464

# There is no curl or wget in the slim runtime image (and installing one only for this would
# add ~5 MB and a TLS stack to the attack surface). The probe instead uses bash's built-in
# /dev/tcp to send `GET /healthz` to the port in WIREWATCH_METRICS_LISTEN and checks for a
# 200 status line: see deploy/docker/healthcheck.sh. It is meaningful for the long-running
# subcommands (run, fetch, process), which serve /healthz; one-shot subcommands (check-config,
# tag, replay, tail) exit before the first probe matters. Orchestrators with their own HTTP
# probes (Kubernetes) should probe /healthz and /readyz directly instead.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/wirewatch-healthcheck", "/healthz"]

ENTRYPOINT ["wirewatch"]
CMD ["run", "--config", "/etc/wirewatch/wirewatch.toml"]
