import { baseConfigSchema, envInt, loadConfigOrExit } from '@tollgate/common';
import { z } from 'zod';

export const configSchema = baseConfigSchema
  .extend({
    PORT: envInt(8082, { min: 0, max: 65535 }),
    DB_SCHEMA: z
      .string()
      .regex(/^[a-z_][a-z0-9_]*$/)
      .default('credits'),
    /** TTL of a hold created without ttl_s, and the longest ttl_s accepted. */
    HOLD_DEFAULT_TTL_S: envInt(300, { min: 1, max: 7 * 86_400 }),
    HOLD_MAX_TTL_S: envInt(86_400, { min: 1, max: 7 * 86_400 }),
    /** How often the maintenance loop expires holds and re-publishes stuck events. */
    MAINTENANCE_INTERVAL_MS: envInt(1_000, { min: 10, max: 3_600_000 }),
    /** How often the maintenance loop reconciles the whole ledger (alerts read the result); 0: never. */
    RECONCILE_INTERVAL_MS: envInt(900_000, { min: 0 }),
    /** Holds expired per database transaction. */
    HOLD_SWEEP_BATCH: envInt(200, { min: 1, max: 10_000 }),
    /** An event still unpublished this long after commit is re-published by the maintenance loop. */
    OUTBOX_RELAY_AFTER_MS: envInt(5_000, { min: 0 }),
    /** How long a request waits for the event queue before leaving the event to the relay. */
    EVENT_PUBLISH_TIMEOUT_MS: envInt(2_000, { min: 10 }),
    /** Default low-balance threshold in micro-credits (1 credit); 0 turns the default off. */
    LOW_BALANCE_THRESHOLD: envInt(1_000_000, { min: 0, max: 1_000_000_000_000_000 }),
    /**
     * How far below zero a late charge (`allow_debt`: usage already delivered, above its hold)
     * may take a tenant's available balance; the tenant can hold nothing more until topped up.
     * 0: never. Bounded by the ledger's own floor (see migration 0002).
     */
    MAX_DEBT: envInt(5_000_000, { min: 0, max: 1_000_000_000_000 }),
    /**
     * Most holds/captures/releases applied in one transaction (group commit, see
     * src/ledger/group-commit.ts). 1 turns batching off: every operation commits on its own.
     */
    LEDGER_BATCH_MAX: envInt(256, { min: 1, max: 10_000 }),
  })
  .refine((c) => c.HOLD_DEFAULT_TTL_S <= c.HOLD_MAX_TTL_S, { path: ['HOLD_DEFAULT_TTL_S'], message: 'must not exceed HOLD_MAX_TTL_S' });

export type Config = z.infer<typeof configSchema>;

export const loadConfig = (env: Record<string, string | undefined> = process.env): Config => loadConfigOrExit(configSchema, env);
