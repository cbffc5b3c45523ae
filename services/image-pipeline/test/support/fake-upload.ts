import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { verifyIdentity } from '@tollgate/common';
import { listen, type Listening, TEST_INTERNAL_SECRET } from '@tollgate/testkit';

interface StoredFile {
  id: string;
  tenant_id: string;
  filename: string;
  mime_type: string;
  data: Buffer;
}

export interface FakeUpload extends Listening {
  add(tenantId: string, data: Buffer, mimeType?: string, filename?: string): string;
  requests: { path: string; tenant: string }[];
}

/**
 * The upload service's two internal routes as the pipeline uses them: GET
 * /internal/v1/files/:id and /content, scope `service`, the tenant named by the identity's
 * subject; another tenant's file answers 404 like a missing one.
 */
export async function startFakeUpload(): Promise<FakeUpload> {
  const files = new Map<string, StoredFile>();
  const requests: FakeUpload['requests'] = [];
  const error = (res: ServerResponse, status: number, code: string, message: string) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code, message, request_id: 'fake' } }));
  };
  const server = await listen((req: IncomingMessage, res: ServerResponse) => {
    let tenant: string;
    try {
      const identity = verifyIdentity(String(req.headers['x-tollgate-identity'] ?? ''), TEST_INTERNAL_SECRET);
      if (!identity.scopes.includes('service')) return error(res, 403, 'FORBIDDEN', 'service scope required');
      tenant = identity.tenantId;
    } catch {
      return error(res, 401, 'UNAUTHENTICATED', 'Missing or invalid service identity');
    }
    const m = (req.url ?? '').match(/^\/internal\/v1\/files\/([^/?]+)(\/content)?$/);
    requests.push({ path: req.url ?? '', tenant });
    const file = m ? files.get(decodeURIComponent(m[1]!)) : undefined;
    if (!m || req.method !== 'GET') return error(res, 404, 'NOT_FOUND', 'No such route');
    if (!file || file.tenant_id !== tenant) return error(res, 404, 'NOT_FOUND', 'File not found');
    if (m[2]) {
      res.writeHead(200, { 'content-type': file.mime_type, 'content-length': String(file.data.length) });
      res.end(file.data);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id: file.id,
        object: 'file',
        filename: file.filename,
        bytes: file.data.length,
        mime_type: file.mime_type,
        purpose: 'image',
        status: 'ready',
        created_at: new Date().toISOString(),
      }),
    );
  });
  return {
    ...server,
    requests,
    add(tenantId, data, mimeType = 'image/png', filename = 'art.png') {
      const id = `file_${randomBytes(12).toString('hex')}`;
      files.set(id, { id, tenant_id: tenantId, filename, mime_type: mimeType, data });
      return id;
    },
  };
}
