import type { Config } from '../config';

export type UpstreamName = 'ai-proxy' | 'credits' | 'upload' | 'image-pipeline' | 'webhook';

/** Route classes drive rate-limit tiers and body limits. */
export type RouteClass = 'completion' | 'generation' | 'write' | 'read';

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
  { upstream: 'credits', pattern: /^\/v1\/admin\/tenants\/[^/]+\/credits\/?$/ },
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
