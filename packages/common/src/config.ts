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

/** A boolean that may be left unset (undefined), when unset must be told apart from the default. */
export const envOptionalBoolean = () =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off', ''])
    .optional()
    .transform((v) => (v === undefined || v === '' ? undefined : ['true', '1', 'yes', 'on'].includes(v)));

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

const KNOWN_WEAK_SECRETS = new Set(['secret', 'changeme', 'password', 'dev', 'development', 'test', 'tollgate', 'admin']);
/**
 * Words that mark a value as a placeholder or a local default (the k8s example Secrets'
 * `change-me`, compose's `...-local-only-...`, the services' `dev-...-change-me-...`), compared
 * with separators removed: `change_me`, `Change-Me` and `changeme` are one word.
 */
const PLACEHOLDER_MARKERS = ['changeme', 'localonly', 'devonly', 'replaceme', 'placeholder', 'example', 'devdefault', 'notasecret'];
/** Every dev default an envSecret declares, refused in production wherever it turns up. */
const DEV_DEFAULTS = new Set<string>();

/**
 * The one rule for secrets in production: why `value` must not be used there, or undefined.
 * Third-party credentials (API keys, S3 keys) use only the placeholder half (`minLength: 0`).
 */
export function productionSecretProblem(value: string, options: { minLength?: number } = {}): string | undefined {
  const squashed = value.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (DEV_DEFAULTS.has(value) || KNOWN_WEAK_SECRETS.has(squashed) || PLACEHOLDER_MARKERS.some((marker) => squashed.includes(marker))) {
    return 'is a placeholder or a development default; set a real secret in production';
  }
  const minLength = options.minLength ?? 32;
  if (value.length < minLength) return `must be at least ${minLength} characters in production`;
  return undefined;
}

/**
 * A secret: required, and in production at least 32 characters and not a placeholder or a dev
 * default (productionSecretProblem). Outside production any non-empty value (or the given dev
 * default) is accepted.
 */
export const envSecret = (devDefault?: string) => {
  if (devDefault !== undefined) DEV_DEFAULTS.add(devDefault);
  return z
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
      const problem = production ? productionSecretProblem(value) : undefined;
      if (problem) {
        ctx.addIssue({ code: 'custom', message: problem });
        return z.NEVER;
      }
      return value;
    });
};

/**
 * An optional secret (a JWT key, a third-party credential): absent or empty is fine; when set in
 * production it follows the same rule (`minLength: 0` for credentials whose length is not ours).
 */
export const envOptionalSecret = (options: { minLength?: number } = {}) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return undefined;
      const problem = parsingProduction ? productionSecretProblem(v, options) : undefined;
      if (problem) {
        ctx.addIssue({ code: 'custom', message: problem });
        return z.NEVER;
      }
      return v;
    });

/** A connection URL whose password, if any, follows the production secret rule's placeholder half. */
const envConnectionUrl = (defaultValue: string) =>
  z
    .string()
    .url()
    .default(defaultValue)
    .superRefine((value, ctx) => {
      if (!parsingProduction) return;
      let password = '';
      try {
        password = decodeURIComponent(new URL(value).password);
      } catch {
        return;
      }
      if (password && productionSecretProblem(password, { minLength: 0 })) {
        ctx.addIssue({ code: 'custom', message: 'has a placeholder or development password; set a real one in production' });
      }
    });

/** Settings every service shares. Services extend this with their own. */
export const baseConfigSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  HOST: z.string().default('0.0.0.0'),
  LOG_LEVEL: z.enum(['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly']).default('info'),
  LOG_PRETTY: envBoolean(false),
  /** One log line per request (turn off for benchmarks). */
  ACCESS_LOG: envBoolean(true),
  DATABASE_URL: envConnectionUrl('postgres://localhost:5432/tollgate'),
  DATABASE_POOL_MAX: envInt(10, { min: 1, max: 200 }),
  /** A statement slower than this is logged as `slow query` with its fingerprint (no parameters); 0: off. */
  DB_SLOW_QUERY_MS: envInt(200, { min: 0 }),
  /** A pooled client held longer than this is logged with the stack that checked it out; 0: off. */
  DB_LEAK_WARN_MS: envInt(10_000, { min: 0 }),
  REDIS_URL: envConnectionUrl('redis://localhost:6379'),
  /** Prefix for every Redis key and BullMQ queue of this deployment. */
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9:_-]*$/).default('tg'),
  INTERNAL_JWT_SECRET: envSecret('dev-internal-secret-change-me-0123456789'),
  CORS_ORIGINS: envList([]),
  BODY_LIMIT: z.string().regex(/^\d+(b|kb|mb)$/i).default('1mb'),
  REQUEST_TIMEOUT_MS: envInt(60_000, { min: 100 }),
  SHUTDOWN_TIMEOUT_MS: envInt(25_000, { min: 100 }),
  /**
   * When set, /metrics and /readyz (the gateway's fans out to every upstream) are served only on
   * this port, not on PORT, so a public listener never exposes them; /healthz stays on both.
   */
  METRICS_PORT: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(0).max(65535).optional()),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),
  /**
   * Whether a process of role `all` (the default) also runs the service's workers (queue
   * consumers, periodic sweeps); `--role=worker` always runs them, `--role=api` never. Unset
   * means true, unless a deprecated per-service name is set (see DEPRECATED_RUN_WORKERS_NAMES).
   */
  RUN_WORKERS_IN_API: envOptionalBoolean(),
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
