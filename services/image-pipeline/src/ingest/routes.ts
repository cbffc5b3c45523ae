import { parseOrThrow, requireScope, tenantOf } from '@tollgate/common';
import { Router } from 'express';
import { z } from 'zod';
import type { PipelineDeps } from '../deps';
import { ingestFile } from './service';

export const ingestBody = z
  .object({
    file_id: z.string().min(1).max(64),
    profile: z.string().min(1).max(40).optional(),
  })
  .strict();

export function ingestRouter(deps: PipelineDeps): Router {
  const router = Router();
  router.post('/v1/images/ingest', requireScope('write'), async (req, res) => {
    const body = parseOrThrow(ingestBody, req.body ?? {}, 'body');
    res.status(202).json(await ingestFile(deps, tenantOf(req), body));
  });
  return router;
}
