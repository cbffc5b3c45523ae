import type { Dispatcher } from 'undici';
import type { ChatCompletion, ChatCompletionChunk, ChatMessage, ChatRequest, FinishReason, ToolCall } from '../openai/schema';
import { contentText } from '../openai/schema';
import { UpstreamError } from './errors';
import { parseEventJson, readJson, readSse, upstreamRequest } from './http';
import { assistantCompletion, parseImageUrl, parseToolArguments, upstreamErrorMessage, usageOf } from './translate';
import { outputCapOf, type Provider, type UpstreamCall } from './types';

/** Anthropic Messages API (https://docs.anthropic.com/en/api/messages), translated both ways. */

const ANTHROPIC_VERSION = '2023-06-01';

type Block =
  | { type: 'text'; text: string }
  | { type: 'image'; source: { type: 'base64'; media_type: string; data: string } | { type: 'url'; url: string } }
  | { type: 'tool_use'; id: string; name: string; input: unknown }
  | { type: 'tool_result'; tool_use_id: string; content: string };

interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: Block[];
}

export interface AnthropicRequest {
  model: string;
  max_tokens: number;
  messages: AnthropicMessage[];
  system?: string;
  temperature?: number;
  top_p?: number;
  stop_sequences?: string[];
  tools?: { name: string; description?: string; input_schema: unknown }[];
  tool_choice?:
    | { type: 'auto' | 'any' | 'none' }
    | { type: 'tool'; name: string }
    | { type: 'auto' | 'any' | 'tool'; name?: string; disable_parallel_tool_use: boolean };
  metadata?: { user_id: string };
  stream?: boolean;
}

interface AnthropicResponse {
  id: string;
  model: string;
  content: ({ type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: unknown } | { type: string })[];
  stop_reason: string | null;
  usage: AnthropicUsage;
}

interface AnthropicUsage {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

const unsupported = (what: string) =>
  new UpstreamError(`anthropic: ${what}`, 'http', { status: 400, upstreamMessage: `${what} is not supported by this model's provider` });

function imageBlock(url: string): Block {
  const image = parseImageUrl(url);
  if (!image) throw unsupported('an image URL that is neither https nor a base64 data URL');
  if ('url' in image) return { type: 'image', source: { type: 'url', url: image.url } };
  return { type: 'image', source: { type: 'base64', media_type: image.inline.mediaType, data: image.inline.data } };
}

function blocksOf(message: ChatMessage): { role: 'user' | 'assistant'; blocks: Block[] } {
  switch (message.role) {
    case 'user': {
      if (typeof message.content === 'string') return { role: 'user', blocks: [{ type: 'text', text: message.content }] };
      return {
        role: 'user',
        blocks: message.content.map((part): Block => {
          if (part.type === 'text') return { type: 'text', text: part.text };
          if (part.type === 'image_url') return imageBlock(part.image_url.url);
          throw unsupported('audio input');
        }),
      };
    }
    case 'assistant': {
      const blocks: Block[] = [];
      const text = contentText(message.content);
      if (text) blocks.push({ type: 'text', text });
      for (const call of message.tool_calls ?? [])
        blocks.push({ type: 'tool_use', id: call.id, name: call.function.name, input: parseToolArguments(call.function.arguments) });
      return { role: 'assistant', blocks };
    }
    case 'tool':
      return { role: 'user', blocks: [{ type: 'tool_result', tool_use_id: message.tool_call_id, content: contentText(message.content) }] };
    default:
      return { role: 'user', blocks: [] };
  }
}

export function toAnthropicRequest(request: ChatRequest, maxTokens: number): AnthropicRequest {
  const system = request.messages
    .filter((m) => m.role === 'system' || m.role === 'developer')
    .map((m) => contentText(m.content))
    .join('\n\n');
  const messages: AnthropicMessage[] = [];
  for (const message of request.messages) {
    if (message.role === 'system' || message.role === 'developer') continue;
    const { role, blocks } = blocksOf(message);
    if (blocks.length === 0) continue;
    // The Messages API wants alternating roles: consecutive turns of one role (e.g. several tool results) merge.
    const last = messages[messages.length - 1];
    if (last && last.role === role) last.content.push(...blocks);
    else messages.push({ role, content: blocks });
  }
  const out: AnthropicRequest = { model: request.model, max_tokens: maxTokens, messages };
  if (system) out.system = system;
  if (request.temperature != null) out.temperature = Math.min(1, request.temperature);
  if (request.top_p != null) out.top_p = request.top_p;
  if (request.stop != null) out.stop_sequences = Array.isArray(request.stop) ? request.stop : [request.stop];
  if (request.user) out.metadata = { user_id: request.user };
  if (request.tools?.length && request.tool_choice !== 'none') {
    out.tools = request.tools.map((t) => ({
      name: t.function.name,
      ...(t.function.description ? { description: t.function.description } : {}),
      input_schema: t.function.parameters ?? { type: 'object', properties: {} },
    }));
    const choice = request.tool_choice;
    const base =
      choice === 'required'
        ? { type: 'any' as const }
        : typeof choice === 'object'
          ? { type: 'tool' as const, name: choice.function.name }
          : { type: 'auto' as const };
    out.tool_choice = request.parallel_tool_calls === false ? { ...base, disable_parallel_tool_use: true } : base;
  }
  return out;
}

export function finishReasonOf(stopReason: string | null | undefined): FinishReason | null {
  switch (stopReason) {
    case 'end_turn':
    case 'stop_sequence':
    case 'pause_turn':
      return 'stop';
    case 'max_tokens':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    case null:
    case undefined:
      return null;
    default:
      return 'stop';
  }
}

const promptTokensOf = (u: AnthropicUsage) =>
  (u.input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);

export function fromAnthropicResponse(body: AnthropicResponse): ChatCompletion {
  let text = '';
  const toolCalls: ToolCall[] = [];
  for (const block of body.content ?? []) {
    if (block.type === 'text') text += (block as { text: string }).text;
    else if (block.type === 'tool_use') {
      const b = block as { id: string; name: string; input: unknown };
      toolCalls.push({ id: b.id, type: 'function', function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) } });
    }
  }
  return assistantCompletion({
    id: body.id,
    model: body.model,
    text,
    toolCalls,
    finishReason: finishReasonOf(body.stop_reason),
    promptTokens: promptTokensOf(body.usage ?? {}),
    completionTokens: body.usage?.output_tokens ?? 0,
  });
}

