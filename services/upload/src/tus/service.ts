import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Request } from 'express';
import { AppError, type Clock, conflict, type IdGenerator, type Logger, notFound, validationFailed } from '@tollgate/common';
import type { Config } from '../config';
import type { Db, FileRow, TusUploadRow } from '../db';
import { sanitizeFilename } from '../files/names';
import type { Purpose } from '../files/purposes';
import * as quota from '../files/quota';
import { checkContentType, type FileService, parseExpiresIn, parsePurpose, tooLarge, UploadInterrupted } from '../files/service';
import { SNIFF_BYTES } from '../files/sniff';
import { newStorageKey, type ObjectStorage } from '../storage';
import type { UploadLocks } from './lock';
import { parseUploadMetadata } from './metadata';
import * as repo from './repository';
import type { TusStaging } from './staging';

export interface TusServiceDeps {
  db: Db;
  storage: ObjectStorage;
  staging: TusStaging;
  locks: UploadLocks;
  files: FileService;
  config: Config;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
}

export interface PatchResult {
  upload: TusUploadRow;
  /** Set when this PATCH completed the upload. */
  file?: FileRow;
}

/** Parse a non-negative integer header (Upload-Length, Upload-Offset). */
export function integerHeader(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,16}$/.test(value.trim()) || !Number.isSafeInteger(Number(value)))
    throw validationFailed(`${name} must be a non-negative integer`, { param: name });
  return Number(value);
}

/** Counts (and optionally hashes) a PATCH body and refuses a byte past the upload's declared length. */
/** tus checksum extension: algorithms a PATCH may name in Upload-Checksum. */
export const CHECKSUM_ALGORITHMS = ['sha1', 'sha256', 'md5'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];
export interface ChunkChecksum {
  algorithm: ChecksumAlgorithm;
  expected: Buffer;
}

/** The PATCH body's bytes did not match its Upload-Checksum: answered 460, nothing kept. */
export class ChecksumMismatch extends AppError {
  constructor(algorithm: ChecksumAlgorithm) {
    super('VALIDATION_FAILED', `The body does not match its Upload-Checksum (${algorithm}); the chunk was discarded`, {
      details: { param: 'Upload-Checksum' },
    });
  }
}

class LengthLimiter extends Transform {
  bytes = 0;
  exceeded = false;
  constructor(
    private readonly remaining: number,
    private readonly hash: Hash | undefined,
    private readonly chunkHash?: Hash,
  ) {
    // Room for a few socket reads while the disk write is in flight (16 KiB by default).
    super({ highWaterMark: 512 * 1024 });
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.remaining) {
      this.exceeded = true;
      callback(new AppError('PAYLOAD_TOO_LARGE', 'The request body goes past Upload-Length', { details: { remaining: this.remaining } }));
      return;
    }
    this.hash?.update(chunk);
    this.chunkHash?.update(chunk);
    callback(null, chunk);
  }
}

/** At most this many uploads have a running hash in memory; the rest are hashed on completion. */
const MAX_RUNNING_HASHES = 10_000;

/**
 * The tus 1.0 core protocol with the creation, creation-with-upload, termination and expiration
 * extensions, on top of the same rules as multipart uploads: the size limit and the quota are
 * applied at creation (Upload-Length is required, the whole length is reserved), the type is
 * checked as soon as the first bytes arrive and again on completion, and completion produces
 * the same file record (and `file.uploaded` event) as POST /v1/files.
 */
export class TusService {
  /**
   * SHA-256 of each upload's bytes so far, while its PATCHes arrive in order at this process,
   * so completion need not read the file again. Any doubt (a cut PATCH, another replica, a
   * restart) drops it, and completion hashes the staged file instead.
   */
  private readonly runningHashes = new Map<string, { offset: number; hash: Hash }>();

  constructor(private readonly deps: TusServiceDeps) {}

