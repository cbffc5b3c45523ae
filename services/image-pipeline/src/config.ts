import path from 'node:path';
import { baseConfigSchema, envInt, envList, envOptionalSecret, loadConfigOrExit } from '@tollgate/common';
import { z } from 'zod';
import { DEFAULT_PRINT_PROFILES, type PrintProfile, printProfileSchema } from './processing/profiles';

const serviceUrl = (port: number) => z.string().url().default(`http://127.0.0.1:${port}`);

/** `PRINT_PROFILES` is JSON: `{"name": {width, height, dpi, ...}}`, merged over the built-in set. */
const printProfilesJson = z
  .string()
  .optional()
  .transform((value, ctx): Record<string, PrintProfile> => {
    if (value === undefined || value.trim() === '') return DEFAULT_PRINT_PROFILES;
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object of print profiles' });
      return z.NEVER;
    }
    const result = z.record(z.string().regex(/^[a-z][a-z0-9_-]{0,39}$/), printProfileSchema).safeParse(parsed);
    if (!result.success) {
      ctx.addIssue({
        code: 'custom',
        message: `is invalid: ${result.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join(', ')}`,
      });
      return z.NEVER;
    }
    return { ...DEFAULT_PRINT_PROFILES, ...result.data };
  });

// Credentials of other systems: their length is not ours to set, but a placeholder is refused in production.
const optionalSecret = envOptionalSecret({ minLength: 0 });

