import { type IdGenerator, parseRetryAfter, retry, scopedSignal } from '@tollgate/common';
import { sql } from 'kysely';
import type { Db, ImageRow, StoredVariant } from '../db';
import { type ImageStorage, tenantKeySegment } from '../storage/storage';

export interface PublishInput {
  image: Pick<ImageRow, 'id' | 'tenant_id' | 'profile' | 'prompt'>;
  print: StoredVariant;
}

export interface PublishResult {
  external_id: string;
  url: string | null;
}

/**
 * Where approved artwork goes. Must be idempotent per image id: a publish job that is retried
 * or recovered after a crash calls it again for the same image.
 */
export interface ImagePublisher {
  readonly name: string;
  publish(input: PublishInput): Promise<PublishResult>;
}

/** `retryable: false` fails the publish at once (the remote refused the file). */
export class PublishError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'PublishError';
  }
}

/** The default: this service's own catalog (a table row and a copy of the print file). */
export function createLocalCatalogPublisher(deps: { db: Db; storage: ImageStorage; ids: IdGenerator }): ImagePublisher {
  return {
    name: 'local',
    async publish({ image, print }) {
      const key = `catalog/${tenantKeySegment(image.tenant_id)}/${image.id}.png`;
      await deps.storage.put(key, await deps.storage.get(print.key));
      // One catalog row per image, whoever gets there first (a retried job finds it).
      await deps.db
        .insertInto('catalog_items')
        .values({
          id: deps.ids.next('cat'),
          tenant_id: image.tenant_id,
          image_id: image.id,
          profile: image.profile,
          storage_key: key,
          width: print.width,
          height: print.height,
          bytes: print.bytes,
        })
        .onConflict((oc) => oc.column('image_id').doUpdateSet({ storage_key: sql`excluded.storage_key` }))
        .execute();
      const row = await deps.db.selectFrom('catalog_items').select(['id']).where('image_id', '=', image.id).executeTakeFirstOrThrow();
      return { external_id: row.id, url: null };
    },
  };
}

export interface HttpPublisherOptions {
  baseUrl: string;
  token?: string | undefined;
  timeoutMs: number;
  retries: number;
  retryBaseMs: number;
  storage: ImageStorage;
  fetchImpl?: typeof fetch;
}

/**
 * A Printify-like API: `POST /v1/uploads/images.json {file_name, contents}` (base64) answering
 * `{id, preview_url}`. Connection errors, 429 and 5xx are retried with backoff (Retry-After
 * honoured); other 4xx fail the publish. The image id goes as Idempotency-Key, so an API that
 * supports it never stores the file twice.
 */
export function createHttpPublisher(options: HttpPublisherOptions): ImagePublisher {
  const fetchImpl = options.fetchImpl ?? fetch;
  const url = `${options.baseUrl.replace(/\/$/, '')}/v1/uploads/images.json`;
  return {
    name: 'http',
    async publish({ image, print }) {
      const contents = (await options.storage.get(print.key)).toString('base64');
      const body = JSON.stringify({ file_name: `${image.id}.png`, contents });
      return retry(
        async () => {
          // One deadline per attempt, for the call and the reading of its answer; released when done.
          const deadline = scopedSignal([], options.timeoutMs);
          let res: Response;
          let text: string;
          try {
            try {
              res = await fetchImpl(url, {
                method: 'POST',
                headers: {
                  'content-type': 'application/json',
                  'idempotency-key': `publish-${image.id}`,
                  ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
                },
                body,
                signal: deadline.signal,
              });
            } catch (err) {
              throw new PublishError(`The publisher could not be reached: ${(err as Error).name}`, true);
            }
            text = await res.text().catch(() => '');
          } finally {
            deadline.dispose();
          }
          if (res.status === 429 || res.status >= 500)
            throw new PublishError(`The publisher answered ${res.status}`, true, parseRetryAfter(res.headers.get('retry-after')));
          if (!res.ok) throw new PublishError(`The publisher refused the file (${res.status})`, false);
          let parsed: { id?: unknown; preview_url?: unknown } = {};
          try {
            parsed = JSON.parse(text) as typeof parsed;
          } catch {
            throw new PublishError('The publisher answered with something that is not JSON', true);
          }
          if (typeof parsed.id !== 'string' && typeof parsed.id !== 'number')
            throw new PublishError('The publisher answered without an id', true);
          return { external_id: String(parsed.id), url: typeof parsed.preview_url === 'string' ? parsed.preview_url : null };
        },
        {
          retries: options.retries,
          baseDelayMs: options.retryBaseMs,
          maxDelayMs: 30_000,
          shouldRetry: (err) => err instanceof PublishError && err.retryable,
        },
      );
    },
  };
}
