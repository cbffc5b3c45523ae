import { createHash } from 'node:crypto';
import { sleep } from '@tollgate/common';
import { embeddingInputs } from '../billing/tokens';
import type { ChatCompletion, ChatCompletionChunk, ChatRequest, FinishReason, ToolCall } from '../openai/schema';
import { contentText } from '../openai/schema';
import { UpstreamError } from './errors';
import { usageOf } from './translate';
import { outputCapOf, type Provider, type UpstreamCall } from './types';

/**
 * The built-in provider: deterministic replies and token counts with configurable latency,
 * chunking and failure rate, so the mesh runs (and benchmarks) with nothing outside it.
 * Tokens are counted as ceil(chars / 4), at least 1 per message.
 */

const mockTokens = (text: string) => Math.max(1, Math.ceil(text.length / 4));
const LOREM =
  'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua'.split(' ');

export function mockReplyFor(request: ChatRequest, replyWords: number): string {
  if (replyWords > 0) return Array.from({ length: replyWords }, (_, i) => LOREM[i % LOREM.length]).join(' ');
  const lastUser = [...request.messages].reverse().find((m) => m.role === 'user');
  return `Echo: ${contentText(lastUser?.content)}`.slice(0, 400);
}

function plan(request: ChatRequest, call: UpstreamCall) {
  const options = call.target.mock;
  const promptTokens = request.messages.reduce((n, m) => n + mockTokens(contentText(m.content)), 0);
  const cap = outputCapOf(request);
  const forced =
    request.tool_choice === 'required'
      ? request.tools?.[0]?.function.name
      : typeof request.tool_choice === 'object'
        ? request.tool_choice.function.name
        : undefined;
  if (forced && request.tools?.length) {
    const args = '{}';
    const toolCalls: ToolCall[] = [
      {
        id: `call_mock_${createHash('sha256').update(JSON.stringify(request.messages)).digest('hex').slice(0, 16)}`,
        type: 'function',
        function: { name: forced, arguments: args },
      },
    ];
    return {
      text: '',
      toolCalls,
      promptTokens,
      completionTokens: mockTokens(forced + args),
      finish: 'tool_calls' as FinishReason,
      options,
    };
  }
  let text = mockReplyFor(request, options.reply_words);
  let finish: FinishReason = 'stop';
  if (mockTokens(text) > cap) {
    text = text.slice(0, cap * 4);
    finish = 'length';
  }
  return { text, toolCalls: [] as ToolCall[], promptTokens, completionTokens: mockTokens(text), finish, options };
}

async function startCall(call: UpstreamCall): Promise<void> {
  const options = call.target.mock;
  if (options.latency_ms > 0) await sleep(options.latency_ms, call.signal).catch(() => rethrowAbort(call.signal));
  if (options.failure_rate > 0 && Math.random() < options.failure_rate)
    throw new UpstreamError('mock failure', 'http', { status: 500, upstreamMessage: 'mock provider failure' });
}

function rethrowAbort(signal: AbortSignal): never {
  const reason = signal.reason as { name?: string } | undefined;
  if (reason?.name === 'TimeoutError') throw new UpstreamError('mock timed out', 'timeout');
  throw signal.reason;
}

const idFor = (seed: string) => `mock-${createHash('sha256').update(seed).digest('hex').slice(0, 24)}`;

export function createMockProvider(): Provider {
  return {
    async chat(request, call) {
      await startCall(call);
      const p = plan(request, call);
      const completion: ChatCompletion = {
        id: idFor(call.requestId),
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: call.target.model,
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: p.toolCalls.length ? null : p.text,
              refusal: null,
              ...(p.toolCalls.length ? { tool_calls: p.toolCalls } : {}),
            },
            logprobs: null,
            finish_reason: p.finish,
          },
        ],
        usage: usageOf(p.promptTokens, p.completionTokens),
      };
      return completion;
    },

    async *streamChat(request, call) {
      await startCall(call);
      const p = plan(request, call);
      const base = {
        id: idFor(call.requestId),
        object: 'chat.completion.chunk' as const,
        created: Math.floor(Date.now() / 1000),
        model: call.target.model,
      };
      const chunk = (delta: ChatCompletionChunk['choices'][number]['delta'], finish: FinishReason | null = null): ChatCompletionChunk => ({
        ...base,
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      });
      yield chunk({ role: 'assistant', content: '' });
      if (p.toolCalls.length) {
        yield chunk({
          tool_calls: p.toolCalls.map((c, index) => ({
            index,
            id: c.id,
            type: 'function',
            function: { name: c.function.name, arguments: c.function.arguments },
          })),
        });
      } else {
        const words = p.text.match(/\S+\s*/g) ?? [];
        for (let i = 0; i < words.length; i += p.options.chunk_words) {
          if (p.options.chunk_delay_ms > 0) await sleep(p.options.chunk_delay_ms, call.signal).catch(() => rethrowAbort(call.signal));
          if (call.signal.aborted) rethrowAbort(call.signal);
          yield chunk({ content: words.slice(i, i + p.options.chunk_words).join('') });
        }
      }
      yield chunk({}, p.finish);
      yield {
        ...base,
        choices: [],
        usage: usageOf(p.promptTokens, p.completionTokens),
      };
    },

    async embed(request, call) {
      await startCall(call);
      const { texts, tokenArrays } = embeddingInputs(request);
      const inputs = [...texts, ...tokenArrays.map((a) => a.join(','))];
      const dimensions = request.dimensions ?? 16;
      const data = inputs.map((text, index) => {
        const digest = createHash('sha256').update(text).digest();
        const embedding = Array.from(
          { length: dimensions },
          (_, i) => Math.round(((digest[i % digest.length]! / 255) * 2 - 1) * 1e6) / 1e6,
        );
        return { object: 'embedding' as const, index, embedding };
      });
      const tokens = texts.reduce((n, t) => n + mockTokens(t), 0) + tokenArrays.reduce((n, a) => n + a.length, 0);
      return { object: 'list', data, model: call.target.model, usage: { prompt_tokens: tokens, total_tokens: tokens } };
    },
  };
}
