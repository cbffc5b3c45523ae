import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { randomBase62 } from '@tollgate/common';
import { assertStorageKey } from './keys';
import type { ByteRange, ObjectStorage, StoredObject, WriteSession } from './types';

const WRITE_BUFFER = 1024 * 1024;
const READ_BUFFER = 256 * 1024;

const isMissing = (err: unknown): boolean => (err as NodeJS.ErrnoException)?.code === 'ENOENT';

/**
 * Objects on local disk under `root`:
 *   objects/<first two key characters>/<key>   committed objects
 *   tmp/<random>.part                          writes in progress
 * A write goes to tmp/, is flushed to disk, then renamed into objects/ — rename is atomic on
 * one filesystem, so a reader never sees half a file.
 */
export class LocalStorage implements ObjectStorage {
  readonly driver = 'local' as const;
  private readonly objectsDir: string;
  private readonly tmpDir: string;

  constructor(readonly root: string) {
    this.objectsDir = path.join(root, 'objects');
    this.tmpDir = path.join(root, 'tmp');
  }

  async init(): Promise<this> {
    await fs.mkdir(this.objectsDir, { recursive: true, mode: 0o700 });
    await fs.mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
    return this;
  }

  /** Absolute path of a committed object; the key is validated, so it cannot leave the root. */
  pathOf(key: string): string {
    assertStorageKey(key);
    return path.join(this.objectsDir, key.slice(0, 2), key);
  }

  beginWrite(key: string): WriteSession {
    const finalPath = this.pathOf(key);
    const tmpPath = path.join(this.tmpDir, `${randomBase62(24)}.part`);
    // flush: fsync before close, so the rename below never publishes bytes still in page cache.
    // A 1 MiB buffer lets chunks arriving during a write go out together (writev).
    const stream = createWriteStream(tmpPath, { flags: 'wx', mode: 0o600, flush: true, highWaterMark: WRITE_BUFFER });
    let committed = false;
    return {
      stream,
      commit: async () => {
        await fs.mkdir(path.dirname(finalPath), { recursive: true, mode: 0o700 });
        await fs.rename(tmpPath, finalPath);
        committed = true;
      },
      abort: async () => {
        // Wait for the stream to close: destroyed while still opening, it would create the
        // file after our rm.
        if (!stream.closed) {
          const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
          stream.destroy();
          await closed;
        }
        await fs.rm(tmpPath, { force: true });
        if (committed) await fs.rm(finalPath, { force: true });
      },
    };
  }

  async importFile(key: string, localPath: string): Promise<void> {
    const finalPath = this.pathOf(key);
    // Same durability as beginWrite: the bytes reach the disk before the name does.
    const handle = await fs.open(localPath, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.mkdir(path.dirname(finalPath), { recursive: true, mode: 0o700 });
    await fs.rename(localPath, finalPath);
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const filePath = this.pathOf(key);
    const handle = await fs.open(filePath, 'r');
    return createReadStream('', { fd: handle, highWaterMark: READ_BUFFER, ...(range ? { start: range.start, end: range.end } : {}) });
  }

  async remove(key: string): Promise<void> {
    await fs.rm(this.pathOf(key), { force: true });
  }

  async *list(): AsyncIterable<StoredObject> {
    let shards: string[];
    try {
      shards = await fs.readdir(this.objectsDir);
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    for (const shard of shards) {
      let names: string[];
      try {
        names = await fs.readdir(path.join(this.objectsDir, shard));
      } catch (err) {
        if (isMissing(err)) continue;
        throw err;
      }
      for (const key of names) {
        try {
          const stat = await fs.stat(path.join(this.objectsDir, shard, key));
          if (stat.isFile()) yield { key, size: stat.size, modifiedAt: stat.mtime };
        } catch (err) {
          if (!isMissing(err)) throw err;
        }
      }
    }
  }

  async removeStaleTemporary(olderThan: Date): Promise<number> {
    let removed = 0;
    for (const name of await fs.readdir(this.tmpDir).catch(() => [] as string[])) {
      const filePath = path.join(this.tmpDir, name);
      const stat = await fs.stat(filePath).catch(() => undefined);
      if (stat && stat.mtime < olderThan) {
        await fs.rm(filePath, { force: true });
        removed += 1;
      }
    }
    return removed;
  }

  async check(): Promise<void> {
    await fs.access(this.objectsDir, fs.constants.W_OK);
  }
}
