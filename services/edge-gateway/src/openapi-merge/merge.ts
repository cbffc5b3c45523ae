import type { Logger } from '@tollgate/common';

type Json = Record<string, unknown>;

const COMPONENT_SECTIONS = ['schemas', 'responses', 'parameters', 'requestBodies', 'headers', 'examples', 'links', 'callbacks'] as const;
/** Only the public API is published; `/internal/...` and health routes stay out of the merged document. */
const PUBLIC_PATH = /^\/v1\//;
const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A component name safe in a $ref (`^[a-zA-Z0-9._-]+$`), namespaced by service. */
const namespaced = (service: string, name: string) => `${service.replace(/[^A-Za-z0-9_-]/g, '_')}.${name}`;

/** Rewrites `#/components/<section>/<name>` refs of one service document to their namespaced names. */
function rewriteRefs(value: unknown, service: string): unknown {
  if (Array.isArray(value)) return value.map((v) => rewriteRefs(v, service));
  if (!isObject(value)) return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === '$ref' && typeof v === 'string') {
      const match = /^#\/components\/([A-Za-z]+)\/(.+)$/.exec(v);
      out[k] = match ? `#/components/${match[1]}/${namespaced(service, match[2]!)}` : v;
    } else {
      out[k] = rewriteRefs(v, service);
    }
  }
  return out;
}

/**
 * What the gateway itself may answer on any proxied route, before or instead of the service:
 * its credential check, body limits, rate limits, idempotency keys (POST) and upstream failures.
 */
const GATEWAY_ANSWERS: Record<string, string> = {
  '401': 'No valid credential (checked by the gateway)',
  '413': 'The request body is over the limit of its route class',
  '429': 'Rate limited by the gateway (Retry-After, RateLimit headers)',
  '502': 'The service failed to answer',
  '503': 'The service is unavailable (breaker open or draining)',
  '504': 'The service did not answer in time',
};
const GATEWAY_POST_ANSWERS: Record<string, string> = {
  '409': 'A request with this Idempotency-Key is still in flight',
  '422': 'Idempotency-Key reused with a different request',
};

/** A service operation's answers plus the gateway's, in the shape of the operation's own 401 (the envelope, or OpenAI's error). */
function withGatewayAnswers(method: string, responses: unknown): unknown {
  if (!isObject(responses)) return responses;
  const errorShape = isObject(responses['401']) ? responses['401']['content'] : { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } };
  const added: Json = {};
  for (const [status, description] of Object.entries({ ...GATEWAY_ANSWERS, ...(method === 'post' ? GATEWAY_POST_ANSWERS : {}) })) {
    if (!isObject(responses[status])) added[status] = { description, content: errorShape };
  }
  return Object.fromEntries(Object.entries({ ...responses, ...added }).sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * One public document: the gateway's own (admin routes, security scheme) plus every service's
 * `/v1` paths. Each service's components are namespaced (`credits.Balance`) so two services
 * may use the same schema name; operation-level `security` from services (their internal
 * identity header) is dropped, so the gateway's bearer scheme applies everywhere.
 */
export function mergeOpenApi(own: Json, services: { name: string; document: Json }[]): Json {
  const merged: Json = structuredClone(own);
  const paths: Json = { ...(isObject(merged['paths']) ? merged['paths'] : {}) };
  const components: Json = { ...(isObject(merged['components']) ? merged['components'] : {}) };
  const tags = new Map<string, Json>();
  for (const tag of Array.isArray(merged['tags']) ? (merged['tags'] as Json[]) : []) if (typeof tag['name'] === 'string') tags.set(tag['name'], tag);

  for (const { name, document } of services) {
    const rewritten = rewriteRefs(document, name) as Json;
    const servicePaths = isObject(rewritten['paths']) ? rewritten['paths'] : {};
    for (const [path, item] of Object.entries(servicePaths)) {
      if (!PUBLIC_PATH.test(path) || !isObject(item)) continue;
      const cleaned: Json = {};
      for (const [key, operation] of Object.entries(item)) {
        if (HTTP_METHODS.has(key) && isObject(operation)) {
          const { security: _internalSecurity, ...rest } = operation;
          cleaned[key] = {
            ...rest,
            tags: Array.isArray(rest['tags']) && rest['tags'].length > 0 ? rest['tags'] : [name],
            responses: withGatewayAnswers(key, rest['responses']),
          };
        } else {
          cleaned[key] = operation;
        }
      }
      paths[path] = { ...(isObject(paths[path]) ? paths[path] : {}), ...cleaned };
    }
    const serviceComponents = isObject(rewritten['components']) ? rewritten['components'] : {};
    for (const section of COMPONENT_SECTIONS) {
      const entries = serviceComponents[section];
      if (!isObject(entries)) continue;
      const target: Json = { ...(isObject(components[section]) ? components[section] : {}) };
      for (const [componentName, component] of Object.entries(entries)) target[namespaced(name, componentName)] = component;
      components[section] = target;
    }
    for (const tag of Array.isArray(rewritten['tags']) ? (rewritten['tags'] as Json[]) : []) {
      if (typeof tag['name'] === 'string' && !tags.has(tag['name'])) tags.set(tag['name'], tag);
    }
    if (!tags.has(name)) tags.set(name, { name, description: `Served by the ${name} service` });
  }

  merged['paths'] = Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b)));
  merged['components'] = withoutUnused(components, merged['paths'] as Json);
  merged['tags'] = [...tags.values()];
  return merged;
}

