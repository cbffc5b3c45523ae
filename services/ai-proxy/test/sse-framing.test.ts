import type { ServerResponse } from 'node:http';
import { identityHeaders, listen, readBody, type Listening } from '@tollgate/testkit';
import OpenAI from 'openai';
import { readSse, type SseEvent } from '../src/providers/http';
import { startHarness, type Harness } from './support/harness';
import type { FakeCredits } from '@tollgate/testkit';

/**
 * SSE framing from providers: every line ending the spec allows (\n, \r\n, a lone \r), comments,
 * multi-line data, unknown fields, and bodies cut into chunks at awkward places (inside a field
 * name, between \r and \n, inside a UTF-8 sequence). Every event must come through, in order.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const base = { id: 'chatcmpl-raw', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'raw-model', system_fingerprint: null };
const delta = (content: string) => ({ ...base, choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }] });
const usage = { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 };

/** The OpenAI-framed stream with every awkward framing at once; its text deltas join to EXPECTED_TEXT. */
const EXPECTED_TEXT = 'Hello, wörld 🌍! Line two.';
const OPENAI_STREAM = [
  ': a comment before anything\r\n',
  `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] })}\r\n\r\n`,
  // CR-only line endings: the case that merged two events in our old parser.
  `data: ${JSON.stringify(delta('Hello'))}\r\r`,
  `: keep-alive\r`,
  `data: ${JSON.stringify(delta(', '))}\r\r`,
  // Multi-line data: the JSON is split across data lines (joined with \n, still valid JSON).
  `id: 7\nevent: message\ndata: {"id":"chatcmpl-raw","object":"chat.completion.chunk",\ndata:"created":1700000000,"model":"raw-model",\ndata: "choices":[{"index":0,"delta":{"content":"wörld 🌍"},"logprobs":null,"finish_reason":null}]}\n\n`,
  // Mixed endings inside one event, an unknown field, a retry field.
  `retry: 1000\r\nx-unknown: ignored\rdata: ${JSON.stringify(delta('! '))}\r\n\n`,
  `data:${JSON.stringify(delta('Line two.'))}\n\r\n`,
  `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }] })}\r\r`,
  `data: ${JSON.stringify({ ...base, choices: [], usage })}\r\n\r\n`,
  'data: [DONE]\r\r',
].join('');

/** Events in OPENAI_STREAM: role, five text deltas, finish, usage, [DONE]. */
const OPENAI_EVENTS = 9;

/** `bytes` cut at every awkward place: between \r and \n, inside UTF-8 sequences, inside a field name, after a colon. */
function awkwardCuts(bytes: Buffer): Buffer[] {
  const cuts = new Set<number>();
  for (let i = 1; i < bytes.length; i++) {
    const prev = bytes[i - 1]!;
    const cur = bytes[i]!;
    if (prev === 0x0d && cur === 0x0a) cuts.add(i); // between \r and \n
    if (cur >= 0x80 && cur < 0xc0) cuts.add(i); // inside a UTF-8 sequence
    if (prev === 0x64 && cur === 0x61 && bytes[i + 1] === 0x74) cuts.add(i); // "d|ata"
    if (prev === 0x3a && cur === 0x20) cuts.add(i); // "data:| "
    if (prev === 0x0d && cur === 0x0d) cuts.add(i); // between the two \r of a CR-only blank line
  }
  const points = [...cuts].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    pieces.push(bytes.subarray(at, p));
    at = p;
  }
  pieces.push(bytes.subarray(at));
  return pieces;
}

async function collect(chunks: (Buffer | string)[]): Promise<SseEvent[]> {
  async function* body() {
    for (const c of chunks) yield c;
  }
  const events: SseEvent[] = [];
  for await (const e of readSse(body(), 'test stream', new AbortController().signal)) events.push(e);
  return events;
}

