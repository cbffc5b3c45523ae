#!/usr/bin/env node
// Image pipeline benchmark: images per second through the whole pipeline — POST
// /v1/images/ingest → the `image-jobs` worker fetches the bytes from an upload endpoint, checks
// the header, writes the quality report, renders the print (profile size, 300 DPI PNG) and the
// 512 px WebP thumb, stores them and moves the image to pending_review — against raw sharp doing
// the same decode + resize + the same two encodes on the same inputs, at the same concurrency,
// in the same run (same process, same libvips settings).
//
//   pnpm --filter @tollgate/common build && pnpm --filter @tollgate/image-pipeline build
//   node scripts/bench/images/bench.mjs [--count=16] [--concurrency=2] [--profile=apparel] [--rounds=2]
//
// Uses database `tollgate_bench_images` (BENCH_DATABASE_URL; created if missing, schema
// `images_bench` recreated), Redis (BENCH_REDIS_URL) under prefix `bench:images` (cleared), and
// a temp folder (BENCH_TMPDIR or the OS temp dir) that is removed at the end.
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { ensureNode } from '../../lib/node.mjs';

await ensureNode(); // Node 24 or later, else re-run under the pinned Node 24 (scripts/lib/node.mjs)

const ROOT = path.resolve(import.meta.dirname, '../../..');
const SERVICE = path.join(ROOT, 'services/image-pipeline');
if (!existsSync(path.join(SERVICE, 'dist/app.js'))) {
  console.error('Build first: pnpm --filter @tollgate/common build && pnpm --filter @tollgate/image-pipeline build');
  process.exit(1);
}
const require = createRequire(path.join(SERVICE, 'package.json'));
const common = require('@tollgate/common');
const sharp = require('sharp');
const { createApp } = require('./dist/app.js');
const { configSchema } = require('./dist/config.js');
const { migrations } = require('./dist/migrations/index.js');
const { buildDeps } = require('./dist/deps.js');
const { createImageWorker } = require('./dist/workers.js');
const { renderPromptArt } = require('./dist/generation/builtin-generator.js');

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const COUNT = Number(args.count ?? 16);
const CONCURRENCY = Number(args.concurrency ?? 2);
const PROFILE = args.profile ?? 'apparel';
const ROUNDS = Number(args.rounds ?? 2);
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://localhost:5432/tollgate_bench_images';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const SCHEMA = 'images_bench';
const PREFIX = 'bench:images';
const SECRET = 'bench-internal-secret-0123456789abcdef';
const TENANT = 'ten_bench';
const round = (n, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

const work = mkdtempSync(path.join(process.env.BENCH_TMPDIR ?? os.tmpdir(), 'tg-images-bench-'));

/** Inputs: distinct artworks at the profile's size, as an artist would upload them (PNG, alpha). */
async function makeInputs(profile) {
  const inputs = [];
  for (let i = 0; i < COUNT; i++) {
    const art = await renderPromptArt({
      prompt: `bench artwork ${i}`,
      model: 'bench',
      seed: 42,
      index: i,
      width: profile.width,
      height: profile.height,
      transparent: profile.alpha,
    });
    // Re-encode at the default level, as a design tool would (the generator favours speed).
    inputs.push(await sharp(art).png({ compressionLevel: 6 }).toBuffer());
  }
  return inputs;
}

/** The same work with sharp alone: decode once, resize to the profile, print PNG @ DPI + 512 px WebP thumb. */
async function rawSharp(input, profile) {
  const background = profile.alpha ? { r: 255, g: 255, b: 255, alpha: 0 } : profile.background;
  let pipeline = sharp(input, { failOn: 'error', limitInputPixels: 100_000_000, sequentialRead: true }).autoOrient().toColourspace('srgb');
  pipeline = profile.alpha ? pipeline.ensureAlpha() : pipeline.flatten({ background: profile.background });
  const pixels = await pipeline
    .resize(profile.width, profile.height, { fit: profile.fit, background })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const raw = { raw: { width: pixels.info.width, height: pixels.info.height, channels: pixels.info.channels } };
  await Promise.all([
    sharp(pixels.data, raw).withMetadata({ density: profile.dpi }).png({ compressionLevel: 6, adaptiveFiltering: false }).toBuffer(),
    sharp(pixels.data, raw).resize(512, 512, { fit: 'inside' }).webp({ quality: 80, effort: 2 }).toBuffer(),
  ]);
}

async function runWithConcurrency(items, concurrency, fn) {
  let next = 0;
  const lanes = Array.from({ length: concurrency }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  });
  await Promise.all(lanes);
}

