# The vfab image: every daemon (hostd, switchd, stored), the Kubernetes gateway and the CLI, compiled
# JavaScript on Node.js 20, no TypeScript and no network at run time. `vfab k8s render` starts each pod
# with its own command (node dist/daemons/<daemon>.js ...); the default entry point is the CLI.
# Build: docker build -t vfab:0.1.0 .   (docs/kubernetes.md; the tests check this file statically)

# Stage 1: compile the TypeScript sources to dist/, bundle each daemon and the web page (needs the
# devDependencies: typescript, esbuild)
FROM node:20-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY lib ./lib
COPY daemons ./daemons
COPY ui ./ui
RUN npm run build

# Stage 2: the runtime dependencies only, the compiled tree and the data files the CLI reads
FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build again (dist/ comes from stage 1); LevelDB's binding ships prebuilt
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY bin ./bin
COPY topologies ./topologies
COPY scenarios ./scenarios
# the node image's unprivileged user (uid 1000); pods run as it (runAsNonRoot)
USER node
EXPOSE 7000
ENTRYPOINT ["node", "bin/vfab.js"]
CMD ["--help"]
