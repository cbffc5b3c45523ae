#!/usr/bin/env node
// Upload benchmark: a 1 GiB file streamed through POST /v1/files (multipart) and through tus
// (PATCH in 128 MiB chunks), against a plain `cat src > file` of the same bytes in the same run
// (and `cat` + `sync`, since the service fsyncs before it publishes a file). Also the service
// process's peak RSS growth during the upload, which must stay under 64 MiB (no whole-file
// buffering).
//
//   pnpm --filter @tollgate/common build && pnpm --filter @tollgate/upload build
//   node scripts/bench/upload/bench.mjs [--size-mib=1024]
//
// Uses database `tollgate_bench_upload` (BENCH_DATABASE_URL; created if missing, schema
// `uploads_bench` recreated), Redis (BENCH_REDIS_URL) under prefix `bench:upload`, and a temp
// folder (BENCH_TMPDIR or the OS temp dir) that is removed at the end.
import { execFileSync, fork } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { ensureNode } from '../../lib/node.mjs';

await ensureNode(); // Node 24 or later, else re-run under the pinned Node 24 (scripts/lib/node.mjs)

const ROOT = path.resolve(import.meta.dirname, '../../..');
const require = createRequire(path.join(ROOT, 'services/upload/package.json'));
if (!existsSync(path.join(ROOT, 'services/upload/dist/app.js'))) {
  console.error('Build first: pnpm --filter @tollgate/common build && pnpm --filter @tollgate/upload build');
  process.exit(1);
}
const common = require('@tollgate/common');

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const SIZE = Number(args['size-mib'] ?? 1024) * 1024 * 1024;
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://localhost:5432/tollgate_bench_upload';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const SCHEMA = 'uploads_bench';
const PREFIX = 'bench:upload';
const SECRET = 'bench-internal-secret-0123456789abcdef';
const RSS_BUDGET = 64 * 1024 * 1024;
const TUS_CHUNK = 128 * 1024 * 1024;

const MiB = 1024 * 1024;
const round = (n, d = 1) => Math.round(n * 10 ** d) / 10 ** d;
const identity = common.signIdentity({ tenantId: 'ten_bench', keyId: 'bench', scopes: ['read', 'write'] }, SECRET, 3600);

const work = mkdtempSync(path.join(process.env.BENCH_TMPDIR ?? os.tmpdir(), 'tg-upload-bench-'));
const dataDir = path.join(work, 'data');
const source = path.join(work, 'source.png');

async function makeSource() {
  // A PNG signature, then incompressible bytes (a 1 MiB random block repeated).
  const hash = createHash('sha256');
  const out = createWriteStream(source);
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const block = randomBytes(MiB);
  let written = 0;
  const write = async (buf) => {
    hash.update(buf);
    written += buf.length;
    if (!out.write(buf)) await once(out, 'drain');
  };
  await write(signature);
  while (written < SIZE) await write(block.subarray(0, Math.min(MiB, SIZE - written)));
  out.end();
  await once(out, 'finish');
  return hash.digest('hex');
}

