import { baseConfigSchema, envBoolean, envInt, envList, envOptionalSecret, envSecret, loadConfigOrExit } from '@tollgate/common';
import { z } from 'zod';

const upstreamUrl = (port: number) => z.string().url().default(`http://127.0.0.1:${port}`);

/** Sizes like `512kb`, `4mb`, `1gb`, read as bytes. */
const byteSize = (defaultValue: string) =>
  z
    .string()
    .regex(/^\d+(b|kb|mb|gb)$/i, 'must look like 512kb, 4mb or 1gb')
    .default(defaultValue)
    .transform((v) => {
      const [, digits, unit] = /^(\d+)(b|kb|mb|gb)$/i.exec(v)!;
      const factor = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[unit!.toLowerCase() as 'b' | 'kb' | 'mb' | 'gb'];
      return Number(digits) * factor;
    });

/** Signing algorithms a client JWT may use; `none` is not among them, so it can never be enabled. */
export const JWT_ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

export const RATE_LIMIT_TIERS = ['completion', 'generation', 'write', 'read'] as const;

/** Scopes an API key may carry; `admin` is reserved to ADMIN_TOKEN and admin JWTs. */
export const KEY_SCOPES = ['read', 'write', 'completion', 'generation'] as const;
export type KeyScope = (typeof KEY_SCOPES)[number];

