import type { ChatRequest, EmbeddingsRequest } from '../openai/schema';
import { contentText } from '../openai/schema';

/**
 * Token estimates without a tokenizer: about four characters per token, the rule OpenAI gives
 * for English. They size holds and rate-limit reservations and stand in for usage an upstream
 * did not report; billing uses the upstream's own counts whenever it gives them.
 */
export function estimateTextTokens(text: string): number {
  return text.length === 0 ? 0 : Math.ceil(text.length / 4);
}

/** Fixed allowance per image part (a high-detail 1024² image is 765 tokens on GPT-4o). */
const IMAGE_TOKENS = 1_000;
/** Per-message framing (role markers) and reply priming, as in OpenAI's counting guide. */
const MESSAGE_OVERHEAD = 4;
const REPLY_PRIMING = 3;

export function estimatePromptTokens(request: Pick<ChatRequest, 'messages' | 'tools'>): number {
  let tokens = REPLY_PRIMING;
  for (const message of request.messages) {
    tokens += MESSAGE_OVERHEAD + estimateTextTokens(contentText(message.content));
    if (Array.isArray(message.content)) {
      for (const part of message.content as { type: string; input_audio?: { data: string } }[]) {
        if (part.type === 'image_url') tokens += IMAGE_TOKENS;
        // base64 audio: ~ one token per 40 ms; bound it by its size.
        if (part.type === 'input_audio') tokens += Math.ceil((part.input_audio?.data.length ?? 0) / 100);
      }
    }
    if (message.role === 'assistant' && message.tool_calls) {
      for (const call of message.tool_calls)
        tokens += estimateTextTokens(call.function.name) + estimateTextTokens(call.function.arguments) + 3;
    }
  }
  if (request.tools?.length) tokens += estimateTextTokens(JSON.stringify(request.tools));
  return tokens;
}

/**
 * An upper bound on the prompt's tokens, for sizing holds. Byte-level BPE (OpenAI, Anthropic,
 * Llama 3) and SentencePiece with byte fallback (Gemini) never make a token of less than one
 * UTF-8 byte, so the text's byte length bounds its token count whatever the script: chars / 4
 * is ~4× low for CJK and worse for emoji. Framing and image/audio allowances are as in the estimate.
 */
export function promptTokenBound(request: Pick<ChatRequest, 'messages' | 'tools'> & { response_format?: unknown }): number {
  let tokens = REPLY_PRIMING;
  for (const message of request.messages) {
    // The per-message overhead also covers a SentencePiece dummy-prefix token.
    tokens += MESSAGE_OVERHEAD + 1 + textBytes(contentText(message.content));
    if ('name' in message && message.name) tokens += textBytes(message.name);
    if (Array.isArray(message.content)) {
      for (const part of message.content as { type: string; input_audio?: { data: string } }[]) {
        if (part.type === 'image_url') tokens += IMAGE_TOKENS;
        if (part.type === 'input_audio') tokens += Math.ceil((part.input_audio?.data.length ?? 0) / 100);
      }
    }
    if (message.role === 'assistant' && message.tool_calls) {
      for (const call of message.tool_calls) tokens += textBytes(call.function.name) + textBytes(call.function.arguments) + 3;
    }
  }
  if (request.tools?.length) tokens += textBytes(JSON.stringify(request.tools));
  // A JSON schema for structured output is sent to the model too.
  if (request.response_format) tokens += textBytes(JSON.stringify(request.response_format));
  return tokens;
}

const textBytes = (text: string) => Buffer.byteLength(text, 'utf8');

/** Characters of every message, for the prompt size cap. */
export function promptChars(request: Pick<ChatRequest, 'messages'>): number {
  let chars = 0;
  for (const message of request.messages) {
    chars += contentText(message.content).length;
    if (message.role === 'assistant' && message.tool_calls) for (const call of message.tool_calls) chars += call.function.arguments.length;
  }
  return chars;
}

export function embeddingInputs(request: EmbeddingsRequest): { texts: string[]; tokenArrays: number[][] } {
  const input = request.input;
  if (typeof input === 'string') return { texts: [input], tokenArrays: [] };
  if (input.length > 0 && typeof input[0] === 'string') return { texts: input as string[], tokenArrays: [] };
  if (input.length > 0 && typeof input[0] === 'number') return { texts: [], tokenArrays: [input as number[]] };
  return { texts: [], tokenArrays: input as number[][] };
}

/** An upper bound on the input's tokens (see promptTokenBound): UTF-8 bytes, token arrays as given. */
export function embeddingTokenBound(request: EmbeddingsRequest): number {
  const { texts, tokenArrays } = embeddingInputs(request);
  return texts.reduce((n, t) => n + Math.max(1, textBytes(t)), 0) + tokenArrays.reduce((n, a) => n + a.length, 0);
}

export function estimateEmbeddingTokens(request: EmbeddingsRequest): number {
  const { texts, tokenArrays } = embeddingInputs(request);
  return texts.reduce((n, t) => n + Math.max(1, estimateTextTokens(t)), 0) + tokenArrays.reduce((n, a) => n + a.length, 0);
}
