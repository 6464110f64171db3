# Build: docker build -t switchboard .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin switchboard

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 switchboard
COPY --from=build /src/target/release/switchboard /usr/local/bin/switchboard
COPY providers /etc/switchboard/providers
COPY guardrails /etc/switchboard/guardrails
COPY prompts /etc/switchboard/prompts
USER switchboard
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/switchboard"]
CMD ["serve", "--config", "/etc/switchboard/switchboard.toml"]
