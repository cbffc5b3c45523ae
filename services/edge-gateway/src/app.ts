import {
  CircuitState,
  type Clock,
  errorFormatForPath,
  createService,
  docsRouter,
  type IdGenerator,
  type Logger,
  type Metrics,
  randomIds,
  Readiness,
  type Redis,
  type Service,
  systemClock,
} from '@tollgate/common';
import { type Request, Router } from 'express';
import type { Kysely } from 'kysely';
import { authorize, createAuthentication } from './auth/authenticate';
import { createCredentialResolver } from './auth/credentials';
import { JwksKeyStore } from './auth/jwks';
import { createJwtVerifier } from './auth/jwt';
import type { Config } from './config';
import type { GatewayDb } from './db';
import { createIdempotency } from './idempotency/middleware';
import { IdempotencyStore } from './idempotency/store';
import { createInvalidationBus } from './keys/invalidation';
import { auditProxiedAdminActions } from './audit/proxied';
import { auditRoutes } from './audit/routes';
import { keyRoutes } from './keys/routes';
import { localJsonBody } from './local-body';
import { createGatewayMetrics } from './metrics';
import { openapiDocument } from './openapi';
import { createOpenApiAggregator } from './openapi-merge/merge';
import { enforceDeclaredBodyLimit } from './proxy/body';
import { createUpstreamProxy, stripClientIdentityHeaders } from './proxy/proxy';
import { bodyLimitOf, isUploadTarget, type UpstreamName, upstreamUrls } from './proxy/routes';
import { createRateLimiters } from './ratelimit/limiters';
import { publicPath, requireRouted, routeRequests } from './request-state';
import { compose } from './compose';
import { consoleRouter } from './console';
import { tenantRoutes } from './tenants/routes';

export interface AppDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  db: Kysely<any>;
  /** The fail-fast request-path connection (rate limits, idempotency, cache invalidation). */
  redis: Redis;
  readiness?: Readiness;
  clock?: Clock;
  ids?: IdGenerator;
  /** The built console (packages/console/dist); by default the @tollgate/console package's. */
  consoleDir?: string;
}

/** Where @tollgate/console keeps its build, when that package is installed beside the gateway. */
function defaultConsoleDir(): string | undefined {
  try {
    return (require('@tollgate/console') as { consoleDir: string }).consoleDir;
  } catch {
    return undefined;
  }
}

export interface Gateway extends Service {
  /** Resolves once cross-replica cache invalidation is subscribed. */
  ready: Promise<void>;
  /** Stops the invalidation subscriber and the upstream connection pools. */
  close: () => Promise<void>;
}

/**
 * The edge gateway: the one public door. Every /v1 request is classified, size-checked,
 * authenticated (ADMIN_TOKEN, API key or JWT; credentials not already known only after a
 * per-IP limit), authorised by scope, limited per key and tier, made idempotent when it carries
 * an Idempotency-Key, then either answered here (tenants and keys) or streamed to the service
 * that owns it.
 */
export function createApp(deps: AppDeps): Gateway {
  const { config, logger, redis } = deps;
  const db = deps.db as Kysely<GatewayDb>;
  const clock = deps.clock ?? systemClock;
  const ids = deps.ids ?? randomIds;
  const readiness = deps.readiness ?? new Readiness();
  const metrics = createGatewayMetrics(deps.metrics);
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
  const adminDeps = { db, clock, ids, bus, logger };
  const json = localJsonBody(config.BODY_LIMIT_ADMIN);
  const admin = Router();
  admin.use(tenantRoutes(adminDeps, json, idempotency));
  admin.use(keyRoutes({ ...adminDeps, defaultScopes: config.DEFAULT_KEY_SCOPES }, json, idempotency));
  admin.use(auditRoutes({ db }));

  const service = createService({
    name: 'edge-gateway',
    logger,
    metrics: deps.metrics,
    readiness,
    corsOrigins: config.CORS_ORIGINS,
    // Bodies stream through to the services untouched; admin routes parse their own.
    jsonBodyLimit: false,
    accessLog: config.LOG_LEVEL !== 'error' && config.LOG_LEVEL !== 'warn',
    receiveDeadline: { ms: config.CLIENT_REQUEST_TIMEOUT_MS, exempt: (req) => isUploadTarget(req.url) },
    errorFormatFor: (req) => req.gateway?.route.errorFormat ?? errorFormatForPath(publicPath(req)),
    routes: (app) => {
      app.set('trust proxy', config.TRUST_PROXY_HOPS > 0 ? config.TRUST_PROXY_HOPS : false);
      app.use(routeRequests((route) => bodyLimitOf(config, route.bodyLimitClass)));
      // Tests check the gateway's own answers against its document; proxied ones are checked where served.
      app.locals['openapi'] = () => openapiDocument;
      app.locals['openapiOwnPathsOnly'] = true;
      app.get('/openapi.json', async (_req, res) => {
        res.json(await openapi.document());
      });
      app.use('/docs', docsRouter('/openapi.json'));
      // Static files only, before the /v1 chain: the console authenticates by calling /v1.
      app.use('/console', consoleRouter(deps.consoleDir ?? defaultConsoleDir()));

      app.use(
        '/v1',
        compose(
          requireRouted,
          stripClientIdentityHeaders,
          enforceDeclaredBodyLimit,
          auth.recognise,
          limiters.ip,
          auth.authenticate,
          authorize,
          limiters.tier,
        ),
      );
      app.use('/v1/admin', admin);
      // Mounted at the root so req.url keeps its /v1 prefix for the upstream.
      app.use(compose(auditProxiedAdminActions({ db, logger }), idempotency, proxy.middleware));
    },
  });

  return {
    ...service,
    ready: bus.ready,
    close: async () => {
      await bus.close();
      hotRedis.disconnect();
      proxy.close();
    },
  };
}
