import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

const UPLOAD_ID = /^upl_[A-Za-z0-9]{16,40}$/;

/**
 * Bytes of unfinished tus uploads, on local disk under DATA_DIR/tus (whatever the object
 * storage): tus appends chunk by chunk, which object stores cannot do. On completion the file
 * is handed to the object storage (a rename on local disk).
 */
export class TusStaging {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = path.join(dataDir, 'tus');
  }

  async init(): Promise<this> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    return this;
  }

  async check(): Promise<void> {
    await fs.access(this.dir, fs.constants.W_OK);
  }

  pathOf(id: string): string {
    if (!UPLOAD_ID.test(id)) throw new Error('invalid upload id');
    return path.join(this.dir, id);
  }

  async create(id: string): Promise<void> {
    const handle = await fs.open(this.pathOf(id), 'wx', 0o600);
    await handle.close();
  }

  /** Drop bytes past the recorded offset (a crash between write and offset update). */
  async truncate(id: string, size: number): Promise<void> {
    await fs.truncate(this.pathOf(id), size);
  }

  openAt(id: string, offset: number): WriteStream {
    return createWriteStream(this.pathOf(id), { flags: 'r+', start: offset, highWaterMark: 1024 * 1024 });
  }

  async size(id: string): Promise<number | undefined> {
    const stat = await fs.stat(this.pathOf(id)).catch(() => undefined);
    return stat?.size;
  }

  async readHead(id: string, bytes: number): Promise<Buffer> {
    const handle = await fs.open(this.pathOf(id), 'r');
    try {
      const buffer = Buffer.alloc(bytes);
      const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  async sha256(id: string): Promise<string> {
    const hash = createHash('sha256');
    await pipeline(createReadStream(this.pathOf(id), { highWaterMark: 1024 * 1024 }), hash);
    return hash.digest('hex');
  }

  async remove(id: string): Promise<void> {
    await fs.rm(this.pathOf(id), { force: true });
  }

  /** Staged files with their age, for the orphan sweep. */
  async list(): Promise<{ id: string; modifiedAt: Date }[]> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    const out: { id: string; modifiedAt: Date }[] = [];
    for (const name of names) {
      if (!UPLOAD_ID.test(name)) continue;
      const stat = await fs.stat(path.join(this.dir, name)).catch(() => undefined);
      if (stat) out.push({ id: name, modifiedAt: stat.mtime });
    }
    return out;
  }
}
