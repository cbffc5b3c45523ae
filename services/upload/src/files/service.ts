import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { Request } from 'express';
import busboy from 'busboy';
import {
  AppError,
  type Clock,
  decodeTimeCursor,
  type IdGenerator,
  type Logger,
  notFound,
  type OutboxRelay,
  type Page,
  recordEvent,
  toTimePage,
  validationFailed,
} from '@tollgate/common';
import type { Config } from '../config';
import type { Db, FileRow } from '../db';
import { eventIdFor } from '../events/ids';
import { newStorageKey, type ObjectStorage, type WriteSession } from '../storage';
import { UploadMeter } from './meter';
import { extensionOf, sanitizeFilename } from './names';
import { allowedTypes, DEFAULT_PURPOSE, type Purpose, PURPOSE_NAMES } from './purposes';
import * as quota from './quota';
import * as repo from './repository';
import { serializeFile, type FileObject } from './serialize';
import { detectType, type ResolvedType, resolveType } from './sniff';

/** Multipart framing (boundaries, part headers, small fields) on top of the file itself. */
const MULTIPART_OVERHEAD_ALLOWANCE = 64 * 1024;
/** Reservation step when the body's length is unknown (chunked). */
const RESERVATION_GRANT = 8 * 1024 * 1024;
const GROW_RETRIES = 20;
const GROW_RETRY_DELAY_MS = 50;

export interface FileServiceDeps {
  db: Db;
  storage: ObjectStorage;
  outbox: OutboxRelay;
  config: Config;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
}

export const tooLarge = (maxBytes: number): AppError =>
  new AppError('PAYLOAD_TOO_LARGE', `The file is larger than the limit of ${maxBytes} bytes`, { details: { max_bytes: maxBytes } });

export class UploadInterrupted extends AppError {
  constructor() {
    super('VALIDATION_FAILED', 'The upload was interrupted before it completed');
  }
}

export function parsePurpose(value: string | undefined): Purpose {
  if (value === undefined || value === '') return DEFAULT_PURPOSE;
  if ((PURPOSE_NAMES as string[]).includes(value)) return value as Purpose;
  throw new AppError('VALIDATION_FAILED', `Unknown purpose "${value.slice(0, 40)}"`, {
    details: { param: 'purpose', allowed: PURPOSE_NAMES },
  });
}

/** `expires_in` seconds → expiry instant (or the configured default, or none). */
export function parseExpiresIn(value: string | number | undefined | null, config: Config): number | null {
  if (value === undefined || value === null || value === '') return config.FILE_DEFAULT_TTL_S > 0 ? config.FILE_DEFAULT_TTL_S : null;
  const seconds = typeof value === 'number' ? value : /^\d{1,12}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > config.FILE_MAX_TTL_S) {
    throw new AppError('VALIDATION_FAILED', `expires_in must be a whole number of seconds between 1 and ${config.FILE_MAX_TTL_S}`, {
      details: { param: 'expires_in', min: 1, max: config.FILE_MAX_TTL_S },
    });
  }
  return seconds;
}

/**
 * The content must be of a type the purpose allows and the filename's extension must agree
 * with it; otherwise 415 naming what the bytes really are.
 */
