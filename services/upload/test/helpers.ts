import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createMetrics, type EventPublisher, memoryEventPublisher, parseConfig, type PlatformEvent } from '@tollgate/common';
import {
  createTestEnv,
  identityHeaders,
  listen,
  type Listening,
  silentLogger,
  TEST_INTERNAL_SECRET,
  type TestEnv,
} from '@tollgate/testkit';
import type { Service } from '@tollgate/common';
import { createApp } from '../src/app';
import { type Config, configSchema } from '../src/config';
import type { Db } from '../src/db';
import { buildUploadDeps, type UploadDeps } from '../src/deps';
import { migrations } from '../src/migrations';
import { LocalStorage, type ObjectStorage } from '../src/storage';
import { TusStaging } from '../src/tus/staging';

export interface MutableClock {
  now(): Date;
  advance(ms: number): void;
}

export function mutableClock(start = Date.now()): MutableClock {
  let current = start;
  return { now: () => new Date(current), advance: (ms) => (current += ms) };
}

export interface Harness {
  env: TestEnv;
  db: Db;
  config: Config;
  dataDir: string;
  storage: ObjectStorage;
  staging: TusStaging;
  /** The app and the services behind it (tests run the sweeper themselves). */
  app: Service & UploadDeps;
  server: Listening;
  url: string;
  events: PlatformEvent[];
  clock: MutableClock;
  close(): Promise<void>;
}

export interface HarnessOptions {
  env?: Record<string, string>;
  storage?: (dataDir: string) => Promise<ObjectStorage>;
  /** Or one built on this file's env (a real `webhook-events` publisher on its prefix). */
  publisher?: EventPublisher | ((env: TestEnv) => EventPublisher);
}

/** The upload app on an ephemeral port, with its own schema, Redis prefix and DATA_DIR. */
export async function startHarness(label: string, options: HarnessOptions = {}): Promise<Harness> {
  const env = await createTestEnv(label);
  await env.migrate(migrations);
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), `tg-upload-${label}-`));
  const config = parseConfig(configSchema, {
    NODE_ENV: 'test',
    LOG_LEVEL: 'error',
    INTERNAL_JWT_SECRET: TEST_INTERNAL_SECRET,
    DATA_DIR: dataDir,
    REDIS_PREFIX: env.prefix,
    UPLOAD_MAX_BYTES: String(64 * 1024),
    ...options.env,
  });
  const storage = options.storage ? await options.storage(dataDir) : await new LocalStorage(dataDir).init();
  const staging = await new TusStaging(dataDir).init();
  const memory = memoryEventPublisher();
  const clock = mutableClock();
  const deps = buildUploadDeps({
    config,
    logger: silentLogger('upload'),
    metrics: createMetrics('upload', { collectDefault: false }),
    db: env.db as Db,
    redis: env.redis,
    storage,
    staging,
    publisher: typeof options.publisher === 'function' ? options.publisher(env) : (options.publisher ?? memory),
    clock,
  });
  const app = { ...deps, ...createApp(deps) };
  const server = await listen(app.app);
  return {
    env,
    db: env.db as Db,
    config,
    dataDir,
    storage,
    staging,
    app,
    server,
    url: server.url,
    events: memory.events,
    clock,
    async close() {
      await server.close();
      await env.cleanup();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

export const auth = (tenant: string, scopes = ['read', 'write']): Record<string, string> => identityHeaders(tenant, scopes);

/** Every regular file under a folder, as paths relative to it. */
export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile())
      out.push(path.relative(dir, path.join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name)));
  }
  return out.sort();
}

/** A minimal valid PNG (1x1), padded with an ancillary chunk to `size` bytes when asked. */
export function pngBytes(size?: number): Buffer {
  const base = Buffer.from(
    '89504e470d0a1a0a0000000d4948445200000001000000010806000000' +
      '1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082',
    'hex',
  );
  if (size === undefined || size <= base.length) return base;
  // Insert a tEXt-like filler after the signature + IHDR (8 + 25 bytes); content stays a PNG by magic.
  const head = base.subarray(0, 33);
  const tail = base.subarray(33);
  const filler = Buffer.alloc(size - base.length, 0x61);
  return Buffer.concat([head, filler, tail]);
}

export const pdfBytes = (): Buffer => Buffer.from('%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n');

/** A raw multipart body, so tests control every byte (and the Content-Length). */
export function multipartBody(
  parts: { name: string; value?: string; filename?: string; filenameStar?: string; content?: Buffer; contentType?: string }[],
): { body: Buffer; contentType: string } {
  const boundary = `----tgtest${Math.random().toString(16).slice(2)}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\n`));
    if (part.content !== undefined) {
      const star = part.filenameStar !== undefined ? `; filename*=UTF-8''${encodeURIComponent(part.filenameStar)}` : '';
      chunks.push(
        Buffer.from(
          `Content-Disposition: form-data; name="${part.name}"; filename="${part.filename ?? 'file'}"${star}\r\nContent-Type: ${part.contentType ?? 'application/octet-stream'}\r\n\r\n`,
        ),
      );
      chunks.push(part.content);
    } else {
      chunks.push(Buffer.from(`Content-Disposition: form-data; name="${part.name}"\r\n\r\n${part.value ?? ''}`));
    }
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json<T = any>(): T;
}

/** A plain HTTP request (supertest can't send chunked bodies or cut a body halfway). */
export function rawRequest(
  url: string,
  options: { method: string; path: string; headers?: Record<string, string | number>; body?: Buffer | Buffer[] },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${options.path}`, { method: options.method, headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body.toString('utf8')) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (Array.isArray(options.body)) {
      for (const chunk of options.body) req.write(chunk);
      req.end();
    } else {
      req.end(options.body);
    }
  });
}

export async function uploadFile(
  url: string,
  tenant: string,
  file: { content: Buffer; filename: string },
  fields: Record<string, string> = {},
): Promise<RawResponse> {
  const { body, contentType } = multipartBody([
    ...Object.entries(fields).map(([name, value]) => ({ name, value })),
    { name: 'file', filename: file.filename, content: file.content },
  ]);
  return rawRequest(url, {
    method: 'POST',
    path: '/v1/files',
    headers: { ...auth(tenant), 'Content-Type': contentType, 'Content-Length': body.length },
    body,
  });
}
