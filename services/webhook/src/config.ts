import { baseConfigSchema, envInt, envSecret, loadConfigOrExit } from '@tollgate/common';
import { z } from 'zod';
import { parseAllowList } from './ssrf/address-policy';

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `250`, `250ms`, `5s`, `5m`, `2h`, `1d` → milliseconds (a bare number is milliseconds). */
export function parseDuration(value: string): number | undefined {
  const match = DURATION.exec(value.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * UNIT_MS[match[2] ?? 'ms']!);
}

/**
 * The retry schedule: the delay before each attempt, the first usually 0 ("immediately").
 * Close to the Standard Webhooks / Svix schedule, stretched to about three days.
 */
export const DEFAULT_RETRY_SCHEDULE = '0,5s,5m,30m,2h,5h,10h,14h,20h,24h';

const retrySchedule = z
  .string()
  .optional()
  .transform((value, ctx) => {
    const items = (value?.trim() ? value : DEFAULT_RETRY_SCHEDULE).split(',').map((s) => s.trim());
    const delays = items.map(parseDuration);
    if (delays.some((d) => d === undefined) || delays.length === 0 || delays.length > 50) {
      ctx.addIssue({ code: 'custom', message: 'must be a comma-separated list of 1–50 durations such as 0,5s,5m,2h' });
      return z.NEVER;
    }
    return delays as number[];
  });

const allowPrivateTargets = z
  .string()
  .optional()
  .transform((value, ctx) => {
    try {
      return parseAllowList(value ?? '');
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });

export const configSchema = baseConfigSchema
  .extend({
    PORT: envInt(8085, { min: 0, max: 65535 }),
    DB_SCHEMA: z
      .string()
      .regex(/^[a-z_][a-z0-9_]*$/)
      .default('webhooks'),
    /** Delivery workers run 50 attempts at once by default; each holds a connection for a few short statements. */
    DATABASE_POOL_MAX: envInt(20, { min: 1, max: 200 }),
    /** Key that encrypts endpoint signing secrets at rest (AES-256-GCM over its SHA-256). */
    WEBHOOK_SECRETS_KEY: envSecret('dev-webhook-secrets-key-change-me-0123456789'),
    /** `true` (tests, local mesh) or a comma list of CIDRs that may be delivered to despite being private. */
    WEBHOOK_ALLOW_PRIVATE_TARGETS: allowPrivateTargets,
    /** Plain-http endpoint URLs; default: allowed outside production only. */
    WEBHOOK_ALLOW_HTTP: z.enum(['true', 'false', '1', '0', '']).optional(),
    /** Whole-request deadline of one delivery attempt (connect, headers and body). */
    WEBHOOK_REQUEST_TIMEOUT_MS: envInt(15_000, { min: 50, max: 120_000 }),
    WEBHOOK_RETRY_SCHEDULE: retrySchedule,
    /** ± fraction of random jitter applied to each retry delay. */
    WEBHOOK_RETRY_JITTER: z.coerce.number().min(0).max(1).default(0.2),
    /** An endpoint whose every attempt failed for this long is disabled. */
    WEBHOOK_DISABLE_AFTER_MS: envInt(5 * 86_400_000, { min: 1 }),
    /** How long the previous secret keeps signing after a rotation. */
    WEBHOOK_SECRET_OVERLAP_MS: envInt(24 * 3_600_000, { min: 0 }),
    /** Delivery attempts running at once in one worker process. */
    WEBHOOK_DELIVERY_CONCURRENCY: envInt(50, { min: 1, max: 1000 }),
    WEBHOOK_EVENT_CONCURRENCY: envInt(10, { min: 1, max: 200 }),
    /** Attempts in flight to one endpoint across all workers, so one slow endpoint cannot take every slot. */
    WEBHOOK_ENDPOINT_MAX_IN_FLIGHT: envInt(10, { min: 1, max: 1000 }),
    /**
     * A delivery to a saturated endpoint sleeps until a slot frees (each release wakes the
     * oldest); this is only the fallback wake-up should that be missed.
     */
    WEBHOOK_BUSY_RETRY_MS: envInt(5_000, { min: 10 }),
    /** BullMQ job lock; must outlast the request timeout so a live attempt is never taken twice. */
    WEBHOOK_LOCK_DURATION_MS: envInt(60_000, { min: 1_000 }),
    WEBHOOK_STALLED_INTERVAL_MS: envInt(30_000, { min: 100 }),
    /** How often Postgres is compared with the queue to re-enqueue overdue deliveries. */
    WEBHOOK_SWEEP_INTERVAL_MS: envInt(30_000, { min: 100 }),
    /** A pending delivery this far past due with no job in the queue is re-enqueued. */
    WEBHOOK_SWEEP_GRACE_MS: envInt(60_000, { min: 0 }),
    /**
     * Finished deliveries (and their attempts) are deleted this many days after they finished,
     * and events once they have no delivery left and are as old; pending ones are never touched.
     */
    WEBHOOK_RETENTION_DAYS: envInt(30, { min: 1, max: 3650 }),
    /** How often the retention sweep runs (0: never). */
    WEBHOOK_RETENTION_INTERVAL_MS: envInt(3_600_000, { min: 0 }),
    WEBHOOK_RESPONSE_BODY_LIMIT: envInt(16 * 1024, { min: 0, max: 1024 * 1024 }),
    WEBHOOK_MAX_ENDPOINTS_PER_TENANT: envInt(100, { min: 1 }),
  })
  .superRefine((config, ctx) => {
    // A lease (and the job lock) must outlive the longest attempt, or a slow attempt could be
    // taken over while still in flight.
    if (config.WEBHOOK_LOCK_DURATION_MS < config.WEBHOOK_REQUEST_TIMEOUT_MS + 1_000) {
      ctx.addIssue({
        code: 'custom',
        path: ['WEBHOOK_LOCK_DURATION_MS'],
        message: 'must exceed WEBHOOK_REQUEST_TIMEOUT_MS by at least 1000 ms',
      });
    }
  });

export type Config = z.infer<typeof configSchema>;

export function allowHttpTargets(config: Config): boolean {
  const v = config.WEBHOOK_ALLOW_HTTP;
  if (v === undefined || v === '') return config.NODE_ENV !== 'production';
  return v === 'true' || v === '1';
}

export const loadConfig = (env: Record<string, string | undefined> = process.env): Config => loadConfigOrExit(configSchema, env);
