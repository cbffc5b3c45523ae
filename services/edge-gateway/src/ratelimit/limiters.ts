import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { rateLimit, type ClientRateLimitInfo, type IncrementResponse, type Options, type Store } from 'express-rate-limit';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import { AppError, type Logger, type Redis } from '@tollgate/common';
import type { Config } from '../config';
import type { GatewayMetrics } from '../metrics';
import type { RateLimitTier } from '../proxy/routes';
import { gatewayState } from '../request-state';
import { isAdminToken } from '../auth/authenticate';

type LimiterName = RateLimitTier | 'ip';

/** After a Redis failure the store is not asked again for this long: fail-open stays fast. */
const STORE_BACKOFF_MS = 1_000;
/** At most one log line per limiter per this long while Redis is down. */
const LOG_EVERY_MS = 10_000;

/**
 * Wraps the Redis store so a Redis outage is handled per limiter: logged (throttled) and
 * counted, then either let through (fail-open: the error is re-thrown and express-rate-limit's
 * passOnStoreError skips the limit) or refused with a 503 (fail-closed).
 */
class GuardedStore implements Store {
  readonly localKeys = false;
  readonly prefix: string;
  private unhealthyUntil = 0;
  private lastLogAt = 0;

  constructor(
    private readonly inner: RedisStore,
    private readonly redis: Redis,
    private readonly name: LimiterName,
    private readonly failClosed: boolean,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
  ) {
    this.prefix = inner.prefix;
  }

  init(options: Options): void {
    // A failed load (Redis down at start) is repaired by reloadScript on the first failure.
    void this.inner.init(options).catch(() => undefined);
  }

  async increment(key: string): Promise<IncrementResponse> {
    // A disconnected client would queue the command until a reconnect attempt gives up (up to
    // seconds); answering at once keeps fail-open fast and fail-closed prompt.
    if (this.redis.status !== 'ready') return this.failed(new Error(`Redis connection is ${this.redis.status}`));
    if (Date.now() < this.unhealthyUntil) return this.failed(new Error('Redis marked unreachable after a recent failure'));
    try {
      return await this.inner.increment(key);
    } catch (err) {
      this.unhealthyUntil = Date.now() + STORE_BACKOFF_MS;
      this.reloadScript();
      return this.failed(err);
    }
  }

  /**
   * RedisStore loads its script once and keeps the promise: if that load failed (Redis down at
   * start, or cut mid-way), every later call would fail with the same error. Load it again.
   */
  private reloadScript(): void {
    const loading = this.inner.loadIncrementScript();
    loading.catch(() => undefined); // a failure here is seen (and retried) by the next increment
    this.inner.incrementScriptSha = loading;
  }

  private failed(err: unknown): never {
    const mode = this.failClosed ? 'closed' : 'open';
    this.metrics.rateLimitStoreErrors.inc({ tier: this.name, mode });
    const now = Date.now();
    if (now - this.lastLogAt > LOG_EVERY_MS) {
      this.lastLogAt = now;
      this.logger.error(`rate limiting unavailable (Redis); failing ${mode}`, { limiter: this.name, err: (err as Error).message });
    }
    if (this.failClosed) {
      throw new AppError('SERVICE_UNAVAILABLE', 'Rate limiting is temporarily unavailable; retry shortly', { headers: { 'Retry-After': '1' }, cause: err });
    }
    throw err;
  }

  get(key: string): Promise<ClientRateLimitInfo | undefined> {
    return this.inner.get(key);
  }

  decrement(key: string): Promise<void> {
    return this.inner.decrement(key);
  }

  resetKey(key: string): Promise<void> {
    return this.inner.resetKey(key);
  }
}

export interface RateLimitDeps {
  config: Config;
  redis: Redis;
  logger: Logger;
  metrics: GatewayMetrics;
}

/** Who a request counts against once authenticated: its API key, or its tenant for a JWT. */
export function rateLimitKeyOf(req: Request): string {
  const identity = req.identity!;
  return identity.keyId === 'jwt' ? `tenant:${identity.tenantId}` : `key:${identity.keyId}`;
}

