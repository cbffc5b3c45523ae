import { DelayedError, type Job } from 'bullmq';
import { newId } from '@tollgate/common';
import { signatureHeader } from '../endpoints/secrets';
import { disableEndpoint, markEndpointFailing, markEndpointHealthy, signingStateOf } from '../endpoints/repository';
import { eventPayload } from '../events/repository';
import { ingestEvent } from '../events/service';
import { attemptLeaseMs, type WebhookRuntime } from '../runtime';
import type { SendResult, WebhookHttpClient } from '../ssrf/safe-http-client';
import type { EndpointSlots } from './endpoint-slots';
import { enqueueAttempts } from './enqueue';
import { type AttemptConclusion, claimAttempt, type ClaimedDelivery, concludeAttempt, failUnsent, findDelivery, insertAttempt } from './repository';
import { jittered, nextRetryDelay } from './schedule';

export interface DeliveryEngine {
  /** Runs one attempt job: claim, sign, send, record, schedule the next. */
  runAttempt(data: { delivery_id: string; round: number; attempt: number }, job: Job): Promise<string>;
}

export interface EngineDeps {
  rt: WebhookRuntime;
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

  async function emitEndpointDisabled(endpoint: { id: string; tenant_id: string; url: string; disabled_reason: string | null; disabled_at: Date | null; failing_since: Date | null }): Promise<void> {
    const at = endpoint.disabled_at ?? rt.clock.now();
    rt.metrics.endpointsDisabled.inc({ reason: endpoint.disabled_reason ?? 'unknown' });
    logger.warn('webhook endpoint disabled', { endpoint_id: endpoint.id, tenant_id: endpoint.tenant_id, reason: endpoint.disabled_reason });
    // Derived id: a re-run after a crash publishes the same event, which is stored once.
    await ingestEvent(rt, {
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
    });
  }

  /** Decide what the attempt's result means for the delivery and the endpoint, and record it. */
  async function record(claim: ClaimedDelivery, result: SendResult, startedAt: Date): Promise<{ next?: Date; disabled?: Awaited<ReturnType<typeof disableEndpoint>> }> {
    const now = rt.clock.now();
    return rt.db.transaction().execute(async (trx) => {
      let conclusion: AttemptConclusion;
      let disabled: Awaited<ReturnType<typeof disableEndpoint>>;
      if (result.ok) {
        conclusion = { status: 'succeeded', at: now, statusCode: result.statusCode };
        await markEndpointHealthy(trx, claim.endpoint_id);
      } else if (result.statusCode === 410) {
        // 410 Gone: the receiver says this endpoint no longer exists.
        conclusion = { status: 'failed', at: now, statusCode: 410, error: result.errorClass };
        disabled = await disableEndpoint(trx, claim.endpoint_id, 'gone', now);
      } else {
        const failingSince = await markEndpointFailing(trx, claim.endpoint_id, startedAt);
        const delay = nextRetryDelay(rt.retryPolicy, claim.round_attempts, result.retryAfterMs);
        conclusion =
          delay === null
            ? { status: 'failed', at: now, statusCode: result.statusCode, error: result.errorClass }
            : { status: 'pending', nextAttemptAt: new Date(now.getTime() + delay), statusCode: result.statusCode, error: result.errorClass };
        if (failingSince && now.getTime() - failingSince.getTime() >= config.WEBHOOK_DISABLE_AFTER_MS) {
          disabled = await disableEndpoint(trx, claim.endpoint_id, 'failing', now);
          if (conclusion.status === 'pending') conclusion = { status: 'failed', at: now, statusCode: result.statusCode, error: result.errorClass };
        }
      }
      const held = await concludeAttempt(trx, claim, conclusion, now);
      if (!held) {
        // Our lease ran out and another worker took the attempt over: its record wins.
        logger.warn('attempt lease lost before recording', { delivery_id: claim.id, attempt: claim.attempt_count });
        throw new LeaseLostError();
      }
      await insertAttempt(trx, {
        id: newId('att'),
        delivery_id: claim.id,
        endpoint_id: claim.endpoint_id,
        attempt_number: claim.attempt_count,
        round: claim.round,
        trigger: claim.round_trigger,
        started_at: startedAt,
        latency_ms: result.latencyMs,
        status_code: result.statusCode,
        outcome: result.ok ? 'succeeded' : 'failed',
        error_class: result.errorClass,
        error_message: result.errorMessage,
        response_body: result.responseBody,
        response_body_truncated: result.responseBodyTruncated,
      });
      return { ...(conclusion.status === 'pending' ? { next: conclusion.nextAttemptAt } : {}), ...(disabled ? { disabled } : {}) };
    });
  }

