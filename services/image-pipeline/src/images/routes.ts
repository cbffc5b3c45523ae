import { paginationQuery, parseOrThrow, requireScope, tenantOf } from '@tollgate/common';
import { Router } from 'express';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import type { PipelineDeps } from '../deps';
import { toImageView } from './presenter';
import { applyAction, getImage, listTenantImages, openImageContent, runBatch } from './service';
import { IMAGE_STATUSES, type ReviewAction } from './states';

export const listQuery = paginationQuery.extend({
  status: z.enum(IMAGE_STATUSES).optional(),
  job_id: z.string().max(64).optional(),
});

export const contentQuery = z.object({ variant: z.enum(['original', 'print', 'thumb']).default('original') });

const reason = z.string().trim().min(1, 'must not be empty').max(1000);
export const rejectBody = z.object({ reason }).strict();
const emptyBody = z.object({}).strict();

export const BATCH_MAX = 100;
const imageIds = z.array(z.string().min(1).max(64)).min(1).max(BATCH_MAX, `must hold at most ${BATCH_MAX} ids`);
export const batchBody = z.object({ image_ids: imageIds }).strict();
export const batchRejectBody = z.object({ image_ids: imageIds, reason }).strict();

const SINGLE_ACTIONS = ['approve', 'reject', 'publish'] as const;
export const BATCH_ACTIONS = ['approve', 'reject', 'publish', 'delete'] as const;

export function imagesRouter(deps: PipelineDeps): Router {
  const router = Router();

  router.get('/v1/images', requireScope('read'), async (req, res) => {
    const query = parseOrThrow(listQuery, req.query, 'query');
    res.json(await listTenantImages(deps, tenantOf(req), query));
  });

  router.post('/v1/images/batch/:action', requireScope('write'), async (req, res) => {
    const action = parseOrThrow(z.enum(BATCH_ACTIONS), req.params['action'], 'path') as ReviewAction;
    const tenantId = tenantOf(req);
    if (action === 'reject') {
      const body = parseOrThrow(batchRejectBody, req.body ?? {}, 'body');
      res.json(await runBatch(deps, tenantId, action, body.image_ids, { reason: body.reason }));
      return;
    }
    const body = parseOrThrow(batchBody, req.body ?? {}, 'body');
    res.json(await runBatch(deps, tenantId, action, body.image_ids));
  });

  router.get('/v1/images/:id', requireScope('read'), async (req, res) => {
    res.json(await getImage(deps, tenantOf(req), String(req.params['id'])));
  });

  router.get('/v1/images/:id/content', requireScope('read'), async (req, res) => {
    const { variant } = parseOrThrow(contentQuery, req.query, 'query');
    const content = await openImageContent(deps, tenantOf(req), String(req.params['id']), variant);
    const etag = `"${content.sha256}"`;
    res.setHeader('ETag', etag);
    res.setHeader('Cache-Control', 'private, max-age=3600');
    if (req.headers['if-none-match'] === etag) {
      content.stream.destroy();
      res.status(304).end();
      return;
    }
    res.setHeader('Content-Type', content.contentType);
    res.setHeader('Content-Length', String(content.bytes));
    res.setHeader('Content-Disposition', `inline; filename="${content.filename}"`);
    await pipeline(content.stream, res);
  });

  // One route per action, as documented: an unknown action is the 404 of an unknown route.
  for (const action of SINGLE_ACTIONS)
    router.post(`/v1/images/:id/${action}`, requireScope('write'), async (req, res) => {
      const id = String(req.params['id']);
      const body = action === 'reject' ? parseOrThrow(rejectBody, req.body ?? {}, 'body') : parseOrThrow(emptyBody, req.body ?? {}, 'body');
      const outcome = await applyAction(deps, tenantOf(req), action, id, {
        strict: true,
        ...('reason' in body ? { reason: body.reason } : {}),
      });
      const image = outcome.image!;
      res.status(action === 'publish' ? 202 : 200).json(toImageView(image));
    });

  router.delete('/v1/images/:id', requireScope('write'), async (req, res) => {
    const id = String(req.params['id']);
    await applyAction(deps, tenantOf(req), 'delete', id, { strict: true });
    res.json({ id, object: 'image', deleted: true });
  });

  return router;
}
