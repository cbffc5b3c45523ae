import { baseConfigSchema, envBoolean, envInt, loadConfigOrExit } from '@tollgate/common';
import { z } from 'zod';

export const configSchema = baseConfigSchema.extend({
  PORT: envInt(8081, { min: 0, max: 65535 }),
  DB_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/)
    .default('ai'),
  /** Chat bodies carry whole conversations and data-URL images. */
  BODY_LIMIT: z
    .string()
    .regex(/^\d+(b|kb|mb)$/i)
    .default('4mb'),
  /** Routing file (YAML or JSON): model aliases, targets, prices, limits. Unset: built-in routes (mock unless provider keys are set). */
  ROUTING_CONFIG_PATH: z.string().min(1).optional(),
  /** The credits service (internal holds/charges contract). */
  CREDITS_URL: z.string().url().default('http://127.0.0.1:8082'),
  CREDITS_TIMEOUT_MS: envInt(5_000, { min: 100 }),
  /** Longest a prompt may be, in characters over every message (a cheap, exact cap before counting tokens). */
  MAX_PROMPT_CHARS: envInt(400_000, { min: 1 }),
  /** Holds are kept at least this long past the request deadline before credits expires them. */
  HOLD_TTL_MARGIN_S: envInt(60, { min: 1 }),
  /** Run the `ai-completions` worker inside the API process (role `all`). */
  ASYNC_WORKER_CONCURRENCY: envInt(8, { min: 1, max: 256 }),
  /**
   * How long submitting a queued completion waits for Redis to take the job. Past it the caller
   * gets its 202 anyway (the job row is committed): the add lands on reconnect, recovery is the backstop.
   */
  ENQUEUE_WAIT_MS: envInt(2_000, { min: 10 }),
  /** How often settlements credits could not take at the end of a call are retried (0: never). */
  SETTLEMENT_RETRY_INTERVAL_MS: envInt(2_000, { min: 0 }),
  /** How often the recovery sweep looks for queued completions with no job behind them; 0 turns it off. */
  ASYNC_RECOVERY_INTERVAL_MS: envInt(60_000, { min: 0 }),
  /** A queued or running completion untouched this long is checked by the sweep. */
  ASYNC_RECOVERY_AFTER_S: envInt(120, { min: 1 }),
  /** Finished queued completions (and their results) are deleted this many days after they finished. */
  ASYNC_JOB_RETENTION_DAYS: envInt(30, { min: 1, max: 3650 }),
  /** Raw usage rows are deleted this many days after the call (once rolled up per tenant/key/model/day, kept for good). */
  USAGE_RETENTION_DAYS: envInt(90, { min: 1, max: 3650 }),
  /** How often the usage rollup runs (0: never; some replica must run it for reports to stay fast). */
  USAGE_ROLLUP_INTERVAL_MS: envInt(3_600_000, { min: 0 }),
  /** Log one line per request (off in benchmarks). */
  ACCESS_LOG: envBoolean(true),
  /** Defaults for the built-in mock provider when no routing file says otherwise. */
  MOCK_LATENCY_MS: envInt(0, { min: 0 }),
  MOCK_CHUNK_DELAY_MS: envInt(0, { min: 0 }),
  MOCK_FAILURE_RATE_PCT: envInt(0, { min: 0, max: 100 }),
  /** Public base for `status_url` of async jobs (relative when empty). */
  PUBLIC_BASE_URL: z.string().default(''),
});

export type Config = z.infer<typeof configSchema>;

export const loadConfig = (env: Record<string, string | undefined> = process.env): Config => loadConfigOrExit(configSchema, env);
