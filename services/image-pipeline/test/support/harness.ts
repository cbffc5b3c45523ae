import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  type CreditsClient,
  createCreditsClient,
  createEventPublisher,
  createMetrics,
  createQueue,
  OutboxRelay,
  createRedis,
  type EventPublisher,
  parseConfig,
  type PlatformEvent,
  randomIds,
  systemClock,
} from '@tollgate/common';
import { createTestEnv, silentLogger, TEST_INTERNAL_SECRET, type TestEnv } from '@tollgate/testkit';
import type { Queue, Worker } from 'bullmq';
import type { Express } from 'express';
import { createApp } from '../../src/app';
import { createHttpUploadClient, type UploadClient } from '../../src/clients/upload';
import { type Config, configSchema } from '../../src/config';
import type { Db, ImageRow } from '../../src/db';
import type { PipelineDeps } from '../../src/deps';
import { createBuiltinGenerator } from '../../src/generation/builtin-generator';
import type { ImageGenerator } from '../../src/generation/generator';
import { findImageById } from '../../src/images/repository';
import type { ImageStatus } from '../../src/images/states';
import { IMAGE_JOBS_QUEUE } from '../../src/jobs/catalogue';
import { migrations } from '../../src/migrations';
import { createLocalCatalogPublisher, type ImagePublisher } from '../../src/publishing/publisher';
import { createLocalDiskStorage, type ImageStorage } from '../../src/storage/storage';
import { createImageWorker } from '../../src/workers';

/** Settings that keep tests fast: short backoffs, quick stall detection. */
export const TEST_SETTINGS: Record<string, string> = {
  NODE_ENV: 'test',
  INTERNAL_JWT_SECRET: TEST_INTERNAL_SECRET,
  IMAGE_JOB_ATTEMPTS: '3',
  IMAGE_JOB_BACKOFF_MS: '50',
  PUBLISHER_RETRY_BASE_MS: '5',
  INTERNAL_HTTP_TIMEOUT_MS: '5000',
};

export interface HarnessOptions {
  label: string;
  env?: Record<string, string>;
  /** Start an in-process worker (default true). */
  worker?: boolean;
  creditsUrl?: string;
  credits?: CreditsClient;
  uploadUrl?: string;
  upload?: UploadClient;
  generator?: ImageGenerator;
  publisher?: (deps: { db: Db; storage: ImageStorage }) => ImagePublisher;
}

export interface Harness {
  env: TestEnv;
  config: Config;
  deps: PipelineDeps;
  app: Express;
  db: Db;
  queue: Queue;
  worker: Worker | undefined;
  dataDir: string;
  /** Starts an(other) in-process worker, closed with the harness. */
  startWorker(): Promise<Worker>;
  /** Every event published to the `webhook-events` queue of this file's prefix. */
  events(): Promise<PlatformEvent[]>;
  waitForStatus(imageId: string, statuses: ImageStatus | ImageStatus[], timeoutMs?: number): Promise<ImageRow>;
  close(): Promise<void>;
}

export async function createHarness(options: HarnessOptions): Promise<Harness> {
  const env = await createTestEnv(options.label);
  await env.migrate(migrations);
  const dataDir = await mkdtemp(path.join(tmpdir(), 'tollgate-images-'));
  const config = parseConfig(configSchema, {
    ...TEST_SETTINGS,
    DATA_DIR: dataDir,
    CREDITS_URL: options.creditsUrl ?? 'http://127.0.0.1:9',
    UPLOAD_URL: options.uploadUrl ?? 'http://127.0.0.1:9',
    ...options.env,
  });
  const db = env.db as Db;
  const connection = createRedis(env.redisUrl, 'queue');
  const queue = createQueue(IMAGE_JOBS_QUEUE, { connection, prefix: env.prefix });
  const webhookEvents = createQueue('webhook-events', { connection, prefix: env.prefix });
  const events: EventPublisher = createEventPublisher({ connection, prefix: env.prefix, queue: webhookEvents });
  const storage = createLocalDiskStorage(config.IMAGE_STORAGE_DIR);
  const logger = silentLogger('image-pipeline');
  const deps: PipelineDeps = {
    config,
    logger,
    db,
    clock: systemClock,
    ids: randomIds,
    storage,
    credits:
      options.credits ??
      createCreditsClient({
        baseUrl: config.CREDITS_URL,
        internalSecret: TEST_INTERNAL_SECRET,
        serviceName: 'image-pipeline',
        timeoutMs: 5000,
        retries: 1,
      }),
    upload:
      options.upload ??
      createHttpUploadClient({ baseUrl: config.UPLOAD_URL, internalSecret: TEST_INTERNAL_SECRET, timeoutMs: 5000, retries: 1 }),
    generator: options.generator ?? createBuiltinGenerator({ latencyMs: config.BUILTIN_GENERATOR_LATENCY_MS }),
    publisher: options.publisher ? options.publisher({ db, storage }) : createLocalCatalogPublisher({ db, storage, ids: randomIds }),
    events,
    outbox: new OutboxRelay({ db, publisher: events, logger }),
    queue,
  };
  const { app } = createApp({ ...deps, metrics: createMetrics('image-pipeline', { collectDefault: false }) });
  const workers: Worker[] = [];
  const startWorker = async () => {
    const worker = createImageWorker(deps, { connection, prefix: env.prefix });
    workers.push(worker);
    await worker.waitUntilReady();
    return worker;
  };
  const worker = options.worker === false ? undefined : await startWorker();

  return {
    env,
    config,
    deps,
    app,
    db,
    queue,
    worker,
    dataDir,
    startWorker,
    async events() {
      const jobs = await webhookEvents.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed', 'prioritized']);
      return jobs.map((j) => {
        const { _meta, ...event } = j.data as PlatformEvent & { _meta?: unknown };
        void _meta;
        return event as PlatformEvent;
      });
    },
    async waitForStatus(imageId, statuses, timeoutMs = 20_000) {
      const wanted = Array.isArray(statuses) ? statuses : [statuses];
      const deadline = Date.now() + timeoutMs;
      let last: ImageRow | undefined;
      while (Date.now() < deadline) {
        last = await findImageById(db, imageId);
        if (last && wanted.includes(last.status)) return last;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(
        `image ${imageId} did not reach ${wanted.join('|')} in ${timeoutMs} ms (last: ${last?.status ?? 'missing'} ${last?.failure_message ?? ''})`,
      );
    },
    async close() {
      for (const w of workers) await w.close();
      await queue.close();
      await webhookEvents.close();
      await connection.quit();
      await env.cleanup();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The settings that put a spawned image-pipeline process (`spawnServiceProcess`) on this harness's schema, Redis prefix and data dir. */
export function processEnv(h: Harness): Record<string, string> {
  return {
    DATABASE_URL: h.env.databaseUrl,
    DB_SCHEMA: h.env.schema,
    REDIS_URL: h.env.redisUrl,
    REDIS_PREFIX: h.env.prefix,
    DATA_DIR: h.dataDir,
  };
}
