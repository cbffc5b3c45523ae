import { createService, type Logger, type Metrics, Readiness, type Service } from '@tollgate/common';
import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import { authenticate } from './auth/authenticate';
import type { Config } from './config';
import { openapiDocument } from './openapi';
import { createUpstreamProxy, stripClientIdentityHeaders } from './proxy/proxy';
import { upstreamUrls } from './proxy/routes';

export interface AppDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  db: Kysely<any>;
  redis: Redis;
  readiness?: Readiness;
}

export function createApp(deps: AppDeps): Service {
  const { config, logger } = deps;
  const readiness = deps.readiness ?? new Readiness();
  const upstreams = upstreamUrls(config);
  // Each upstream is reported, but one being down does not take the gateway out of rotation.
  for (const [name, url] of Object.entries(upstreams)) {
    readiness.register(
      `upstream:${name}`,
      async () => {
        const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_500) });
        if (!res.ok) throw new Error(`healthz answered ${res.status}`);
      },
      { critical: false },
    );
  }
  const proxy = createUpstreamProxy({ upstreams, timeoutMs: config.PROXY_TIMEOUT_MS, streamTimeoutMs: config.PROXY_STREAM_TIMEOUT_MS, logger });

  return createService({
    name: 'edge-gateway',
    logger,
    metrics: deps.metrics,
    readiness,
    corsOrigins: config.CORS_ORIGINS,
    // Bodies stream through to the services untouched.
    jsonBodyLimit: false,
    openapi: () => openapiDocument,
    routes: (app) => {
      app.use(stripClientIdentityHeaders);
      app.use('/v1', authenticate({ adminToken: config.ADMIN_TOKEN, internalSecret: config.INTERNAL_JWT_SECRET, identityTtlS: config.IDENTITY_TTL_S }));
      app.use(proxy.middleware);
    },
  });
}