  async create(
    tenantId: string,
    headers: { length?: string | undefined; deferLength?: string | undefined; metadata?: string | undefined; concat?: string | undefined },
  ): Promise<TusUploadRow> {
    const { config, db, staging, clock, ids } = this.deps;
    // Concatenation is not offered (Tus-Extension says so), but a client may not ask first
    // (tus-js-client with parallelUploads does not): taken as plain uploads, its partial
    // uploads would each become a file of their own. Refuse them before anything exists.
    if (headers.concat !== undefined)
      throw validationFailed('Upload-Concat is not supported (no concatenation extension); upload the file in one part', {
        param: 'Upload-Concat',
      });
    if (headers.deferLength !== undefined)
      throw validationFailed('Upload-Defer-Length is not supported; send Upload-Length', { param: 'Upload-Defer-Length' });
    const length = integerHeader(headers.length, 'Upload-Length');
    if (length === undefined) throw validationFailed('Upload-Length is required', { param: 'Upload-Length' });
    if (length === 0) throw validationFailed('The file is empty', { param: 'Upload-Length' });
    if (length > config.UPLOAD_MAX_BYTES) throw tooLarge(config.UPLOAD_MAX_BYTES);

    const metadata = parseUploadMetadata(headers.metadata);
    const filename = sanitizeFilename(metadata.get('filename') ?? metadata.get('name'));
    const purpose = parsePurpose(metadata.get('purpose'));
    const expiresInS = parseExpiresIn(metadata.get('expires_in'), config);

    const id = ids.next('upl');
    const now = clock.now();
    await staging.create(id);
    try {
      return await db.transaction().execute(async (trx) => {
        await quota.reserve(
          trx,
          { id, tenantId, kind: 'tus', wantBytes: length, minBytes: length, files: 1 },
          { maxBytes: config.QUOTA_MAX_BYTES, maxFiles: config.QUOTA_MAX_FILES },
        );
        return repo.insertUpload(trx, {
          id,
          tenant_id: tenantId,
          filename,
          purpose,
          expires_in_s: expiresInS,
          length,
          offset: 0,
          metadata: headers.metadata ?? null,
          detected_mime: null,
          file_id: null,
          created_at: now,
          updated_at: now,
          expires_at: new Date(now.getTime() + config.TUS_UPLOAD_TTL_S * 1000),
        });
      });
    } catch (err) {
      await staging.remove(id);
      throw err;
    }
  }

  async head(tenantId: string, id: string): Promise<TusUploadRow> {
    // A PATCH cut a moment ago may still be recording its offset: let it finish first.
    await this.deps.locks.waitUntilFree(id, 2_000);
    return this.find(tenantId, id);
  }

  async find(tenantId: string, id: string): Promise<TusUploadRow> {
    const upload = await repo.findUpload(this.deps.db, tenantId, id, this.deps.clock.now());
    if (!upload) throw notFound('Upload');
    return upload;
  }

