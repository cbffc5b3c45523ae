import { AppError, type ErrorFormat, errorFormatForPath } from '@tollgate/common';
import type { Config } from '../config';
import { redactSecretField } from './redact';
import { type CanonicalTarget, canonicalTarget, hasEncodedSeparator } from './target';

export type UpstreamName = 'ai-proxy' | 'credits' | 'upload' | 'image-pipeline' | 'webhook';
/** Where a route is served: an upstream service, or the gateway's own admin routers. */
export type RouteOwner = UpstreamName | 'gateway';

/** Route classes decide the scope a credential needs, and the body limit. */
export type RouteClass = 'completion' | 'generation' | 'write' | 'read';
/** Rate-limit tiers share the class names: a GET always counts as a read (polling a job must not spend the completion budget). */
export type RateLimitTier = RouteClass;
export type Scope = RouteClass | 'admin';
export type BodyLimitClass = RouteClass | 'upload' | 'admin';
type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

/**
 * One public route: everything the gateway decides about a request comes from its row here —
 * the scope it needs, its rate-limit tier, its body limit, where it is served, whether it
 * streams, and which error shape it answers in — so a path can never be judged one way and
 * served another.
 */
export interface GatewayRoute {
  method: Method;
  /** `/v1/files/:id`; a trailing `*name` takes one or more segments (model ids hold slashes). */
  path: string;
  owner: RouteOwner;
  routeClass: RouteClass;
  scope: Scope;
  tier: RateLimitTier;
  bodyLimitClass: BodyLimitClass;
  /** Long-lived responses (SSE, uploads) get the stream timeout. */
  streaming: boolean;
  errorFormat: ErrorFormat;
  /** Applied to a response before it is kept for idempotent replay, to leave secrets out. */
  redactStoredBody?: (body: Buffer) => Buffer;
}

interface RouteSpec {
  owner: RouteOwner;
  /** Defaults: read for GET/OPTIONS, write otherwise. */
  routeClass?: RouteClass;
  redactStoredBody?: (body: Buffer) => Buffer;
}

const STREAMING_OWNERS = new Set<RouteOwner>(['ai-proxy', 'upload']);

function route(method: Method, path: string, spec: RouteSpec): GatewayRoute {
  const safe = method === 'GET' || method === 'OPTIONS';
  const routeClass = spec.routeClass ?? (safe ? 'read' : 'write');
  const admin = path.startsWith('/v1/admin/');
  const upload = (path.startsWith('/v1/files') || path.startsWith('/v1/uploads')) && !safe;
  return {
    method,
    path,
    owner: spec.owner,
    routeClass,
    scope: admin ? 'admin' : routeClass,
    tier: safe ? 'read' : routeClass,
    bodyLimitClass: admin ? 'admin' : upload ? 'upload' : routeClass,
    streaming: STREAMING_OWNERS.has(spec.owner),
    errorFormat: errorFormatForPath(path),
    ...(spec.redactStoredBody ? { redactStoredBody: spec.redactStoredBody } : {}),
  };
}

const gateway: RouteSpec = { owner: 'gateway' };
const credits: RouteSpec = { owner: 'credits' };
const upload: RouteSpec = { owner: 'upload' };
const images: RouteSpec = { owner: 'image-pipeline' };
const webhooks: RouteSpec = { owner: 'webhook' };
const completion: RouteSpec = { owner: 'ai-proxy', routeClass: 'completion' };
const aiRead: RouteSpec = { owner: 'ai-proxy' };

/**
 * Every public route of the platform (docs/architecture.md's table, as the services serve it). A request
 * matching none is answered 404 here and never reaches a service; a path known under another
 * method is 405. Literal routes come before the parameter routes that would also match them.
 */
