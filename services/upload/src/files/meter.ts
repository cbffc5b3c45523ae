import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { SNIFF_BYTES } from './sniff';

export interface MeterOptions {
  /** One byte more fails the stream with `onTooLarge()`. */
  maxBytes: number;
  onTooLarge: () => Error;
  /**
   * Called once with the first SNIFF_BYTES (or the whole, shorter, file); throw or reject to
   * refuse the content. The stream holds the chunk that completed the head until it settles.
   */
  onHead?: (head: Buffer, truncated: boolean) => void | Promise<void>;
  /** Called with the running total; a returned promise holds the stream until quota is granted. */
  ensureCapacity?: (totalBytes: number) => Promise<void> | undefined;
}

/**
 * Counts, hashes and sniffs bytes as they stream past, and enforces the size limit on the way,
 * so nothing is ever buffered beyond the sniffing window.
 */
export class UploadMeter extends Transform {
  bytes = 0;
  private readonly hash: Hash = createHash('sha256');
  private headChunks: Buffer[] = [];
  private headLength = 0;
  private headSeen = false;
  private digest: string | undefined;

  constructor(private readonly options: MeterOptions) {
    super({ highWaterMark: 512 * 1024 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.options.maxBytes) {
      callback(this.options.onTooLarge());
      return;
    }
    this.hash.update(chunk);
    const pass = (): void => {
      const wait = this.options.ensureCapacity?.(this.bytes);
      if (wait)
        wait.then(
          () => callback(null, chunk),
          (err: Error) => callback(err),
        );
      else callback(null, chunk);
    };
    if (!this.headSeen) {
      this.headChunks.push(chunk);
      this.headLength += chunk.length;
      if (this.headLength >= SNIFF_BYTES) {
        this.emitHead(true).then(pass, (err: Error) => callback(err));
        return;
      }
    }
    pass();
  }

  override _flush(callback: TransformCallback): void {
    const finish = (): void => {
      this.digest = this.hash.digest('hex');
      callback();
    };
    if (this.headSeen) finish();
    else this.emitHead(false).then(finish, (err: Error) => callback(err));
  }

  /** The first bytes of the stream (kept for a final type check once the purpose is known). */
  head = Buffer.alloc(0);
  headTruncated = false;

  private async emitHead(truncated: boolean): Promise<void> {
    this.headSeen = true;
    const all = Buffer.concat(this.headChunks);
    this.headChunks = [];
    this.head = all.subarray(0, SNIFF_BYTES);
    this.headTruncated = truncated;
    await this.options.onHead?.(this.head, truncated);
  }

  get sha256(): string {
    if (!this.digest) throw new Error('the stream has not finished');
    return this.digest;
  }
}
