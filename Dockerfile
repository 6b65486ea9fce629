# Warren: one image with every binary, built in two stages.
#
#   docker build -t warren .
#   docker run --rm -p 8080:8080 -e WARREN_LISTEN=0.0.0.0:8080 warren warren   # embedded, all in one
#
# docker-compose.yml runs each service from this image as a process of its own.

FROM rust:1.95-slim-bookworm AS build
# lapin's TLS (rustls on aws-lc) builds C code; cmake covers the aws-lc versions that want it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --workspace --bins \
 && mkdir -p /out \
 && cp target/release/warren target/release/warren-gateway target/release/warren-auth \
       target/release/warren-accounts target/release/warren-sessions target/release/warren-rooms \
       target/release/warren-private-rooms target/release/warren-matchmaker /out/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home warren
COPY --from=build /out/ /usr/local/bin/
USER warren
ENV WARREN_LOG_FORMAT=json
EXPOSE 8080
CMD ["warren"]
