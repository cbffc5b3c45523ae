import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';

export interface StoredObject {
  key: string;
  bytes: number;
  sha256: string;
}

/**
 * Where originals and variants live. Keys are relative paths such as
 * `tenant/img_x/print.png`; writing a key again replaces it (so a retried job is harmless).
 */
export interface ImageStorage {
  put(key: string, data: Buffer): Promise<StoredObject>;
  get(key: string): Promise<Buffer>;
  /** A stream of the bytes; undefined when the key does not exist. */
  open(key: string): Promise<{ stream: Readable; bytes: number } | undefined>;
  exists(key: string): Promise<boolean>;
  /** Removes every key under a prefix (an image's folder). */
  deletePrefix(prefix: string): Promise<void>;
}

const SAFE_SEGMENT = /^[A-Za-z0-9_.-]+$/;

/** Keys are built by this service from ids; still, nothing may climb out of the root. */
export function assertSafeKey(key: string): string {
  const segments = key.split('/');
  if (segments.length === 0 || segments.some((s) => !SAFE_SEGMENT.test(s) || s === '.' || s === '..')) {
    throw new Error(`unsafe storage key: ${key}`);
  }
  return key;
}

export function sha256Of(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Files on local disk under one root (DATA_DIR/images by default); writes are atomic renames. */
export function createLocalDiskStorage(root: string): ImageStorage {
  const resolve = (key: string) => path.join(root, assertSafeKey(key));
  return {
    async put(key, data) {
      const file = resolve(key);
      await mkdir(path.dirname(file), { recursive: true });
      // Write beside the target and rename, so a reader never sees half a file and a crashed
      // writer leaves only a temp file behind.
      const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        await writeFile(temp, data);
        await rename(temp, file);
      } catch (err) {
        await unlink(temp).catch(() => undefined);
        throw err;
      }
      return { key, bytes: data.length, sha256: sha256Of(data) };
    },
    get: (key) => readFile(resolve(key)),
    async open(key) {
      const file = resolve(key);
      try {
        const info = await stat(file);
        return { stream: createReadStream(file), bytes: info.size };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
    },
    async exists(key) {
      try {
        await stat(resolve(key));
        return true;
      } catch {
        return false;
      }
    },
    async deletePrefix(prefix) {
      await rm(resolve(prefix), { recursive: true, force: true });
    },
  };
}

export const variantKey = (tenantId: string, imageId: string, name: string, format: string): string =>
  `${tenantKeySegment(tenantId)}/${imageId}/${name}.${format === 'jpeg' ? 'jpg' : format}`;

/** Tenant ids are ours but may hold characters a file name should not; hash those. */
export function tenantKeySegment(tenantId: string): string {
  return /^[A-Za-z0-9_-]{1,100}$/.test(tenantId) ? tenantId : `t-${createHash('sha256').update(tenantId).digest('hex').slice(0, 32)}`;
}

export const imagePrefix = (tenantId: string, imageId: string): string => `${tenantKeySegment(tenantId)}/${imageId}`;