export const ROUTES: readonly GatewayRoute[] = [
  // edge-gateway: tenants and keys
  route('POST', '/v1/admin/tenants', gateway),
  route('GET', '/v1/admin/tenants', gateway),
  route('GET', '/v1/admin/tenants/:id', gateway),
  route('PATCH', '/v1/admin/tenants/:id', gateway),
  route('POST', '/v1/admin/tenants/:id/keys', { owner: 'gateway', redactStoredBody: redactSecretField('key') }),
  route('GET', '/v1/admin/tenants/:id/keys', gateway),
  route('GET', '/v1/admin/keys/:id', gateway),
  route('DELETE', '/v1/admin/keys/:id', gateway),
  route('PATCH', '/v1/admin/keys/:id', gateway),
  route('POST', '/v1/admin/keys/:id/rotate', { owner: 'gateway', redactStoredBody: redactSecretField('key') }),
  route('GET', '/v1/admin/audit-log', gateway),
  // credits
  route('GET', '/v1/credits/balance', credits),
  route('GET', '/v1/credits/transactions', credits),
  route('GET', '/v1/admin/tenants/:id/credits', credits),
  route('POST', '/v1/admin/tenants/:id/credits', credits),
  route('PUT', '/v1/admin/tenants/:id/credits/threshold', credits),
  // ai-proxy
  route('POST', '/v1/chat/completions', completion),
  route('POST', '/v1/embeddings', completion),
  route('GET', '/v1/models', aiRead),
  route('GET', '/v1/models/*id', aiRead),
  route('POST', '/v1/async/chat/completions', completion),
  route('GET', '/v1/async/jobs/:id', completion),
  route('GET', '/v1/usage', aiRead),
  route('GET', '/v1/usage/requests', aiRead),
  route('GET', '/v1/usage/export', aiRead),
  route('GET', '/v1/admin/usage', aiRead),
  // upload
  route('POST', '/v1/files', upload),
  route('GET', '/v1/files', upload),
  route('GET', '/v1/files/:id', upload),
  route('DELETE', '/v1/files/:id', upload),
  route('GET', '/v1/files/:id/content', upload),
  route('OPTIONS', '/v1/uploads', upload),
  route('POST', '/v1/uploads', upload),
  route('OPTIONS', '/v1/uploads/:id', upload),
  route('GET', '/v1/uploads/:id', upload),
  route('PATCH', '/v1/uploads/:id', upload),
  route('DELETE', '/v1/uploads/:id', upload),
  // image-pipeline
  route('POST', '/v1/images/generations', { owner: 'image-pipeline', routeClass: 'generation' }),
  route('GET', '/v1/images/generations/:id', images),
  route('POST', '/v1/images/ingest', images),
  route('POST', '/v1/images/batch/:action', images),
  route('GET', '/v1/images', images),
  route('GET', '/v1/images/:id', images),
  route('DELETE', '/v1/images/:id', images),
  route('GET', '/v1/images/:id/content', images),
  route('POST', '/v1/images/:id/:action', images),
  // webhook: an endpoint's signing secret is shown once, never kept for an idempotent replay
  route('POST', '/v1/webhooks/endpoints', { owner: 'webhook', redactStoredBody: redactSecretField('secret') }),
  route('GET', '/v1/webhooks/endpoints', webhooks),
  route('GET', '/v1/webhooks/endpoints/:id', webhooks),
  route('PATCH', '/v1/webhooks/endpoints/:id', webhooks),
  route('DELETE', '/v1/webhooks/endpoints/:id', webhooks),
  route('POST', '/v1/webhooks/endpoints/:id/rotate-secret', { owner: 'webhook', redactStoredBody: redactSecretField('secret') }),
  route('POST', '/v1/webhooks/endpoints/:id/replay', webhooks),
  route('POST', '/v1/webhooks/endpoints/:id/test', webhooks),
  route('GET', '/v1/webhooks/endpoints/:id/deliveries', webhooks),
  route('GET', '/v1/webhooks/deliveries/:id', webhooks),
  route('POST', '/v1/webhooks/deliveries/:id/retry', webhooks),
];

type Segment = { literal: string } | { param: string } | { rest: string };

interface CompiledRoute {
  route: GatewayRoute;
  segments: Segment[];
}

function compile(path: string): Segment[] {
  return path
    .split('/')
    .slice(1)
    .map((s) => (s.startsWith(':') ? { param: s.slice(1) } : s.startsWith('*') ? { rest: s.slice(1) } : { literal: s }));
}

const COMPILED: CompiledRoute[] = ROUTES.map((r) => ({ route: r, segments: compile(r.path) }));

/**
 * Matches canonical segments against a route: literal segments ignore case (as Express
 * matches them), parameters take one segment, a rest parameter one or more. Returns the
 * canonical spelling of the path (the route's own literals, the request's parameters).
 */
