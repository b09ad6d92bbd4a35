# syntax=docker/dockerfile:1
# Build stage: compile the sargdb server in release mode.
FROM rust:1-bookworm AS builder
WORKDIR /src
# Only the workspace sources (never a local target/ or data directory).
COPY Cargo.toml Cargo.lock ./
COPY engine engine
COPY catalog catalog
COPY sql sql
COPY server server
COPY tests tests
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release -p sargdb-server --bin sargdb \
    && cp target/release/sargdb /usr/local/bin/sargdb

# Runtime stage: just the binary on a slim Debian.
FROM debian:bookworm-slim
RUN groupadd --system sargdb \
    && useradd --system --gid sargdb --home-dir /var/lib/sargdb sargdb \
    && mkdir -p /var/lib/sargdb \
    && chown sargdb:sargdb /var/lib/sargdb
COPY --from=builder /usr/local/bin/sargdb /usr/local/bin/sargdb
USER sargdb
VOLUME ["/var/lib/sargdb"]
EXPOSE 5432
# Exec form so SIGTERM from `docker stop` reaches sargdb for a clean shutdown.
ENTRYPOINT ["/usr/local/bin/sargdb"]
CMD ["--listen", "0.0.0.0:5432", "--data-dir", "/var/lib/sargdb"]