describe('SSE framing from providers (eventsource-parser)', () => {
  describe('readSse', () => {
    it('ends lines at \\n, \\r\\n and a lone \\r: "data: b\\r\\rdata: c" is two events', async () => {
      expect(await collect(['data: a\n\ndata: b\r\rdata: c\r\n\r\n'])).toEqual([
        { event: undefined, data: 'a' },
        { event: undefined, data: 'b' },
        { event: undefined, data: 'c' },
      ]);
    });

    it('joins multi-line data with \\n, skips comments and unknown fields, keeps the event name', async () => {
      expect(await collect([': hi\revent: ping\rdata: one\r\ndata:two\nfoo: bar\ndata\n\r'])).toEqual([
        { event: 'ping', data: 'one\ntwo\n' },
      ]);
    });

    it('yields the same events however the body is cut: at every single byte boundary', async () => {
      const bytes = Buffer.from(OPENAI_STREAM, 'utf8');
      const whole = await collect([bytes]);
      expect(whole).toHaveLength(OPENAI_EVENTS);
      expect(whole.at(-1)).toEqual({ event: undefined, data: '[DONE]' });
      expect(whole[3]!.event).toBe('message');
      expect(JSON.parse(whole[3]!.data).choices[0].delta.content).toBe('wörld 🌍');

      // Two pieces, cut at every offset.
      for (let i = 1; i < bytes.length; i++) {
        const events = await collect([bytes.subarray(0, i), bytes.subarray(i)]);
        if (JSON.stringify(events) !== JSON.stringify(whole))
          throw new Error(`cut at byte ${i} changed the events: ${JSON.stringify(events)}`);
      }
      // One byte at a time.
      expect(await collect([...bytes].map((b) => Buffer.from([b])))).toEqual(whole);
      // Awkward cuts only.
      expect(await collect(awkwardCuts(bytes))).toEqual(whole);
    });

    it('still delivers a last event whose blank line never came (the upstream closed right after it)', async () => {
      expect(await collect(['data: first\r\rdata: last'])).toEqual([
        { event: undefined, data: 'first' },
        { event: undefined, data: 'last' },
      ]);
      expect(await collect(['data: first\n\ndata: last\r'])).toEqual([
        { event: undefined, data: 'first' },
        { event: undefined, data: 'last' },
      ]);
    });
  });

  describe('through the proxy, against providers that send raw bytes', () => {
    let h: Harness & { fakeCredits: FakeCredits | undefined };
    let upstream: Listening;
    /** The raw body the fake sends next, in these pieces (each written separately, with a pause). */
    let pieces: Buffer[] = [];
    const tenant = 'tenant_sse_framing';
    const client = () => new OpenAI({ apiKey: 'x', baseURL: `${h.url}/v1`, defaultHeaders: identityHeaders(tenant), maxRetries: 0 });

    const writePieces = async (res: ServerResponse) => {
      res.socket?.setNoDelay(true);
      for (const piece of pieces) {
        res.write(piece);
        await sleep(3);
      }
      res.end();
    };

    beforeAll(async () => {
      upstream = await listen((req, res) => {
        void (async () => {
          await readBody(req);
          res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
          await writePieces(res);
        })().catch(() => res.destroy());
      });
      h = await startHarness({
        label: 'ai_sse_framing',
        routingEnv: { RAW_ANTHROPIC_KEY: 'sk-ant-raw' },
        routing: {
          models: {
            raw: {
              price: { input_per_1k: 1_000, output_per_1k: 1_000 },
              max_output_tokens: 300,
              targets: [{ provider: 'openai', model: 'raw-model', base_url: `${upstream.url}/v1` }],
            },
            'raw-claude': {
              price: { input_per_1k: 1_000, output_per_1k: 1_000 },
              max_output_tokens: 300,
              targets: [{ provider: 'anthropic', model: 'claude-raw', base_url: upstream.url, api_key_env: 'RAW_ANTHROPIC_KEY' }],
            },
          },
        },
      });
      h.fakeCredits!.topUp(tenant, 100_000_000);
    });

    afterAll(async () => {
      await h.close();
      await upstream.close();
    });

    it('an OpenAI-compatible stream with CR, CRLF, comments, multi-line data and awkward chunk cuts', async () => {
      pieces = awkwardCuts(Buffer.from(OPENAI_STREAM, 'utf8'));
      expect(pieces.length).toBeGreaterThan(20);
      const stream = await client().chat.completions.create({
        model: 'raw',
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: 'hi' }],
      });
      const chunks = [];
      for await (const c of stream) chunks.push(c);
      const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
      expect(text).toBe(EXPECTED_TEXT);
      expect(chunks.filter((c) => c.choices[0]?.delta?.content).map((c) => c.choices[0]!.delta.content)).toEqual([
        'Hello',
        ', ',
        'wörld 🌍',
        '! ',
        'Line two.',
      ]);
      expect(chunks.some((c) => c.choices[0]?.finish_reason === 'stop')).toBe(true);
      expect(chunks.at(-1)!.usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 5 });
    });

    it('an Anthropic stream in CR-only framing with event lines, pings, CRLF multi-line data and awkward chunk cuts', async () => {
      const ev = (name: string, body: unknown) => `event: ${name}\rdata: ${JSON.stringify(body)}\r\r`;
      const raw = [
        ev('message_start', {
          type: 'message_start',
          message: { id: 'msg_raw', model: 'claude-raw', usage: { input_tokens: 4, output_tokens: 1 } },
        }),
        ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
        ': comment\r',
        ev('ping', { type: 'ping' }),
        ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Grüße' } }),
        // CRLF and multi-line data in the same stream.
        'event: content_block_delta\r\ndata: {"type":"content_block_delta","index":0,\r\ndata: "delta":{"type":"text_delta","text":" aus Köln"}}\r\n\r\n',
        ev('content_block_stop', { type: 'content_block_stop', index: 0 }),
        ev('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 6 } }),
        ev('message_stop', { type: 'message_stop' }),
      ].join('');
      pieces = awkwardCuts(Buffer.from(raw, 'utf8'));
      const stream = await client().chat.completions.create({
        model: 'raw-claude',
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: 'hi' }],
      });
      const chunks = [];
      for await (const c of stream) chunks.push(c);
      expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe('Grüße aus Köln');
      expect(chunks.some((c) => c.choices[0]?.finish_reason === 'stop')).toBe(true);
      expect(chunks.at(-1)!.usage).toMatchObject({ prompt_tokens: 4, completion_tokens: 6 });
    });
  });
});
