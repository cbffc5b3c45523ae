import { createService, docsRouter, errorFormatForPath, type Service } from '@tollgate/common';
import { Router } from 'express';
import { auditProxiedAdminActions } from './audit/proxied';
import { auditRoutes } from './audit/routes';
import { authorize } from './auth/authenticate';
import { compose } from './compose';
import { consoleRouter } from './console';
import type { GatewayDeps } from './deps';
import { keyRoutes } from './keys/routes';
import { localJsonBody } from './local-body';
import { enforceDeclaredBodyLimit } from './proxy/body';
import { stripClientIdentityHeaders } from './proxy/proxy';
import { bodyLimitOf, isUploadTarget } from './proxy/routes';
import { publicPath, requireRouted, routeRequests } from './request-state';
import { openapiDocument } from './openapi';
import { tenantRoutes } from './tenants/routes';

/** Where @tollgate/console keeps its build, when that package is installed beside the gateway. */
function defaultConsoleDir(): string | undefined {
  try {
    return (require('@tollgate/console') as { consoleDir: string }).consoleDir;
  } catch {
    return undefined;
  }
}

/**
 * The edge gateway: the one public door. Every /v1 request is classified, size-checked,
 * authenticated (ADMIN_TOKEN, API key or JWT; credentials not already known only after a
 * per-IP limit), authorised by scope, limited per key and tier, made idempotent when it carries
 * an Idempotency-Key, then either answered here (tenants and keys) or streamed to the service
 * that owns it. Routes only: what they use is built in deps.ts.
 */
export function createApp(deps: GatewayDeps): Service {
  const { config, logger, db, clock, ids, bus, auth, limiters, proxy, idempotency, openapi } = deps;
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
    readiness: deps.readiness,
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

  return service;
}
