# A genmeasures image for sweep workers (docs/distributed.md):
#   docker build -t genmeasures .
#   docker run --rm -e DATABASE_URL=postgres://gm:secret@db.lab:5432/sweeps \
#     -v /shared/genmeasures:/work genmeasures worker --checkpoints /work/checkpoints --concurrency 2
# The image runs any command (run, measure, report, …); the default is a worker that waits for runs.
FROM node:20-bookworm-slim
WORKDIR /opt/genmeasures
# onnxruntime-node's install script is skipped by .npmrc (no CUDA download); the CPU and WebGPU providers
# ship inside the npm package
COPY package.json package-lock.json .npmrc tsconfig.json ./
COPY src ./src
COPY test ./test
COPY bench ./bench
RUN npm ci --no-audit --no-fund && npm prune --omit=dev && rm -rf test bench
WORKDIR /work
ENTRYPOINT ["node", "/opt/genmeasures/dist/src/cli/main.js"]
CMD ["worker"]
