# syntax=docker/dockerfile:1
# The chat server image: build with dev dependencies, run with production dependencies only.
# Debian bookworm (glibc 2.36): the uWS native binary of this build needs glibc >= 2.36 and < 2.38,
# so neither alpine (musl) nor a newer Debian will do; on either the server refuses to start.
# Checked without a Docker engine by scripts/verify-image-layout.sh, which runs these steps in a
# temporary directory and starts the server from the runtime stage's files.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the package's `prepare` builds dist/, but the sources are not copied yet (this layer
# stays cached until the lockfile changes); the build is the explicit step below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The server, the SDK and the demo page (served only with SERVE_DEMO=true), where typescript and esbuild exist.
COPY scripts/build.mjs ./scripts/
RUN npm run build

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no build tools here; dist/ comes from the build stage.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Files stay root-owned and read-only to the server; the image's `node` user runs it.
USER node
EXPOSE 3000
# No curl in the slim image: Node's own fetch asks /healthz on the port the server listens on.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# The server drains on SIGTERM (docs/production-runbook.md): give `docker stop -t` more than SHUTDOWN_GRACE_MS.
STOPSIGNAL SIGTERM
# Node directly (no npm, no shell) so SIGTERM reaches the server.
CMD ["node", "dist/main.js"]