export async function checkContentType(head: Uint8Array, truncated: boolean, filename: string, purpose: Purpose): Promise<ResolvedType> {
  const extension = extensionOf(filename);
  const resolved = resolveType(await detectType(head, truncated), extension, head);
  const allowed = allowedTypes(purpose);
  if (!allowed.includes(resolved.mime)) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Content of type ${resolved.detected} is not accepted for purpose "${purpose}"`, {
      details: { detected_type: resolved.detected, purpose, allowed_types: allowed, ...(extension ? { extension } : {}) },
    });
  }
  if (!resolved.extensionAgrees) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `The file extension ".${extension}" does not match its content (${resolved.detected})`, {
      details: { detected_type: resolved.detected, extension, expected_extensions: resolved.expectedExtensions },
    });
  }
  return resolved;
}

export interface CommitInput {
  fileId: string;
  tenantId: string;
  reservationId: string;
  filename: string;
  purpose: Purpose;
  bytes: number;
  sha256: string;
  mimeType: string;
  storageKey: string;
  expiresInS: number | null;
  /** Set by the tus path: links the upload resource to its file. */
  tusUploadId?: string;
}

interface ReceivedFile {
  meter: UploadMeter;
  filename: string;
  session: WriteSession;
  storageKey: string;
}

export class FileService {
  constructor(private readonly deps: FileServiceDeps) {}

  private get limits(): quota.QuotaLimits {
    return { maxBytes: this.deps.config.QUOTA_MAX_BYTES, maxFiles: this.deps.config.QUOTA_MAX_FILES };
  }

  /**
   * POST /v1/files: stream one multipart `file` part to storage while hashing, counting,
   * sniffing and drawing on the tenant's quota; the file exists only once its row committed.
   */
  async uploadMultipart(req: Request, tenantId: string): Promise<FileRow> {
    const { config, db, ids, logger } = this.deps;
    const contentType = req.headers['content-type'] ?? '';
    if (!/^multipart\/form-data\s*;/i.test(contentType)) {
      throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the file as multipart/form-data in a field named "file"', {
        details: { content_type: contentType.slice(0, 100) },
      });
    }
    const maxBytes = config.UPLOAD_MAX_BYTES;
    const declared = req.headers['content-length'] !== undefined ? Number(req.headers['content-length']) : undefined;
    if (declared !== undefined && Number.isFinite(declared) && declared > maxBytes + MULTIPART_OVERHEAD_ALLOWANCE) throw tooLarge(maxBytes);

    const reservationId = ids.next('rsv');
    let granted = await db.transaction().execute((trx) =>
      quota.reserve(
        trx,
        {
          id: reservationId,
          tenantId,
          kind: 'multipart',
          wantBytes: Math.min(declared && Number.isFinite(declared) ? declared : RESERVATION_GRANT, maxBytes),
          minBytes: 1,
          files: 1,
        },
        this.limits,
      ),
    );
    let growing: Promise<void> | undefined;
    const ensureCapacity = (total: number): Promise<void> | undefined => {
      if (total <= granted) return undefined;
      growing = this.growWithPatience(
        reservationId,
        tenantId,
        Math.max(total - granted, Math.min(RESERVATION_GRANT, maxBytes - granted)),
        total - granted,
      ).then((added) => {
        granted += added;
      });
      return growing;
    };
    const heartbeat = setInterval(
      () => {
        quota
          .touchReservation(db, reservationId)
          .catch((err: unknown) => logger.warn('reservation heartbeat failed', { reservation_id: reservationId, err }));
      },
      Math.max(1000, (config.RESERVATION_TTL_S * 1000) / 3),
    );
    heartbeat.unref();

    let received: ReceivedFile | undefined;
    let settled = false;
    try {
      const { fields, file } = await this.receiveMultipart(req, maxBytes, ensureCapacity, (f) => {
        received = f;
      });
      const purpose = parsePurpose(fields.get('purpose'));
      const expiresInS = parseExpiresIn(fields.get('expires_in'), config);
      if (file.meter.bytes === 0) throw validationFailed('The file is empty', { param: 'file' });
      const resolved = await checkContentType(file.meter.head, file.meter.headTruncated, file.filename, purpose);
      await file.session.commit();
      const row = await this.commitFile({
        fileId: ids.next('file'),
        tenantId,
        reservationId,
        filename: file.filename,
        purpose,
        bytes: file.meter.bytes,
        sha256: file.meter.sha256,
        mimeType: resolved.mime,
        storageKey: file.storageKey,
        expiresInS,
      });
      settled = true;
      return row;
    } catch (err) {
      await received?.session.abort().catch((abortErr: unknown) => logger.warn('could not remove a partial object', { err: abortErr }));
      throw err;
    } finally {
      clearInterval(heartbeat);
      if (!settled) {
        await growing?.catch(() => undefined);
        await db
          .transaction()
          .execute((trx) => quota.releaseReservation(trx, reservationId))
          .catch((err: unknown) => logger.warn('could not release a reservation; the sweep will', { reservation_id: reservationId, err }));
      }
    }
  }

  /**
   * Grow a reservation. Concurrent uploads of the tenant reserve a little more than they store
   * (multipart framing) until they settle, so a refusal while others are in flight is retried
   * briefly before it becomes a 403.
   */
  private async growWithPatience(reservationId: string, tenantId: string, wantBytes: number, minBytes: number): Promise<number> {
    const { db } = this.deps;
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await db
          .transaction()
          .execute((trx) => quota.growReservation(trx, reservationId, tenantId, wantBytes, minBytes, this.limits));
      } catch (err) {
        if (attempt >= GROW_RETRIES || !(err instanceof AppError) || !(await quota.hasOtherReservations(db, tenantId, reservationId)))
          throw err;
        await new Promise((resolve) => setTimeout(resolve, GROW_RETRY_DELAY_MS));
      }
    }
  }

  private receiveMultipart(
    req: Request,
    maxBytes: number,
    ensureCapacity: (total: number) => Promise<void> | undefined,
    onFileStarted: (file: ReceivedFile) => void,
  ): Promise<{ fields: Map<string, string>; file: ReceivedFile }> {
    const { storage, config } = this.deps;
    return new Promise((resolve, reject) => {
      const abort = new AbortController();
      const fields = new Map<string, string>();
      let written: Promise<ReceivedFile> | undefined;
      let failed = false;
      let parser: busboy.Busboy;

      const fail = (err: unknown): void => {
        if (failed) return;
        failed = true;
        req.setTimeout(0);
        abort.abort(err);
        req.unpipe(parser);
        // Discard the rest of the body so the error response can be read by the client.
        req.resume();
        reject(err);
      };

      try {
        parser = busboy({
          headers: req.headers,
          defParamCharset: 'utf8',
          // Larger buffers than the 16 KiB default: fewer, bigger writes (bounded: ~1 MiB per upload).
          highWaterMark: 256 * 1024,
          fileHwm: 512 * 1024,
          // fileSize is one past the limit so our meter sees the byte that breaks it.
          limits: { files: 1, fileSize: maxBytes + 1, fields: 8, fieldSize: 1024, parts: 16, headerPairs: 32 },
        });
      } catch {
        reject(validationFailed('The multipart body is malformed (missing boundary?)'));
        return;
      }

      parser.on('field', (name, value, info) => {
        if (info.nameTruncated || info.valueTruncated) {
          fail(validationFailed(`The form field "${name.slice(0, 40)}" is too long`));
          return;
        }
        fields.set(name, value);
      });
      parser.on('file', (name, stream: Readable, info) => {
        if (name !== 'file' || written) {
          stream.resume();
          fail(
            validationFailed(
              name === 'file' ? 'Send exactly one file' : `Unexpected file field "${name.slice(0, 40)}"; send the file in the field "file"`,
              { param: name.slice(0, 40) },
            ),
          );
          return;
        }
        const filename = sanitizeFilename(info.filename);
        // If the purpose came before the file, refuse wrong content after the first bytes.
        const purposeNow = fields.has('purpose') ? fields.get('purpose') : undefined;
        const meter = new UploadMeter({
          maxBytes,
          onTooLarge: () => tooLarge(maxBytes),
          ensureCapacity,
          onHead: async (head, truncated) => {
            if (purposeNow === undefined) return;
            await checkContentType(head, truncated, filename, parsePurpose(purposeNow));
          },
        });
        const storageKey = newStorageKey();
        const session = storage.beginWrite(storageKey);
        const file: ReceivedFile = { meter, filename, session, storageKey };
        onFileStarted(file);
        written = pipeline(stream, meter, session.stream, { signal: abort.signal }).then(() => file);
        written.catch(fail);
      });
      parser.on('filesLimit', () => fail(validationFailed('Send exactly one file')));
      parser.on('fieldsLimit', () => fail(validationFailed('Too many form fields')));
      parser.on('partsLimit', () => fail(validationFailed('Too many form parts')));
      parser.on('error', () => fail(validationFailed('The multipart body is malformed')));
      parser.on('close', () => {
        if (failed) return;
        if (!written) {
          fail(validationFailed('The form has no "file" field', { param: 'file' }));
          return;
        }
        written.then((file) => {
          if (failed) return;
          req.setTimeout(0);
          resolve({ fields, file });
        }, fail);
      });
      req.on('close', () => {
        if (!req.complete) fail(new UploadInterrupted());
      });
      // A client that stops sending for this long is cut; its partial object goes with it.
      req.setTimeout(config.UPLOAD_IDLE_TIMEOUT_MS, () => {
        fail(new UploadInterrupted());
        req.destroy();
      });
      req.pipe(parser);
    });
  }

  /**
   * Make an uploaded object a file: settle the quota reservation, insert the row and its
   * `file.uploaded` event in one transaction. The caller already committed the object; if this
   * fails the caller removes it, and a crash in between leaves an orphan the sweep deletes.
   */
  async commitFile(input: CommitInput): Promise<FileRow> {
    const { db, clock, outbox } = this.deps;
    const now = clock.now();
    const eventId = eventIdFor('uploaded', input.fileId);
    const row = await db.transaction().execute(async (trx) => {
      await quota.settleReservation(trx, input.reservationId, input.tenantId, input.bytes, 1);
      const inserted = await repo.insertFile(trx, {
        id: input.fileId,
        tenant_id: input.tenantId,
        filename: input.filename,
        purpose: input.purpose,
        bytes: input.bytes,
        sha256: input.sha256,
        mime_type: input.mimeType,
        storage_key: input.storageKey,
        status: 'ready',
        created_at: now,
        expires_at: input.expiresInS === null ? null : new Date(now.getTime() + input.expiresInS * 1000),
        removed_at: null,
      });
      if (input.tusUploadId) {
        await trx.updateTable('tus_uploads').set({ file_id: inserted.id, updated_at: now }).where('id', '=', input.tusUploadId).execute();
      }
      const event = await recordEvent(trx, {
        id: eventId,
        type: 'file.uploaded',
        tenant_id: input.tenantId,
        data: { file: serializeFile(inserted) },
        created_at: now,
      });
      return { inserted, event };
    });
    await outbox.publishNow([row.event]);
    return row.inserted;
  }

  async get(tenantId: string, id: string): Promise<FileRow> {
    const row = await repo.findReadyFile(this.deps.db, tenantId, id, this.deps.clock.now());
    if (!row) throw notFound('File');
    return row;
  }

  async list(
    tenantId: string,
    query: { cursor?: string | undefined; limit: number; purpose?: string | undefined },
  ): Promise<Page<FileObject>> {
    const after = query.cursor ? decodeTimeCursor(query.cursor) : undefined;
    const rows = await repo.listReadyFiles(this.deps.db, {
      tenantId,
      limit: query.limit,
      purpose: query.purpose,
      after,
      now: this.deps.clock.now(),
    });
    return toTimePage(rows, query.limit, serializeFile);
  }

  /** DELETE: the file is gone for the caller at once; its object is removed right after. */
  async delete(tenantId: string, id: string): Promise<FileRow> {
    const row = await this.remove(id, 'deleted', tenantId);
    if (!row) throw notFound('File');
    return row;
  }

  /**
   * Ready → deleted/expired with its quota given back and its event recorded, then the object
   * removed and the row dropped. If removal fails, the sweep finishes it.
   */
  async remove(id: string, status: 'deleted' | 'expired', tenantId?: string): Promise<FileRow | undefined> {
    const { db, clock, outbox, storage, logger } = this.deps;
    const now = clock.now();
    const removal = await db.transaction().execute(async (trx) => {
      const removed = await repo.markRemoved(trx, id, status, now, tenantId);
      if (!removed) return undefined;
      await quota.releaseStored(trx, removed.tenant_id, removed.bytes);
      const event = await recordEvent(trx, {
        id: eventIdFor(status, id),
        type: status === 'deleted' ? 'file.deleted' : 'file.expired',
        tenant_id: removed.tenant_id,
        data: { file_id: removed.id, filename: removed.filename, purpose: removed.purpose, bytes: removed.bytes, sha256: removed.sha256 },
        created_at: now,
      });
      return { removed, event };
    });
    if (!removal) return undefined;
    const row = removal.removed;
    await outbox.publishNow([removal.event]);
    try {
      await storage.remove(row.storage_key);
      await repo.deleteRemovedRow(db, row.id);
    } catch (err) {
      logger.warn('object removal failed; the sweep will retry', { file_id: row.id, err });
    }
    return row;
  }
}