function matchSegments(compiled: CompiledRoute, segments: readonly string[]): string | undefined {
  const pattern = compiled.segments;
  const out: string[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if ('rest' in p) {
      // A rest parameter spans segments by design (model ids hold "/"), so an encoded one is no smuggled separator.
      if (segments.length <= i) return undefined;
      out.push(...segments.slice(i));
      return `/${out.join('/')}`;
    }
    const s = segments[i];
    if (s === undefined) return undefined;
    if ('literal' in p) {
      if (s.length !== p.literal.length || s.toLowerCase() !== p.literal) return undefined;
      out.push(p.literal);
    } else {
      // A parameter is one segment: an encoded "/" or "\" in it would be split by someone downstream.
      if (hasEncodedSeparator(s)) throw new AppError('VALIDATION_FAILED', 'A path segment may not contain an encoded "/" or "\\"');
      out.push(s);
    }
  }
  return segments.length === pattern.length ? `/${out.join('/')}` : undefined;
}

export interface ClassifiedRequest extends GatewayRoute {
  /** The canonical public path of this request (no query string). */
  path: string;
  /** The route's pattern, e.g. `/v1/files/:id` (bounded, for metrics and logs). */
  template: string;
  /** No route serves this request: the 404 / 405 to answer once the caller is authenticated. */
  unrouted?: AppError;
}

const methodOf = (method: string): string => (method === 'HEAD' ? 'GET' : method);

/**
 * Finds the route a canonical /v1 target belongs to. Without one, the result carries a 404 (no
 * route has that path) or a 405 with Allow (routes have it under other methods).
 */
export function classifyRequest(method: string, target: CanonicalTarget): ClassifiedRequest {
  const wanted = methodOf(method);
  const allowed: string[] = [];
  let found: ClassifiedRequest | undefined;
  for (const compiled of COMPILED) {
    const path = matchSegments(compiled, target.segments);
    if (path === undefined) continue;
    if (compiled.route.method === wanted) {
      found = { ...compiled.route, path, template: compiled.route.path };
      break;
    }
    allowed.push(compiled.route.method);
  }
  if (found) return found;
  // Judged like any read until authorize answers with the error below.
  const unrouted: ClassifiedRequest = { ...route('GET', target.path, { owner: 'gateway' }), method: wanted as Method, path: target.path, template: 'unrouted' };
  if (allowed.length > 0) {
    const allow = [...new Set(allowed.flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m])))].join(', ');
    unrouted.unrouted = new AppError('METHOD_NOT_ALLOWED', `${method} is not allowed on ${target.path}`, { headers: { Allow: allow }, details: { allowed: allow } });
  } else {
    unrouted.unrouted = new AppError('NOT_FOUND', `No route for ${method} ${target.path.slice(0, 200)}`, { details: { reason: 'no_route' } });
  }
  return unrouted;
}

/**
 * Whether a raw target names the upload routes (/v1/files, /v1/uploads): the listener's upload
 * deadline is decided before routing runs, so this reads the target the same canonical way.
 */
export function isUploadTarget(rawUrl: string): boolean {
  try {
    const [v1, kind] = canonicalTarget(rawUrl).segments.map((s) => s.toLowerCase());
    return v1 === 'v1' && (kind === 'files' || kind === 'uploads');
  } catch {
    return false;
  }
}

export function upstreamUrls(config: Config): Record<UpstreamName, string> {
  return {
    'ai-proxy': config.AI_PROXY_URL,
    credits: config.CREDITS_URL,
    upload: config.UPLOAD_URL,
    'image-pipeline': config.IMAGE_PIPELINE_URL,
    webhook: config.WEBHOOK_URL,
  };
}

export function bodyLimitOf(config: Config, limitClass: BodyLimitClass): number {
  switch (limitClass) {
    case 'completion':
      return config.BODY_LIMIT_COMPLETION;
    case 'generation':
      return config.BODY_LIMIT_GENERATION;
    case 'write':
      return config.BODY_LIMIT_WRITE;
    case 'read':
      return config.BODY_LIMIT_READ;
    case 'upload':
      return config.BODY_LIMIT_UPLOAD;
    case 'admin':
      return config.BODY_LIMIT_ADMIN;
  }
}