export const configSchema = baseConfigSchema
  .extend({
    PORT: envInt(8084, { min: 0, max: 65535 }),
    DB_SCHEMA: z
      .string()
      .regex(/^[a-z_][a-z0-9_]*$/)
      .default('images'),
    /** Root for local files; images live under IMAGE_STORAGE_DIR (default DATA_DIR/images). */
    DATA_DIR: z.string().min(1).default('.data'),
    IMAGE_STORAGE_DIR: z.string().min(1).optional(),

    CREDITS_URL: serviceUrl(8082),
    UPLOAD_URL: serviceUrl(8083),
    INTERNAL_HTTP_TIMEOUT_MS: envInt(10_000, { min: 100 }),

    /** Price of one generated image, in micro-credits (1 credit = 1,000,000). */
    GENERATION_PRICE: envInt(40_000, { min: 0 }),
    /** Lifetime of a generation's credit hold; long enough to outlast a busy queue. */
    CREDIT_HOLD_TTL_S: envInt(3600, { min: 60, max: 7 * 24 * 3600 }),
    /** An identical generation request inside this window returns the existing images (0: off). */
    GENERATION_DEDUP_WINDOW_S: envInt(600, { min: 0 }),
    PROMPT_MAX_LENGTH: envInt(4000, { min: 1, max: 32_000 }),

    /** `builtin` renders a deterministic image from the prompt with sharp; `openai` calls an images API. */
    IMAGE_GENERATOR: z.enum(['builtin', 'openai']).default('builtin'),
    /** Artificial latency of the built-in generator (demos, tests of in-flight jobs). */
    BUILTIN_GENERATOR_LATENCY_MS: envInt(0, { min: 0 }),
    OPENAI_IMAGES_BASE_URL: z.string().url().default('https://api.openai.com/v1'),
    OPENAI_IMAGES_API_KEY: optionalSecret,
    OPENAI_IMAGES_MODELS: envList(['gpt-image-1', 'dall-e-3']),
    OPENAI_IMAGES_TIMEOUT_MS: envInt(120_000, { min: 100 }),

    PRINT_PROFILES: printProfilesJson,
    DEFAULT_PROFILE: z.string().default('apparel'),
    /** Decoder guard: images with more pixels are refused before decoding (sharp limitInputPixels). */
    MAX_INPUT_PIXELS: envInt(100_000_000, { min: 1 }),
    /** Largest source file accepted from the upload service or a generator. */
    MAX_SOURCE_BYTES: envInt(100 * 1024 * 1024, { min: 1 }),
    THUMB_SIZE: envInt(512, { min: 16, max: 4096 }),
    /** libvips threads per image operation (0: sharp's default, one per core). */
    SHARP_CONCURRENCY: envInt(0, { min: 0, max: 64 }),

    /** Jobs of the `image-jobs` queue processed at once by one worker process. */
    IMAGE_JOBS_CONCURRENCY: envInt(2, { min: 1, max: 64 }),
    /**
     * Attempts for transient failures (permanent ones fail at once). With the 2 s exponential
     * backoff, 8 attempts span ~4 minutes: a database or sibling outage of a minute must not fail
     * a tenant's image for good (5 attempts spanned ~30 s, as long as the fault run's outages).
     */
    IMAGE_JOB_ATTEMPTS: envInt(8, { min: 1, max: 50 }),
    IMAGE_JOB_BACKOFF_MS: envInt(2_000, { min: 1 }),
    /** A job whose worker stops renewing its lock this long is stalled and handed to another worker. */
    WORKER_LOCK_DURATION_MS: envInt(30_000, { min: 100 }),
    WORKER_STALLED_INTERVAL_MS: envInt(30_000, { min: 100 }),
    WORKER_MAX_STALLED_COUNT: envInt(2, { min: 0, max: 100 }),
    /**
     * How often the recovery sweep looks for images left in the pipeline with no job behind them
     * (a process that died between writing the row and queueing its job); 0 turns it off.
     */
    RECOVERY_INTERVAL_MS: envInt(60_000, { min: 0 }),
    /**
     * How long an API request waits for Redis to take a job. Past it the request is answered
     * anyway (the work is a committed row): the add completes on reconnect, the sweep is the backstop.
     */
    ENQUEUE_WAIT_MS: envInt(2_000, { min: 10 }),
    /** An in-flight image untouched this long is checked by the sweep. */
    RECOVERY_AFTER_S: envInt(600, { min: 1 }),

    /** `local` publishes to this service's catalog table; `http` to a Printify-like API. */
    PUBLISHER: z.enum(['local', 'http']).default('local'),
    PUBLISHER_HTTP_URL: z.string().url().optional(),
    PUBLISHER_HTTP_TOKEN: optionalSecret,
    PUBLISHER_TIMEOUT_MS: envInt(30_000, { min: 100 }),
    /** In-call retries of one publish attempt; BullMQ retries the attempt itself with IMAGE_JOB_BACKOFF_MS. */
    PUBLISHER_RETRIES: envInt(3, { min: 0, max: 20 }),
    PUBLISHER_RETRY_BASE_MS: envInt(500, { min: 1 }),
  })
  .superRefine((config, ctx) => {
    if (!config.PRINT_PROFILES[config.DEFAULT_PROFILE]) {
      ctx.addIssue({
        code: 'custom',
        path: ['DEFAULT_PROFILE'],
        message: `names no print profile (known: ${Object.keys(config.PRINT_PROFILES).join(', ')})`,
      });
    }
    if (config.PUBLISHER === 'http' && !config.PUBLISHER_HTTP_URL) {
      ctx.addIssue({ code: 'custom', path: ['PUBLISHER_HTTP_URL'], message: 'is required when PUBLISHER=http' });
    }
    if (config.IMAGE_GENERATOR === 'openai' && !config.OPENAI_IMAGES_API_KEY) {
      ctx.addIssue({ code: 'custom', path: ['OPENAI_IMAGES_API_KEY'], message: 'is required when IMAGE_GENERATOR=openai' });
    }
  })
  .transform((config) => ({
    ...config,
    IMAGE_STORAGE_DIR: path.resolve(config.IMAGE_STORAGE_DIR ?? path.join(config.DATA_DIR, 'images')),
  }));

export type Config = z.infer<typeof configSchema>;

export const loadConfig = (env: Record<string, string | undefined> = process.env): Config => loadConfigOrExit(configSchema, env);
