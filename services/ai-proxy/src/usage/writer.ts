import type { Logger } from '@tollgate/common';
import type { Kysely } from 'kysely';
import type { AiDatabase, NewUsageRow } from '../db';
import { insertUsageRows } from './repository';

/**
 * Usage rows are written in batches off the request path: one multi-row INSERT every
 * `intervalMs` (or sooner when `batchSize` rows wait), so a burst of calls costs a handful of
 * statements instead of a connection each. flush() is awaited at shutdown; rows that fail to
 * write are retried on the next flush, up to a bounded backlog.
 */
export interface UsageWriter {
  record(row: NewUsageRow): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}

export function createUsageWriter(options: {
  db: Kysely<AiDatabase>;
  logger: Logger;
  intervalMs?: number;
  batchSize?: number;
  maxBacklog?: number;
}): UsageWriter {
  const { db, logger } = options;
  const batchSize = options.batchSize ?? 500;
  const maxBacklog = options.maxBacklog ?? 50_000;
  let pending: NewUsageRow[] = [];
  let flushing: Promise<void> | undefined;
  let closed = false;

  const writeOnce = async (): Promise<void> => {
    while (pending.length > 0) {
      const batch = pending.slice(0, batchSize);
      try {
        await insertUsageRows(db, batch);
        pending = pending.slice(batch.length);
      } catch (err) {
        logger.error('writing usage rows failed; will retry', { err, rows: batch.length });
        if (pending.length > maxBacklog) {
          logger.error('usage backlog full; dropping the oldest rows', { dropped: pending.length - maxBacklog });
          pending = pending.slice(pending.length - maxBacklog);
        }
        return;
      }
    }
  };
  const flush = (): Promise<void> => {
    // One flush at a time; a caller arriving mid-flush waits for it, then flushes what came since.
    const run = (flushing ?? Promise.resolve()).then(writeOnce);
    flushing = run.finally(() => {
      if (flushing === guarded) flushing = undefined;
    });
    const guarded = flushing;
    return run;
  };
  const timer = setInterval(() => {
    if (pending.length) void flush();
  }, options.intervalMs ?? 250);
  timer.unref();

  return {
    record(row) {
      if (closed) {
        void insertUsageRows(db, [row]).catch((err: unknown) => logger.error('writing a usage row after close failed', { err }));
        return;
      }
      pending.push(row);
      if (pending.length >= batchSize) void flush();
    },
    flush,
    async close() {
      closed = true;
      clearInterval(timer);
      await flush();
    },
  };
}
