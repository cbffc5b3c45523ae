import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import { PassThrough, Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { assertStorageKey } from './keys';
import type { ByteRange, ObjectStorage, StoredObject, WriteSession } from './types';

const OBJECT_PREFIX = 'objects/';
/** 8 MiB parts, two in flight: bounded memory per upload (S3's minimum part is 5 MiB). */
const PART_SIZE = 8 * 1024 * 1024;
const QUEUE_SIZE = 2;

export interface S3StorageOptions {
  bucket: string;
  region: string;
  endpoint?: string | undefined;
  forcePathStyle?: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
}

/**
 * Objects in an S3-compatible bucket under `objects/<key>`. S3 writes are atomic by nature: a
 * (multipart) upload is invisible until completed, and aborting it drops its parts.
 */
export class S3Storage implements ObjectStorage {
  readonly driver = 's3' as const;
  readonly client: S3Client;
  private readonly bucket: string;

  constructor(options: S3StorageOptions) {
    this.bucket = options.bucket;
    this.client = new S3Client({
      region: options.region,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      forcePathStyle: options.forcePathStyle ?? false,
      // Checksums only where S3 requires them: S3-compatible servers differ in what they accept.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      ...(options.credentials ? { credentials: options.credentials } : {}),
    });
  }

  private objectName(key: string): string {
    return OBJECT_PREFIX + assertStorageKey(key);
  }

  private startUpload(key: string, body: Readable): Upload {
    return new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.objectName(key), Body: body },
      partSize: PART_SIZE,
      queueSize: QUEUE_SIZE,
      leavePartsOnError: false,
    });
  }

  beginWrite(key: string): WriteSession {
    const stream = new PassThrough({ highWaterMark: 1024 * 1024 });
    const upload = this.startUpload(key, stream);
    const done = upload.done();
    // A failing upload must stop the producer, or the pipeline would wait forever.
    done.catch((err: unknown) => stream.destroy(err as Error));
    let aborted = false;
    return {
      stream,
      commit: async () => {
        await done;
      },
      abort: async () => {
        if (aborted) return;
        aborted = true;
        if (!stream.destroyed) stream.destroy();
        await upload.abort().catch(() => undefined);
        await done.catch(() => undefined);
        await this.remove(key);
      },
    };
  }

  async importFile(key: string, localPath: string): Promise<void> {
    await this.startUpload(key, createReadStream(localPath)).done();
    await fs.rm(localPath, { force: true });
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const out = await this.client.send(
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: this.objectName(key),
        ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
      }),
    );
    return out.Body as Readable;
  }

  async remove(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectName(key) }));
  }

  async *list(): AsyncIterable<StoredObject> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: OBJECT_PREFIX, ContinuationToken: token }),
      );
      for (const item of page.Contents ?? []) {
        if (!item.Key) continue;
        yield { key: item.Key.slice(OBJECT_PREFIX.length), size: item.Size ?? 0, modifiedAt: item.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** Abandoned multipart uploads (a crash mid-upload) hold storage until aborted. */
  async removeStaleTemporary(olderThan: Date): Promise<number> {
    let removed = 0;
    try {
      const page = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: OBJECT_PREFIX }));
      for (const upload of page.Uploads ?? []) {
        if (upload.Key && upload.UploadId && upload.Initiated && upload.Initiated < olderThan) {
          await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: upload.Key, UploadId: upload.UploadId }));
          removed += 1;
        }
      }
    } catch (err) {
      // Some S3-compatible servers do not implement listing multipart uploads; a bucket
      // lifecycle rule (AbortIncompleteMultipartUpload) covers them instead.
      if ((err as { name?: string }).name !== 'NotImplemented') throw err;
    }
    return removed;
  }

  async check(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
  }
}