  /**
   * Append the request body at `offset`. Bytes that reached the disk before the client went
   * away are kept, so the client can resume from the offset HEAD reports.
   */
  async patch(tenantId: string, id: string, offset: number, body: Request, checksum?: ChunkChecksum): Promise<PatchResult> {
    const { db, staging, locks, clock, logger } = this.deps;
    const before = await this.find(tenantId, id);
    if (offset !== before.offset) throw conflict('Upload-Offset does not match the upload', { offset: before.offset });
    const lock = await locks.tryAcquire(id);
    if (!lock) throw conflict('Another request is writing to this upload', { offset: before.offset });
    try {
      const upload = await this.find(tenantId, id);
      if (offset !== upload.offset) throw conflict('Upload-Offset does not match the upload', { offset: upload.offset });
      if (upload.file_id) {
        body.resume();
        return { upload };
      }
      if (upload.offset < upload.length) {
        await staging.truncate(id, upload.offset);
        let running = this.runningHashes.get(id);
        if (running?.offset !== upload.offset) {
          this.runningHashes.delete(id);
          running =
            upload.offset === 0 && this.runningHashes.size < MAX_RUNNING_HASHES ? { offset: 0, hash: createHash('sha256') } : undefined;
        }
        const chunkHash = checksum ? createHash(checksum.algorithm) : undefined;
        const limiter = new LengthLimiter(upload.length - upload.offset, running?.hash, chunkHash);
        let streamError: unknown;
        let interrupted = false;
        body.on('close', () => {
          if (!body.complete) interrupted = true;
        });
        try {
          await pipeline(body, limiter, staging.openAt(id, upload.offset));
        } catch (err) {
          streamError = err;
        }
        if (limiter.exceeded) {
          await staging.truncate(id, upload.offset);
          throw streamError;
        }
        if (checksum && chunkHash) {
          // A chunk sent with a checksum is kept whole and verified, or not at all: a cut body
          // cannot be verified, a mismatching one is corrupt.
          const complete = !streamError && !interrupted;
          if (!complete || !chunkHash.digest().equals(checksum.expected)) {
            await staging.truncate(id, upload.offset);
            this.runningHashes.delete(id);
            if (complete) throw new ChecksumMismatch(checksum.algorithm);
            logger.info('tus PATCH with a checksum ended early; the partial chunk was discarded', { upload_id: id, offset: upload.offset });
            throw streamError instanceof AppError ? streamError : new UploadInterrupted();
          }
        }
        const size = (await staging.size(id)) ?? upload.offset;
        const newOffset = Math.min(size, upload.length);
        if (running && !streamError && !interrupted && newOffset === upload.offset + limiter.bytes) {
          running.offset = newOffset;
          this.runningHashes.set(id, running);
        } else {
          this.runningHashes.delete(id);
        }
        if (newOffset !== upload.offset) {
          await repo.advanceOffset(db, id, upload.offset, newOffset, clock.now());
          upload.offset = newOffset;
        }
        if (interrupted || streamError) {
          logger.info('tus PATCH ended early; progress kept', { upload_id: id, offset: upload.offset });
          throw streamError instanceof AppError ? streamError : new UploadInterrupted();
        }
      }

      // The type is known once the head is in: refuse wrong content now, not after the last byte.
      if (!upload.detected_mime && upload.offset >= Math.min(SNIFF_BYTES, upload.length)) {
        const resolved = await this.checkHead(upload);
        await repo.setDetectedMime(db, id, resolved);
        upload.detected_mime = resolved;
      }
      if (upload.offset === upload.length) {
        const file = await this.complete(upload);
        upload.file_id = file.id;
        return { upload, file };
      }
      return { upload };
    } finally {
      await lock.release();
    }
  }

  /** Check the first bytes; on refusal the upload is terminated and its quota released. */
  private async checkHead(upload: TusUploadRow): Promise<string> {
    const head = await this.deps.staging.readHead(upload.id, SNIFF_BYTES);
    try {
      return (await checkContentType(head, upload.length > head.length, upload.filename, upload.purpose as Purpose)).mime;
    } catch (err) {
      await this.discard(upload.id);
      throw err;
    }
  }

  private async complete(upload: TusUploadRow): Promise<FileRow> {
    const { staging, storage, files, ids } = this.deps;
    const mimeType = await this.checkHead(upload);
    const running = this.runningHashes.get(upload.id);
    this.runningHashes.delete(upload.id);
    const sha256 = running?.offset === upload.length ? running.hash.digest('hex') : await staging.sha256(upload.id);
    const storageKey = newStorageKey();
    await storage.importFile(storageKey, staging.pathOf(upload.id));
    try {
      return await files.commitFile({
        fileId: ids.next('file'),
        tenantId: upload.tenant_id,
        reservationId: upload.id,
        filename: upload.filename,
        purpose: upload.purpose as Purpose,
        bytes: upload.length,
        sha256,
        mimeType,
        storageKey,
        expiresInS: upload.expires_in_s,
        tusUploadId: upload.id,
      });
    } catch (err) {
      await storage.remove(storageKey).catch(() => undefined);
      throw err;
    }
  }

  /** Termination: the upload resource goes; an unfinished upload's bytes and quota with it. */
  async terminate(tenantId: string, id: string): Promise<void> {
    await this.find(tenantId, id);
    // A PATCH the client has just aborted may still hold the lock for a moment (as for HEAD).
    const lock = await this.deps.locks.acquire(id, 2_000);
    if (!lock) throw conflict('Another request is writing to this upload');
    try {
      await this.discard(id);
    } finally {
      await lock.release();
    }
  }

  /** Remove an upload, its staged bytes and (if not completed) its reservation. Idempotent. */
  async discard(id: string): Promise<void> {
    this.runningHashes.delete(id);
    await this.deps.db.transaction().execute(async (trx) => {
      await repo.deleteUpload(trx, id);
      await quota.releaseReservation(trx, id);
    });
    await this.deps.staging.remove(id);
  }
}
