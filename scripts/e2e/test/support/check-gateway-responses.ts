/**
 * Jest setup file of the e2e project: every answer to a `/v1/...` call the e2e tests make over
 * real HTTP (through the gateway of a real mesh) must match the published document,
 * docs/openapi.json (itself checked against the code by openapi-docs.test.ts). fetch is wrapped;
 * each answer is read from a clone, so the test consumes the original as before.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { OpenApiChecker } from '@tollgate/testkit';

const PUBLISHED = path.resolve(__dirname, '../../../../docs/openapi.json');
/** A stream the test left open is not waited for past this. */
const READ_LIMIT_MS = 5_000;

const checker = new OpenApiChecker(JSON.parse(readFileSync(PUBLISHED, 'utf8')) as Record<string, unknown>);
const pending: Promise<void>[] = [];
const violations: string[] = [];
const originalFetch = globalThis.fetch;

async function inspect(response: Response, method: string, pathname: string): Promise<void> {
  let body: Buffer | undefined;
  try {
    const read = response.arrayBuffer().then((b) => Buffer.from(b));
    const timer = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), READ_LIMIT_MS).unref());
    body = await Promise.race([read, timer]);
  } catch {
    return; // the test aborted the call: there is no whole answer to check
  }
  if (body === undefined) return;
  const violation = checker.check({
    method,
    path: pathname,
    status: response.status,
    contentType: response.headers.get('content-type') ?? undefined,
    body,
  });
  if (violation) violations.push(`docs/openapi.json: ${violation}`);
}

globalThis.fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
  const response = await originalFetch(input, init);
  const url = new URL(input instanceof Request ? input.url : String(input));
  if (url.pathname.startsWith('/v1/')) {
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    pending.push(inspect(response.clone(), method, url.pathname));
  }
  return response;
};

afterEach(async () => {
  await Promise.all(pending.splice(0));
  const found = violations.splice(0);
  if (found.length > 0)
    throw new Error(`${found.length} response(s) do not match the published OpenAPI document:\n${[...new Set(found)].join('\n')}`);
});
