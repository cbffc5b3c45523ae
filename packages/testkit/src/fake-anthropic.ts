import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FakeBehaviour, RecordedRequest } from './fake-openai';
import { countTokens, fakeReplyFor } from './fake-openai';
import { behaviourScript, serveFakeUpstream } from './fake-upstream';
import { type Listening, readBody } from './http';

/**
 * A local Anthropic Messages API (POST /v1/messages) in its real wire format: JSON responses
 * with content blocks and `stop_reason`, and streams of `event:` + `data:` SSE lines
 * (message_start, content_block_start, content_block_delta, content_block_stop,
 * message_delta, message_stop, with ping events between). Requests naming tools with
 * tool_choice `any`/`tool` get a tool_use block whose input is streamed as input_json_delta.
 * Errors use Anthropic's `{type: "error", error: {type, message}}` body; 529 means overloaded.
 */
export interface FakeAnthropic extends Listening {
  requests: RecordedRequest[];
  behave(behaviour: FakeBehaviour & { errorEventAfterChunks?: number }): void;
  reset(): void;
}

interface AnthropicBody {
  model?: string;
  max_tokens?: number;
  stream?: boolean;
  system?: string;
  messages?: { role: string; content: string | { type: string; text?: string; content?: string }[] }[];
  tools?: { name: string; input_schema?: unknown }[];
  tool_choice?: { type: string; name?: string };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return (content as { text?: string; content?: string }[]).map((b) => b.text ?? b.content ?? '').join('');
}

const ERROR_TYPES: Record<number, string> = { 400: 'invalid_request_error', 401: 'authentication_error', 404: 'not_found_error', 429: 'rate_limit_error', 500: 'api_error', 529: 'overloaded_error' };

export async function startFakeAnthropic(options: { apiKey?: string } = {}): Promise<FakeAnthropic> {
  const requests: RecordedRequest[] = [];
  const script = behaviourScript<FakeBehaviour & { errorEventAfterChunks?: number }>();
  const next = script.next;
  const sendError = (res: ServerResponse, status: number, message: string, retryAfter?: number) => {
    res.writeHead(status, { 'content-type': 'application/json', ...(retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {}) });
    res.end(JSON.stringify({ type: 'error', error: { type: ERROR_TYPES[status] ?? 'api_error', message } }));
  };

  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readBody(req);
    let body: AnthropicBody = {};
    try {
      body = JSON.parse(raw.toString('utf8')) as AnthropicBody;
    } catch {
      // recorded as is below
    }
    const path = (req.url ?? '/').split('?')[0]!;
    requests.push({ method: req.method ?? 'GET', path, headers: req.headers, body });
    const b = next();
    if (b.hang) return;
    if (b.latencyMs) await sleep(b.latencyMs);
    if (b.status && b.status >= 400) return sendError(res, b.status, `fake anthropic error ${b.status}`, b.retryAfterSeconds);
    if (req.method !== 'POST' || path !== '/v1/messages') return sendError(res, 404, 'not found');
    if (!req.headers['anthropic-version']) return sendError(res, 400, 'anthropic-version header is required');
    if (options.apiKey && req.headers['x-api-key'] !== options.apiKey) return sendError(res, 401, 'invalid x-api-key');
    if (typeof body.max_tokens !== 'number' || !Array.isArray(body.messages) || body.messages.length === 0) return sendError(res, 400, 'max_tokens and messages are required');
    if (body.messages[0]!.role !== 'user') return sendError(res, 400, 'messages: first message must use the "user" role');
    for (let i = 1; i < body.messages.length; i++) {
      if (body.messages[i]!.role === body.messages[i - 1]!.role) return sendError(res, 400, 'messages: roles must alternate between "user" and "assistant"');
    }

    const last = body.messages[body.messages.length - 1]!;
    const reply = fakeReplyFor(textOf(last.content));
    const inputTokens = (body.system ? countTokens(body.system) : 0) + body.messages.reduce((n, m) => n + countTokens(textOf(m.content)), 0);
    const forcedTool = body.tools?.length && (body.tool_choice?.type === 'any' || body.tool_choice?.type === 'tool') ? (body.tool_choice.name ?? body.tools[0]!.name) : undefined;
    const toolInput = { query: reply };
    const outputTokens = forcedTool ? countTokens(JSON.stringify(toolInput)) : countTokens(reply);
    const id = `msg_fake${requests.length}`;
    const model = body.model ?? 'claude-fake';
    const stopReason = forcedTool ? 'tool_use' : 'end_turn';

    if (!body.stream) {
      const content = forcedTool ? [{ type: 'tool_use', id: `toolu_fake${requests.length}`, name: forcedTool, input: toolInput }] : [{ type: 'text', text: reply }];
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id, type: 'message', role: 'assistant', model, content, stop_reason: stopReason, stop_sequence: null, usage: { input_tokens: inputTokens, output_tokens: outputTokens } }));
      return;
    }

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    send('message_start', { type: 'message_start', message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: inputTokens, output_tokens: 1 } } });
    send('ping', { type: 'ping' });
    let sent = 0;
    const pieces = forcedTool ? (JSON.stringify(toolInput).match(/.{1,8}/g) ?? []) : (reply.match(/\S+\s*/g) ?? [reply]);
    if (forcedTool) send('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: `toolu_fake${requests.length}`, name: forcedTool, input: {} } });
    else send('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    for (const piece of pieces) {
      if (b.dropAfterChunks !== undefined && sent >= b.dropAfterChunks) {
        req.socket.destroy();
        return;
      }
      if (b.errorEventAfterChunks !== undefined && sent >= b.errorEventAfterChunks) {
        send('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
        res.end();
        return;
      }
      if (b.chunkDelayMs) await sleep(b.chunkDelayMs);
      send('content_block_delta', { type: 'content_block_delta', index: 0, delta: forcedTool ? { type: 'input_json_delta', partial_json: piece } : { type: 'text_delta', text: piece } });
      sent++;
    }
    send('content_block_stop', { type: 'content_block_stop', index: 0 });
    send('message_delta', { type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: outputTokens } });
    send('message_stop', { type: 'message_stop' });
    res.end();
  };

  return serveFakeUpstream(handler, requests, script);
}