  return {
    async runAttempt({ delivery_id, round, attempt }, job) {
      const delivery = await findDelivery(rt.db, delivery_id);
      if (!delivery || delivery.round !== round) return 'stale';
      if (delivery.status === 'succeeded' || delivery.status === 'failed') return 'finished';
      const now = rt.clock.now();
      if (delivery.status === 'pending') {
        if (delivery.round_attempts === attempt) {
          // This attempt was recorded but its process died before enqueueing the next one.
          await enqueueAttempts(rt.deliveryQueue, [{ id: delivery.id, round, attempt: attempt + 1, at: delivery.next_attempt_at }]);
          return 'next_enqueued';
        }
        if (delivery.round_attempts !== attempt - 1) return 'stale';
        const due = delivery.next_attempt_at?.getTime() ?? 0;
        if (due > now.getTime() + 25) await postpone(job, due);
      } else {
        // `sending`: another worker holds this attempt, or held it and died.
        if (delivery.round_attempts !== attempt) return 'stale';
        const leaseEnd = delivery.lease_until?.getTime() ?? 0;
        if (leaseEnd > now.getTime()) await postpone(job, leaseEnd + 50);
      }

      const endpoint = await signingStateOf(rt.db, delivery.endpoint_id);
      if (!endpoint) return 'endpoint_deleted';
      if (!endpoint.enabled) {
        await failUnsent(rt.db, delivery_id, round, 'endpoint_disabled', now);
        return 'endpoint_disabled';
      }

      const slot = await slots.acquire(endpoint.id);
      if (!slot) await postpone(job, Date.now() + jittered(config.WEBHOOK_BUSY_RETRY_MS, 0.5));
      try {
        const startedAt = rt.clock.now();
        const claim = await claimAttempt(rt.db, delivery_id, round, attempt, startedAt, new Date(startedAt.getTime() + leaseMs));
        if (!claim) return 'taken';
        const payload = await eventPayload(rt.db, claim.event_id);
        if (payload === undefined) throw new Error(`event ${claim.event_id} of delivery ${claim.id} is missing`);

        const body = Buffer.from(payload, 'utf8');
        const timestamp = Math.floor(startedAt.getTime() / 1000);
        const secrets = [rt.secretBox.open(endpoint.secret_sealed)];
        if (endpoint.previous_secret_sealed && endpoint.previous_secret_expires_at && endpoint.previous_secret_expires_at > startedAt) {
          secrets.push(rt.secretBox.open(endpoint.previous_secret_sealed));
        }
        const result = await http.send({
          url: endpoint.url,
          body,
          headers: {
            'webhook-id': claim.event_id,
            'webhook-timestamp': String(timestamp),
            'webhook-signature': signatureHeader(secrets, claim.event_id, timestamp, body),
          },
        });

        rt.metrics.attempts.inc({ outcome: result.ok ? 'succeeded' : 'failed', error_class: result.errorClass ?? 'none' });
        rt.metrics.attemptDuration.observe({ outcome: result.ok ? 'succeeded' : 'failed' }, result.latencyMs / 1000);
        if (result.ok) rt.metrics.deliveryLatency.observe((Date.now() - claim.event_created_at.getTime()) / 1000);

        let outcome: Awaited<ReturnType<typeof record>>;
        try {
          outcome = await record(claim, result, startedAt);
        } catch (err) {
          if (err instanceof LeaseLostError) return 'lease_lost';
          throw err;
        }
        if (outcome.next) await enqueueAttempts(rt.deliveryQueue, [{ id: claim.id, round: claim.round, attempt: claim.round_attempts + 1, at: outcome.next }]);
        if (outcome.disabled) await emitEndpointDisabled(outcome.disabled);
        return result.ok ? 'succeeded' : outcome.next ? 'retry_scheduled' : 'failed';
      } finally {
        await slot?.release().catch((err: unknown) => logger.warn('releasing an endpoint slot failed', { err }));
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
