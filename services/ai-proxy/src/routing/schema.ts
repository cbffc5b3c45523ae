import { readFileSync } from 'node:fs';
import { ConfigError } from '@tollgate/common';
import YAML from 'yaml';
import { z } from 'zod';

/**
 * The routing file: which model aliases exist, which upstream targets serve each (in fallback
 * order), what they cost, and the limits and cache rules around them. YAML or JSON; its path
 * comes from ROUTING_CONFIG_PATH and it is validated once at start-up.
 */

const nonNegInt = z.number().int().min(0);
const posInt = z.number().int().min(1);

export const mockOptionsSchema = z
  .object({
    /** Wait before the first byte (non-streaming: before the whole reply). */
    latency_ms: nonNegInt.default(0),
    /** Wait between streamed chunks. */
    chunk_delay_ms: nonNegInt.default(0),
    /** Words per streamed chunk. */
    chunk_words: posInt.default(1),
    /** Share of calls that fail with a 500, 0–1. */
    failure_rate: z.number().min(0).max(1).default(0),
    /** Fixed reply length in words (0: echo the prompt). */
    reply_words: nonNegInt.default(0),
  })
  .strict();

export type MockOptions = z.infer<typeof mockOptionsSchema>;

export const PROVIDERS = ['openai', 'anthropic', 'gemini', 'mock'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

const DEFAULT_BASE_URLS: Record<ProviderName, string> = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com',
  gemini: 'https://generativelanguage.googleapis.com',
  mock: 'mock://local',
};

const targetSchema = z
  .object({
    /** Names the target in metrics and the breaker; targets sharing an id share a breaker. */
    id: z
      .string()
      .regex(/^[A-Za-z0-9._:/-]{1,100}$/)
      .optional(),
    provider: z.enum(PROVIDERS),
    /** The upstream's model name. */
    model: z.string().min(1).max(200),
    base_url: z.string().url().optional(),
    /** Name of the environment variable holding the key (never the key itself). */
    api_key_env: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/)
      .optional(),
    /** Targets with the same priority share traffic by weight; lower priorities are fallbacks. */
    priority: nonNegInt.optional(),
    weight: nonNegInt.default(1),
    /** Non-streaming: the whole call; streaming: time to headers and longest silence between chunks. */
    timeout_ms: posInt.optional(),
    /** Retries on this target before falling back. */
    retries: nonNegInt.max(10).optional(),
    mock: mockOptionsSchema.optional(),
  })
  .strict();

const priceSchema = z
  .object({
    /** Micro-credits per 1,000 input tokens. */
    input_per_1k: nonNegInt,
    /** Micro-credits per 1,000 output tokens. */
    output_per_1k: nonNegInt.default(0),
  })
  .strict();

const modelSchema = z
  .object({
    type: z.enum(['chat', 'embedding']).default('chat'),
    price: priceSchema,
    /** Output cap: sent upstream as max_tokens and used for the worst-case hold. */
    max_output_tokens: posInt.optional(),
    /** Tenants that may use this alias; absent: every tenant. */
    tenants: z.array(z.string().min(1)).optional(),
    deadline_ms: posInt.optional(),
    targets: z.array(targetSchema).min(1).max(20),
  })
  .strict();

export const routingFileSchema = z
  .object({
    defaults: z
      .object({
        timeout_ms: posInt.default(30_000),
        retries: nonNegInt.max(10).default(2),
        deadline_ms: posInt.default(120_000),
        max_output_tokens: posInt.default(4_096),
        retry_base_delay_ms: nonNegInt.default(200),
        retry_max_delay_ms: nonNegInt.default(5_000),
        /** A Retry-After longer than this moves on to the next target instead of waiting. */
        max_retry_after_ms: nonNegInt.default(10_000),
        breaker_failures: posInt.default(5),
        breaker_half_open_after_ms: posInt.default(10_000),
      })
      .strict()
      .prefault({}),
    cache: z
      .object({
        ttl_s: posInt.default(3_600),
        /** Also cache requests with temperature 0 that did not send the header. */
        temperature_zero: z.boolean().default(false),
        /** Share of the original cost billed on a hit, 0–1. */
        hit_price_ratio: z.number().min(0).max(1).default(0),
      })
      .strict()
      .prefault({}),
    limits: z
      .object({
        /** Tokens per minute per API key; 0 is unlimited. */
        tokens_per_minute: nonNegInt.default(0),
        /** Per-key overrides, by key id. */
        keys: z.record(z.string(), nonNegInt).default({}),
      })
      .strict()
      .prefault({}),
    models: z.record(z.string().regex(/^[A-Za-z0-9._:/-]{1,128}$/, 'model aliases may hold letters, digits and . _ : / -'), modelSchema),
  })
  .strict();

