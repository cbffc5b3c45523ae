import type { ErrorFormat } from '@tollgate/common';
import type { Config } from '../config';

export type UpstreamName = 'ai-proxy' | 'credits' | 'upload' | 'image-pipeline' | 'webhook';

/** Route classes decide the scope a credential needs, and the body limit. */
export type RouteClass = 'completion' | 'generation' | 'write' | 'read';
/** Rate-limit tiers share the class names; see `classifyRequest` for how polls are counted. */
export type RateLimitTier = RouteClass;

export interface UpstreamRoute {
  upstream: UpstreamName;
  /** Matches the request path (no query string). */
  pattern: RegExp;
  /** Long-lived responses (SSE, uploads) get the stream timeout. */
  streaming?: boolean;
}

/** Public path prefixes of DESIGN.md and the service behind each; first match wins. */
export const UPSTREAM_ROUTES: UpstreamRoute[] = [
  { upstream: 'ai-proxy', pattern: /^\/v1\/(chat\/completions|embeddings|models|async)(\/|$)/, streaming: true },
  { upstream: 'credits', pattern: /^\/v1\/credits(\/|$)/ },
  { upstream: 'credits', pattern: /^\/v1\/admin\/tenants\/[^/]+\/credits(\/|$)/ },
  { upstream: 'upload', pattern: /^\/v1\/(files|uploads)(\/|$)/, streaming: true },
  { upstream: 'image-pipeline', pattern: /^\/v1\/images(\/|$)/ },
  { upstream: 'webhook', pattern: /^\/v1\/webhooks(\/|$)/ },
];

export function upstreamUrls(config: Config): Record<UpstreamName, string> {
  return {
    'ai-proxy': config.AI_PROXY_URL,
    credits: config.CREDITS_URL,
    upload: config.UPLOAD_URL,
    'image-pipeline': config.IMAGE_PIPELINE_URL,
    webhook: config.WEBHOOK_URL,
  };
}

export function matchUpstream(path: string): UpstreamRoute | undefined {
  return UPSTREAM_ROUTES.find((r) => r.pattern.test(path));
}

const COMPLETION_PATH = /^\/v1\/(chat\/completions|embeddings)\/?$|^\/v1\/async(\/|$)/;
const GENERATION_PATH = /^\/v1\/images\/generations\/?$/;
const ADMIN_PATH = /^\/v1\/admin(\/|$)/;
const UPLOAD_PATH = /^\/v1\/(files|uploads)(\/|$)/;
const OPENAI_PATH = /^\/v1\/(chat\/completions|embeddings|models)(\/|$)/;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export type BodyLimitClass = RouteClass | 'upload' | 'admin';

export interface ClassifiedRequest {
  /** The public path, without the query string. */
  path: string;
  routeClass: RouteClass;
  /** The scope a credential needs: the class, or `admin` under /v1/admin. */
  scope: RouteClass | 'admin';
  tier: RateLimitTier;
  bodyLimitClass: BodyLimitClass;
}

/**
 * completion: /v1/chat/completions, /v1/embeddings, /v1/async/*; generation:
 * /v1/images/generations; read: other GET/HEAD/OPTIONS; write: other POST/PUT/PATCH/DELETE.
 * The rate-limit tier follows the class, except that GETs always count as reads: polling an
 * async job must not spend the completion budget.
 */
export function classifyRequest(method: string, path: string): ClassifiedRequest {
  const safe = SAFE_METHODS.has(method);
  const routeClass: RouteClass = COMPLETION_PATH.test(path) ? 'completion' : GENERATION_PATH.test(path) ? 'generation' : safe ? 'read' : 'write';
  const admin = ADMIN_PATH.test(path);
  const bodyLimitClass: BodyLimitClass = admin ? 'admin' : UPLOAD_PATH.test(path) && !safe ? 'upload' : routeClass;
  return { path, routeClass, scope: admin ? 'admin' : routeClass, tier: safe ? 'read' : routeClass, bodyLimitClass };
}

/** OpenAI-compatible routes answer errors in OpenAI's shape, so OpenAI SDKs parse them. */
export function errorFormatForPath(path: string): ErrorFormat {
  return OPENAI_PATH.test(path) ? 'openai' : 'envelope';
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
