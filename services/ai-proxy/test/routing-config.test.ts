import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '@tollgate/common';
import { readSse } from '../src/providers/http';
import { ModelRouter } from '../src/routing/router';
import { defaultRoutingDocument, loadRouting, loadRoutingFile, resolveRouting } from '../src/routing/schema';

const mockDefaults = { MOCK_LATENCY_MS: 0, MOCK_CHUNK_DELAY_MS: 0, MOCK_FAILURE_RATE_PCT: 0 };

describe('routing config', () => {
  it('loads the example YAML file when its keys are in the environment', () => {
    const routing = loadRoutingFile(path.join(__dirname, '../routing.example.yaml'), {
      OPENAI_API_KEY: 'sk-1',
      ANTHROPIC_API_KEY: 'sk-2',
      GEMINI_API_KEY: 'g',
    });
    expect([...routing.models.keys()]).toEqual(['gpt-4o-mini', 'fast', 'text-embedding-3-small', 'internal-only']);
    const gpt = routing.models.get('gpt-4o-mini')!;
    expect(gpt.targets.map((t) => [t.id, t.provider, t.apiKey, t.baseUrl])).toEqual([
      ['openai-4o-mini', 'openai', 'sk-1', 'https://api.openai.com/v1'],
      ['claude-haiku-fallback', 'anthropic', 'sk-2', 'https://api.anthropic.com'],
    ]);
    expect(gpt.maxOutputTokens).toBe(16_384);
    expect(routing.limits.keys).toEqual({ key_batch_jobs: 2_000_000 });
    expect(routing.models.get('internal-only')!.tenants).toEqual(new Set(['tenant_acme']));
  });

  it('stops with one clear line naming each problem', () => {
    expect(() => loadRoutingFile(path.join(__dirname, '../routing.example.yaml'), {})).toThrow(
      /^Invalid routing config: models\.gpt-4o-mini\.targets\.0 needs the environment variable OPENAI_API_KEY; .*ANTHROPIC_API_KEY/,
    );
    expect(() => resolveRouting({ models: { m: { price: { input_per_1k: -1 }, targets: [] } } }, {})).toThrow(ConfigError);
    expect(() =>
      resolveRouting({ models: { m: { price: { input_per_1k: 1 }, targets: [{ provider: 'nope', model: 'x' }] } } }, {}),
    ).toThrow(/models\.m\.targets\.0\.provider/);
    expect(() =>
      resolveRouting(
        {
          models: {
            e: { type: 'embedding', price: { input_per_1k: 1 }, targets: [{ provider: 'anthropic', model: 'c', api_key_env: 'K' }] },
          },
        },
        { K: 'k' },
      ),
    ).toThrow(/anthropic has no embeddings API/);
    expect(() =>
      resolveRouting(
        {
          models: {
            a: { price: { input_per_1k: 1 }, targets: [{ id: 'same', provider: 'mock', model: 'x' }] },
            b: { price: { input_per_1k: 1 }, targets: [{ id: 'same', provider: 'mock', model: 'y' }] },
          },
        },
        {},
      ),
    ).toThrow(/reuses target id same/);
    expect(() => resolveRouting({ models: {}, surprise: true }, {})).toThrow(/Unrecognized key/);
  });

  it('reads JSON files too, and refuses a file that does not parse', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'routing-'));
    const json = path.join(dir, 'routing.json');
    writeFileSync(json, JSON.stringify({ models: { m: { price: { input_per_1k: 5 }, targets: [{ provider: 'mock', model: 'm' }] } } }));
    expect(loadRouting({ ROUTING_CONFIG_PATH: json, ...mockDefaults }, {}).models.get('m')!.price).toEqual({
      input_per_1k: 5,
      output_per_1k: 0,
    });
    const broken = path.join(dir, 'broken.yaml');
    writeFileSync(broken, 'models: [unclosed');
    expect(() => loadRouting({ ROUTING_CONFIG_PATH: broken, ...mockDefaults }, {})).toThrow(/is not valid YAML/);
    expect(() => loadRouting({ ROUTING_CONFIG_PATH: path.join(dir, 'missing.yaml'), ...mockDefaults }, {})).toThrow(/cannot read/);
  });

  it('defaults to the mock provider when no provider key is configured', () => {
    const routing = loadRouting(mockDefaults, {});
    expect([...routing.models.values()].flatMap((m) => m.targets.map((t) => t.provider))).toEqual(['mock', 'mock', 'mock', 'mock', 'mock']);
    const withKey = resolveRouting(defaultRoutingDocument({ OPENAI_API_KEY: 'sk' }), { OPENAI_API_KEY: 'sk' });
    expect(withKey.models.get('gpt-4o-mini')!.targets[0]!.provider).toBe('openai');
  });

  it('orders targets by priority tier, sharing a tier by weight', () => {
    const routing = resolveRouting(
      {
        models: {
          m: {
            price: { input_per_1k: 1 },
            targets: [
              { id: 'a', provider: 'mock', model: 'a', priority: 0, weight: 3 },
              { id: 'b', provider: 'mock', model: 'b', priority: 0, weight: 1 },
              { id: 'c', provider: 'mock', model: 'c', priority: 1 },
            ],
          },
        },
      },
      {},
    );
    let draw = 0;
    const draws = [0.1, 0.5, 0.5, 0.9, 0.5, 0.5]; // three draws per ordering (one per pick)
    const router = new ModelRouter(routing, () => draws[draw++ % draws.length]!);
    const route = routing.models.get('m')!;
    expect(router.order(route).map((t) => t.id)).toEqual(['a', 'b', 'c']);
    expect(router.order(route).map((t) => t.id)).toEqual(['b', 'a', 'c']);
  });
});

describe('SSE reader', () => {
  async function* pieces(...parts: string[]) {
    for (const p of parts) yield Buffer.from(p);
  }
  it('yields events across arbitrary chunk boundaries, with CRLF, comments and multi-line data', async () => {
    const events = [];
    for await (const e of readSse(
      pieces('event: mess', 'age_start\r\nda', 'ta: {"a":1}\r\n\r\n: comment\n\ndata: line1\ndata: line2\n', '\ndata: [DONE]\n\n'),
      'test',
      new AbortController().signal,
    ))
      events.push(e);
    expect(events).toEqual([
      { event: 'message_start', data: '{"a":1}' },
      { event: undefined, data: 'line1\nline2' },
      { event: undefined, data: '[DONE]' },
    ]);
  });
});
