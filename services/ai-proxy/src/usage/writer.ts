import type { Logger } from '@tollgate/common';
import type { Kysely } from 'kysely';
import type { AiDatabase, NewUsageRow } from '../db';
import { insertUsageRows } from './repository';

/**
 * Unbilled usage rows (errors, refusals, free calls) are written in batches off the request path:
 * one multi-row INSERT every `intervalMs` (or sooner when `batchSize` rows wait), so a burst of
 * calls costs a handful of statements instead of a connection each. flush() is awaited at
 * shutdown; rows that fail to write are retried on the next flush, up to a bounded backlog.
 *
 * A billed call's row goes through writeNow: one INSERT awaited before the call's answer ends,
 * so a crash or a full backlog can no longer lose what the ledger captured (reports promise
 * usage totals equal to the captures). If that INSERT fails, the row joins the batch and is
 * retried like the others — and it is never the one dropped for backlog.
 */
export interface UsageWriter {
  record(row: NewUsageRow): void;
  /** Writes one row now; on failure it is queued for retry (and kept even when the backlog is full). Never rejects. */
  writeNow(row: NewUsageRow): Promise<void>;
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
  /** Billed rows whose direct write failed: retried first, never dropped for backlog. */
  let billed: NewUsageRow[] = [];
  let flushing: Promise<void> | undefined;
  let closed = false;

  // Billed rows are group-committed, as the ledger's holds are: while one INSERT is in flight the
  // rows that arrive wait and go together in the next one, so a lone call pays one round trip
  // and concurrent calls share a statement and a commit instead of each taking its own.
  let waitingNow: { row: NewUsageRow; written: () => void }[] = [];
  let writingNow = false;
  const writeWaiting = async (): Promise<void> => {
    writingNow = true;
    while (waitingNow.length > 0) {
      const batch = waitingNow.slice(0, batchSize);
      waitingNow = waitingNow.slice(batch.length);
      try {
        await insertUsageRows(
          db,
          batch.map((w) => w.row),
        );
      } catch (err) {
        logger.error('writing billed usage rows failed; queued for retry', { err, ids: batch.map((w) => w.row.id) });
        billed.push(...batch.map((w) => w.row));
      }
      for (const w of batch) w.written();
    }
    writingNow = false;
  };

  const writeOnce = async (): Promise<void> => {
    while (billed.length > 0) {
      const batch = billed.slice(0, batchSize);
      try {
        await insertUsageRows(db, batch);
        billed = billed.slice(batch.length);
      } catch (err) {
        logger.error('writing billed usage rows failed; will retry', { err, rows: batch.length });
        return;
      }
    }
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
    if (pending.length || billed.length) void flush();
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
    writeNow(row) {
      return new Promise<void>((resolve) => {
        waitingNow.push({ row, written: resolve });
        if (!writingNow) void writeWaiting();
      });
    },
    flush,
    async close() {
      closed = true;
      clearInterval(timer);
      await flush();
    },
  };
}
