import type { EventPublisher, EventType, Logger } from '@tollgate/common';
import type { Kysely } from 'kysely';
import type { Database, Db } from '../db/schema';

/** An event recorded in the ledger's transaction, waiting to be handed to the webhook service. */
export interface PendingEvent {
  id: string;
  type: EventType;
  tenant_id: string;
  data: Record<string, unknown>;
  created_at: Date;
}

/**
 * Records the event in the same transaction as the change it announces, so a committed change
 * always has its event and a rolled-back one never does. The id is derived from what happened
 * (e.g. `evt_` + the transaction id), so recording twice is a no-op and the webhook queue
 * (jobId = event id) enqueues it at most once however often it is published.
 */
export async function recordEvent(db: Db, event: PendingEvent): Promise<PendingEvent> {
  await db
    .insertInto('outbox_events')
    .values({ id: event.id, type: event.type, tenant_id: event.tenant_id, data: JSON.stringify(event.data), created_at: event.created_at })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
  return event;
}

/** Publishes outbox events after commit; whatever fails stays pending for the next relay pass. */
export class EventRelay {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly publisher: EventPublisher,
    private readonly logger: Logger,
    private readonly publishTimeoutMs = 2_000,
  ) {}

  /** Called right after a commit. Never throws: the maintenance loop retries what failed. */
  async publishNow(events: PendingEvent[]): Promise<void> {
    for (const event of events) {
      try {
        await this.publish(event);
      } catch (err) {
        this.logger.warn('event publish failed; it stays in the outbox for retry', { event_id: event.id, type: event.type, err });
      }
    }
  }

  /** Publishes events still unpublished `minAgeMs` after they were recorded. Returns how many. */
  async relayPending(now: Date, minAgeMs: number, limit = 100): Promise<number> {
    const rows = await this.db
      .selectFrom('outbox_events')
      .select(['id', 'type', 'tenant_id', 'data', 'created_at'])
      .where('published_at', 'is', null)
      .where('created_at', '<=', new Date(now.getTime() - minAgeMs))
      .orderBy('created_at')
      .limit(limit)
      .execute();
    let published = 0;
    for (const row of rows) {
      try {
        await this.publish({ ...row, type: row.type as EventType });
        published++;
      } catch (err) {
        this.logger.warn('outbox relay: publish failed', { event_id: row.id, err });
        break; // the queue is probably down: try again next pass
      }
    }
    return published;
  }

  private async publish(event: PendingEvent): Promise<void> {
    // BullMQ waits for Redis indefinitely; a request must not, so give up after a while and let
    // the relay publish it later (the same id: never enqueued twice).
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`event queue did not answer within ${this.publishTimeoutMs} ms`)), this.publishTimeoutMs);
    });
    const publishing = this.publisher.publish({
      id: event.id,
      type: event.type,
      tenant_id: event.tenant_id,
      created_at: event.created_at.toISOString(),
      data: event.data,
    });
    publishing.catch(() => undefined); // a late failure after the timeout is already handled
    try {
      await Promise.race([publishing, timeout]);
    } finally {
      clearTimeout(timer);
    }
    await this.db
      .updateTable('outbox_events')
      .set({ published_at: new Date() })
      .where('id', '=', event.id)
      .where('published_at', 'is', null)
      .execute();
  }
}
