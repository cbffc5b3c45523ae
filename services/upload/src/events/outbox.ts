import type { EventPublisher, EventType, Logger } from '@tollgate/common';
import { sql } from 'kysely';
import type { Db, DbOrTx } from '../db';

export interface OutboxEvent {
  id: string;
  type: EventType;
  tenant_id: string;
  data: Record<string, unknown>;
}

/** Record an event in the caller's transaction: it exists exactly when the change committed. */
export async function addToOutbox(trx: DbOrTx, event: OutboxEvent): Promise<void> {
  await trx
    .insertInto('event_outbox')
    .values({ id: event.id, type: event.type, tenant_id: event.tenant_id, data: JSON.stringify(event.data) })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}

/**
 * Publishes outbox rows to `webhook-events` and deletes them. The event id is the BullMQ job id,
 * so an event published twice (a crash between publish and delete) is enqueued once.
 */
export class Outbox {
  constructor(
    private readonly db: Db,
    private readonly publisher: EventPublisher,
    private readonly logger: Logger,
  ) {}

  /**
   * Publish the given events now (after their transaction committed). Waits at most
   * `waitMs`, so a slow or absent Redis never holds up a response; whatever did not go out is
   * relayed by the maintenance sweep.
   */
  async publishNow(ids: string[], waitMs = 1_000): Promise<void> {
    if (ids.length === 0) return;
    const attempt = this.publishWhere(ids).then(
      () => undefined,
      (err: unknown) => this.logger.warn('event publish failed; the maintenance sweep will retry', { event_ids: ids, err }),
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, waitMs);
      timer.unref();
    });
    await Promise.race([attempt, timeout]);
    clearTimeout(timer);
  }

  /** Publish what is left over (older than `olderThanMs`, so in-flight requests publish their own). */
  async relay(olderThanMs: number, limit = 200): Promise<number> {
    const rows = await this.db
      .selectFrom('event_outbox')
      .select('id')
      .where('created_at', '<', sql<Date>`now() - make_interval(secs => ${olderThanMs / 1000})`)
      .orderBy('created_at')
      .limit(limit)
      .execute();
    if (rows.length === 0) return 0;
    return this.publishWhere(rows.map((r) => r.id));
  }

  private async publishWhere(ids: string[]): Promise<number> {
    const rows = await this.db
      .selectFrom('event_outbox')
      .select(['id', 'type', 'tenant_id', 'data', 'created_at'])
      .where('id', 'in', ids)
      .execute();
    for (const row of rows) {
      await this.publisher.publish({
        id: row.id,
        type: row.type as EventType,
        tenant_id: row.tenant_id,
        created_at: new Date(row.created_at).toISOString(),
        data: row.data,
      });
      await this.db.deleteFrom('event_outbox').where('id', '=', row.id).execute();
    }
    return rows.length;
  }
}

/** Deterministic event ids, so a retried step never announces the same change twice. */
export const eventIdFor = (what: 'uploaded' | 'deleted' | 'expired', fileId: string): string =>
  `evt_file_${what}_${fileId.replace(/^file_/, '')}`;