/**
 * express-rate-limit with a Redis store shared by every replica: a pre-auth limiter per client
 * IP (IPv6 grouped by subnet) and one limiter per tier keyed by API key. Limited responses carry
 * the IETF `RateLimit-Policy` / `RateLimit` fields (draft 8, one policy per limiter) and
 * `X-RateLimit-*`; a 429 adds `Retry-After` and uses the error envelope.
 */
export function createRateLimiters(deps: RateLimitDeps): { ip: RequestHandler; tier: RequestHandler } {
  const { config, redis, logger, metrics } = deps;
  const sendCommand = (command: string, ...args: string[]) => redis.call(command, ...args) as Promise<RedisReply>;
  const libraryLogger = {
    // Store errors are logged (throttled) by GuardedStore; everything else is a misconfiguration worth seeing.
    warn: (error: unknown, message?: string) => logger.warn(message ?? 'express-rate-limit warning', { err: error }),
    error: (error: unknown, message?: string) => {
      if (message?.includes('error from store')) return;
      logger.error(message ?? 'express-rate-limit error', { err: error });
    },
  };

  const make = (name: LimiterName, limit: Options['limit'], extra: Partial<Options>): RequestHandler => {
    const failClosed = config.RATE_LIMIT_FAIL_CLOSED.includes(name);
    const store = new RedisStore({ sendCommand, prefix: `${config.REDIS_PREFIX}:gw:rl:${name}:` });
    return rateLimit({
      windowMs: config.RATE_LIMIT_WINDOW_MS,
      limit,
      identifier: name,
      standardHeaders: 'draft-8',
      legacyHeaders: true,
      store: new GuardedStore(store, redis, name, failClosed, metrics, logger),
      passOnStoreError: !failClosed,
      logger: libraryLogger,
      handler: (req: Request, _res: Response, next: NextFunction) => {
        metrics.rateLimited.inc({ tier: name });
        const info = (req as Request & { rateLimit?: { limit: number; resetTime?: Date } }).rateLimit;
        next(
          new AppError('RATE_LIMITED', name === 'ip' ? 'Too many requests from this address' : `Rate limit exceeded for ${name} requests`, {
            details: { limiter: name, limit: info?.limit, reset_at: info?.resetTime?.toISOString() },
          }),
        );
      },
      ...extra,
    });
  };

  const tiers: Record<RateLimitTier, number> = {
    completion: config.RATE_LIMIT_COMPLETION,
    generation: config.RATE_LIMIT_GENERATION,
    write: config.RATE_LIMIT_WRITE,
    read: config.RATE_LIMIT_READ,
  };
  const tierLimiters = Object.fromEntries(
    (Object.keys(tiers) as RateLimitTier[]).map((tier) => [
      tier,
      make(tier, (req: Request) => gatewayState(req).rateLimits?.[tier] ?? tiers[tier], {
        keyGenerator: rateLimitKeyOf,
        // The operator's ADMIN_TOKEN is not a tenant and is not limited.
        skip: (req: Request) => isAdminToken(req.identity),
        validate: { xForwardedForHeader: false, trustProxy: false },
      }),
    ]),
  ) as Record<RateLimitTier, RequestHandler>;

  // Requests already recognised from a valid credential are limited per key instead.
  const ipLimiter = make('ip', config.RATE_LIMIT_IP, { ipv6Subnet: config.RATE_LIMIT_IPV6_SUBNET, skip: (req: Request) => req.identity !== undefined });

  const disabled: RequestHandler = (_req, _res, next) => next();
  return {
    /** Before authentication: per client address, for requests not recognised from a valid credential. */
    ip: config.RATE_LIMIT_ENABLED ? ipLimiter : disabled,
    /** After authentication: the request's tier, per key. */
    tier: config.RATE_LIMIT_ENABLED
      ? (((req, res, next) => tierLimiters[gatewayState(req).route.tier](req, res, next)) as RequestHandler)
      : disabled,
  };
}
