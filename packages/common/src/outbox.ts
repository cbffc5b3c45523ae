import { type Kysely, sql, type Transaction } from 'kysely';
import type { EventPublisher, EventType } from './events';
import type { Logger } from './logger';
import { type Periodic, startPeriodic } from './periodic';

/**
 * The transactional outbox every service that announces events uses: the event is written in the
 * same transaction as the change it announces (so a committed change always has its event and a
 * rolled-back one never does), published right after the commit, and re-published by a periodic
 * relay if the process died in between or the queue was down. Event ids are derived from what
 * happened, and the id is the webhook queue's job id, so publishing twice enqueues once.
 */
export const OUTBOX_TABLE = 'outbox_events';

export interface OutboxEvent {
  id: string;
  type: EventType;
  tenant_id: string;
  data: Record<string, unknown>;
  created_at: Date;
}

/** What an `outbox_events` row looks like, for a service's kysely `Database` interface. */
export interface OutboxEventsTable {
  id: string;
  type: string;
  tenant_id: string;
  data: unknown;
  created_at: Date;
  published_at: Date | null;
}

type OutboxDb = Kysely<any> | Transaction<any>;

/** The one table shape, created by each service's migration. `ifNotExists` so a service can adopt it. */
export async function createOutboxTable(db: Kysely<any>): Promise<void> {
  await sql`
    create table if not exists outbox_events (
      id text primary key,
      type text not null,
      tenant_id text not null,
      data jsonb not null,
      created_at timestamptz not null,
      published_at timestamptz
    )`.execute(db);
  await sql`create index if not exists outbox_events_unpublished on outbox_events (created_at) where published_at is null`.execute(db);
  // For pruning: published rows are found by age without scanning the table.
  await sql`create index if not exists outbox_events_published on outbox_events (published_at) where published_at is not null`.execute(db);
}

/**
 * Records the event in the caller's transaction. Recording the same id twice is a no-op (a retried
 * step announces its change once). Returns the event, to hand to `OutboxRelay.publishNow` after
 * the commit.
 */
export async function recordEvent(
  db: OutboxDb,
  event: Omit<OutboxEvent, 'created_at'> & { created_at?: Date },
): Promise<OutboxEvent> {
  const recorded: OutboxEvent = { ...event, created_at: event.created_at ?? new Date() };
  await db
    .insertInto(OUTBOX_TABLE)
    .values({
      id: recorded.id,
      type: recorded.type,
      tenant_id: recorded.tenant_id,
      data: JSON.stringify(recorded.data),
      created_at: recorded.created_at,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
  return recorded;
}

export interface OutboxRelayOptions {
  db: Kysely<any>;
  publisher: EventPublisher;
  logger: Logger;
  /** How long one publish may wait for the queue before the event is left to the relay. */
  publishTimeoutMs?: number;
  now?: () => Date;
}

/** Publishes outbox events after commit; whatever fails stays pending for the next relay pass. */
export class OutboxRelay {
  private readonly publishTimeoutMs: number;
  private readonly now: () => Date;

  constructor(private readonly options: OutboxRelayOptions) {
    this.publishTimeoutMs = options.publishTimeoutMs ?? 2_000;
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Called right after the commit that recorded `events`. Never throws and never waits longer
   * than the publish timeout per event: the queue's health must not decide a request's answer.
   */
  async publishNow(events: readonly OutboxEvent[]): Promise<void> {
    // A failpoint for the crash tests (every service's outbox test spawns the real process with
    // it): the process dies after the commit, before anything is published. Test runs only.
    if (events.length > 0 && process.env['NODE_ENV'] === 'test' && process.env['TOLLGATE_FAILPOINT'] === 'outbox.before_publish')
      process.kill(process.pid, 'SIGKILL');
    for (const event of events) {
      try {
        await this.publish(event);
      } catch (err) {
        this.options.logger.warn('event publish failed; it stays in the outbox for the relay', { event_id: event.id, type: event.type, err });
        return; // the queue is probably down: the relay publishes the rest
      }
    }
  }

  /**
   * Publishes events still unpublished `minAgeMs` after they were recorded (younger ones belong to
   * a request that is about to publish them itself). Returns how many went out.
   */
  async relayPending(minAgeMs: number, limit = 200): Promise<number> {
    const rows = await this.options.db
      .selectFrom(OUTBOX_TABLE)
      .select(['id', 'type', 'tenant_id', 'data', 'created_at'])
      .where('published_at', 'is', null)
      .where('created_at', '<=', new Date(this.now().getTime() - minAgeMs))
      .orderBy('created_at')
      .limit(limit)
      .execute();
    let published = 0;
    for (const row of rows) {
      try {
        await this.publish({ ...row, type: row.type as EventType, created_at: new Date(row.created_at) });
        published++;
      } catch (err) {
        this.options.logger.warn('outbox relay: publish failed; next pass retries', { event_id: row.id, err });
        break;
      }
    }
    return published;
  }

  /** Deletes published events older than `retentionMs` (kept a while for inspection). */
  async prunePublished(retentionMs: number, limit = 1_000): Promise<number> {
    const before = new Date(this.now().getTime() - retentionMs);
    const result = await sql<{ id: string }>`
      delete from outbox_events where id in (
        select id from outbox_events where published_at is not null and published_at < ${before} limit ${limit}
      ) returning id`.execute(this.options.db);
    return result.rows.length;
  }

  /**
   * One sweep pass, for a service's maintenance loop: publishes what is pending past `minAgeMs`
   * and deletes published events past `retentionMs` (a day by default). Returns how many it published.
   */
  async sweep(options: { minAgeMs: number; retentionMs?: number }): Promise<number> {
    const relayed = await this.relayPending(options.minAgeMs);
    await this.prunePublished(options.retentionMs ?? 86_400_000);
    return relayed;
  }

  /** The periodic relay (and pruning) in this process; any replica may run it. */
  start(options: { intervalMs: number; minAgeMs: number; retentionMs?: number }): Periodic {
    return startPeriodic({
      name: 'outbox relay',
      intervalMs: options.intervalMs,
      logger: this.options.logger,
      run: async () => {
        const relayed = await this.sweep(options);
        if (relayed > 0) this.options.logger.info('outbox relay published pending events', { relayed });
      },
    });
  }

  private async publish(event: OutboxEvent): Promise<void> {
    // BullMQ waits for Redis indefinitely; a request must not, so give up after a while and let
    // the relay publish it later (the same id: never enqueued twice).
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`event queue did not answer within ${this.publishTimeoutMs} ms`)), this.publishTimeoutMs);
    });
    const publishing = this.options.publisher.publish({
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
    await this.options.db
      .updateTable(OUTBOX_TABLE)
      .set({ published_at: this.now() })
      .where('id', '=', event.id)
      .where('published_at', 'is', null)
      .execute();
  }
}
