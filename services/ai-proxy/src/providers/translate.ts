import type { ChatCompletion, FinishReason, ToolCall, Usage } from '../openai/schema';

// What the providers that translate to and from their own wire format (Anthropic, Gemini) share.

/** A tool call's `arguments` (a JSON string from the client) as the object those APIs take. */
export function parseToolArguments(args: string): unknown {
  try {
    const parsed: unknown = JSON.parse(args || '{}');
    return parsed && typeof parsed === 'object' ? parsed : { value: parsed };
  } catch {
    return {};
  }
}

/** An image_url part: inline base64 (a data URL), a public http(s) URL, or undefined (neither, refused by the caller). */
export function parseImageUrl(url: string): { inline: { mediaType: string; data: string } } | { url: string } | undefined {
  const data = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (data) return { inline: { mediaType: data[1]!, data: data[2]! } };
  if (/^https?:\/\//.test(url)) return { url };
  return undefined;
}

/** The message of an upstream's JSON error body (first 500 characters), else `status N`. */
export function upstreamErrorMessage(status: number, body: string, messageOf: (parsed: unknown) => unknown): string {
  try {
    const message = messageOf(JSON.parse(body));
    if (typeof message === 'string') return message.slice(0, 500);
  } catch {
    // not JSON
  }
  return `status ${status}`;
}

/** OpenAI's usage block from input and output token counts. */
export function usageOf(promptTokens: number, completionTokens: number): Usage {
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
}

/** A one-choice assistant completion in OpenAI's shape (content is null when only tools were called). */
export function assistantCompletion(answer: {
  id: string;
  model: string;
  text: string;
  toolCalls: ToolCall[];
  finishReason: FinishReason | null;
  promptTokens: number;
  completionTokens: number;
}): ChatCompletion {
  const { toolCalls } = answer;
  return {
    id: answer.id,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: answer.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: answer.text || (toolCalls.length ? null : ''),
          refusal: null,
          ...(toolCalls.length ? { tool_calls: toolCalls } : {}),
        },
        logprobs: null,
        finish_reason: answer.finishReason,
      },
    ],
    usage: usageOf(answer.promptTokens, answer.completionTokens),
  };
}
