import {
  CircuitState,
  type Clock,
  type Closer,
  type DepsSources,
  type IdGenerator,
  type Logger,
  type Metrics,
  randomIds,
  Readiness,
  systemClock,
} from '@tollgate/common';
import type { Request } from 'express';
import type { Kysely } from 'kysely';
import { createAuthentication } from './auth/authenticate';
import { createCredentialResolver } from './auth/credentials';
import { JwksKeyStore } from './auth/jwks';
import { createJwtVerifier } from './auth/jwt';
import type { Config } from './config';
import type { GatewayDb } from './db';
import { createIdempotency } from './idempotency/middleware';
import { IdempotencyStore } from './idempotency/store';
import { createInvalidationBus, type InvalidationBus } from './keys/invalidation';
import { createGatewayMetrics } from './metrics';
import { openapiDocument } from './openapi';
import { createOpenApiAggregator } from './openapi-merge/merge';
import { createUpstreamProxy } from './proxy/proxy';
import { type UpstreamName, upstreamUrls } from './proxy/routes';
import { createRateLimiters } from './ratelimit/limiters';

/** What the gateway is built from: runService's base, or a test's own (with a console build). */
export interface GatewaySources extends DepsSources<Config> {
  clock?: Clock;
  ids?: IdGenerator;
  /** The built console (packages/console/dist); by default the @tollgate/console package's. */
  consoleDir?: string;
}

/** Everything the gateway's routes use, built once per process. */
export interface GatewayDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  readiness: Readiness;
  db: Kysely<GatewayDb>;
  clock: Clock;
  ids: IdGenerator;
  consoleDir?: string;
  /** Cross-replica cache invalidation (admin routes publish on it). */
  bus: InvalidationBus;
  auth: ReturnType<typeof createAuthentication>;
  limiters: ReturnType<typeof createRateLimiters>;
  proxy: ReturnType<typeof createUpstreamProxy>;
  idempotency: ReturnType<typeof createIdempotency>;
  openapi: ReturnType<typeof createOpenApiAggregator>;
  /** Resolves once cross-replica cache invalidation is subscribed. */
  ready: Promise<void>;
  /** The invalidation subscriber, the pipelined Redis connection, the upstream pools. */
  closers: Closer[];
}

/**
 * The gateway's wiring: credentials (API keys, JWT, JWKS) with their caches and the bus that
 * evicts them on every replica, rate limits, idempotency, the upstream proxy and its readiness
 * checks, and the merged OpenAPI document.
 */
export function buildDeps(sources: GatewaySources): GatewayDeps {
  const { config, logger, redis } = sources;
  const db = sources.db as Kysely<GatewayDb>;
  const clock = sources.clock ?? systemClock;
  const ids = sources.ids ?? randomIds;
  const readiness = sources.readiness ?? new Readiness();
  const metrics = createGatewayMetrics(sources.metrics);
  const upstreams = upstreamUrls(config);

  const jwks = config.JWT_JWKS_URL
    ? new JwksKeyStore({ url: config.JWT_JWKS_URL, cacheMs: config.JWKS_CACHE_MS, cooldownMs: config.JWKS_COOLDOWN_MS, timeoutMs: config.JWKS_TIMEOUT_MS, logger })
    : undefined;
  const verifyJwt =
    config.JWT_SECRET || jwks
      ? createJwtVerifier({
          secret: config.JWT_SECRET,
          jwks,
          algorithms: config.JWT_ALGORITHMS,
          issuer: config.JWT_ISSUER,
          audience: config.JWT_AUDIENCE,
          clockSkewS: config.JWT_CLOCK_SKEW_S,
        })
      : undefined;

  // The resolver and the bus need each other: the bus evicts from the resolver's caches, the
  // resolver trusts its caches only while the bus is live.
  let busIsLive = () => false;
  const resolver = createCredentialResolver({
    db,
    verifyJwt,
    logger,
    metrics,
    cacheTtlMs: config.KEY_CACHE_TTL_MS,
    cacheMaxEntries: config.KEY_CACHE_MAX_ENTRIES,
    cacheIsTrustworthy: () => busIsLive(),
  });
  const bus = createInvalidationBus({
    redis,
    channel: `${config.REDIS_PREFIX}:gw:invalidate`,
    logger,
    onMessage: (message) => resolver.invalidate(message),
    onResync: () => resolver.clear(),
  });
  busIsLive = bus.isLive;

  // Rate limits and idempotency issue a Redis command or two per request: with auto-pipelining,
  // the commands of concurrent requests share one socket write instead of one syscall each.
  const hotRedis = redis.duplicate({ enableAutoPipelining: true });
  hotRedis.on('error', () => undefined);
  const limiters = createRateLimiters({ config, redis: hotRedis, logger, metrics });
  const proxy = createUpstreamProxy({
    upstreams,
    timeoutMs: config.PROXY_TIMEOUT_MS,
    streamTimeoutMs: config.PROXY_STREAM_TIMEOUT_MS,
    breaker: { consecutiveFailures: config.BREAKER_CONSECUTIVE_FAILURES, halfOpenAfterMs: config.BREAKER_HALF_OPEN_AFTER_MS, halfOpenMaxMs: config.BREAKER_HALF_OPEN_MAX_MS },
    logger,
    metrics,
  });
  // Each upstream is reported, but one being down does not take the gateway out of rotation.
  for (const [name, url] of Object.entries(upstreams) as [UpstreamName, string][]) {
    readiness.register(
      `upstream:${name}`,
      async () => {
        const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_500) });
        if (!res.ok) throw new Error(`healthz answered ${res.status}`);
        if (proxy.breakerState(name) === CircuitState.Open) throw new Error('circuit open after consecutive failures');
      },
      { critical: false },
    );
  }
  const idempotency = createIdempotency({
    store: new IdempotencyStore(hotRedis, config.REDIS_PREFIX, config.IDEMPOTENCY_TTL_S),
    logger,
    metrics,
    failOpen: config.IDEMPOTENCY_FAIL_OPEN,
    maxResponseBytes: config.IDEMPOTENCY_MAX_RESPONSE_BYTES,
    lockTtlMs: (req: Request) => (req.gateway?.route.streaming ? config.PROXY_STREAM_TIMEOUT_MS : config.PROXY_TIMEOUT_MS) + 10_000,
  });
  const openapi = createOpenApiAggregator({
    own: () => openapiDocument,
    upstreams,
    timeoutMs: config.OPENAPI_FETCH_TIMEOUT_MS,
    cacheMs: config.OPENAPI_CACHE_MS,
    logger,
  });

  const auth = createAuthentication({ adminToken: config.ADMIN_TOKEN, internalSecret: config.INTERNAL_JWT_SECRET, identityTtlS: config.IDENTITY_TTL_S, resolver, metrics });
  return {
    config,
    logger,
    metrics: sources.metrics,
    readiness,
    db,
    clock,
    ids,
    ...(sources.consoleDir ? { consoleDir: sources.consoleDir } : {}),
    bus,
    auth,
    limiters,
    proxy,
    idempotency,
    openapi,
    ready: bus.ready,
    closers: [
      {
        name: 'gateway',
        close: async () => {
          await bus.close();
          hotRedis.disconnect();
          proxy.close();
        },
      },
    ],
  };
}
