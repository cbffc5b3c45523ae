import { type NextFunction, type Request, type Response, Router } from 'express';
import { AppError, notFound, requireScope, tenantOf, validationFailed } from '@tollgate/common';
import type { TusUploadRow } from '../db';
import { closeIfBodyUnread } from '../files/routes';
import { serializeFile } from '../files/serialize';
import type { FileService } from '../files/service';
import { integerHeader, type TusService } from './service';

export const TUS_VERSION = '1.0.0';
const TUS_EXTENSIONS = 'creation,creation-with-upload,termination,expiration';
const OFFSET_CONTENT_TYPE = 'application/offset+octet-stream';
const UPLOAD_ID = /^upl_[A-Za-z0-9]{16,40}$/;
/** Names the file a completed upload became (a Tollgate addition to the tus headers). */
export const FILE_ID_HEADER = 'X-Tollgate-File-Id';

function uploadIdParam(req: Request): string {
  const id = req.params['id'];
  if (typeof id !== 'string' || !UPLOAD_ID.test(id)) throw notFound('Upload');
  return id;
}

function setUploadHeaders(res: Response, upload: TusUploadRow): void {
  res.setHeader('Upload-Offset', String(upload.offset));
  res.setHeader('Upload-Expires', new Date(upload.expires_at).toUTCString());
  if (upload.file_id) res.setHeader(FILE_ID_HEADER, upload.file_id);
}

/**
 * Every tus response carries Tus-Resumable; every request but OPTIONS (and our JSON GET) must
 * speak 1.0.0, or gets 412 with the versions we do speak. X-HTTP-Method-Override lets clients
 * behind proxies that drop PATCH/DELETE send them as POST.
 */
export function tusProtocol() {
  return (req: Request, res: Response, next: NextFunction): void => {
    res.setHeader('Tus-Resumable', TUS_VERSION);
    const override = req.headers['x-http-method-override'];
    if (req.method === 'POST' && typeof override === 'string' && ['PATCH', 'DELETE', 'HEAD'].includes(override.toUpperCase())) {
      req.method = override.toUpperCase();
    }
    if (req.method !== 'OPTIONS' && req.method !== 'GET' && req.headers['tus-resumable'] !== TUS_VERSION) {
      res.setHeader('Tus-Version', TUS_VERSION);
      // The status is the protocol's; the body is our envelope, like every other error.
      res.status(412).json({ error: { code: 'VALIDATION_FAILED', message: `Tus-Resumable must be ${TUS_VERSION}`, request_id: req.requestId, details: { supported_versions: [TUS_VERSION] } } });
      return;
    }
    next();
  };
}

export function tusRouter(tus: TusService, files: FileService, maxBytes: number): Router {
  const router = Router();
  router.use('/v1/uploads', tusProtocol());

  const options = (_req: Request, res: Response): void => {
    res.setHeader('Tus-Version', TUS_VERSION);
    res.setHeader('Tus-Extension', TUS_EXTENSIONS);
    res.setHeader('Tus-Max-Size', String(maxBytes));
    res.status(204).end();
  };
  router.options('/v1/uploads', options);
  router.options('/v1/uploads/:id', options);

  router.post('/v1/uploads', requireScope('write'), async (req, res) => {
    try {
      const tenantId = tenantOf(req);
      const upload = await tus.create(tenantId, {
        length: req.headers['upload-length'] as string | undefined,
        deferLength: req.headers['upload-defer-length'] as string | undefined,
        metadata: req.headers['upload-metadata'] as string | undefined,
      });
      res.setHeader('Location', `/v1/uploads/${upload.id}`);
      // creation-with-upload: the first chunk may ride along with the creation request.
      const contentType = req.headers['content-type'];
      if (contentType === OFFSET_CONTENT_TYPE) {
        const result = await tus.patch(tenantId, upload.id, 0, req);
        setUploadHeaders(res, result.upload);
      } else {
        setUploadHeaders(res, upload);
      }
      res.status(201).end();
    } catch (err) {
      closeIfBodyUnread(req, res);
      throw err;
    }
  });

  router.head('/v1/uploads/:id', requireScope('write'), async (req, res) => {
    const upload = await tus.head(tenantOf(req), uploadIdParam(req));
    res.setHeader('Upload-Length', String(upload.length));
    if (upload.metadata) res.setHeader('Upload-Metadata', upload.metadata);
    res.setHeader('Cache-Control', 'no-store');
    setUploadHeaders(res, upload);
    res.status(200).end();
  });

  router.patch('/v1/uploads/:id', requireScope('write'), async (req, res) => {
    try {
      if (req.headers['content-type'] !== OFFSET_CONTENT_TYPE) {
        throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be ${OFFSET_CONTENT_TYPE}`);
      }
      const offset = integerHeader(req.headers['upload-offset'] as string | undefined, 'Upload-Offset');
      if (offset === undefined) throw validationFailed('Upload-Offset is required', { param: 'Upload-Offset' });
      const result = await tus.patch(tenantOf(req), uploadIdParam(req), offset, req);
      setUploadHeaders(res, result.upload);
      res.status(204).end();
    } catch (err) {
      closeIfBodyUnread(req, res);
      throw err;
    }
  });

  router.delete('/v1/uploads/:id', requireScope('write'), async (req, res) => {
    await tus.terminate(tenantOf(req), uploadIdParam(req));
    res.status(204).end();
  });

  /** Not part of tus: the upload's progress and, once complete, its file object. */
  router.get('/v1/uploads/:id', requireScope('read'), async (req, res) => {
    const tenantId = tenantOf(req);
    const upload = await tus.find(tenantId, uploadIdParam(req));
    res.json({
      id: upload.id,
      object: 'upload',
      offset: upload.offset,
      length: upload.length,
      status: upload.file_id ? 'completed' : 'in_progress',
      expires_at: new Date(upload.expires_at).toISOString(),
      file: upload.file_id ? await files.get(tenantId, upload.file_id).then(serializeFile, () => null) : null,
    });
  });

  return router;
}
