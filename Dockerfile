# syntax=docker/dockerfile:1
# leadpool's image: built with the committed sqlx query data (no database at build time),
# run as a non-root user from a distroless base (glibc, libgcc, CA certificates; no shell).
#   docker build -t leadpool:0.1.0 .

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
# .sqlx/ stands in for a database; protoc comes vendored with the build dependencies.
ENV SQLX_OFFLINE=true \
    CARGO_TERM_COLOR=never
COPY . .
# The caches keep crates and compiled dependencies between builds; the binary is copied out of
# the cached target directory, which does not persist into the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin leadpool \
    && install -D -m 0755 target/release/leadpool /out/leadpool

# Debian 12 like the build stage, so the binary finds the glibc it was linked against.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/leadpool /usr/local/bin/leadpool
# distroless's nonroot user, by number so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
ENV LEADPOOL_LISTEN=0.0.0.0:50051 \
    LEADPOOL_METRICS_LISTEN=0.0.0.0:9090 \
    LEADPOOL_LOG_FORMAT=json
EXPOSE 50051 9090
ENTRYPOINT ["/usr/local/bin/leadpool"]
