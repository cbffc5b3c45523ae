import type { IncomingMessage, ServerResponse } from 'node:http';
import { behaviourScript, serveFakeUpstream } from './fake-upstream';
import { type Listening, readBody } from './http';

/** What the next requests to the fake provider should experience. */
export interface FakeBehaviour {
  /** Added before the response starts. */
  latencyMs?: number;
  /** Delay between streamed chunks. */
  chunkDelayMs?: number;
  /** Answer with this status and an OpenAI-shaped error body. */
  status?: number;
  /** Sent as Retry-After with an error status. */
  retryAfterSeconds?: number;
  /** Never answer (the client must time out). */
  hang?: boolean;
  /** Answer only once this settles: keeps requests in flight together without timing. */
  until?: Promise<unknown>;
  /** Destroy the socket after this many streamed chunks (a mid-stream failure). */
  dropAfterChunks?: number;
  /** Stop sending after this many streamed chunks and keep the socket open (a stalled stream; the caller's deadline ends it). */
  stallAfterChunks?: number;
  /** Report these token counts instead of chars / 4 (a tokenizer that counts a script or an image differently). */
  usage?: { prompt_tokens?: number; completion_tokens?: number };
  /** How many requests this behaviour applies to; then the default returns. Unset: all. */
  times?: number;
  /** Report no usage at all, like OpenAI-compatible servers that ignore stream_options (billing must count). */
  omitUsage?: boolean;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export interface FakeOpenAi extends Listening {
  requests: RecordedRequest[];
  /** Queue a behaviour; behaviours are consumed in order, each for `times` requests. */
  behave(behaviour: FakeBehaviour): void;
  reset(): void;
}

/** The deterministic reply text for a prompt: easy to assert, different per prompt. */
export function fakeReplyFor(lastUserMessage: string): string {
  return `Echo: ${lastUserMessage}`.slice(0, 400);
}

/** Roughly one token per 4 characters, at least 1; same rule as the built-in mock provider. */
export function countTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

interface ChatBody {
  model?: string;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  messages?: { role: string; content: unknown }[];
  max_tokens?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p: { text?: string }) => p?.text ?? '').join('');
  return '';
}

/**
 * A local OpenAI-compatible provider: /v1/chat/completions (JSON and SSE streaming in OpenAI's
 * exact framing), /v1/embeddings, /v1/models, with injectable latency, errors, 429s with
 * Retry-After, hangs and mid-stream drops. Every request is recorded.
 */
export async function startFakeOpenAi(): Promise<FakeOpenAi> {
  const requests: RecordedRequest[] = [];
  const script = behaviourScript<FakeBehaviour>();
  const nextBehaviour = script.next;

  const sendError = (res: ServerResponse, status: number, retryAfter?: number) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
    res.writeHead(status, headers);
    res.end(JSON.stringify({ error: { message: `fake upstream error ${status}`, type: status === 429 ? 'rate_limit_error' : 'server_error', code: null, param: null } }));
  };

  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readBody(req);
    let body: unknown = undefined;
    try {
      body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
    } catch {
      body = raw.toString('utf8');
    }
    const path = (req.url ?? '/').split('?')[0]!;
    requests.push({ method: req.method ?? 'GET', path, headers: req.headers, body });
    const b = nextBehaviour();
    if (b.hang) return; // leave the request open
    if (b.until) await b.until.catch(() => undefined);
    if (b.latencyMs) await sleep(b.latencyMs);
    if (b.status && b.status >= 400) return sendError(res, b.status, b.retryAfterSeconds);

    if (req.method === 'GET' && path.endsWith('/models')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data: [{ id: 'fake-model', object: 'model', created: 1700000000, owned_by: 'fake' }] }));
      return;
    }
    if (req.method === 'POST' && path.endsWith('/embeddings')) {
      const input = (body as { input?: string | string[]; model?: string })?.input ?? '';
      const inputs = Array.isArray(input) ? input : [input];
      const data = inputs.map((text, index) => ({ object: 'embedding', index, embedding: Array.from({ length: 8 }, (_, i) => ((text.charCodeAt(i % Math.max(1, text.length)) || 0) % 17) / 17) }));
      const tokens = inputs.reduce((n, t) => n + countTokens(t), 0);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data, model: (body as { model?: string })?.model ?? 'fake-embed', usage: { prompt_tokens: tokens, total_tokens: tokens } }));
      return;
    }
    if (req.method === 'POST' && path.endsWith('/chat/completions')) {
      const chat = (body ?? {}) as ChatBody;
      const messages = chat.messages ?? [];
      const lastUser = [...messages].reverse().find((m) => m.role === 'user');
      const reply = fakeReplyFor(textOf(lastUser?.content));
      const promptTokens = b.usage?.prompt_tokens ?? messages.reduce((n, m) => n + countTokens(textOf(m.content)), 0);
      const completionTokens = b.usage?.completion_tokens ?? countTokens(reply);
      const id = `chatcmpl-fake${requests.length}`;
      const created = Math.floor(Date.now() / 1000);
      const model = chat.model ?? 'fake-model';
      const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
      if (!chat.stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id, object: 'chat.completion', created, model, choices: [{ index: 0, message: { role: 'assistant', content: reply }, logprobs: null, finish_reason: 'stop' }], ...(b.omitUsage ? {} : { usage }) }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      const words = reply.match(/\S+\s*/g) ?? [reply];
      const base = { id, object: 'chat.completion.chunk', created, model, system_fingerprint: null };
      const send = (payload: unknown) => res.write(`data: ${JSON.stringify(payload)}\n\n`);
      send({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] });
      let sent = 0;
      for (const word of words) {
        if (b.dropAfterChunks !== undefined && sent >= b.dropAfterChunks) {
          req.socket.destroy();
          return;
        }
        if (b.stallAfterChunks !== undefined && sent >= b.stallAfterChunks) return; // closed by close() or the client
        if (b.chunkDelayMs) await sleep(b.chunkDelayMs);
        send({ ...base, choices: [{ index: 0, delta: { content: word }, logprobs: null, finish_reason: null }] });
        sent++;
      }
      send({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }] });
      if (chat.stream_options?.include_usage && !b.omitUsage) send({ ...base, choices: [], usage });
      res.write('data: [DONE]\n\n');
      res.end();
      return;
    }
    sendError(res, 404);
  };

  return serveFakeUpstream(handler, requests, script);
}
