import type { Logger, Redis } from '@tollgate/common';
import { z } from 'zod';

/** What one replica tells the others when a key or a tenant changed. */
export const invalidationSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('key'), hash: z.string() }),
  z.object({ type: z.literal('tenant'), id: z.string() }),
]);
export type Invalidation = z.infer<typeof invalidationSchema>;

export interface InvalidationBus {
  publish(message: Invalidation): Promise<void>;
  /** Resolves once the subscription is live (tests wait for it). */
  ready: Promise<void>;
  /** False while the subscription is down: callers then bypass their caches. */
  isLive(): boolean;
  close(): Promise<void>;
}

/**
 * Redis pub/sub between gateway replicas: a revoked key is dropped from every replica's cache
 * within milliseconds. When the subscription drops, messages sent meanwhile are lost, so on
 * every re-subscription the caches are cleared entirely (`onResync`).
 */
export function createInvalidationBus(options: {
  redis: Redis;
  channel: string;
  logger: Logger;
  onMessage: (message: Invalidation) => void;
  onResync: () => void;
}): InvalidationBus {
  const { redis, channel, logger } = options;
  // Re-subscribing is done here rather than by ioredis (autoResubscribe), whose internal
  // re-subscribe promise goes unhandled when the connection is closed mid-way.
  const subscriber = redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, lazyConnect: false, autoResubscribe: false });
  subscriber.on('error', () => undefined);
  let subscribedOnce = false;
  let subscribed = false;
  let closed = false;

  subscriber.on('message', (received: string, payload: string) => {
    if (received !== channel) return;
    try {
      options.onMessage(invalidationSchema.parse(JSON.parse(payload)));
    } catch (err) {
      logger.warn('ignored a malformed cache invalidation', { err });
    }
  });

  let markReady: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const subscribe = () =>
    subscriber.subscribe(channel).then(
      () => {
        if (subscribedOnce) {
          // Messages sent while we were away are lost: forget everything cached.
          logger.warn('cache invalidation channel re-subscribed; clearing credential caches');
          options.onResync();
        }
        subscribedOnce = true;
        subscribed = true;
        markReady();
      },
      (err: unknown) => {
        if (!closed) logger.error('cannot subscribe to cache invalidations', { err: (err as Error).message });
      },
    );
  subscriber.on('ready', () => void subscribe());
  subscriber.on('close', () => {
    subscribed = false;
  });

  return {
    ready,
    isLive: () => subscribed && !closed && subscriber.status === 'ready',
    async publish(message) {
      await redis.publish(channel, JSON.stringify(message));
    },
    async close() {
      if (closed) return;
      closed = true;
      subscriber.disconnect();
    },
  };
}
