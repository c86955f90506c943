# chorus-visual service image. Node 20 (the version the package pins support).
# Stage 1 installs everything, builds dist/ (npm ci runs `prepare`, which is `npm run build`)
# and then drops the development packages; the image gets the compiled JavaScript and the
# production node_modules only, so it runs no TypeScript loader.
FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 builds its native addon when no prebuilt binary matches.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
COPY machines ./machines
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production \
    CHORUS_VISUAL_DATA_DIR=/data \
    CHORUS_VISUAL_DATABASE_URL=sqlite:/data/chorus-visual.db \
    CHORUS_VISUAL_HTTP_HOST=0.0.0.0
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY workflows ./workflows
COPY config ./config
VOLUME ["/data"]
EXPOSE 8787
# bin/chorus-visual.js runs dist/cli.js, the compiled CLI.
ENTRYPOINT ["node", "bin/chorus-visual.js"]
CMD ["serve"]
