import {
  createCreditsClient,
  createEventPublisher,
  createQueue,
  type EventPublisher,
  type Logger,
  OutboxRelay,
  randomIds,
  systemClock,
} from '@tollgate/common';
import type { ConnectionOptions, Queue } from 'bullmq';
import { createHttpUploadClient } from './clients/upload';
import type { Config } from './config';
import type { Db } from './db';
import type { PipelineDeps } from './deps';
import { createBuiltinGenerator } from './generation/builtin-generator';
import type { ImageGenerator } from './generation/generator';
import { createOpenAiGenerator } from './generation/openai-generator';
import { IMAGE_JOBS_QUEUE } from './jobs/catalogue';
import { createHttpPublisher, createLocalCatalogPublisher, type ImagePublisher } from './publishing/publisher';
import { createLocalDiskStorage } from './storage/storage';

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
 * Every dependency of the API and the worker, from config (main.ts and the standalone worker).
 * Tests build PipelineDeps themselves, with fakes only for what is outside the project.
 */
export function buildPipelineDeps(input: {
  config: Config;
  logger: Logger;
  db: Db;
  connection: ConnectionOptions;
  prefix: string;
}): PipelineDeps & { close: () => Promise<void> } {
  const { config } = input;
  const storage = createLocalDiskStorage(config.IMAGE_STORAGE_DIR);
  const queue: Queue = createQueue(IMAGE_JOBS_QUEUE, { connection: input.connection, prefix: input.prefix });
  const events: EventPublisher = createEventPublisher({ connection: input.connection, prefix: input.prefix });
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
      : createLocalCatalogPublisher({ db: input.db, storage, ids: randomIds });
  return {
    config,
    logger: input.logger,
    db: input.db,
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
    outbox: new OutboxRelay({ db: input.db, publisher: events, logger: input.logger }),
    queue,
    close: async () => {
      await events.close();
      await queue.close();
    },
  };
}