/**
 * Only the components the public paths reach (transitively): a service's internal-only schemas
 * (credits.Hold, used by /internal/ routes) stay out of the public document. Security schemes
 * are kept: they are referenced by name, not by $ref.
 */
function withoutUnused(components: Json, paths: Json): Json {
  const used = new Set<string>();
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(visit);
    else if (isObject(value)) {
      for (const [k, v] of Object.entries(value)) {
        if (k === '$ref' && typeof v === 'string' && !used.has(v)) {
          used.add(v);
          const match = /^#\/components\/([A-Za-z]+)\/(.+)$/.exec(v);
          const section = match ? components[match[1]!] : undefined;
          if (match && isObject(section)) visit(section[match[2]!]);
        } else visit(v);
      }
    }
  };
  visit(paths);
  const kept: Json = {};
  for (const [section, entries] of Object.entries(components)) {
    if (section === 'securitySchemes' || !isObject(entries)) {
      kept[section] = entries;
      continue;
    }
    const live = Object.entries(entries).filter(([name]) => used.has(`#/components/${section}/${name}`));
    if (live.length > 0) kept[section] = Object.fromEntries(live);
  }
  return kept;
}

export interface OpenApiAggregatorOptions {
  own: () => Json;
  upstreams: Record<string, string>;
  timeoutMs: number;
  cacheMs: number;
  logger: Logger;
  fetch?: typeof fetch;
}

/**
 * Fetches every upstream's /openapi.json (with a timeout, concurrently), merges, and caches
 * the result briefly. An upstream that cannot be reached keeps its last good document; if it
 * never answered, its paths are missing and `x-tollgate-unavailable` names it.
 */
export function createOpenApiAggregator(options: OpenApiAggregatorOptions) {
  const fetchFn = options.fetch ?? fetch;
  const lastGood = new Map<string, Json>();
  let cached: { document: Json; at: number } | undefined;
  let inflight: Promise<Json> | undefined;

  async function fetchOne(name: string, url: string): Promise<Json | undefined> {
    try {
      const res = await fetchFn(`${url}/openapi.json`, { signal: AbortSignal.timeout(options.timeoutMs) });
      if (!res.ok) throw new Error(`answered ${res.status}`);
      const body: unknown = await res.json();
      if (!isObject(body)) throw new Error('not a JSON object');
      lastGood.set(name, body);
      return body;
    } catch (err) {
      options.logger.warn('could not fetch an upstream OpenAPI document', { upstream: name, err: (err as Error).message });
      return lastGood.get(name);
    }
  }

  async function build(): Promise<Json> {
    const entries = Object.entries(options.upstreams);
    const documents = await Promise.all(entries.map(async ([name, url]) => ({ name, document: await fetchOne(name, url) })));
    const available = documents.filter((d): d is { name: string; document: Json } => d.document !== undefined);
    const merged = mergeOpenApi(options.own(), available);
    const missing = documents.filter((d) => d.document === undefined).map((d) => d.name);
    if (missing.length > 0) merged['x-tollgate-unavailable'] = missing;
    cached = { document: merged, at: Date.now() };
    return merged;
  }

  return {
    async document(): Promise<Json> {
      if (cached && Date.now() - cached.at < options.cacheMs) return cached.document;
      inflight ??= build().finally(() => {
        inflight = undefined;
      });
      return inflight;
    },
  };
}