export type RoutingFile = z.infer<typeof routingFileSchema>;
export type RoutingDefaults = RoutingFile['defaults'];

/** A target with every default filled in and its key read from the environment. */
export interface TargetConfig {
  id: string;
  provider: ProviderName;
  model: string;
  baseUrl: string;
  apiKey: string | undefined;
  priority: number;
  weight: number;
  timeoutMs: number;
  retries: number;
  mock: MockOptions;
}

export interface ModelRoute {
  alias: string;
  type: 'chat' | 'embedding';
  price: { input_per_1k: number; output_per_1k: number };
  maxOutputTokens: number;
  tenants: Set<string> | undefined;
  deadlineMs: number;
  targets: TargetConfig[];
}

export interface Routing {
  defaults: RoutingDefaults;
  cache: RoutingFile['cache'];
  limits: RoutingFile['limits'];
  models: Map<string, ModelRoute>;
}

export interface MockDefaults {
  latencyMs: number;
  chunkDelayMs: number;
  failureRate: number;
}

/** Validates a parsed routing document and resolves it; throws ConfigError with one line. */
export function resolveRouting(
  doc: unknown,
  env: Record<string, string | undefined>,
  mockDefaults: MockDefaults = { latencyMs: 0, chunkDelayMs: 0, failureRate: 0 },
): Routing {
  const parsed = routingFileSchema.safeParse(doc);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message.replace(/^Invalid input: /, '')}`);
    throw new ConfigError(`Invalid routing config: ${problems.join('; ')}`);
  }
  const file = parsed.data;
  const problems: string[] = [];
  const seen = new Map<string, string>();
  const models = new Map<string, ModelRoute>();
  for (const [alias, model] of Object.entries(file.models)) {
    const targets = model.targets.map((t, index): TargetConfig => {
      const id = t.id ?? `${t.provider}:${t.model}`;
      const baseUrl = (t.base_url ?? DEFAULT_BASE_URLS[t.provider]).replace(/\/$/, '');
      const identity = `${t.provider} ${baseUrl} ${t.model}`;
      const previous = seen.get(id);
      if (previous !== undefined && previous !== identity)
        problems.push(`models.${alias}.targets.${index} reuses target id ${id} for a different upstream; give it its own id`);
      seen.set(id, identity);
      let apiKey: string | undefined;
      if (t.api_key_env) {
        apiKey = env[t.api_key_env];
        if (!apiKey) problems.push(`models.${alias}.targets.${index} needs the environment variable ${t.api_key_env}`);
      } else if (t.provider === 'anthropic' || t.provider === 'gemini') {
        problems.push(`models.${alias}.targets.${index} (${t.provider}) needs api_key_env`);
      }
      if (model.type === 'embedding' && t.provider === 'anthropic')
        problems.push(`models.${alias}.targets.${index}: anthropic has no embeddings API`);
      return {
        id,
        provider: t.provider,
        model: t.model,
        baseUrl,
        apiKey,
        priority: t.priority ?? index,
        weight: t.weight,
        timeoutMs: t.timeout_ms ?? file.defaults.timeout_ms,
        retries: t.retries ?? file.defaults.retries,
        mock: mockOptionsSchema.parse({
          latency_ms: mockDefaults.latencyMs,
          chunk_delay_ms: mockDefaults.chunkDelayMs,
          failure_rate: mockDefaults.failureRate,
          ...(t.mock ?? {}),
        }),
      };
    });
    models.set(alias, {
      alias,
      type: model.type,
      price: model.price,
      maxOutputTokens: model.max_output_tokens ?? file.defaults.max_output_tokens,
      tenants: model.tenants ? new Set(model.tenants) : undefined,
      deadlineMs: model.deadline_ms ?? file.defaults.deadline_ms,
      targets,
    });
  }
  if (problems.length) throw new ConfigError(`Invalid routing config: ${problems.join('; ')}`);
  return { defaults: file.defaults, cache: file.cache, limits: file.limits, models };
}

/** Reads and validates the routing file (YAML or JSON by content; YAML is a superset of JSON). */
export function loadRoutingFile(path: string, env: Record<string, string | undefined>, mockDefaults?: MockDefaults): Routing {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`Invalid routing config: cannot read ${path}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = path.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  } catch (err) {
    throw new ConfigError(
      `Invalid routing config: ${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`,
    );
  }
  return resolveRouting(doc, env, mockDefaults);
}

