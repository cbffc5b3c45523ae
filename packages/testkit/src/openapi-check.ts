import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

/**
 * Checks one HTTP response against an OpenAPI 3.1 document: the operation (method + path
 * template), the status, the content type and, for JSON, the body against the documented
 * schema. Used by the jest hook (every response a service app sends in a test) and by the e2e
 * tests (responses of the gateway, against the merged document).
 */

type Json = Record<string, unknown>;

export interface ObservedResponse {
  method: string;
  /** The request path, without the query string. */
  path: string;
  status: number;
  contentType: string | undefined;
  /** The body as sent; undefined when it was too large to keep. */
  body: Buffer | undefined;
  /** Check only paths the document lists (the gateway: the others are proxied answers). */
  ownPathsOnly?: boolean;
}

/** Routes every service serves outside its document (health, metrics, the docs themselves). */
export const EXEMPT_PATHS: readonly RegExp[] = [/^\/healthz$/, /^\/readyz$/, /^\/metrics$/, /^\/openapi\.json$/, /^\/docs(\/.*)?$/];

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

interface PathTemplate {
  template: string;
  pattern: RegExp;
  item: Json;
}

function compareTemplates(a: string, b: string): number {
  const as = a.split('/');
  const bs = b.split('/');
  for (let i = 0; i < Math.min(as.length, bs.length); i++) {
    const aParam = as[i]!.startsWith('{');
    const bParam = bs[i]!.startsWith('{');
    if (aParam !== bParam) return aParam ? 1 : -1;
  }
  return 0;
}

/** One document prepared for checking: path matchers and compiled schemas, built once. */
export class OpenApiChecker {
  private readonly ajv: Ajv2020;
  private readonly templates: PathTemplate[];
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(private readonly document: Json) {
    // The document itself is registered as a schema so `#/components/...` refs resolve; its
    // OpenAPI-only keywords (discriminator, example) are not JSON Schema, hence strict: false.
    this.ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
    addFormats(this.ajv);
    this.ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
    this.ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
    this.ajv.addSchema(document, 'openapi');
    const pathItems: Json = {
      ...(isObject(document['paths']) ? document['paths'] : {}),
      ...(isObject(document['x-internal-paths']) ? document['x-internal-paths'] : {}),
    };
    this.templates = Object.entries(pathItems)
      .filter((entry): entry is [string, Json] => isObject(entry[1]))
      .map(([template, item]) => {
        const source = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+');
        return { template, pattern: new RegExp(`^${source}$`), item };
      })
      // A literal segment wins over a parameter at the first place they differ:
      // /v1/images/batch/{action} before /v1/images/{id}/approve.
      .sort((a, b) => compareTemplates(a.template, b.template));
  }

  /** Why the response does not match the document, or undefined when it does (or is exempt). */
  check(response: ObservedResponse): string | undefined {
    const { path, status } = response;
    if (EXEMPT_PATHS.some((p) => p.test(path))) return undefined;
    const method = response.method.toLowerCase();
    const found = this.templates.find((t) => t.pattern.test(path));
    const documentedMethod =
      found && (isObject(found.item[method]) ? method : method === 'head' && isObject(found.item['get']) ? 'get' : undefined);
    if (!found && response.ownPathsOnly) return undefined;
    if (!found || !documentedMethod) {
      // An undocumented route may only be refused: the platform's catch-all answers (no such
      // route, method not allowed, a bad URL or no credential before routing) are 4xx in the
      // error envelope, and a CORS preflight; anything else there is a hole in the document.
      if (method === 'options' && status < 300) return undefined;
      if (status >= 400 && status < 500 && this.isErrorEnvelope(response)) return undefined;
      return `${response.method.toUpperCase()} ${path} answered ${status} but the document has no ${found ? `${method} operation on ${found.template}` : 'path matching it'}`;
    }
    const operationId = `${documentedMethod.toUpperCase()} ${found.template}`;
    const responses = (found.item[documentedMethod] as Json)['responses'];
    const statusKey = [String(status), `${String(status)[0]}XX`, 'default'].find((k) => isObject(responses) && isObject(responses[k]));
    if (!statusKey)
      return `${operationId}: status ${status} is not documented (documented: ${Object.keys(isObject(responses) ? responses : {}).join(', ')})`;
    if (method === 'head') return undefined;
    const content = (responses as Json)[statusKey] as Json;
    const media = isObject(content['content']) ? content['content'] : undefined;
    const hasBody = response.body === undefined || response.body.length > 0;
    if (!media) return hasBody ? `${operationId}: status ${status} is documented without a body, but one was sent` : undefined;
    if (!hasBody && status === 204) return undefined;
    const mediaType = (response.contentType ?? '').split(';')[0]!.trim().toLowerCase();
    const mediaKey = Object.keys(media).find(
      (k) => k === mediaType || k === '*/*' || (k.endsWith('/*') && mediaType.startsWith(k.slice(0, -1))),
    );
    if (!mediaKey)
      return `${operationId}: status ${status} sent ${mediaType || 'no content type'}; documented: ${Object.keys(media).join(', ')}`;
    if (!/json$/.test(mediaKey) || response.body === undefined) return undefined;
    let body: unknown;
    try {
      body = JSON.parse(response.body.toString('utf8'));
    } catch {
      return `${operationId}: status ${status} sent a body that is not JSON`;
    }
    const pointer = ['paths', found.template, documentedMethod, 'responses', statusKey, 'content', mediaKey, 'schema'];
    const inInternal = !(isObject(this.document['paths']) && this.document['paths'][found.template]);
    if (inInternal) pointer[0] = 'x-internal-paths';
    const validate = this.validator(pointer);
    if (!validate || validate(body)) return undefined;
    const errors = (validate.errors ?? [])
      .slice(0, 5)
      .map((e) => `${e.instancePath || '(body)'} ${e.message ?? ''}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
    return `${operationId}: status ${status} body does not match its schema: ${errors.join('; ')}\n  body: ${JSON.stringify(body).slice(0, 600)}`;
  }

  private isErrorEnvelope(response: ObservedResponse): boolean {
    try {
      const body = JSON.parse(response.body?.toString('utf8') ?? '') as { error?: { code?: unknown; message?: unknown } };
      return typeof body.error?.code === 'string' && typeof body.error.message === 'string';
    } catch {
      return false;
    }
  }

  private validator(pointer: string[]): ValidateFunction | undefined {
    const ref = `openapi#/${pointer.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`;
    let validate = this.compiled.get(ref);
    if (!validate) {
      const schema = pointer.reduce<unknown>((node, key) => (isObject(node) ? node[key] : undefined), this.document);
      if (schema === undefined) return undefined;
      validate = this.ajv.compile({ $ref: ref });
      this.compiled.set(ref, validate);
    }
    return validate;
  }
}

const checkers = new WeakMap<object, OpenApiChecker>();

/** The checker of a document, cached per document object. */
export function checkerFor(document: Json): OpenApiChecker {
  let checker = checkers.get(document);
  if (!checker) {
    checker = new OpenApiChecker(document);
    checkers.set(document, checker);
  }
  return checker;
}
