import { identityHeaders } from './identity';

/** One route an Express app or router serves: `GET /v1/files/:id`. */
export interface ListedRoute {
  method: string;
  path: string;
}

interface LayerLike {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: LayerLike[] };
  rawPath?: unknown;
}

/**
 * Every route an Express 5 app (or router) serves, read from its router stack, so a test can
 * go over all of them — including one added tomorrow — instead of a hand-kept list.
 */
export function listRoutes(appOrRouter: unknown): ListedRoute[] {
  const root = appOrRouter as { router?: { stack: LayerLike[] }; stack?: LayerLike[] };
  const stack = root.stack ?? root.router?.stack ?? [];
  const out: ListedRoute[] = [];
  const walk = (layers: LayerLike[], prefix: string) => {
    for (const layer of layers) {
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods)) {
          if (method !== '_all') out.push({ method: method.toUpperCase(), path: `${prefix}${layer.route.path}` });
        }
      } else if (layer.handle?.stack) {
        const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
        walk(layer.handle.stack, `${prefix}${mount}`);
      }
    }
  };
  walk(stack, '');
  return out;
}

const TENANT_SCOPES = ['read', 'write', 'completion', 'generation'];
/** Routes every service serves to anyone: health, metrics, docs. */
const OPEN_PATHS = /^\/(healthz|readyz|metrics|openapi\.json|docs)(\/|$)/;

export type SendAs = (method: string, path: string, headers: Record<string, string>) => Promise<number>;

/**
 * Sends to a listening service: an empty JSON object as the body where the method has one, and
 * whatever protocol headers the service wants before it looks at the caller (tus's version).
 */
export function sendTo(baseUrl: string, protocolHeaders: Record<string, string> = {}): SendAs {
  return async (method, path, headers) => {
    const body = method === 'GET' || method === 'HEAD' || method === 'DELETE' ? undefined : '{}';
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { ...protocolHeaders, ...headers, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body } : {}),
    });
    await res.arrayBuffer();
    return res.status;
  };
}

/**
 * The security floor of a service, checked where the resource is served (not at the edge):
 * every route answers 401 without an identity and 403 to an identity holding no scope it
 * accepts — tenant scopes on /v1/admin routes, tenant and admin scopes on /internal routes,
 * no scope at all on the rest. Returns the routes that did not (empty when all hold). OPTIONS
 * (tus discovery, CORS) and the open paths are left out.
 */
export async function routesMissingScopeChecks(app: unknown, send: SendAs, options: { except?: (r: ListedRoute) => boolean } = {}): Promise<string[]> {
  const failures: string[] = [];
  const routes = listRoutes(app).filter((r) => r.method !== 'OPTIONS' && !OPEN_PATHS.test(r.path) && !(options.except?.(r) ?? false));
  if (routes.length === 0) failures.push('no routes found: is this the app?');
  for (const r of routes) {
    const path = r.path.replace(/[:*]\w+/g, 'rt_0000000000');
    const unscoped = r.path.startsWith('/internal/')
      ? identityHeaders('tenant_scope_probe', [...TENANT_SCOPES, 'admin'])
      : r.path.startsWith('/v1/admin/')
        ? identityHeaders('tenant_scope_probe', TENANT_SCOPES)
        : identityHeaders('tenant_scope_probe', []);
    const anonymous = await send(r.method, path, {});
    const lacking = await send(r.method, path, unscoped);
    if (anonymous !== 401 || lacking !== 403) failures.push(`${r.method} ${r.path}: ${anonymous} without an identity, ${lacking} without its scope`);
  }
  return failures;
}
