import { DelayedError, Job } from 'bullmq';
import { newId, type PlatformEvent } from '@tollgate/common';
import { signatureHeader } from '../endpoints/secrets';
import { disableEndpoint, findEndpointById, markEndpointFailing, type PublicEndpoint } from '../endpoints/repository';
import { enqueueUnstarted, storeEvent } from './fan-out';
import { attemptLeaseMs, type WebhookDeps } from '../deps';
import type { SendResult, WebhookHttpClient } from '../ssrf/safe-http-client';
import type { EndpointSlots } from './endpoint-slots';
import { enqueueAttempts } from './enqueue';
import type { z } from 'zod';
import { deliveryAttemptJob } from './jobs';
import {
  type AttemptConclusion,
  claimAttempt,
  type ClaimedDelivery,
  concludeAttempt,
  concludeSuccess,
  failUnsent,
  findDelivery,
  insertAttempt,
} from './repository';
import { jittered, nextRetryDelay } from './schedule';

type AttemptJob = z.infer<typeof deliveryAttemptJob.schema>;

/** The longest a parked delivery sleeps before it looks for a slot by itself. */
const MAX_PARK_MS = 5 * 60_000;

export interface DeliveryEngine {
  /** Runs one attempt job: claim, sign, send, record, schedule the next. */
  runAttempt(data: AttemptJob, job: Job): Promise<string>;
}

export interface EngineDeps {
  rt: WebhookDeps;
  http: WebhookHttpClient;
  slots: EndpointSlots;
}

/** Ends this run of the job and puts it back in the delayed set, without using up a BullMQ attempt. */
async function postpone(job: Job, until: number): Promise<never> {
  await job.moveToDelayed(until, job.token);
  throw new DelayedError();
}

