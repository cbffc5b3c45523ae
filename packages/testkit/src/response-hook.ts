import http from 'node:http';
import { checkerFor } from './openapi-check';

/**
 * Sees every response any express app built by createService sends in this process, and checks
 * it against the app's own OpenAPI document (`app.locals.openapi`, set by createService). Apps
 * without a document (test fakes, upstream stand-ins) are left alone.
 *
 * The hook patches ServerResponse once per process (jest shares core modules between the test
 * files of one worker); each test file points it at its own list of violations.
 */

const HOOK = Symbol.for('tollgate.openapi.response-hook');
/** Bodies beyond this are not kept (file downloads); their status and type are still checked. */
const MAX_CAPTURE = 4 * 1024 * 1024;

interface HookState {
  report: ((violation: string) => void) | undefined;
}

interface Captured {
  chunks: Buffer[];
  size: number;
  done: boolean;
}

const CAPTURE = Symbol('tollgate.openapi.captured');
type PatchedResponse = http.ServerResponse & { [CAPTURE]?: Captured };

function capture(res: PatchedResponse, chunk: unknown, encoding: unknown): void {
  const captured = (res[CAPTURE] ??= { chunks: [], size: 0, done: false });
  if (chunk === undefined || chunk === null || typeof chunk === 'function' || captured.size > MAX_CAPTURE) return;
  const buffer = Buffer.isBuffer(chunk)
    ? chunk
    : typeof chunk === 'string'
      ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
      : chunk instanceof Uint8Array
        ? Buffer.from(chunk)
        : undefined;
  if (!buffer) return;
  captured.size += buffer.length;
  if (captured.size <= MAX_CAPTURE) captured.chunks.push(buffer);
}

function inspect(state: HookState, res: PatchedResponse): void {
  const captured = res[CAPTURE];
  if (!captured || captured.done) return;
  captured.done = true;
  const req = res.req as (http.IncomingMessage & { app?: { locals?: Record<string, unknown> }; originalUrl?: string }) | undefined;
  const documentOf = req?.app?.locals?.['openapi'];
  if (!state.report || !req || typeof documentOf !== 'function') return;
  const document = documentOf() as Record<string, unknown>;
  // The explicit exemption of apps built by a test around test-only routes (common's own tests).
  if (document['x-test-only-routes'] === true) return;
  const contentType = res.getHeader('content-type');
  // The gateway checks only its own paths: the rest are proxied answers of the services.
  const ownPathsOnly = req.app?.locals?.['openapiOwnPathsOnly'] === true;
  const violation = checkerFor(document).check({
    method: req.method ?? 'GET',
    path: new URL(req.originalUrl ?? req.url ?? '/', 'http://localhost').pathname,
    status: res.statusCode,
    contentType: typeof contentType === 'string' ? contentType : undefined,
    body: captured.size > MAX_CAPTURE ? undefined : Buffer.concat(captured.chunks),
    ownPathsOnly,
  });
  if (violation) state.report(`${String(document['info'] && (document['info'] as { title?: string }).title)}: ${violation}`);
}

/**
 * Starts checking responses (once per process); violations go to `report` until replaced.
 * Returns a function that gives the previous receiver back.
 */
export function checkResponsesAgainstOpenApi(report: (violation: string) => void): () => void {
  const proto = http.ServerResponse.prototype as unknown as Record<symbol, HookState> & {
    write: (...args: unknown[]) => boolean;
    end: (...args: unknown[]) => unknown;
  };
  let state = proto[HOOK];
  if (!state) {
    const hookState: HookState = { report: undefined };
    state = hookState;
    proto[HOOK] = hookState;
    const { write, end } = proto;
    proto.write = function (this: PatchedResponse, ...args: unknown[]) {
      capture(this, args[0], args[1]);
      return write.apply(this, args);
    };
    proto.end = function (this: PatchedResponse, ...args: unknown[]) {
      capture(this, args[0], args[1]);
      const result = end.apply(this, args);
      try {
        inspect(hookState, this);
      } catch (err) {
        hookState.report?.(`could not check a response: ${(err as Error).stack ?? String(err)}`);
      }
      return result;
    };
  }
  const previous = state.report;
  state.report = report;
  const hookState = state;
  return () => {
    hookState.report = previous;
  };
}
