# chorus-visual service image. Node 20 (the version the package pins support).
FROM node:20-bookworm-slim AS deps
WORKDIR /app
# better-sqlite3 builds its native addon when no prebuilt binary matches.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production \
    CHORUS_VISUAL_DATA_DIR=/data \
    CHORUS_VISUAL_DATABASE_URL=sqlite:/data/chorus-visual.db \
    CHORUS_VISUAL_HTTP_HOST=0.0.0.0
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY machines ./machines
COPY workflows ./workflows
COPY config ./config
VOLUME ["/data"]
EXPOSE 8787
# tsx runs the TypeScript sources directly (it is a runtime dependency), so no build stage.
ENTRYPOINT ["node", "bin/chorus-visual.js"]
CMD ["serve"]
