import { newestFirstPage, type TimeCursor } from '@tollgate/common';
import { sql } from 'kysely';
import type { AttemptRow, Db, DeliveryRow, DeliveryStatus, EventRow, NewAttempt, NewDelivery, RoundTrigger } from '../db/schema';

export const DELIVERY_COLUMNS = [
  'id',
  'tenant_id',
  'endpoint_id',
  'event_id',
  'event_type',
  'event_created_at',
  'status',
  'round',
  'round_trigger',
  'round_attempts',
  'attempt_count',
  'next_attempt_at',
  'lease_until',
  'last_attempt_at',
  'last_status_code',
  'last_error',
  'succeeded_at',
  'failed_at',
  'created_at',
  'updated_at',
] as const;

export const ATTEMPT_COLUMNS = [
  'id',
  'delivery_id',
  'endpoint_id',
  'attempt_number',
  'round',
  'trigger',
  'started_at',
  'latency_ms',
  'status_code',
  'outcome',
  'error_class',
  'error_message',
  'response_body',
  'response_body_truncated',
] as const;

export type UnstartedDelivery = Pick<DeliveryRow, 'id' | 'endpoint_id' | 'round' | 'round_attempts' | 'next_attempt_at'>;

/** Inserts the deliveries that do not exist yet (fan-out is idempotent per event and endpoint); returns those inserted. */
export async function insertDeliveries(db: Db, rows: NewDelivery[]): Promise<UnstartedDelivery[]> {
  if (rows.length === 0) return [];
  return db
    .insertInto('deliveries')
    .values(rows)
    .onConflict((oc) => oc.columns(['endpoint_id', 'event_id']).doNothing())
    .returning(['id', 'endpoint_id', 'round', 'round_attempts', 'next_attempt_at'])
    .execute();
}

/** Deliveries of an event still waiting for their first attempt (to (re-)enqueue them). */
export async function unstartedDeliveriesOfEvent(db: Db, eventId: string): Promise<UnstartedDelivery[]> {
  return db
    .selectFrom('deliveries')
    .select(['id', 'endpoint_id', 'round', 'round_attempts', 'next_attempt_at'])
    .where('event_id', '=', eventId)
    .where('status', '=', 'pending')
    .where('round_attempts', '=', 0)
    .execute();
}

export async function findDelivery(db: Db, id: string): Promise<DeliveryRow | undefined> {
  return db.selectFrom('deliveries').select(DELIVERY_COLUMNS).where('id', '=', id).executeTakeFirst();
}

export async function findTenantDelivery(db: Db, tenantId: string, id: string): Promise<DeliveryRow | undefined> {
  return db.selectFrom('deliveries').select(DELIVERY_COLUMNS).where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
}

export interface DeliveryFilter {
  endpointId: string;
  statuses?: DeliveryStatus[] | undefined;
  eventType?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
}

export async function listDeliveries(db: Db, filter: DeliveryFilter, limit: number, after?: TimeCursor): Promise<DeliveryRow[]> {
  let query = db.selectFrom('deliveries').select(DELIVERY_COLUMNS).where('endpoint_id', '=', filter.endpointId);
  if (filter.statuses) query = query.where('status', 'in', filter.statuses);
  if (filter.eventType) query = query.where('event_type', '=', filter.eventType);
  if (filter.since) query = query.where('created_at', '>=', filter.since);
  if (filter.until) query = query.where('created_at', '<', filter.until);
  return newestFirstPage(query, after, limit).execute();
}

export async function attemptsOf(db: Db, deliveryId: string): Promise<AttemptRow[]> {
  return db.selectFrom('attempts').select(ATTEMPT_COLUMNS).where('delivery_id', '=', deliveryId).orderBy('attempt_number', 'asc').execute();
}

export interface ClaimedDelivery {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_created_at: Date;
  round: number;
  round_trigger: RoundTrigger;
  round_attempts: number;
  attempt_count: number;
  /** The stored body of the event, sent as is. */
  payload: string;
  /** The endpoint as it is at claim time: where to send and which secrets sign. */
  url: string;
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_secret_expires_at: Date | null;
}

