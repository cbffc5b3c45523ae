import { type NextFunction, type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { AppError, notFound, paginationQuery, requireScope, settleUnreadBody, tenantOf, validateQuery } from '@tollgate/common';
import { sendFileContent } from './content';
import { PURPOSE_NAMES } from './purposes';
import { serializeFile } from './serialize';
import type { FileService } from './service';
import type { ObjectStorage } from '../storage';

const FILE_ID = /^file_[A-Za-z0-9]{16,40}$/;

/** A malformed id is as absent as someone else's: 404 either way. */
export function fileIdParam(req: Request): string {
  const id = req.params['id'];
  if (typeof id !== 'string' || !FILE_ID.test(id)) throw notFound('File');
  return id;
}

export const listFilesQuery = paginationQuery.extend({ purpose: z.enum(PURPOSE_NAMES).optional() });

/**
 * createService's request timeout is off for this service (an upload of a large file must not
 * be cut at 60 s); the quick JSON routes get it back here.
 */
export function routeTimeout(ms: number) {
  return (_req: Request, res: Response, next: NextFunction): void => {
    const timer = setTimeout(() => {
      if (!res.headersSent) next(new AppError('SERVICE_UNAVAILABLE', 'The request took too long', { details: { timeout_ms: ms } }));
    }, ms);
    res.once('close', () => clearTimeout(timer));
    res.once('finish', () => clearTimeout(timer));
    next();
  };
}

export function filesRouter(service: FileService, storage: ObjectStorage, timeoutMs: number): Router {
  const router = Router();
  const timeout = routeTimeout(timeoutMs);

  router.post('/v1/files', requireScope('write'), async (req, res) => {
    try {
      const row = await service.uploadMultipart(req, tenantOf(req));
      res.status(201).setHeader('Location', `/v1/files/${row.id}`).json(serializeFile(row));
    } catch (err) {
      settleUnreadBody(req, res);
      throw err;
    }
  });

  router.get('/v1/files', timeout, requireScope('read'), validateQuery(listFilesQuery), async (req, res) => {
    const query = res.locals['query'] as z.infer<typeof listFilesQuery>;
    res.json(await service.list(tenantOf(req), query));
  });

  router.get('/v1/files/:id', timeout, requireScope('read'), async (req, res) => {
    res.json(serializeFile(await service.get(tenantOf(req), fileIdParam(req))));
  });

  router.get('/v1/files/:id/content', requireScope('read'), async (req, res) => {
    const file = await service.get(tenantOf(req), fileIdParam(req));
    await sendFileContent(req, res, file, storage);
  });

  router.delete('/v1/files/:id', timeout, requireScope('write'), async (req, res) => {
    const row = await service.delete(tenantOf(req), fileIdParam(req));
    res.json({ id: row.id, object: 'file', deleted: true });
  });

  return router;
}
