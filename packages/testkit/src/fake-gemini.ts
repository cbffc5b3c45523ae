import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FakeBehaviour, RecordedRequest } from './fake-openai';
import { countTokens, fakeReplyFor } from './fake-openai';
import { behaviourScript, serveFakeUpstream } from './fake-upstream';
import { type Listening, readBody } from './http';

/**
 * A local Gemini API in its real wire format:
 * - POST /v1beta/models/{model}:generateContent → GenerateContentResponse
 * - POST /v1beta/models/{model}:streamGenerateContent?alt=sse → `data: <GenerateContentResponse>`
 *   events (no event names, no terminator; the last carries finishReason and usageMetadata)
 * - POST /v1beta/models/{model}:batchEmbedContents → {embeddings: [{values}]}
 * The key is read from `x-goog-api-key` (or `?key=`). Requests with a functionCallingConfig of
 * mode ANY get a functionCall part. Errors use Google's `{error: {code, message, status}}`.
 */
export interface FakeGemini extends Listening {
  requests: RecordedRequest[];
  behave(behaviour: FakeBehaviour): void;
  reset(): void;
}

interface GeminiBody {
  contents?: { role?: string; parts?: { text?: string; functionResponse?: unknown }[] }[];
  systemInstruction?: { parts?: { text?: string }[] };
  tools?: { functionDeclarations?: { name: string }[] }[];
  toolConfig?: { functionCallingConfig?: { mode?: string; allowedFunctionNames?: string[] } };
  generationConfig?: { maxOutputTokens?: number };
  requests?: { model?: string; content?: { parts?: { text?: string }[] } }[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const STATUS: Record<number, string> = { 400: 'INVALID_ARGUMENT', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE' };

export async function startFakeGemini(options: { apiKey?: string } = {}): Promise<FakeGemini> {
  const requests: RecordedRequest[] = [];
  const script = behaviourScript<FakeBehaviour>();
  const next = script.next;
  const sendError = (res: ServerResponse, status: number, message: string, retryAfter?: number) => {
    res.writeHead(status, { 'content-type': 'application/json', ...(retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {}) });
    res.end(JSON.stringify({ error: { code: status, message, status: STATUS[status] ?? 'UNKNOWN' } }));
  };

  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readBody(req);
    let body: GeminiBody = {};
    try {
      body = JSON.parse(raw.toString('utf8')) as GeminiBody;
    } catch {
      // recorded as is
    }
    const url = new URL(req.url ?? '/', 'http://fake');
    requests.push({ method: req.method ?? 'GET', path: url.pathname + url.search, headers: req.headers, body });
    const b = next();
    if (b.hang) return;
    if (b.latencyMs) await sleep(b.latencyMs);
    if (b.status && b.status >= 400) return sendError(res, b.status, `fake gemini error ${b.status}`, b.retryAfterSeconds);
    const key = req.headers['x-goog-api-key'] ?? url.searchParams.get('key');
    if (options.apiKey && key !== options.apiKey) return sendError(res, 403, 'API key not valid. Please pass a valid API key.');
    const match = /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent|batchEmbedContents)$/.exec(url.pathname);
    if (req.method !== 'POST' || !match) return sendError(res, 404, 'not found');
    const [, model, method] = match;

    if (method === 'batchEmbedContents') {
      const embeddings = (body.requests ?? []).map((r) => {
        const text = (r.content?.parts ?? []).map((p) => p.text ?? '').join('');
        return { values: Array.from({ length: 8 }, (_, i) => ((text.charCodeAt(i % Math.max(1, text.length)) || 0) % 13) / 13) };
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ embeddings }));
      return;
    }

    const contents = body.contents ?? [];
    if (contents.length === 0) return sendError(res, 400, '* GenerateContentRequest.contents: contents is not specified');
    const lastUser = [...contents].reverse().find((c) => c.role === 'user');
    const reply = fakeReplyFor((lastUser?.parts ?? []).map((p) => p.text ?? '').join(''));
    const promptTokens = contents.reduce((n, c) => n + countTokens((c.parts ?? []).map((p) => p.text ?? JSON.stringify(p)).join('')), 0) + (body.systemInstruction ? countTokens((body.systemInstruction.parts ?? []).map((p) => p.text ?? '').join('')) : 0);
    const mode = body.toolConfig?.functionCallingConfig?.mode;
    const toolName = mode === 'ANY' ? (body.toolConfig?.functionCallingConfig?.allowedFunctionNames?.[0] ?? body.tools?.[0]?.functionDeclarations?.[0]?.name) : undefined;
    const args = { query: reply };
    const completionTokens = toolName ? countTokens(JSON.stringify(args)) : countTokens(reply);
    const usageMetadata = { promptTokenCount: promptTokens, candidatesTokenCount: completionTokens, totalTokenCount: promptTokens + completionTokens };
    const responseId = `gem_fake${requests.length}`;

    if (method === 'generateContent') {
      const parts = toolName ? [{ functionCall: { name: toolName, args } }] : [{ text: reply }];
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ candidates: [{ content: { role: 'model', parts }, finishReason: 'STOP', index: 0 }], usageMetadata, modelVersion: model, responseId }));
      return;
    }

    if (url.searchParams.get('alt') !== 'sse') return sendError(res, 400, 'this fake only streams with alt=sse');
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const send = (data: unknown) => res.write(`data: ${JSON.stringify(data)}\r\n\r\n`);
    if (toolName) {
      send({ candidates: [{ content: { role: 'model', parts: [{ functionCall: { name: toolName, args } }] }, finishReason: 'STOP', index: 0 }], usageMetadata, modelVersion: model, responseId });
      res.end();
      return;
    }
    const words = reply.match(/\S+\s*/g) ?? [reply];
    let sent = 0;
    for (const [i, word] of words.entries()) {
      if (b.dropAfterChunks !== undefined && sent >= b.dropAfterChunks) {
        req.socket.destroy();
        return;
      }
      if (b.chunkDelayMs) await sleep(b.chunkDelayMs);
      const lastOne = i === words.length - 1;
      send({
        candidates: [{ content: { role: 'model', parts: [{ text: word }] }, ...(lastOne ? { finishReason: 'STOP' } : {}), index: 0 }],
        // Like the real API, running usage arrives on every event; the final counts on the last.
        usageMetadata: lastOne ? usageMetadata : { promptTokenCount: promptTokens, totalTokenCount: promptTokens },
        modelVersion: model,
        responseId,
      });
      sent++;
    }
    res.end();
  };

  return serveFakeUpstream(handler, requests, script);
}
