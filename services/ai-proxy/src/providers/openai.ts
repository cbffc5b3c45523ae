import type { Dispatcher } from 'undici';
import type { ChatCompletion, ChatCompletionChunk, ChatRequest, EmbeddingsRequest, EmbeddingsResponse } from '../openai/schema';
import { UpstreamError } from './errors';
import { parseEventJson, readJson, readSse, upstreamRequest } from './http';
import type { Provider, UpstreamCall } from './types';

function describeOpenAiError(status: number, body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } | string };
    const message = typeof parsed.error === 'string' ? parsed.error : parsed.error?.message;
    if (typeof message === 'string') return message.slice(0, 500);
  } catch {
    // not JSON
  }
  return `status ${status}`;
}

function headers(call: UpstreamCall): Record<string, string> {
  const h: Record<string, string> = { accept: 'application/json' };
  if (call.target.apiKey) h['authorization'] = `Bearer ${call.target.apiKey}`;
  return h;
}

/** Any OpenAI-compatible API (OpenAI, vLLM, Ollama, OpenRouter, Gemini's compatible endpoint): the wire format is ours already. */
export function createOpenAiProvider(agent: Dispatcher): Provider {
  return {
    async chat(request, call) {
      const res = await upstreamRequest(
        agent,
        {
          url: `${call.target.baseUrl}/chat/completions`,
          headers: headers(call),
          body: { ...request, stream: false, stream_options: undefined },
          signal: call.signal,
        },
        describeOpenAiError,
      );
      const completion = await readJson<ChatCompletion>(res, 'openai chat', call.signal);
      if (!completion || !Array.isArray(completion.choices)) throw new UpstreamError('openai chat returned no choices', 'protocol');
      return completion;
    },

    async *streamChat(request: ChatRequest, call: UpstreamCall) {
      const res = await upstreamRequest(
        agent,
        {
          url: `${call.target.baseUrl}/chat/completions`,
          headers: { ...headers(call), accept: 'text/event-stream' },
          // Usage is always asked for: billing needs it even when the client did not.
          body: { ...request, stream: true, stream_options: { include_usage: true } },
          signal: call.signal,
          idleTimeoutMs: call.target.timeoutMs,
        },
        describeOpenAiError,
      );
      let done = false;
      for await (const event of readSse(res.body, 'openai stream', call.signal)) {
        if (event.data === '[DONE]') {
          done = true;
          break;
        }
        const chunk = parseEventJson<ChatCompletionChunk & { error?: { message?: string } }>(event.data, 'openai stream');
        if (chunk.error)
          throw new UpstreamError('openai stream reported an error', 'upstream_error_event', {
            upstreamMessage: chunk.error.message ?? 'stream error',
          });
        yield chunk;
      }
      if (!done) throw new UpstreamError('openai stream ended before [DONE]', 'protocol');
    },

    async embed(request: EmbeddingsRequest, call: UpstreamCall) {
      const res = await upstreamRequest(
        agent,
        { url: `${call.target.baseUrl}/embeddings`, headers: headers(call), body: request, signal: call.signal },
        describeOpenAiError,
      );
      const body = await readJson<EmbeddingsResponse>(res, 'openai embeddings', call.signal);
      if (!body || !Array.isArray(body.data)) throw new UpstreamError('openai embeddings returned no data', 'protocol');
      return body;
    },
  };
}
