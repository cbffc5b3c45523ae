import { type Request, Router } from 'express';
import { z } from 'zod';
import { parseOrThrow, requireScope } from '@tollgate/common';
import { sendFileContent } from '../files/content';
import { fileIdParam, routeTimeout } from '../files/routes';
import { serializeFile } from '../files/serialize';
import type { FileService } from '../files/service';
import type { ObjectStorage } from '../storage';

export const internalQuery = z.object({ tenant_id: z.string().min(1).max(128).optional() });

/**
 * Which tenant a service call acts for: the `tenant_id` query parameter when given, otherwise
 * the `sub` of the caller's service token (signServiceIdentity(name, secret, tenantId)).
 * Either way the file must belong to that tenant, or the answer is 404.
 */
function actingTenant(req: Request): string {
  const query = parseOrThrow(internalQuery, req.query, 'query');
  return query.tenant_id ?? req.identity!.tenantId;
}

/** For the image pipeline (scope `service`): a file's metadata and bytes. */
export function internalRouter(service: FileService, storage: ObjectStorage, timeoutMs: number): Router {
  const router = Router();
  router.get('/internal/v1/files/:id', routeTimeout(timeoutMs), requireScope('service'), async (req, res) => {
    res.json(serializeFile(await service.get(actingTenant(req), fileIdParam(req))));
  });
  router.get('/internal/v1/files/:id/content', requireScope('service'), async (req, res) => {
    const file = await service.get(actingTenant(req), fileIdParam(req));
    await sendFileContent(req, res, file, storage);
  });
  return router;
}