function describeAnthropicError(status: number, body: string): string {
  return upstreamErrorMessage(status, body, (parsed) => (parsed as { error?: { message?: unknown } } | null)?.error?.message);
}

function headers(call: UpstreamCall, accept: string): Record<string, string> {
  return { accept, 'anthropic-version': ANTHROPIC_VERSION, ...(call.target.apiKey ? { 'x-api-key': call.target.apiKey } : {}) };
}

interface StreamEvent {
  type: string;
  index?: number;
  message?: { id: string; model: string; usage?: AnthropicUsage };
  content_block?: { type: string; text?: string; id?: string; name?: string };
  delta?: { type?: string; text?: string; partial_json?: string; stop_reason?: string | null };
  usage?: AnthropicUsage;
  error?: { type?: string; message?: string };
}

export function createAnthropicProvider(agent: Dispatcher): Provider {
  return {
    async chat(request, call) {
      const body = toAnthropicRequest(request, outputCapOf(request));
      const res = await upstreamRequest(
        agent,
        { url: `${call.target.baseUrl}/v1/messages`, headers: headers(call, 'application/json'), body, signal: call.signal },
        describeAnthropicError,
      );
      const parsed = await readJson<AnthropicResponse>(res, 'anthropic messages', call.signal);
      if (!parsed || !Array.isArray(parsed.content)) throw new UpstreamError('anthropic returned no content', 'protocol');
      return fromAnthropicResponse(parsed);
    },

    async *streamChat(request, call) {
      const body = { ...toAnthropicRequest(request, outputCapOf(request)), stream: true };
      const res = await upstreamRequest(
        agent,
        {
          url: `${call.target.baseUrl}/v1/messages`,
          headers: headers(call, 'text/event-stream'),
          body,
          signal: call.signal,
          idleTimeoutMs: call.target.timeoutMs,
        },
        describeAnthropicError,
      );
      let id = '';
      let model = request.model;
      const created = Math.floor(Date.now() / 1000);
      let promptTokens = 0;
      let outputTokens = 0;
      let finish: FinishReason | null = null;
      let stopped = false;
      /** Anthropic content-block index → OpenAI tool_calls index. */
      const toolIndex = new Map<number, number>();
      const chunk = (
        delta: ChatCompletionChunk['choices'][number]['delta'],
        finishReason: FinishReason | null = null,
      ): ChatCompletionChunk => ({
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      });
      for await (const sse of readSse(res.body, 'anthropic stream', call.signal)) {
        const event = parseEventJson<StreamEvent>(sse.data, 'anthropic stream');
        switch (event.type) {
          case 'message_start':
            id = event.message?.id ?? '';
            model = event.message?.model ?? model;
            promptTokens = promptTokensOf(event.message?.usage ?? {});
            outputTokens = event.message?.usage?.output_tokens ?? 0;
            yield chunk({ role: 'assistant', content: '' });
            break;
          case 'content_block_start':
            if (event.content_block?.type === 'text' && event.content_block.text) yield chunk({ content: event.content_block.text });
            else if (event.content_block?.type === 'tool_use') {
              const index = toolIndex.size;
              toolIndex.set(event.index ?? 0, index);
              yield chunk({
                tool_calls: [
                  {
                    index,
                    id: event.content_block.id ?? '',
                    type: 'function',
                    function: { name: event.content_block.name ?? '', arguments: '' },
                  },
                ],
              });
            }
            break;
          case 'content_block_delta':
            if (event.delta?.type === 'text_delta' && event.delta.text) yield chunk({ content: event.delta.text });
            else if (event.delta?.type === 'input_json_delta' && event.delta.partial_json) {
              const index = toolIndex.get(event.index ?? 0) ?? 0;
              yield chunk({ tool_calls: [{ index, function: { arguments: event.delta.partial_json } }] });
            }
            break;
          case 'message_delta':
            if (event.usage?.output_tokens !== undefined) outputTokens = event.usage.output_tokens;
            if (event.usage?.input_tokens !== undefined) promptTokens = promptTokensOf(event.usage);
            finish = finishReasonOf(event.delta?.stop_reason) ?? finish;
            break;
          case 'message_stop':
            stopped = true;
            break;
          case 'error':
            throw new UpstreamError(`anthropic stream error: ${event.error?.type ?? 'error'}`, 'upstream_error_event', {
              upstreamMessage: event.error?.message ?? 'stream error',
            });
          default:
            break; // ping, content_block_stop, and event types added later
        }
        if (stopped) break;
      }
      if (!stopped) throw new UpstreamError('anthropic stream ended before message_stop', 'protocol');
      yield chunk({}, finish ?? 'stop');
      yield {
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        choices: [],
        usage: usageOf(promptTokens, outputTokens),
      };
    },

    async embed() {
      throw unsupported('embeddings');
    },
  };
}
