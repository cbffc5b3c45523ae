import type { Logger } from '@tollgate/common';
import type { NextFunction, Request, Response } from 'express';
import type { Kysely } from 'kysely';
import type { GatewayDb } from '../db';
import { gatewayState } from '../request-state';
import { appendAudit, auditActorOf } from './repository';

/** Tenant ids in admin paths: /v1/admin/tenants/{id}/… */
const TENANT_IN_PATH = /^\/v1\/admin\/tenants\/([^/]+)/;

/**
 * Admin actions another service serves (credits top-ups, adjustments, thresholds) are recorded
 * here, at the edge every one of them passes: once the owner answered 2xx, with the request's
 * body as what changed. (Unlike the gateway's own actions this row is not in the change's
 * transaction: a gateway crash between the answer and the insert loses it; the insert is retried once.)
 */
export function auditProxiedAdminActions(deps: { db: Kysely<GatewayDb>; logger: Logger; now?: () => Date }) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const route = req.gateway?.route;
    if (!route || route.owner === 'gateway' || route.scope !== 'admin' || route.method === 'GET') return next();
    gatewayState(req).keepBody = true;
    const who = auditActorOf(req);
    res.once('finish', () => {
      // A refusal changed nothing; a replayed answer is the first action's, recorded then.
      if (res.statusCode < 200 || res.statusCode >= 300 || res.getHeader('idempotent-replayed') !== undefined) return;
      void (async () => {
        const digest = await gatewayState(req).bodyDigest;
        let changes: Record<string, unknown> = {};
        if (digest?.body?.length) {
          try {
            const parsed: unknown = JSON.parse(digest.body.toString('utf8'));
            changes =
              parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : { body: parsed };
          } catch {
            changes = { body_bytes: digest.body.length };
          }
        }
        const tenantId = TENANT_IN_PATH.exec(route.path)?.[1] ?? null;
        const entry = {
          action: `${route.method} ${route.template}`,
          target: tenantId ? `tenant:${tenantId}` : route.path,
          tenantId,
          changes,
        };
        for (let attempt = 1; ; attempt++) {
          try {
            await appendAudit(deps.db, who, entry, deps.now?.() ?? new Date());
            return;
          } catch (err) {
            if (attempt >= 2) {
              deps.logger.error('could not record a proxied admin action in the audit log', {
                err,
                action: entry.action,
                target: entry.target,
              });
              return;
            }
          }
        }
      })();
    });
    next();
  };
}
