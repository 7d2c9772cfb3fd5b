# syntax=docker/dockerfile:1
# sluice as a container: the single-file executable on a minimal glibc base, as a non-root user.
#
#   docker build -t sluice .                        # or: docker buildx build --platform linux/arm64
#   docker run --rm sluice version
#   docker run -d --network host \
#     -v ./config.toml:/etc/sluice/config.toml:ro -v ./routing.toml:/etc/sluice/routing.toml:ro sluice
#
# Config: /etc/sluice/config.toml (the image's default: deploy/docker/config.toml, with an empty
# routing file beside it). Any key can be set with a SLUICE_* variable instead, e.g.
#   -e SLUICE_ROUTING_CONSUL_ADDRESS=http://consul:8500 -e SLUICE_LOG_LEVEL=debug
# Signals: `docker kill -s HUP` reloads; `docker stop` (SIGTERM) drains for listeners.drain_timeout,
# so give it `--stop-timeout` a little longer than that.

# --- compile: the same `bun build --compile` as `npm run compile`, cross-compiled for the target
# platform on the build machine's own architecture (no emulation needed to build arm64).
FROM --platform=$BUILDPLATFORM node:22-bookworm-slim AS compile
ARG TARGETARCH
WORKDIR /src
COPY package.json package-lock.json ./
# bun (and deno) come from npm, pinned by package-lock.json.
RUN npm ci --no-audit --no-fund
COPY deno.json deno.lock main.ts ./
COPY src ./src
RUN case "$TARGETARCH" in \
      amd64) target=bun-linux-x64 ;; \
      arm64) target=bun-linux-arm64 ;; \
      *) echo "unsupported TARGETARCH $TARGETARCH (amd64, arm64)" >&2; exit 1 ;; \
    esac \
 && ./node_modules/.bin/bun build --compile --minify --target="$target" main.ts --outfile /out/sluice

# --- runtime: glibc and nothing else (no shell, no package manager); user nonroot (65532).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=compile /out/sluice /usr/local/bin/sluice
COPY deploy/docker/config.toml deploy/docker/routing.toml /etc/sluice/
USER 65532:65532
# Admin API, metrics and dashboard (admin.listener). The image binds it to 127.0.0.1 inside the
# container, which the HEALTHCHECK reaches; to publish it set SLUICE_ADMIN_LISTENER=0.0.0.0:9090
# and SLUICE_ADMIN_TOKEN (a non-loopback admin API without a token is refused at startup).
EXPOSE 9090
# Peek (peek.listener), off in the image; SLUICE_PEEK_LISTENER=0.0.0.0:4444 turns it on.
EXPOSE 4444
# The routed listeners themselves are opened at runtime from the routing, so they cannot be listed
# here: publish them (-p 5432:5432) or run with --network host. Ports below 1024 work in a bridged
# container (Docker sets net.ipv4.ip_unprivileged_port_start=0 there); with --network host they
# need that sysctl on the host, or --user 0.
HEALTHCHECK --interval=15s --timeout=7s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/sluice", "health", "-c", "/etc/sluice/config.toml"]
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["run", "-c", "/etc/sluice/config.toml"]