/**
 * Takes attempt `attempt` of `round` for this process: the row moves to `sending` with a lease,
 * atomically, so two workers (a duplicated job, a Redis failover) never send it at once.
 * A `sending` row whose lease ran out (its worker died) may be taken again for the same attempt.
 */
export async function claimAttempt(
  db: Db,
  id: string,
  round: number,
  attempt: number,
  now: Date,
  leaseUntil: Date,
): Promise<ClaimedDelivery | undefined> {
  return (
    db
      .updateTable('deliveries')
      .from(['events', 'endpoints'])
      .set({
        status: 'sending',
        lease_until: leaseUntil,
        round_attempts: attempt,
        // A re-taken attempt (crashed worker) was already counted.
        attempt_count: sql<number>`case when deliveries.status = 'pending' then deliveries.attempt_count + 1 else deliveries.attempt_count end`,
        last_attempt_at: now,
        updated_at: now,
      })
      .whereRef('events.id', '=', 'deliveries.event_id')
      .whereRef('endpoints.id', '=', 'deliveries.endpoint_id')
      .where('endpoints.enabled', '=', true)
      .where('deliveries.id', '=', id)
      .where('deliveries.round', '=', round)
      .where((eb) =>
        eb.or([
          // Due now (a few ms of clock difference with Redis are tolerated).
          eb.and([
            eb('deliveries.status', '=', 'pending'),
            eb('deliveries.round_attempts', '=', attempt - 1),
            eb('deliveries.next_attempt_at', '<=', new Date(now.getTime() + 25)),
          ]),
          eb.and([
            eb('deliveries.status', '=', 'sending'),
            eb('deliveries.round_attempts', '=', attempt),
            eb('deliveries.lease_until', '<', now),
          ]),
        ]),
      )
      // One round trip: the claimed row, the bytes to send and where to send them.
      .returning([
        'deliveries.id',
        'deliveries.endpoint_id',
        'deliveries.event_id',
        'deliveries.event_created_at',
        'deliveries.round',
        'deliveries.round_trigger',
        'deliveries.round_attempts',
        'deliveries.attempt_count',
        'events.payload',
        'endpoints.url',
        'endpoints.secret_sealed',
        'endpoints.previous_secret_sealed',
        'endpoints.previous_secret_expires_at',
      ])
      .executeTakeFirst()
  );
}

export type AttemptConclusion =
  | { status: 'succeeded'; at: Date; statusCode: number | null }
  | { status: 'pending'; nextAttemptAt: Date; statusCode: number | null; error: string | null }
  | { status: 'failed'; at: Date; statusCode: number | null; error: string | null };