const gatewaySchema = baseConfigSchema.extend({
  PORT: envInt(8080, { min: 0, max: 65535 }),
  DB_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]*$/).default('gateway'),
  /** Bearer token for admin calls (tenants, keys, top-ups). */
  ADMIN_TOKEN: envSecret(),
  AI_PROXY_URL: upstreamUrl(8081),
  CREDITS_URL: upstreamUrl(8082),
  UPLOAD_URL: upstreamUrl(8083),
  IMAGE_PIPELINE_URL: upstreamUrl(8084),
  WEBHOOK_URL: upstreamUrl(8085),
  /** Upstream response deadline for ordinary routes; streaming routes use PROXY_STREAM_TIMEOUT_MS. */
  PROXY_TIMEOUT_MS: envInt(30_000, { min: 100 }),
  PROXY_STREAM_TIMEOUT_MS: envInt(600_000, { min: 100 }),
  /** Lifetime of the X-Tollgate-Identity token minted per request. */
  IDENTITY_TTL_S: envInt(60, { min: 5, max: 3600 }),
  /** Hops of reverse proxies in front of the gateway whose X-Forwarded-For is trusted (0: none). */
  TRUST_PROXY_HOPS: envInt(0, { min: 0, max: 10 }),

  // Slow clients: time to send the headers, the whole request, and a whole upload
  // (/v1/files, /v1/uploads: streamed bodies of up to BODY_LIMIT_UPLOAD).
  HEADERS_TIMEOUT_MS: envInt(10_000, { min: 100 }),
  CLIENT_REQUEST_TIMEOUT_MS: envInt(600_000, { min: 100 }),
  UPLOAD_REQUEST_TIMEOUT_MS: envInt(3_600_000, { min: 100 }),

  // Request body limits by route class; uploads (/v1/files, /v1/uploads) have their own.
  BODY_LIMIT_COMPLETION: byteSize('4mb'),
  BODY_LIMIT_GENERATION: byteSize('256kb'),
  BODY_LIMIT_WRITE: byteSize('1mb'),
  BODY_LIMIT_READ: byteSize('16kb'),
  BODY_LIMIT_UPLOAD: byteSize('1gb'),
  BODY_LIMIT_ADMIN: byteSize('64kb'),

  // Client JWTs. HS256 via JWT_SECRET and/or RS256/ES256 via JWT_JWKS_URL.
  JWT_SECRET: envOptionalSecret().pipe(z.string().min(16, 'must be at least 16 characters').optional()),
  JWT_JWKS_URL: z.string().url().optional(),
  JWT_ALGORITHMS: envList(['HS256', 'RS256', 'ES256']).pipe(z.array(z.enum(JWT_ALGORITHMS)).min(1)),
  JWT_ISSUER: z.string().min(1).optional(),
  JWT_AUDIENCE: z.string().min(1).optional(),
  JWT_CLOCK_SKEW_S: envInt(30, { min: 0, max: 600 }),
  /** JWKS keys are kept this long, refreshed earlier when a token names an unknown `kid`... */
  JWKS_CACHE_MS: envInt(600_000, { min: 1_000 }),
  /** ...but never more often than this (a flood of made-up kids must not hammer the IdP). */
  JWKS_COOLDOWN_MS: envInt(30_000, { min: 0 }),
  JWKS_TIMEOUT_MS: envInt(3_000, { min: 100 }),

  // API keys.
  DEFAULT_KEY_SCOPES: envList([...KEY_SCOPES]).pipe(z.array(z.enum(KEY_SCOPES))),
  /** Safety net only: revocations reach every replica at once through Redis pub/sub. */
  KEY_CACHE_TTL_MS: envInt(60_000, { min: 0 }),
  KEY_CACHE_MAX_ENTRIES: envInt(50_000, { min: 1 }),

  // Rate limits: requests per window, per API key (per tenant for JWTs), by tier.
  RATE_LIMIT_WINDOW_MS: envInt(60_000, { min: 100 }),
  RATE_LIMIT_COMPLETION: envInt(120, { min: 1 }),
  RATE_LIMIT_GENERATION: envInt(20, { min: 1 }),
  RATE_LIMIT_WRITE: envInt(300, { min: 1 }),
  RATE_LIMIT_READ: envInt(1200, { min: 1 }),
  /** Per client IP before authentication (guards key guessing); IPv6 grouped by RATE_LIMIT_IPV6_SUBNET. */
  RATE_LIMIT_IP: envInt(3000, { min: 1 }),
  RATE_LIMIT_IPV6_SUBNET: envInt(56, { min: 32, max: 64 }),
  /** Tiers (and `ip`) that refuse requests (503) when Redis is unreachable; the others let them through. */
  RATE_LIMIT_FAIL_CLOSED: envList(['generation']).pipe(z.array(z.enum([...RATE_LIMIT_TIERS, 'ip']))),
  RATE_LIMIT_ENABLED: envBoolean(true),

  // Idempotency-Key on POST.
  IDEMPOTENCY_TTL_S: envInt(86_400, { min: 1 }),
  /** Responses larger than this are passed through but not kept for replay. */
  IDEMPOTENCY_MAX_RESPONSE_BYTES: envInt(1_048_576, { min: 1 }),
  /** With Redis down: true lets keyed POSTs through without protection; false answers 503. */
  IDEMPOTENCY_FAIL_OPEN: envBoolean(false),

  // Circuit breaker per upstream.
  BREAKER_CONSECUTIVE_FAILURES: envInt(5, { min: 1 }),
  /**
   * Open → one trial call after this; each failed trial doubles the wait (jittered) up to
   * BREAKER_HALF_OPEN_MAX_MS, a success starts over. A restarted service (ready in ~2 s) gets
   * traffic back within a second or two; one that stays down is probed ever less often.
   */
  BREAKER_HALF_OPEN_AFTER_MS: envInt(1_000, { min: 10 }),
  BREAKER_HALF_OPEN_MAX_MS: envInt(30_000, { min: 10 }),

  // Merged /openapi.json.
  OPENAPI_FETCH_TIMEOUT_MS: envInt(2_000, { min: 50 }),
  OPENAPI_CACHE_MS: envInt(30_000, { min: 0 }),
});

export const configSchema = gatewaySchema.superRefine((config, ctx) => {
  if (config.JWT_ALGORITHMS.every((a) => a.startsWith('HS')) && config.JWT_JWKS_URL && !config.JWT_SECRET) {
    ctx.addIssue({ code: 'custom', path: ['JWT_ALGORITHMS'], message: 'allows no algorithm JWT_JWKS_URL keys can verify' });
  }
});

export type Config = z.infer<typeof configSchema>;

export const loadConfig = (env: Record<string, string | undefined> = process.env): Config => loadConfigOrExit(configSchema, env);

/**
 * The listener's slow-client guards: Node's requestTimeout is per listener, so it is the upload
 * deadline (the longest); every other request is held to CLIENT_REQUEST_TIMEOUT_MS by the app.
 */
export const serverTimeouts = (config: Config) => ({
  headersTimeoutMs: config.HEADERS_TIMEOUT_MS,
  requestTimeoutMs: Math.max(config.CLIENT_REQUEST_TIMEOUT_MS, config.UPLOAD_REQUEST_TIMEOUT_MS),
});
