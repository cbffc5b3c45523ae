import { AppError, callJson, currentContext, injectTraceHeaders, isErrorCode, signServiceIdentity } from '@tollgate/common';
import { z } from 'zod';

/** What the pipeline needs to know about an uploaded file. */
export interface UploadedFileInfo {
  id: string;
  filename: string;
  bytes: number;
  contentType: string | null;
}

/**
 * The upload service's internal file routes. Every call is made for one tenant: the service
 * identity names the tenant, so another tenant's file id answers 404 like a missing one.
 */
export interface UploadClient {
  getFile(tenantId: string, fileId: string): Promise<UploadedFileInfo>;
  /** The file's bytes; refuses (without buffering) anything above maxBytes. */
  readContent(tenantId: string, fileId: string, maxBytes: number): Promise<Buffer>;
}

export interface HttpUploadClientOptions {
  baseUrl: string;
  internalSecret: string;
  serviceName?: string;
  timeoutMs?: number;
  retries?: number;
  fetchImpl?: typeof fetch;
}

const fileSchema = z.object({
  id: z.string(),
  filename: z.string().default(''),
  bytes: z.number().int().nonnegative(),
  mime_type: z.string().nullish(),
  content_type: z.string().nullish(),
});

export function createHttpUploadClient(options: HttpUploadClientOptions): UploadClient {
  const serviceName = options.serviceName ?? 'image-pipeline';
  const base = options.baseUrl.replace(/\/$/, '');
  const fetchImpl = options.fetchImpl ?? fetch;
  const identityFor = (tenantId: string) => () => signServiceIdentity(serviceName, options.internalSecret, tenantId);
  return {
    async getFile(tenantId, fileId) {
      const raw = await callJson<unknown>(
        {
          baseUrl: base,
          identity: identityFor(tenantId),
          ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
          ...(options.retries !== undefined ? { retries: options.retries } : {}),
          ...(options.fetchImpl ? { fetchImpl: options.fetchImpl } : {}),
        },
        'GET',
        `/internal/v1/files/${encodeURIComponent(fileId)}`,
      );
      const parsed = fileSchema.safeParse(raw);
      if (!parsed.success) throw new AppError('UPSTREAM_FAILED', 'The upload service answered with an unexpected file object');
      const file = parsed.data;
      return { id: file.id, filename: file.filename, bytes: file.bytes, contentType: file.mime_type ?? file.content_type ?? null };
    },
    async readContent(tenantId, fileId, maxBytes) {
      const headers: Record<string, string> = { 'x-tollgate-identity': identityFor(tenantId)(), ...injectTraceHeaders() };
      const requestId = currentContext()?.requestId;
      if (requestId) headers['x-request-id'] = requestId;
      let res: Response;
      try {
        res = await fetchImpl(`${base}/internal/v1/files/${encodeURIComponent(fileId)}/content`, {
          headers,
          signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
        });
      } catch (err) {
        throw new AppError('UPSTREAM_FAILED', 'The upload service could not be reached', { cause: err });
      }
      if (!res.ok) {
        const text = await res.text().catch(() => '');
        if (res.status >= 500 || res.status === 429) throw new AppError('UPSTREAM_FAILED', `The upload service answered ${res.status}`);
        let code: string | undefined;
        try {
          code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
        } catch {
          code = undefined;
        }
        throw new AppError(
          isErrorCode(code) ? code : res.status === 404 ? 'NOT_FOUND' : 'UPSTREAM_FAILED',
          res.status === 404 ? 'File not found' : `The upload service answered ${res.status}`,
        );
      }
      const declared = Number(res.headers.get('content-length') ?? '0');
      if (declared > maxBytes) {
        await res.body?.cancel().catch(() => undefined);
        throw new AppError('PAYLOAD_TOO_LARGE', `The file is ${declared} bytes, above the ${maxBytes}-byte limit`);
      }
      const chunks: Buffer[] = [];
      let total = 0;
      if (res.body) {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          total += chunk.length;
          if (total > maxBytes) throw new AppError('PAYLOAD_TOO_LARGE', `The file is above the ${maxBytes}-byte limit`);
          chunks.push(Buffer.from(chunk));
        }
      }
      return Buffer.concat(chunks);
    },
  };
}
