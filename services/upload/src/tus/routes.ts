import { type NextFunction, type Request, type Response, Router } from 'express';
import { AppError, notFound, requireScope, settleUnreadBody, tenantOf, validationFailed } from '@tollgate/common';
import type { TusUploadRow } from '../db';
import { serializeFile } from '../files/serialize';
import type { FileService } from '../files/service';
import { CHECKSUM_ALGORITHMS, ChecksumMismatch, type ChunkChecksum, integerHeader, type TusService } from './service';

export const TUS_VERSION = '1.0.0';
const TUS_EXTENSIONS = 'creation,creation-with-upload,termination,expiration,checksum';
/** tus's own status for a chunk whose Upload-Checksum does not match. */
const CHECKSUM_MISMATCH_STATUS = 460;

/** `Upload-Checksum: <algorithm> <base64 digest>` (tus checksum extension). */
function parseUploadChecksum(value: string | string[] | undefined): ChunkChecksum | undefined {
  if (value === undefined) return undefined;
  const match = typeof value === 'string' ? /^([A-Za-z0-9-]+) ([A-Za-z0-9+/]+={0,2})$/.exec(value.trim()) : null;
  if (!match) throw validationFailed('Upload-Checksum must be "<algorithm> <base64 digest>"', { param: 'Upload-Checksum' });
  const algorithm = match[1]!.toLowerCase();
  if (!(CHECKSUM_ALGORITHMS as readonly string[]).includes(algorithm)) {
    throw validationFailed(`Upload-Checksum algorithm must be one of ${CHECKSUM_ALGORITHMS.join(', ')}`, {
      param: 'Upload-Checksum',
      supported: [...CHECKSUM_ALGORITHMS],
    });
  }
  return { algorithm: algorithm as ChunkChecksum['algorithm'], expected: Buffer.from(match[2]!, 'base64') };
}
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
      res.status(412).json({
        error: {
          code: 'VALIDATION_FAILED',
          message: `Tus-Resumable must be ${TUS_VERSION}`,
          request_id: req.requestId,
          details: { supported_versions: [TUS_VERSION] },
        },
      });
      return;
    }
    next();
  };
}

/** The protocol's status (460); the body is our envelope, like every other error. */
function sendChecksumMismatch(req: Request, res: Response, err: ChecksumMismatch): void {
  res
    .status(CHECKSUM_MISMATCH_STATUS)
    .json({ error: { code: err.code, message: err.message, request_id: req.requestId, details: err.details } });
}

export function tusRouter(tus: TusService, files: FileService, maxBytes: number): Router {
  const router = Router();
  router.use('/v1/uploads', tusProtocol());

  const options = (_req: Request, res: Response): void => {
    res.setHeader('Tus-Version', TUS_VERSION);
    res.setHeader('Tus-Extension', TUS_EXTENSIONS);
    res.setHeader('Tus-Checksum-Algorithm', CHECKSUM_ALGORITHMS.join(','));
    res.setHeader('Tus-Max-Size', String(maxBytes));
    res.status(204).end();
  };
  router.options('/v1/uploads', options);
  router.options('/v1/uploads/:id', options);

  router.post('/v1/uploads', requireScope('write'), async (req, res) => {
    try {
      const tenantId = tenantOf(req);
      const contentType = req.headers['content-type'];
      // Checked before anything is created: a bad header is a 400 with nothing left behind.
      const checksum = contentType === OFFSET_CONTENT_TYPE ? parseUploadChecksum(req.headers['upload-checksum']) : undefined;
      const upload = await tus.create(tenantId, {
        length: req.headers['upload-length'] as string | undefined,
        deferLength: req.headers['upload-defer-length'] as string | undefined,
        metadata: req.headers['upload-metadata'] as string | undefined,
        concat: req.headers['upload-concat'] as string | undefined,
      });
      res.setHeader('Location', `/v1/uploads/${upload.id}`);
      // creation-with-upload: the first chunk may ride along with the creation request. If it
      // fails its checksum the upload still exists (Location, Upload-Offset 0) and is resumed.
      if (contentType === OFFSET_CONTENT_TYPE) {
        setUploadHeaders(res, upload);
        const result = await tus.patch(tenantId, upload.id, 0, req, checksum);
        setUploadHeaders(res, result.upload);
      } else {
        setUploadHeaders(res, upload);
      }
      res.status(201).end();
    } catch (err) {
      settleUnreadBody(req, res);
      if (err instanceof ChecksumMismatch) return sendChecksumMismatch(req, res, err);
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
      const checksum = parseUploadChecksum(req.headers['upload-checksum']);
      const result = await tus.patch(tenantOf(req), uploadIdParam(req), offset, req, checksum);
      setUploadHeaders(res, result.upload);
      res.status(204).end();
    } catch (err) {
      settleUnreadBody(req, res);
      if (err instanceof ChecksumMismatch) return sendChecksumMismatch(req, res, err);
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