/** Records the outcome, only if this process still holds the attempt it claimed. */
export async function concludeAttempt(db: Db, claim: ClaimedDelivery, conclusion: AttemptConclusion, now: Date): Promise<boolean> {
  const base = { lease_until: null, last_status_code: conclusion.statusCode, updated_at: now };
  const patch =
    conclusion.status === 'succeeded'
      ? { ...base, status: 'succeeded' as const, succeeded_at: conclusion.at, next_attempt_at: null, last_error: null }
      : conclusion.status === 'pending'
        ? { ...base, status: 'pending' as const, next_attempt_at: conclusion.nextAttemptAt, last_error: conclusion.error }
        : { ...base, status: 'failed' as const, failed_at: conclusion.at, next_attempt_at: null, last_error: conclusion.error };
  const result = await db
    .updateTable('deliveries')
    .set(patch)
    .where('id', '=', claim.id)
    .where('status', '=', 'sending')
    .where('round', '=', claim.round)
    .where('round_attempts', '=', claim.round_attempts)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/**
 * The success path in one statement (it is the common one): the delivery is concluded only if
 * this process still holds the attempt, the endpoint's failure run ends, and the attempt is
 * logged — all or nothing. False when the lease was lost.
 */
export async function concludeSuccess(
  db: Db,
  claim: ClaimedDelivery,
  attempt: NewAttempt,
  statusCode: number | null,
  now: Date,
): Promise<boolean> {
  const result = await sql<{ id: string }>`
    with concluded as (
      update deliveries
         set status = 'succeeded', succeeded_at = ${now}, next_attempt_at = null, lease_until = null,
             last_status_code = ${statusCode}, last_error = null, updated_at = ${now}
       where id = ${claim.id} and status = 'sending' and round = ${claim.round} and round_attempts = ${claim.round_attempts}
      returning id
    ), healthy as (
      update endpoints set failing_since = null
       where id = ${claim.endpoint_id} and failing_since is not null and exists (select 1 from concluded)
    )
    insert into attempts (id, delivery_id, endpoint_id, attempt_number, round, trigger, started_at, latency_ms, status_code,
                          outcome, error_class, error_message, response_body, response_body_truncated)
    select ${attempt.id}, concluded.id, ${attempt.endpoint_id}, ${attempt.attempt_number}, ${attempt.round}, ${attempt.trigger},
           ${attempt.started_at}, ${attempt.latency_ms}, ${attempt.status_code}, 'succeeded', null, null,
           ${attempt.response_body}, ${attempt.response_body_truncated}
      from concluded
    returning id`.execute(db);
  return result.rows.length === 1;
}

export async function insertAttempt(db: Db, row: NewAttempt): Promise<void> {
  await db.insertInto('attempts').values(row).execute();
}

/** A pending delivery whose endpoint is disabled fails without an attempt. */
export async function failUnsent(db: Db, id: string, round: number, reason: string, now: Date): Promise<boolean> {
  const result = await db
    .updateTable('deliveries')
    .set({ status: 'failed', failed_at: now, next_attempt_at: null, lease_until: null, last_error: reason, updated_at: now })
    .where('id', '=', id)
    .where('round', '=', round)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Starts a new round (manual retry or replay) of deliveries that are finished. */
export async function startNewRound(
  db: Db,
  where: { id: string } | { endpointId: string; since: Date; until: Date; limit: number },
  trigger: RoundTrigger,
  now: Date,
): Promise<Pick<DeliveryRow, 'id' | 'endpoint_id' | 'round'>[]> {
  let query = db.updateTable('deliveries').set({
    status: 'pending',
    round: sql<number>`round + 1`,
    round_trigger: trigger,
    round_attempts: 0,
    next_attempt_at: now,
    lease_until: null,
    failed_at: null,
    updated_at: now,
  });
  if ('id' in where) {
    query = query.where('id', '=', where.id).where('status', 'in', ['failed', 'succeeded']);
  } else {
    const ids = db
      .selectFrom('deliveries')
      .select('id')
      .where('endpoint_id', '=', where.endpointId)
      .where('status', '=', 'failed')
      .where('created_at', '>=', where.since)
      .where('created_at', '<', where.until)
      .orderBy('created_at', 'asc')
      .limit(where.limit);
    query = query.where('id', 'in', ids).where('status', '=', 'failed');
  }
  return query.returning(['id', 'endpoint_id', 'round']).execute();
}

/** Deliveries that should be in the queue but may have been lost (crash between commit and enqueue, a Redis loss). */
export async function overdueDeliveries(
  db: Db,
  olderThan: Date,
  limit: number,
): Promise<Pick<DeliveryRow, 'id' | 'endpoint_id' | 'status' | 'round' | 'round_attempts'>[]> {
  return db
    .selectFrom('deliveries')
    .select(['id', 'endpoint_id', 'status', 'round', 'round_attempts'])
    .where((eb) =>
      eb.or([
        eb.and([eb('status', '=', 'pending'), eb('next_attempt_at', '<', olderThan)]),
        eb.and([eb('status', '=', 'sending'), eb('lease_until', '<', olderThan)]),
      ]),
    )
    .orderBy('next_attempt_at', 'asc')
    .limit(limit)
    .execute();
}

/** Inserts the event unless its id is known (true when it was new); written only with its deliveries (fan-out.ts). */
export async function insertEventIfNew(db: Db, row: EventRow): Promise<boolean> {
  const inserted = await db
    .insertInto('events')
    .values(row)
    .onConflict((oc) => oc.column('id').doNothing())
    .returning(['id'])
    .executeTakeFirst();
  return inserted !== undefined;
}
