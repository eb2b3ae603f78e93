# syntax=docker/dockerfile:1
# Build stage: compile TypeScript with the dev dependencies, then keep only production ones.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
COPY proto ./proto
RUN npm run build && npm prune --omit=dev

# Runtime stage: Node 22, non-root, only what runs.
FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node proto ./proto
COPY --chown=node:node package.json ./
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node
# Outside a container pmf-guard binds loopback unless auth is configured. In one, loopback is
# unreachable through published ports, so the image asks for every interface explicitly; without
# PMF_GUARD_BEARER_TOKEN_FILE it logs a warning at start that the listeners are open.
ENV PMF_GUARD_HOST=0.0.0.0
# 4317 OTLP gRPC, 4318 OTLP/HTTP, 8080 admin API (health, readiness, metrics, flags, verdicts)
EXPOSE 4317 4318 8080
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
ENTRYPOINT ["node", "dist/src/main.js"]
CMD ["start", "--role", "all"]