/**
 * The routes used when no file is given: mock models always, and the well-known aliases on the
 * real provider when its key is in the environment (on the mock otherwise), so `npm start`
 * works with nothing outside.
 */
export function defaultRoutingDocument(env: Record<string, string | undefined>): Record<string, unknown> {
  const openai = env['OPENAI_API_KEY']
    ? (model: string) => ({
        provider: 'openai',
        model,
        api_key_env: 'OPENAI_API_KEY',
        ...(env['OPENAI_BASE_URL'] ? { base_url: env['OPENAI_BASE_URL'] } : {}),
      })
    : (model: string) => ({ provider: 'mock', model });
  const models: Record<string, unknown> = {
    'mock-1': { type: 'chat', price: { input_per_1k: 500, output_per_1k: 1_500 }, targets: [{ provider: 'mock', model: 'mock-1' }] },
    'mock-embed-1': { type: 'embedding', price: { input_per_1k: 20 }, targets: [{ provider: 'mock', model: 'mock-embed-1' }] },
    'gpt-4o-mini': { type: 'chat', price: { input_per_1k: 150, output_per_1k: 600 }, targets: [openai('gpt-4o-mini')] },
    'gpt-4o': { type: 'chat', price: { input_per_1k: 2_500, output_per_1k: 10_000 }, targets: [openai('gpt-4o')] },
    'text-embedding-3-small': { type: 'embedding', price: { input_per_1k: 20 }, targets: [openai('text-embedding-3-small')] },
  };
  if (env['ANTHROPIC_API_KEY']) {
    models['claude-3-5-haiku-latest'] = {
      type: 'chat',
      price: { input_per_1k: 800, output_per_1k: 4_000 },
      targets: [{ provider: 'anthropic', model: 'claude-3-5-haiku-latest', api_key_env: 'ANTHROPIC_API_KEY' }],
    };
  }
  if (env['GEMINI_API_KEY']) {
    models['gemini-2.0-flash'] = {
      type: 'chat',
      price: { input_per_1k: 100, output_per_1k: 400 },
      targets: [{ provider: 'gemini', model: 'gemini-2.0-flash', api_key_env: 'GEMINI_API_KEY' }],
    };
  }
  return { models };
}

/** The routing for this process: the file at ROUTING_CONFIG_PATH, or the built-in default. */
export function loadRouting(
  config: { ROUTING_CONFIG_PATH?: string | undefined; MOCK_LATENCY_MS: number; MOCK_CHUNK_DELAY_MS: number; MOCK_FAILURE_RATE_PCT: number },
  env: Record<string, string | undefined>,
): Routing {
  const mockDefaults = {
    latencyMs: config.MOCK_LATENCY_MS,
    chunkDelayMs: config.MOCK_CHUNK_DELAY_MS,
    failureRate: config.MOCK_FAILURE_RATE_PCT / 100,
  };
  if (config.ROUTING_CONFIG_PATH) return loadRoutingFile(config.ROUTING_CONFIG_PATH, env, mockDefaults);
  return resolveRouting(defaultRoutingDocument(env), env, mockDefaults);
}
