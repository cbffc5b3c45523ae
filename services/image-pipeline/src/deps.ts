import {
  type Clock,
  type Closer,
  createCreditsClient,
  createEventPublisher,
  createQueue,
  type CreditsClient,
  type EventPublisher,
  type IdGenerator,
  type Logger,
  OutboxRelay,
  randomIds,
  type ServiceDeps,
  systemClock,
} from '@tollgate/common';
import type { Queue } from 'bullmq';
import sharp from 'sharp';
import { createHttpUploadClient, type UploadClient } from './clients/upload';
import type { Config } from './config';
import type { Db } from './db';
import { createBuiltinGenerator } from './generation/builtin-generator';
import type { ImageGenerator } from './generation/generator';
import { createOpenAiGenerator } from './generation/openai-generator';
import { IMAGE_JOBS_QUEUE } from './jobs/catalogue';
import { restrictDecoders } from './processing/inspect';
import { createHttpPublisher, createLocalCatalogPublisher, type ImagePublisher } from './publishing/publisher';
import { createLocalDiskStorage, type ImageStorage } from './storage/storage';

/** Everything the API and the worker share; buildDeps builds it from config, tests inject fakes of what is outside. */
export interface PipelineDeps {
  config: Config;
  logger: Logger;
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  storage: ImageStorage;
  credits: CreditsClient;
  upload: UploadClient;
  generator: ImageGenerator;
  publisher: ImagePublisher;
  events: EventPublisher;
  /** Publishes the events recorded with each state change (and relays what a crash left). */
  outbox: OutboxRelay;
  /** The `image-jobs` queue. */
  queue: Queue;
}

/** A whole process' dependencies: the pipeline's, the base's, and what to close. */
export interface ImagePipelineDeps extends PipelineDeps, Omit<ServiceDeps<Config>, 'db'> {
  closers: Closer[];
}

export function generatorFromConfig(config: Config): ImageGenerator {
  if (config.IMAGE_GENERATOR === 'openai') {
    return createOpenAiGenerator({
      baseUrl: config.OPENAI_IMAGES_BASE_URL,
      apiKey: config.OPENAI_IMAGES_API_KEY ?? '',
      models: config.OPENAI_IMAGES_MODELS,
      timeoutMs: config.OPENAI_IMAGES_TIMEOUT_MS,
      maxBytes: config.MAX_SOURCE_BYTES,
    });
  }
  return createBuiltinGenerator({ latencyMs: config.BUILTIN_GENERATOR_LATENCY_MS });
}

/**
 * Process-wide sharp settings: only PNG/JPEG/WebP decoders, no operation cache (large images
 * would otherwise pin memory between jobs), and the configured libvips thread count.
 */
export function configureSharp(config: Config): void {
  restrictDecoders();
  sharp.cache(false);
  if (config.SHARP_CONCURRENCY > 0) sharp.concurrency(config.SHARP_CONCURRENCY);
}

/** Every dependency of the API and the worker, from config (runService; the image benchmark). */
export function buildDeps(base: ServiceDeps<Config>): ImagePipelineDeps {
  const { config } = base;
  configureSharp(config); // the API inspects uploads too
  const db = base.db as Db;
  const queueOptions = { connection: base.queueRedis, prefix: config.REDIS_PREFIX };
  const storage = createLocalDiskStorage(config.IMAGE_STORAGE_DIR);
  const queue: Queue = createQueue(IMAGE_JOBS_QUEUE, queueOptions);
  const events: EventPublisher = createEventPublisher(queueOptions);
  const publisher: ImagePublisher =
    config.PUBLISHER === 'http'
      ? createHttpPublisher({
          baseUrl: config.PUBLISHER_HTTP_URL!,
          token: config.PUBLISHER_HTTP_TOKEN,
          timeoutMs: config.PUBLISHER_TIMEOUT_MS,
          retries: config.PUBLISHER_RETRIES,
          retryBaseMs: config.PUBLISHER_RETRY_BASE_MS,
          storage,
        })
      : createLocalCatalogPublisher({ db, storage, ids: randomIds });
  return {
    ...base,
    db,
    clock: systemClock,
    ids: randomIds,
    storage,
    credits: createCreditsClient({
      baseUrl: config.CREDITS_URL,
      internalSecret: config.INTERNAL_JWT_SECRET,
      serviceName: 'image-pipeline',
      timeoutMs: config.INTERNAL_HTTP_TIMEOUT_MS,
    }),
    upload: createHttpUploadClient({
      baseUrl: config.UPLOAD_URL,
      internalSecret: config.INTERNAL_JWT_SECRET,
      timeoutMs: config.INTERNAL_HTTP_TIMEOUT_MS,
    }),
    generator: generatorFromConfig(config),
    publisher,
    events,
    outbox: new OutboxRelay({ db, publisher: events, logger: base.logger }),
    queue,
    closers: [
      { name: 'event publisher', close: () => events.close() },
      { name: 'image-jobs queue', close: () => queue.close() },
    ],
  };
}
