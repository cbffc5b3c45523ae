import type { ChatCompletion, ChatCompletionChunk, ChatRequest, EmbeddingsRequest, EmbeddingsResponse } from '../openai/schema';
import type { TargetConfig } from '../routing/schema';

/** What a provider gets for one upstream attempt. */
export interface UpstreamCall {
  target: TargetConfig;
  /** Aborted by the overall deadline, the per-attempt timeout or (streams) the client leaving. */
  signal: AbortSignal;
  requestId: string;
}

/**
 * One upstream API behind the OpenAI wire format: requests arrive in OpenAI's shape (with the
 * upstream model name and an output cap already set) and answers leave in it, so the rest of
 * the proxy never sees a provider's own format.
 */
export interface Provider {
  chat(request: ChatRequest, call: UpstreamCall): Promise<ChatCompletion>;
  /**
   * OpenAI chunks as the upstream produces them. The last chunk carries `usage` when the
   * upstream reported it. A stream that ends without its proper ending throws.
   */
  streamChat(request: ChatRequest, call: UpstreamCall): AsyncGenerator<ChatCompletionChunk>;
  embed(request: EmbeddingsRequest, call: UpstreamCall): Promise<EmbeddingsResponse>;
}

/** The output cap the proxy set on the request (max_tokens or max_completion_tokens). */
export function outputCapOf(request: ChatRequest, fallback = 4_096): number {
  return request.max_tokens ?? request.max_completion_tokens ?? fallback;
}
