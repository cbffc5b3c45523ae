import {
  extendZodWithOpenApi,
  OpenApiGeneratorV31,
  OpenAPIRegistry,
  type ResponseConfig,
  type RouteConfig,
} from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

// Named components (registry.register) need zod-to-openapi's `.openapi()` on zod's schemas.
extendZodWithOpenApi(z);

/**
 * Every service's OpenAPI document is generated from the zod schemas its routes validate with
 * (requests) and answer with (responses), so the document cannot drift from the code; the test
 * suite checks every response it sees against it (packages/testkit/src/response-hook.ts).
 * This is the one builder they share: the error envelope, the security scheme, the common
 * error answers and the split between public and service-to-service paths.
 */

type Json = Record<string, unknown>;

/** Tollgate's error envelope (errors.ts, toEnvelope). */
export const errorEnvelopeSchema = z
  .object({
    error: z.object({
      code: z.string().meta({ description: 'One of the closed set of error codes', example: 'VALIDATION_FAILED' }),
      message: z.string(),
      request_id: z.string(),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .openapi('Error', { description: 'Every error but those of the OpenAI-compatible routes' });

/** The bearer credential the gateway checks; services see its identity token instead. */
export const BEARER_SCHEME = {
  type: 'http',
  scheme: 'bearer',
  description: 'An API key (tg_...), a JWT, or the admin token; checked by the edge gateway',
} as const;

/** The scope a route requires, shown in the document and the API reference. */
export type Scope = 'read' | 'write' | 'completion' | 'generation' | 'admin' | 'service' | 'none';

export interface ApiRoute extends Omit<RouteConfig, 'security'> {
  /** Required scope (any one of a list); `none` for routes that need no credential. */
  scope: Scope | Scope[];
}

export interface ApiDocumentInfo {
  title: string;
  description: string;
  version?: string;
  tags?: { name: string; description: string }[];
}

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input (`details.issues` names each bad field)',
  401: 'No valid credential',
  403: 'The credential lacks the required scope',
  404: 'Not found',
  409: 'Conflicts with the current state',
  413: 'The request body is too large',
  415: 'Unsupported content type',
  422: 'Idempotency-Key reused with a different request',
  429: 'Rate limited (`Retry-After`)',
  500: 'Internal error',
  503: 'Temporarily unavailable (a dependency is down, or the request took too long)',
};

/** An answer in the error envelope. */
export function errorResponse(description: string, schema: z.ZodType = errorEnvelopeSchema): ResponseConfig {
  return { description, content: { 'application/json': { schema } } };
}

/** A JSON answer. */
export function jsonResponse(description: string, schema: z.ZodType): ResponseConfig {
  return { description, content: { 'application/json': { schema } } };
}

/** A required JSON request body. */
export function jsonBody(schema: z.ZodType, description?: string): NonNullable<RouteConfig['request']>['body'] {
  return { required: true, ...(description ? { description } : {}), content: { 'application/json': { schema } } };
}

/** Error answers with their usual descriptions, e.g. `errors(400, 404)`; pass a string to describe one differently. */
export function errors(...entries: (number | [number, string])[]): Record<string, ResponseConfig> {
  return Object.fromEntries(
    entries.map((entry) => {
      const [status, description] = Array.isArray(entry) ? entry : [entry, ERROR_DESCRIPTIONS[entry] ?? 'Error'];
      return [String(status), errorResponse(description)];
    }),
  );
}

/**
 * One service's document. Routes under `/internal/` are service-to-service: they are kept
 * out of `paths` (the gateway publishes `paths` only) in `x-internal-paths`.
 */
export class ApiDocument {
  readonly registry = new OpenAPIRegistry();
  private readonly errorAnswers: (route: ApiRoute) => Record<string, ResponseConfig>;

  constructor(
    private readonly info: ApiDocumentInfo,
    options: { errorAnswers?: (route: ApiRoute) => Record<string, ResponseConfig> } = {},
  ) {
    this.registry.registerComponent('securitySchemes', 'bearer', BEARER_SCHEME);
    this.errorAnswers = options.errorAnswers ?? defaultErrorAnswers;
  }

  /** A named component schema (`#/components/schemas/<name>`). */
  schema<T extends z.ZodType>(name: string, schema: T): T {
    return this.registry.register(name, schema);
  }

  /**
   * One operation. Every route also documents the answers any route may give (the defaults
   * below); a route's own entry for a status wins.
   */
  route(route: ApiRoute): void {
    const { scope, responses, ...rest } = route;
    this.registry.registerPath({
      operationId: operationIdOf(route.method, route.path),
      ...rest,
      ...(scope === 'none' ? { security: [] } : {}),
      'x-scope': Array.isArray(scope) ? scope.join(' or ') : scope,
      responses: { ...this.errorAnswers(route), ...responses },
    } as RouteConfig);
  }

  /** The OpenAPI 3.1 document (each call generates it anew; services build it once, at load). */
  build(): Json {
    const generated = new OpenApiGeneratorV31(this.registry.definitions).generateDocument({
      openapi: '3.1.0',
      info: { title: this.info.title, version: this.info.version ?? '0.1.0', description: this.info.description },
      security: [{ bearer: [] }],
      ...(this.info.tags ? { tags: this.info.tags } : {}),
    }) as unknown as Json;
    const paths = (generated['paths'] ?? {}) as Json;
    const publicPaths: Json = {};
    const internalPaths: Json = {};
    for (const [path, item] of Object.entries(paths)) (path.startsWith('/internal/') ? internalPaths : publicPaths)[path] = item;
    return { ...generated, paths: publicPaths, ...(Object.keys(internalPaths).length > 0 ? { 'x-internal-paths': internalPaths } : {}) };
  }
}

/** `post /v1/admin/tenants/{id}/credits` → `postAdminTenantsIdCredits`: unique, since paths are unique across services. */
export function operationIdOf(method: string, path: string): string {
  const words = path
    .replace(/^\/(internal\/)?v1\//, (_m, internal: string | undefined) => (internal ? 'internal/' : ''))
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean);
  return method.toLowerCase() + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}

/** What every authenticated route may answer besides its own statuses. */
function defaultErrorAnswers(route: ApiRoute): Record<string, ResponseConfig> {
  const withInput = route.request !== undefined;
  return {
    ...(withInput ? errors(400) : {}),
    ...(route.scope === 'none' ? {} : errors(401, 403)),
    ...errors(500, 503),
  };
}
