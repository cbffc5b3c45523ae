import {
  AppError,
  type Clock,
  enqueue,
  enqueueWithin,
  type EventPublisher,
  type Logger,
  newId,
  notFound,
  type OutboxEvent,
  OutboxRelay,
  recordEvent,
  systemClock,
} from '@tollgate/common';
import type { Job, Queue } from 'bullmq';
import type { Kysely } from 'kysely';
import type { Caller, ChatService, Metered } from '../chat/service';
import type { AiDatabase, AsyncJobRow } from '../db';
import { type ChatCompletion, type ChatRequest, chatRequestSchema } from '../openai/schema';
import { runCompletionJob } from './jobs';
import {
  deleteFinishedBefore,
  findJob,
  findJobForTenant,
  findStaleJobs,
  finishJob,
  insertJob,
  keepResult,
  startJob,
  touchJob,
} from './repository';

/** What GET /v1/async/jobs/:id answers. */
export interface AsyncJobView {
  id: string;
  object: 'async.job';
  status: AsyncJobRow['status'];
  model: string;
  status_url: string;
  created_at: number;
  completed_at: number | null;
  result: ChatCompletion | null;
  error: { code: string; message: string } | null;
  cost: number | null;
}

export interface AsyncDeps {
  db: Kysely<AiDatabase>;
  queue: Queue;
  chat: ChatService;
  events: EventPublisher;
  logger: Logger;
  publicBaseUrl: string;
  /** How long submit waits for Redis to take the job before answering anyway. */
  enqueueWaitMs?: number;
  clock?: Clock;
}

export interface AsyncRecoveryResult {
  checked: number;
  requeued: string[];
  failed: string[];
  /** completion events a crash left in the outbox, published now. */
  eventsRelayed: number;
}

/** Events younger than this belong to a worker that is about to publish them itself. */
const OUTBOX_RELAY_AFTER_MS = 5_000;

/** Failures worth another BullMQ attempt: billing, limits or every upstream down for now. */
const TRANSIENT = new Set(['SERVICE_UNAVAILABLE', 'RATE_LIMITED', 'UPSTREAM_FAILED', 'UPSTREAM_TIMEOUT', 'INTERNAL']);

const seconds = (d: Date | null) => (d ? Math.floor(d.getTime() / 1000) : null);

/**
 * Queued chat completions: accepted at once (202), run by the `ai-completions` worker through
 * the same billing path as a synchronous call, announced as completion.completed / .failed.
 */
export class AsyncService {
  private readonly clock: Clock;
  /** completion.completed / .failed are recorded with the job's finish (packages/common's outbox). */
  private readonly outbox: OutboxRelay;

  constructor(private readonly deps: AsyncDeps) {
    this.clock = deps.clock ?? systemClock;
    this.outbox = new OutboxRelay({ db: deps.db, publisher: deps.events, logger: deps.logger, now: () => this.clock.now() });
  }

  statusUrl(id: string): string {
    return `${this.deps.publicBaseUrl.replace(/\/$/, '')}/v1/async/jobs/${id}`;
  }

  view(row: AsyncJobRow): AsyncJobView {
    return {
      id: row.id,
      object: 'async.job',
      status: row.status,
      model: row.model,
      status_url: this.statusUrl(row.id),
      created_at: seconds(row.created_at)!,
      completed_at: seconds(row.completed_at),
      // A running job may hold a kept, not yet settled result: shown once it succeeded.
      result: row.status === 'succeeded' ? ((row.result as ChatCompletion | null) ?? null) : null,
      error: row.error ?? null,
      cost: row.status === 'running' ? null : row.cost,
    };
  }