export function createDeliveryEngine({ rt, http, slots }: EngineDeps): DeliveryEngine {
  const { config, logger } = rt;
  const leaseMs = attemptLeaseMs(config);

  /** The `endpoint.disabled` event, stored in the transaction that disabled the endpoint so it cannot be lost. */
  function endpointDisabledEvent(endpoint: PublicEndpoint): PlatformEvent {
    const at = endpoint.disabled_at ?? rt.clock.now();
    return {
      id: `evt_disabled_${endpoint.id}_${at.getTime()}`,
      type: 'endpoint.disabled',
      tenant_id: endpoint.tenant_id,
      created_at: at.toISOString(),
      data: {
        endpoint_id: endpoint.id,
        url: endpoint.url,
        reason: endpoint.disabled_reason,
        failing_since: endpoint.failing_since ? endpoint.failing_since.toISOString() : null,
        disabled_at: at.toISOString(),
      },
    };
  }

  async function announceDisabled(endpoint: PublicEndpoint, eventId: string): Promise<void> {
    rt.webhookMetrics.endpointsDisabled.inc({ reason: endpoint.disabled_reason ?? 'unknown' });
    logger.warn('webhook endpoint disabled', { endpoint_id: endpoint.id, tenant_id: endpoint.tenant_id, reason: endpoint.disabled_reason });
    await enqueueUnstarted(rt, eventId);
  }

  function attemptRow(claim: ClaimedDelivery, result: SendResult, startedAt: Date) {
    return {
      id: newId('att'),
      delivery_id: claim.id,
      endpoint_id: claim.endpoint_id,
      attempt_number: claim.attempt_count,
      round: claim.round,
      trigger: claim.round_trigger,
      started_at: startedAt,
      latency_ms: result.latencyMs,
      status_code: result.statusCode,
      outcome: result.ok ? ('succeeded' as const) : ('failed' as const),
      error_class: result.errorClass,
      error_message: result.errorMessage,
      response_body: result.responseBody,
      response_body_truncated: result.responseBodyTruncated,
    };
  }

  /** Decide what the attempt's result means for the delivery and the endpoint, and record it. */
  async function record(
    claim: ClaimedDelivery,
    result: SendResult,
    startedAt: Date,
  ): Promise<{ next?: Date; disabled?: { endpoint: PublicEndpoint; eventId: string } }> {
    const now = rt.clock.now();
    if (result.ok) {
      if (!(await concludeSuccess(rt.db, claim, attemptRow(claim, result, startedAt), result.statusCode, now))) throw new LeaseLostError();
      return {};
    }
    return rt.db.transaction().execute(async (trx) => {
      let conclusion: AttemptConclusion;
      let disabled: PublicEndpoint | undefined;
      if (result.statusCode === 410) {
        // 410 Gone: the receiver says this endpoint no longer exists.
        conclusion = { status: 'failed', at: now, statusCode: 410, error: result.errorClass };
        disabled = await disableEndpoint(trx, claim.endpoint_id, 'gone', now);
      } else {
        const failingSince = await markEndpointFailing(trx, claim.endpoint_id, startedAt);
        const delay = nextRetryDelay(rt.retryPolicy, claim.round_attempts, result.retryAfterMs);
        conclusion =
          delay === null
            ? { status: 'failed', at: now, statusCode: result.statusCode, error: result.errorClass }
            : {
                status: 'pending',
                nextAttemptAt: new Date(now.getTime() + delay),
                statusCode: result.statusCode,
                error: result.errorClass,
              };
        if (failingSince && now.getTime() - failingSince.getTime() >= config.WEBHOOK_DISABLE_AFTER_MS) {
          disabled = await disableEndpoint(trx, claim.endpoint_id, 'failing', now);
          if (conclusion.status === 'pending')
            conclusion = { status: 'failed', at: now, statusCode: result.statusCode, error: result.errorClass };
        }
      }
      // Our lease ran out and another worker took the attempt over: its record wins (the throw rolls back).
      if (!(await concludeAttempt(trx, claim, conclusion, now))) throw new LeaseLostError();
      await insertAttempt(trx, attemptRow(claim, result, startedAt));
      // The tenant's other endpoints hear of it; the event is part of this transaction.
      let announcement: { endpoint: PublicEndpoint; eventId: string } | undefined;
      if (disabled) {
        const event = endpointDisabledEvent(disabled);
        await storeEvent(trx, rt, event);
        // Enqueued after commit (announceDisabled); the sweeper covers a crash in between.
        announcement = { endpoint: disabled, eventId: event.id };
      }
      return {
        ...(conclusion.status === 'pending' ? { next: conclusion.nextAttemptAt } : {}),
        ...(announcement ? { disabled: announcement } : {}),
      };
    });
  }

  /** Waits (in BullMQ's delayed set, holding no worker slot) until a slot of the endpoint frees up. */
  async function park(job: Job, endpointId: string): Promise<never> {
    // Woken by a release; the delay is only the fallback should that wake-up be lost, so it
    // grows with the queue ahead (about one fallback period per `limit` jobs, at most 5 minutes)
    // instead of waking a whole backlog at once.
    const ahead = await slots.parkedPosition(endpointId, job.id!);
    const fallback = Math.min(config.WEBHOOK_BUSY_RETRY_MS * (1 + Math.floor(ahead / slots.limit)), MAX_PARK_MS);
    await job.moveToDelayed(Date.now() + jittered(fallback, 0.2), job.token);
    await slots.park(endpointId, job.id!);
    throw new DelayedError();
  }

  /** Promotes a parked job (skipping ids that already woke on their own). */
  async function wake(endpointId: string, first: string | null): Promise<void> {
    let jobId = first;
    for (let i = 0; jobId && i < 5; i++, jobId = await slots.nextParked(endpointId)) {
      try {
        // promote() needs only the id: no need to load the job first.
        await new Job(rt.deliveryQueue, deliveryAttemptJob.name, {}, {}, jobId).promote();
        return;
      } catch {
        // Not delayed any more: it is running, done or gone. Try the next one.
      }
    }
  }

  /** When a claim fails: why, and what to do about it. */
  async function explainUnclaimed(job: Job, data: AttemptJob): Promise<string> {
    const { round, attempt } = data;
    const endpoint = await findEndpointById(rt.db, data.endpoint_id);
    if (!endpoint) return 'endpoint_deleted';
    if (!endpoint.enabled) {
      // Nothing is sent to a disabled endpoint; a replay after re-enabling resends it.
      await failUnsent(rt.db, data.delivery_id, round, 'endpoint_disabled', rt.clock.now());
      return 'endpoint_disabled';
    }
    const delivery = await findDelivery(rt.db, data.delivery_id);
    if (!delivery || delivery.round !== round) return 'stale';
    if (delivery.status === 'succeeded' || delivery.status === 'failed') return 'finished';
    const now = Date.now();
    if (delivery.status === 'pending') {
      if (delivery.round_attempts === attempt) {
        // This attempt was recorded but its process died before enqueueing the next one.
        await enqueueAttempts(rt.deliveryQueue, [
          { id: delivery.id, endpointId: delivery.endpoint_id, round, attempt: attempt + 1, at: delivery.next_attempt_at },
        ]);
        return 'next_enqueued';
      }
      if (delivery.round_attempts !== attempt - 1) return 'stale';
      // Early (clock differences, a manual promotion): back to sleep until due.
      return postpone(job, Math.max(delivery.next_attempt_at?.getTime() ?? now, now + 25));
    }
    if (delivery.round_attempts !== attempt) return 'stale';
    // Another worker holds this attempt (a duplicated job), or held it and died: look again when its lease ends.
    return postpone(job, Math.max(delivery.lease_until?.getTime() ?? now, now) + 50);
  }

  async function attempt(job: Job, data: AttemptJob): Promise<string> {
    const startedAt = rt.clock.now();
    const claim = await claimAttempt(rt.db, data.delivery_id, data.round, data.attempt, startedAt, new Date(startedAt.getTime() + leaseMs));
    if (!claim) return explainUnclaimed(job, data);

    const body = Buffer.from(claim.payload, 'utf8');
    const timestamp = Math.floor(startedAt.getTime() / 1000);
    const secrets = [rt.secretBox.open(claim.secret_sealed)];
    if (claim.previous_secret_sealed && claim.previous_secret_expires_at && claim.previous_secret_expires_at > startedAt) {
      secrets.push(rt.secretBox.open(claim.previous_secret_sealed));
    }
    const result = await http.send({
      url: claim.url,
      body,
      headers: {
        'webhook-id': claim.event_id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signatureHeader(secrets, claim.event_id, timestamp, body),
      },
    });

    rt.webhookMetrics.attempts.inc({ outcome: result.ok ? 'succeeded' : 'failed', error_class: result.errorClass ?? 'none' });
    rt.webhookMetrics.attemptDuration.observe({ outcome: result.ok ? 'succeeded' : 'failed' }, result.latencyMs / 1000);
    if (result.ok) rt.webhookMetrics.deliveryLatency.observe((Date.now() - claim.event_created_at.getTime()) / 1000);

    let outcome: Awaited<ReturnType<typeof record>>;
    try {
      outcome = await record(claim, result, startedAt);
    } catch (err) {
      if (err instanceof LeaseLostError) {
        logger.warn('attempt lease lost before recording', { delivery_id: claim.id, attempt: claim.attempt_count });
        return 'lease_lost';
      }
      throw err;
    }
    if (outcome.next) {
      await enqueueAttempts(rt.deliveryQueue, [
        { id: claim.id, endpointId: claim.endpoint_id, round: claim.round, attempt: claim.round_attempts + 1, at: outcome.next },
      ]);
    }
    if (outcome.disabled) await announceDisabled(outcome.disabled.endpoint, outcome.disabled.eventId);
    return result.ok ? 'succeeded' : outcome.next ? 'retry_scheduled' : 'failed';
  }

  return {
    async runAttempt(data, job) {
      // The endpoint's concurrency is checked first, in Redis only: a saturated endpoint's
      // backlog costs no Postgres work and no worker slot while it waits.
      const slot = await slots.acquire(data.endpoint_id, job.id!);
      if (!slot) return park(job, data.endpoint_id);
      try {
        return await attempt(job, data);
      } finally {
        try {
          await wake(data.endpoint_id, await slot.release());
        } catch (err) {
          logger.warn('releasing an endpoint slot failed', { endpoint_id: data.endpoint_id, err });
        }
      }
    },
  };
}

class LeaseLostError extends Error {
  constructor() {
    super('attempt lease lost');
    this.name = 'LeaseLostError';
  }
}
