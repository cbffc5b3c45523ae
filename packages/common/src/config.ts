import { z } from 'zod';

/** Thrown by parseConfig; its message is one line naming every bad variable. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Booleans from the environment, parsed explicitly: `z.coerce.boolean()` would read "false" as true.
 */
export const envBoolean = (defaultValue: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off', ''])
    .optional()
    .transform((v) => (v === undefined || v === '' ? defaultValue : ['true', '1', 'yes', 'on'].includes(v)));

export const envInt = (defaultValue: number, opts: { min?: number; max?: number } = {}) =>
  z.coerce
    .number()
    .int()
    .min(opts.min ?? Number.MIN_SAFE_INTEGER)
    .max(opts.max ?? Number.MAX_SAFE_INTEGER)
    .default(defaultValue);

/** A comma-separated list, e.g. CORS origins. */
export const envList = (defaultValue: string[] = []) =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? defaultValue : v.split(',').map((s) => s.trim()).filter(Boolean)));

/** Set by parseConfig for the duration of one parse, so secret rules follow the env being parsed. */
let parsingProduction = false;

const KNOWN_WEAK_SECRETS = new Set(['secret', 'changeme', 'change-me', 'password', 'dev', 'development', 'test', 'tollgate', 'admin']);

/**
 * A secret: required, and in production at least 32 characters and not a known default.
 * Outside production any non-empty value (or the given dev default) is accepted.
 */
export const envSecret = (devDefault?: string) =>
  z
    .string()
    .min(1)
    .optional()
    .transform((v, ctx) => {
      const production = parsingProduction;
      const value = v ?? (production ? undefined : devDefault);
      if (value === undefined) {
        ctx.addIssue({ code: 'custom', message: 'is required' });
        return z.NEVER;
      }
      if (production && (value.length < 32 || KNOWN_WEAK_SECRETS.has(value.toLowerCase()) || value === devDefault)) {
        ctx.addIssue({ code: 'custom', message: 'must be at least 32 characters and not a default in production' });
        return z.NEVER;
      }
      return value;
    });

/** Settings every service shares. Services extend this with their own. */
export const baseConfigSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  HOST: z.string().default('0.0.0.0'),
  LOG_LEVEL: z.enum(['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly']).default('info'),
  LOG_PRETTY: envBoolean(false),
  /** One log line per request (turn off for benchmarks). */
  ACCESS_LOG: envBoolean(true),
  DATABASE_URL: z.string().url().default('postgres://localhost:5432/tollgate'),
  DATABASE_POOL_MAX: envInt(10, { min: 1, max: 200 }),
  REDIS_URL: z.string().url().default('redis://localhost:6379'),
  /** Prefix for every Redis key and BullMQ queue of this deployment. */
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9:_-]*$/).default('tg'),
  INTERNAL_JWT_SECRET: envSecret('dev-internal-secret-change-me-0123456789'),
  CORS_ORIGINS: envList([]),
  BODY_LIMIT: z.string().regex(/^\d+(b|kb|mb)$/i).default('1mb'),
  REQUEST_TIMEOUT_MS: envInt(60_000, { min: 100 }),
  SHUTDOWN_TIMEOUT_MS: envInt(25_000, { min: 100 }),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),
});

export type BaseConfig = z.infer<typeof baseConfigSchema>;

/**
 * Parse `env` with `schema`. Every problem is reported in one line:
 * `Invalid configuration: PORT must be ... ; DATABASE_URL is required`.
 */
export function parseConfig<S extends z.ZodType>(schema: S, env: Record<string, string | undefined> = process.env): z.infer<S> {
  parsingProduction = env['NODE_ENV'] === 'production';
  const result = schema.safeParse(env);
  parsingProduction = false;
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.join('.') || '(environment)';
    return `${name} ${issue.message.replace(/^Invalid input: /, '').replace(/^./, (c) => c.toLowerCase())}`;
  });
  throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
}

/**
 * For main.ts: parse, or print the one clear line and exit 1 (no stack trace).
 */
export function loadConfigOrExit<S extends z.ZodType>(schema: S, env: Record<string, string | undefined> = process.env): z.infer<S> {
  try {
    return parseConfig(schema, env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