  async submit(caller: Caller, request: ChatRequest): Promise<AsyncJobView> {
    if (request.stream)
      throw new AppError('VALIDATION_FAILED', 'Queued completions cannot stream; leave out `stream`', { details: { param: 'stream' } });
    // Unknown models and oversized prompts are refused now, not after queueing.
    this.deps.chat.prepare(caller, request);
    const id = newId('acmpl');
    const row = await insertJob(this.deps.db, {
      id,
      tenant_id: caller.tenantId,
      key_id: caller.keyId,
      request_id: caller.requestId,
      model: request.model,
      request,
      tags: caller.tags ?? {},
      budget: caller.budget,
      now: this.clock.now(),
    });
    try {
      // The committed row is the promise: if Redis is slow or away the add lands when it returns
      // (the recovery sweep re-queues it if this process dies first), so the caller is not held.
      const queued = await enqueueWithin(
        this.deps.queue,
        runCompletionJob,
        { job_id: id },
        { jobId: id },
        this.deps.enqueueWaitMs ?? 2_000,
      );
      if (queued.state === 'pending')
        this.deps.logger.warn('queued completion accepted while the queue is unreachable; it is queued when Redis answers', { job_id: id });
    } catch (err) {
      await finishJob(
        this.deps.db,
        id,
        { status: 'failed', error: { code: 'SERVICE_UNAVAILABLE', message: 'The job could not be queued' } },
        this.clock.now(),
      );
      throw new AppError('SERVICE_UNAVAILABLE', 'The job queue is unavailable right now; retry shortly', {
        cause: err,
        headers: { 'Retry-After': '1' },
      });
    }
    return this.view(row);
  }

  async get(tenantId: string, id: string): Promise<AsyncJobView> {
    const row = /^acmpl_[A-Za-z0-9]{16,40}$/.test(id) ? await findJobForTenant(this.deps.db, tenantId, id) : undefined;
    if (!row) throw notFound('Job');
    return this.view(row);
  }

  /** The worker's handler: throws to let BullMQ retry a transient failure, records terminal ones. */
  async run(jobId: string, job: Pick<Job, 'attemptsMade' | 'opts'>): Promise<void> {
    const row = await startJob(this.deps.db, jobId, this.clock.now());
    // Finished by an earlier attempt: its event was recorded with the finish, and the outbox
    // relay publishes it if that attempt died before doing so.
    if (!row) return;
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    // One credits key per job, not per attempt: every attempt shares one hold, captured once.
    const billingKey = `ai:async:${jobId}`;
    try {
      const request = chatRequestSchema.parse(row.request);
      const caller: Caller = {
        tenantId: row.tenant_id,
        keyId: row.key_id,
        requestId: row.request_id,
        tags: row.tags,
        user: request.user,
        metadata: request.metadata,
        budget: row.budget ?? undefined,
      };
      let metered: Metered | undefined;
      if (row.result != null && row.cost != null) {
        // An earlier attempt got the answer and kept it, then stopped before finishing: settle it
        // (a no-op if that attempt captured already) and never ask the upstream again.
        metered = { completion: row.result as ChatCompletion, cost: row.cost };
        await this.deps.chat.settleKept(caller, request, { kind: 'async_chat', billingKey, kept: metered });
      } else {
        await this.deps.chat.complete(caller, request, {
          kind: 'async_chat',
          cacheMode: 'off',
          // Stable per job, so the kept result and a retry's answer are the same completion.
          completionId: `chatcmpl-${jobId.slice('acmpl_'.length)}`,
          billingKey,
          beforeSettle: async (m) => {
            await keepResult(this.deps.db, jobId, m.completion, m.cost, this.clock.now());
            metered = m;
          },
        });
      }
      await this.finish(jobId, { status: 'succeeded', result: metered!.completion, cost: metered!.cost });
    } catch (err) {
      const code = err instanceof AppError ? err.code : 'INTERNAL';
      if (TRANSIENT.has(code) && !lastAttempt) {
        this.deps.logger.warn('async completion attempt failed; will retry', { job_id: jobId, code });
        throw err;
      }
      await this.fail(jobId, err);
    }
  }

