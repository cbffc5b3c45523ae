import type { KeyBudgetPolicy } from '@tollgate/common';
import type { Db, AsyncJobRow, AsyncJobStatus } from '../db';

export const ASYNC_JOB_COLUMNS = [
  'id',
  'tenant_id',
  'key_id',
  'request_id',
  'model',
  'status',
  'request',
  'result',
  'error',
  'cost',
  'attempts',
  'created_at',
  'updated_at',
  'completed_at',
  'tags',
  'budget',
] as const;

export async function insertJob(
  db: Db,
  job: {
    id: string;
    tenant_id: string;
    key_id: string;
    request_id: string;
    model: string;
    request: unknown;
    tags?: Record<string, string>;
    budget?: KeyBudgetPolicy | undefined;
    now: Date;
  },
): Promise<AsyncJobRow> {
  return db
    .insertInto('async_jobs')
    .values({
      id: job.id,
      tenant_id: job.tenant_id,
      key_id: job.key_id,
      request_id: job.request_id,
      model: job.model,
      status: 'queued',
      request: JSON.stringify(job.request),
      tags: JSON.stringify(job.tags ?? {}),
      budget: job.budget ? JSON.stringify(job.budget) : null,
      attempts: 0,
      created_at: job.now,
      updated_at: job.now,
    })
    .returning(ASYNC_JOB_COLUMNS)
    .executeTakeFirstOrThrow();
}

export async function findJob(db: Db, id: string): Promise<AsyncJobRow | undefined> {
  return db.selectFrom('async_jobs').select(ASYNC_JOB_COLUMNS).where('id', '=', id).executeTakeFirst();
}

export async function findJobForTenant(db: Db, tenantId: string, id: string): Promise<AsyncJobRow | undefined> {
  return db.selectFrom('async_jobs').select(ASYNC_JOB_COLUMNS).where('id', '=', id).where('tenant_id', '=', tenantId).executeTakeFirst();
}

/** Marks a job running (unless it already finished); returns the attempt number, or undefined when finished. */
export async function startJob(db: Db, id: string, now: Date): Promise<AsyncJobRow | undefined> {
  return db
    .updateTable('async_jobs')
    .set((eb) => ({ status: 'running' as AsyncJobStatus, attempts: eb('attempts', '+', 1), updated_at: now }))
    .where('id', '=', id)
    .where('status', 'in', ['queued', 'running'])
    .returning(ASYNC_JOB_COLUMNS)
    .executeTakeFirst();
}

/**
 * Keeps a running job's answer and cost before it is captured: an attempt that dies after the
 * capture leaves the next one a result to finish with, instead of a second upstream call and charge.
 */
export async function keepResult(db: Db, id: string, result: unknown, cost: number, now: Date): Promise<void> {
  await db
    .updateTable('async_jobs')
    .set({ result: JSON.stringify(result), cost, updated_at: now })
    .where('id', '=', id)
    .where('status', '=', 'running')
    .execute();
}

export async function finishJob(
  db: Db,
  id: string,
  outcome: { status: 'succeeded'; result: unknown; cost: number } | { status: 'failed'; error: { code: string; message: string } },
  now: Date,
): Promise<boolean> {
  const res = await db
    .updateTable('async_jobs')
    .set({
      status: outcome.status,
      result: outcome.status === 'succeeded' ? JSON.stringify(outcome.result) : null,
      error: outcome.status === 'failed' ? JSON.stringify(outcome.error) : null,
      cost: outcome.status === 'succeeded' ? outcome.cost : 0,
      updated_at: now,
      completed_at: now,
    })
    .where('id', '=', id)
    .where('status', 'in', ['queued', 'running'])
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** Jobs the row says are in flight, untouched since `before` (for the recovery sweep), oldest first. */
export async function findStaleJobs(db: Db, before: Date, limit: number): Promise<AsyncJobRow[]> {
  return db
    .selectFrom('async_jobs')
    .select(ASYNC_JOB_COLUMNS)
    .where('status', 'in', ['queued', 'running'])
    .where('updated_at', '<', before)
    .orderBy('updated_at')
    .limit(limit)
    .execute();
}

export async function touchJob(db: Db, id: string, now: Date): Promise<void> {
  await db.updateTable('async_jobs').set({ updated_at: now }).where('id', '=', id).where('status', 'in', ['queued', 'running']).execute();
}

/** Deletes up to `limit` finished jobs that completed before `before`; returns how many. */
export async function deleteFinishedBefore(db: Db, before: Date, limit: number): Promise<number> {
  const res = await db
    .deleteFrom('async_jobs')
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('async_jobs')
        .select('id')
        .where('status', 'in', ['succeeded', 'failed'])
        .where('completed_at', '<', before)
        .orderBy('completed_at')
        .limit(limit),
    )
    .executeTakeFirst();
  return Number(res.numDeletedRows);
}