function timed(fn) {
  const start = process.hrtime.bigint();
  const result = fn();
  return { result, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

async function timedAsync(fn) {
  const start = process.hrtime.bigint();
  const result = await fn();
  return { result, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

function request(port, method, p, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers, agent: false }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (data += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else body(req);
  });
}

/** POST /v1/files streaming the file from disk (known Content-Length, like curl -F). */
function multipartUpload(port) {
  const boundary = `----tgbench${randomBytes(8).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nimage\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\nContent-Type: image/png\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return request(
    port,
    'POST',
    '/v1/files',
    {
      'X-Tollgate-Identity': identity,
      'Content-Type': `multipart/form-data; boundary=${boundary}`,
      'Content-Length': head.length + SIZE + tail.length,
    },
    (req) => {
      req.write(head);
      const file = createReadStream(source, { highWaterMark: MiB });
      file.pipe(req, { end: false });
      file.on('end', () => req.end(tail));
    },
  );
}

async function tusUpload(port) {
  const tus = { 'X-Tollgate-Identity': identity, 'Tus-Resumable': '1.0.0' };
  const created = await request(port, 'POST', '/v1/uploads', {
    ...tus,
    'Upload-Length': SIZE,
    'Upload-Metadata': `filename ${Buffer.from('big-tus.png').toString('base64')},purpose ${Buffer.from('image').toString('base64')}`,
  });
  if (created.status !== 201) throw new Error(`tus create: ${created.status} ${created.body}`);
  const location = created.headers.location;
  let offset = 0;
  let last;
  const patchSeconds = [];
  while (offset < SIZE) {
    const started = process.hrtime.bigint();
    const end = Math.min(offset + TUS_CHUNK, SIZE);
    last = await request(
      port,
      'PATCH',
      location,
      { ...tus, 'Upload-Offset': offset, 'Content-Type': 'application/offset+octet-stream', 'Content-Length': end - offset },
      (req) => {
        createReadStream(source, { start: offset, end: end - 1, highWaterMark: MiB }).pipe(req);
      },
    );
    if (last.status !== 204) throw new Error(`tus PATCH: ${last.status} ${last.body}`);
    patchSeconds.push(round(Number(process.hrtime.bigint() - started) / 1e9, 2));
    offset = Number(last.headers['upload-offset']);
  }
  if (process.env.BENCH_VERBOSE) console.log('tus PATCH seconds', patchSeconds);
  return last.headers['x-tollgate-file-id'];
}

async function main() {
  await common.ensureDatabase(DATABASE_URL);
  const { sql } = require('kysely');
  const admin = common.createDb({ connectionString: DATABASE_URL, schema: 'public', poolMax: 1 });
  await sql.raw(`drop schema if exists ${SCHEMA} cascade`).execute(admin);
  await admin.destroy();

  console.log(`preparing a ${round(SIZE / MiB, 0)} MiB source file in ${work} ...`);
  const sourceSha = await makeSource();

  // Baselines: the same bytes through cat, with and without a final fsync.
  const catPlain = timed(() => execFileSync('sh', ['-c', `cat "${source}" > "${work}/cat.out"`]));
  rmSync(`${work}/cat.out`);
  const catSync = timed(() => execFileSync('sh', ['-c', `cat "${source}" > "${work}/cat.out" && sync "${work}/cat.out"`]));
  rmSync(`${work}/cat.out`);

  const child = fork(path.join(import.meta.dirname, 'server.mjs'), [], {
    execArgv: ['--expose-gc', ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [])],
    env: {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL,
      DB_SCHEMA: SCHEMA,
      REDIS_URL,
      REDIS_PREFIX: PREFIX,
      INTERNAL_JWT_SECRET: SECRET,
      DATA_DIR: dataDir,
      UPLOAD_MAX_BYTES: String(SIZE + MiB),
      QUOTA_MAX_BYTES: String(4 * SIZE),
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ask = (type) =>
    new Promise((resolve) => {
      const onMessage = (m) => {
        if (m.type !== 'ready') {
          child.off('message', onMessage);
          resolve(m);
        }
      };
      child.on('message', onMessage);
      child.send({ type });
    });
  const { port } = await new Promise((resolve) => child.once('message', resolve));

  try {
    // Warm-up: one small upload so lazy initialisation is not counted as growth.
    const warm = await request(
      port,
      'POST',
      '/v1/files',
      { 'X-Tollgate-Identity': identity, 'Content-Type': 'multipart/form-data; boundary=x' },
      Buffer.from('--x\r\nContent-Disposition: form-data; name="file"; filename="w.txt"\r\n\r\nwarm\r\n--x--\r\n'),
    );
    if (warm.status !== 201) throw new Error(`warm-up upload failed: ${warm.status} ${warm.body}`);

    const { baseline } = await ask('reset-peak');
    const multipart = await timedAsync(() => multipartUpload(port));
    const multipartPeak = await ask('peak');
    if (multipart.result.status !== 201) throw new Error(`upload failed: ${multipart.result.status} ${multipart.result.body}`);
    const file = JSON.parse(multipart.result.body);

    await ask('reset-peak');
    const tus = await timedAsync(() => tusUpload(port));
    const tusPeak = await ask('peak');
    const tusFile = JSON.parse((await request(port, 'GET', `/v1/files/${tus.result}`, { 'X-Tollgate-Identity': identity })).body);

    const mbps = (s) => round(SIZE / MiB / s, 0);
    const results = {
      size_mib: SIZE / MiB,
      cat_s: round(catPlain.seconds, 2),
      cat_mib_s: mbps(catPlain.seconds),
      cat_sync_s: round(catSync.seconds, 2),
      cat_sync_mib_s: mbps(catSync.seconds),
      multipart_s: round(multipart.seconds, 2),
      multipart_mib_s: mbps(multipart.seconds),
      multipart_vs_cat: round(catPlain.seconds / multipart.seconds, 2),
      multipart_vs_cat_sync: round(catSync.seconds / multipart.seconds, 2),
      multipart_sha256_ok: file.sha256 === sourceSha && file.bytes === SIZE,
      multipart_rss_baseline_mib: round(baseline / MiB),
      multipart_rss_growth_mib: round((multipartPeak.peak - multipartPeak.baseline) / MiB),
      tus_s: round(tus.seconds, 2),
      tus_mib_s: mbps(tus.seconds),
      tus_vs_cat_sync: round(catSync.seconds / tus.seconds, 2),
      tus_sha256_ok: tusFile.sha256 === sourceSha,
      tus_rss_growth_mib: round((tusPeak.peak - tusPeak.baseline) / MiB),
    };
    const withinBudget = multipartPeak.peak - multipartPeak.baseline < RSS_BUDGET && tusPeak.peak - tusPeak.baseline < RSS_BUDGET;
    console.log(JSON.stringify(results, null, 2));
    console.log(
      `\n${results.size_mib} MiB: cat ${results.cat_mib_s} MiB/s, cat+sync ${results.cat_sync_mib_s} MiB/s, ` +
        `POST /v1/files ${results.multipart_mib_s} MiB/s (${results.multipart_vs_cat}x cat, ${results.multipart_vs_cat_sync}x cat+sync), ` +
        `tus ${results.tus_mib_s} MiB/s; peak RSS growth ${results.multipart_rss_growth_mib} MiB (multipart), ${results.tus_rss_growth_mib} MiB (tus); ` +
        `budget 64 MiB: ${withinBudget ? 'PASS' : 'FAIL'}`,
    );
    if (!withinBudget || !results.multipart_sha256_ok || !results.tus_sha256_ok) process.exitCode = 1;
  } finally {
    const exited = once(child, 'exit');
    child.send({ type: 'stop' });
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (child.exitCode === null) child.kill();
    rmSync(work, { recursive: true, force: true });
    const redis = common.createRedis(REDIS_URL, 'request');
    await common.deleteByPrefix(redis, PREFIX).catch(() => undefined);
    redis.disconnect();
  }
}

main().catch((err) => {
  console.error(err);
  rmSync(work, { recursive: true, force: true });
  process.exit(1);
});
