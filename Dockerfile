# syntax=docker/dockerfile:1
# leadpool's image: built with the committed sqlx query data (no database at build time),
# run as a non-root user from a distroless base (glibc, libgcc, CA certificates; no shell).
#   docker build -t leadpool:0.1.0 --build-arg SOURCE_URL=https://<your-git-host>/<path>/leadpool .
#
# Both base images are pinned by digest: the tag says what the image is meant to be, the digest
# fixes the exact bytes, so a rebuild uses the same toolchain and the same runtime libraries until
# someone changes the pin on purpose. The digests were taken from public Dockerfiles pinning
# exactly these tags (several independent repositories agree on each); they were not resolved
# against the registry from here. To refresh one, resolve the tag's multi-arch index digest and
# change tag and digest together, then rebuild and rescan:
#   docker buildx imagetools inspect rust:1.95-slim-bookworm          # "Digest: sha256:…"
#   crane digest gcr.io/distroless/cc-debian12:nonroot
# Keep the build stage on Debian 12 (bookworm) while the runtime is cc-debian12: the binary needs
# the glibc it was linked against. Rust >= 1.85 (edition 2024, Cargo.toml's rust-version).

FROM rust:1.95-slim-bookworm@sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082 AS build
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
FROM gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f
# Where the image was built from: pass your repository's URL (the default is a placeholder).
ARG SOURCE_URL=https://example.com/crm/leadpool
# OCI image annotations (github.com/opencontainers/image-spec, annotations.md). The version is
# Cargo.toml's; tests/python/test_k8s.py checks they agree, and that base.digest is the FROM's.
LABEL org.opencontainers.image.title="leadpool" \
      org.opencontainers.image.description="The CRM public pool / private pool lead service over gRPC" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot" \
      org.opencontainers.image.base.digest="sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f"
COPY --from=build /out/leadpool /usr/local/bin/leadpool
# distroless's nonroot user, by number so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
ENV LEADPOOL_LISTEN=0.0.0.0:50051 \
    LEADPOOL_METRICS_LISTEN=0.0.0.0:9090 \
    LEADPOOL_LOG_FORMAT=json
EXPOSE 50051 9090
ENTRYPOINT ["/usr/local/bin/leadpool"]