async function timed(fn) {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** The upload service's two internal routes, serving the inputs from memory. */
async function startUploadStub(files) {
  const server = http.createServer((req, res) => {
    const m = (req.url ?? '').match(/^\/internal\/v1\/files\/([^/?]+)(\/content)?/);
    const data = m ? files.get(m[1]) : undefined;
    if (!data) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"NOT_FOUND","message":"File not found"}}');
      return;
    }
    if (m[2]) {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': data.length }).end(data);
      return;
    }
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ id: m[1], object: 'file', filename: 'art.png', bytes: data.length, mime_type: 'image/png' }));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${server.address().port}` };
}

function post(port, p, body, headers) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: p,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...headers },
      },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

async function main() {
  await common.ensureDatabase(DATABASE_URL);
  const files = new Map();
  const upload = await startUploadStub(files);
  const config = common.parseConfig(configSchema, {
    NODE_ENV: 'production',
    INTERNAL_JWT_SECRET: SECRET,
    DATABASE_URL,
    REDIS_URL,
    DB_SCHEMA: SCHEMA,
    REDIS_PREFIX: PREFIX,
    DATA_DIR: work,
    UPLOAD_URL: upload.url,
    IMAGE_JOBS_CONCURRENCY: String(CONCURRENCY),
    LOG_LEVEL: 'warn',
  });
  const profile = config.PRINT_PROFILES[PROFILE];
  if (!profile) throw new Error(`unknown profile ${PROFILE}`);
  const logger = common.createLogger({ service: 'image-bench', level: process.env.BENCH_LOG_LEVEL ?? 'warn', pretty: false });
  const db = common.createDb({ connectionString: DATABASE_URL, schema: SCHEMA, poolMax: 10, applicationName: 'image-bench' });
  const { sql } = require('kysely');
  await sql.raw(`drop schema if exists "${SCHEMA}" cascade`).execute(db);
  await common.migrateToLatest(db, SCHEMA, migrations);
  const redis = common.createRedis(REDIS_URL, 'queue');
  await common.deleteByPrefix(redis, PREFIX);

  const deps = buildDeps({ config, logger, db, queueRedis: redis, redis, role: 'all', metrics: common.createMetrics('image-pipeline', { collectDefault: false }), readiness: new common.Readiness() });
  const worker = createImageWorker(deps, { connection: redis, prefix: PREFIX });
  await worker.waitUntilReady();
  const { app } = createApp(deps);
  const api = await common.startServer({ app, port: 0, host: '127.0.0.1', logger });
  const identity = {
    'x-tollgate-identity': common.signIdentity({ tenantId: TENANT, keyId: 'bench', scopes: ['read', 'write'] }, SECRET, 3600),
  };

  console.log(`Generating ${COUNT} ${profile.width}×${profile.height} PNG artworks (${PROFILE})...`);
  const inputs = await makeInputs(profile);
  const mb = inputs.reduce((s, b) => s + b.length, 0) / inputs.length / 1e6;
  console.log(
    `  average input ${round(mb, 1)} MB; libvips threads ${sharp.concurrency()}, concurrency ${CONCURRENCY}, ${os.cpus().length} CPUs`,
  );

  // Warm both paths (JIT, libvips, pools) on one image.
  await rawSharp(inputs[0], profile);

  async function pipelineRound() {
    const ids = [];
    const seconds = await timed(async () => {
      for (const input of inputs) {
        const fileId = `file_${common.randomBase62(24)}`;
        files.set(fileId, input);
        const res = await post(api.port, '/v1/images/ingest', { file_id: fileId, profile: PROFILE }, identity);
        if (res.status !== 202) throw new Error(`ingest failed: ${res.status} ${JSON.stringify(res.body)}`);
        ids.push(res.body.id);
      }
      for (;;) {
        const rows = await db.selectFrom('images').select(['status', 'failure_message']).where('id', 'in', ids).execute();
        const failed = rows.find((r) => r.status === 'failed');
        if (failed) throw new Error(`an image failed: ${failed.failure_message}`);
        if (rows.every((r) => r.status === 'pending_review')) break;
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    return seconds;
  }

  const results = [];
  for (let r = 0; r < ROUNDS; r++) {
    const rawSeconds = await timed(() => runWithConcurrency(inputs, CONCURRENCY, (input) => rawSharp(input, profile)));
    const pipelineSeconds = await pipelineRound();
    results.push({ rawSeconds, pipelineSeconds });
    console.log(`  round ${r + 1}: raw sharp ${round(COUNT / rawSeconds)} img/s, pipeline ${round(COUNT / pipelineSeconds)} img/s`);
  }
  const best = (key) => Math.min(...results.map((x) => x[key]));
  const median = (key) => {
    const sorted = results.map((x) => x[key]).sort((a, b) => a - b);
    return sorted[Math.floor((sorted.length - 1) / 2)];
  };
  const line = (label, seconds) => `${round(COUNT / seconds)} img/s (${round((1000 * seconds) / COUNT, 0)} ms/image)`;
  console.log('');
  console.log(
    `Images per second (${ROUNDS} interleaved rounds, ${COUNT} images each, ${PROFILE} ${profile.width}×${profile.height}, concurrency ${CONCURRENCY}):`,
  );
  console.log(
    `  raw sharp (decode + resize + print PNG + WebP thumb):  best ${line('raw', best('rawSeconds'))}, median ${line('raw', median('rawSeconds'))}`,
  );
  console.log(
    `  whole pipeline (ingest → fetch → checks → print + thumb → stored → pending_review):  best ${line('pipeline', best('pipelineSeconds'))}, median ${line('pipeline', median('pipelineSeconds'))}`,
  );
  console.log(
    `  pipeline / raw sharp: best-vs-best ${round(best('rawSeconds') / best('pipelineSeconds'), 3)}, median-vs-median ${round(median('rawSeconds') / median('pipelineSeconds'), 3)}`,
  );
  console.log(
    `  load average at the end: ${os
      .loadavg()
      .map((l) => round(l, 1))
      .join(' ')}`,
  );

  await api.shutdown('bench done');
  await worker.close();
  await deps.close();
  await common.deleteByPrefix(redis, PREFIX);
  await redis.quit();
  await db.destroy();
  upload.server.close();
  rmSync(work, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  rmSync(work, { recursive: true, force: true });
  process.exit(1);
});