  /**
   * The recovery sweep: looks at the BullMQ job behind each completion in flight for `afterS`.
   * None (a crash between insert and add, or Redis lost it): queue it again under the same id.
   * Failed for good while the row says otherwise (the process died before recording it): fail it
   * and announce. Waiting, delayed or active jobs are left alone, however long the queue (and a
   * completed one is never run again: its attempt may have been charged).
   */
  async recoverStuck(afterS: number, limit = 100): Promise<AsyncRecoveryResult> {
    const now = this.clock.now();
    const rows = await findStaleJobs(this.deps.db, new Date(now.getTime() - afterS * 1000), limit);
    const result: AsyncRecoveryResult = { checked: rows.length, requeued: [], failed: [], eventsRelayed: 0 };
    for (const row of rows) {
      const job = await this.deps.queue.getJob(row.id);
      const state = job ? await job.getState() : 'missing';
      if (state === 'missing' || state === 'unknown') {
        // An orphaned job hash (in no list) would make the add below a silent no-op: drop it first.
        if (job) await job.remove().catch(() => undefined);
        await enqueue(this.deps.queue, runCompletionJob, { job_id: row.id }, { jobId: row.id });
        await touchJob(this.deps.db, row.id, now);
        result.requeued.push(row.id);
      } else if (state === 'failed') {
        await this.fail(row.id, new AppError('INTERNAL', job?.failedReason || 'The completion failed'));
        result.failed.push(row.id);
      } else {
        // Live (waiting, delayed, active): checked again later, behind the rows not yet looked
        // at, so a long backlog never hides a lost job from a sweep that takes the oldest first.
        await touchJob(this.deps.db, row.id, now);
      }
    }
    result.eventsRelayed = await this.outbox.sweep({ minAgeMs: OUTBOX_RELAY_AFTER_MS });
    if (result.requeued.length || result.failed.length || result.eventsRelayed)
      this.deps.logger.warn('recovered stuck queued completions', {
        requeued: result.requeued,
        failed: result.failed,
        events_relayed: result.eventsRelayed,
      });
    return result;
  }

  /** Deletes finished jobs (and their results) older than the retention, in batches. */
  async pruneFinished(retentionDays: number, batch = 1_000, maxBatches = 100): Promise<number> {
    const before = new Date(this.clock.now().getTime() - retentionDays * 86_400_000);
    let deleted = 0;
    for (let i = 0; i < maxBatches; i++) {
      const n = await deleteFinishedBefore(this.deps.db, before, batch);
      deleted += n;
      if (n < batch) break;
    }
    if (deleted > 0) this.deps.logger.info('queued completions past retention deleted', { deleted, retention_days: retentionDays });
    return deleted;
  }

  /** Terminal failure (also from the worker's onFinalFailure, for errors that escaped run()). */
  async fail(jobId: string, err: unknown): Promise<void> {
    const appError = err instanceof AppError ? err : undefined;
    const error =
      appError && (appError.status < 500 || appError.expose)
        ? { code: appError.code, message: appError.message }
        : { code: 'INTERNAL', message: 'The completion failed' };
    await this.finish(jobId, { status: 'failed', error });
  }

  /**
   * The job's outcome and its completion event in one transaction, then the event published: a
   * crash in between leaves it to the outbox relay (the recovery sweep), never lost. A job
   * finished already records nothing again.
   */
  private async finish(jobId: string, outcome: Parameters<typeof finishJob>[2]): Promise<void> {
    const event = await this.deps.db.transaction().execute(async (trx) => {
      if (!(await finishJob(trx, jobId, outcome, this.clock.now()))) return undefined;
      const row = await findJob(trx, jobId);
      return row ? recordEvent(trx, { ...this.completionEvent(row), created_at: this.clock.now() }) : undefined;
    });
    if (event) await this.outbox.publishNow([event]);
  }

  private completionEvent(row: AsyncJobRow): Omit<OutboxEvent, 'created_at'> {
    const view = this.view(row);
    return {
      id: `evt_${row.id}_${row.status === 'succeeded' ? 'completed' : 'failed'}`,
      type: row.status === 'succeeded' ? 'completion.completed' : 'completion.failed',
      tenant_id: row.tenant_id,
      data: {
        id: view.id,
        status: view.status,
        model: view.model,
        status_url: view.status_url,
        ...(view.result ? { result: view.result, usage: view.result.usage, cost: view.cost } : {}),
        ...(view.error ? { error: view.error } : {}),
      },
    };
  }
}
