import { type Metrics, promClient as client } from '@tollgate/common';
import type { ObjectStorage, WriteSession } from './types';

/** A missing object is an answer (404, nothing to remove), not a storage failure. */
function isMissing(err: unknown): boolean {
  const e = err as { code?: string; name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.code === 'ENOENT' || e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

/**
 * The storage with its failures counted (`upload_storage_errors_total{driver,operation}`): a
 * full disk, a read-only volume, S3 refusing or unreachable. The alert on it is how an operator
 * learns uploads fail before tenants say so.
 */
export function observedStorage(storage: ObjectStorage, metrics: Metrics): ObjectStorage {
  const errors = new client.Counter({
    name: 'upload_storage_errors_total',
    help: 'Object storage operations that failed (disk or S3), by driver and operation; missing objects not counted',
    labelNames: ['driver', 'operation'] as const,
    registers: [metrics.registry],
  });
  for (const operation of ['write', 'import', 'read', 'remove', 'list', 'sweep', 'check']) errors.inc({ driver: storage.driver, operation }, 0);
  const count = (operation: string) => (err: unknown) => {
    if (!isMissing(err)) errors.inc({ driver: storage.driver, operation });
    throw err;
  };
  return {
    driver: storage.driver,
    beginWrite(key): WriteSession {
      const session = storage.beginWrite(key);
      session.stream.on('error', (err) => {
        if (!isMissing(err)) errors.inc({ driver: storage.driver, operation: 'write' });
      });
      return { stream: session.stream, commit: () => session.commit().catch(count('write')), abort: () => session.abort() };
    },
    importFile: (key, localPath) => storage.importFile(key, localPath).catch(count('import')),
    read: (key, range) => storage.read(key, range).catch(count('read')),
    remove: (key) => storage.remove(key).catch(count('remove')),
    async *list() {
      try {
        yield* storage.list();
      } catch (err) {
        count('list')(err);
      }
    },
    removeStaleTemporary: (olderThan) => storage.removeStaleTemporary(olderThan).catch(count('sweep')),
    check: () => storage.check().catch(count('check')),
  };
}
