import type { Clock, CreditsClient, EventPublisher, IdGenerator, Logger, OutboxRelay } from '@tollgate/common';
import type { Queue } from 'bullmq';
import type { UploadClient } from './clients/upload';
import type { Config } from './config';
import type { Db } from './db';
import type { ImageGenerator } from './generation/generator';
import type { ImagePublisher } from './publishing/publisher';
import type { ImageStorage } from './storage/storage';

/** Everything the API and the worker share; main.ts builds it from config, tests inject fakes of what is outside. */
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
