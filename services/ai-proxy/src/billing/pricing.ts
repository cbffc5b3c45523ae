import type { ModelRoute } from '../routing/schema';

/** Cost in integer micro-credits, rounded up so a call is never billed below its price. */
export function costOf(price: ModelRoute['price'], promptTokens: number, completionTokens: number): number {
  return Math.ceil((promptTokens * price.input_per_1k + completionTokens * price.output_per_1k) / 1_000);
}

/**
 * The most a chat call can cost: the prompt estimate with a safety margin plus the output cap.
 * At least 1, so every call takes a hold (a free price table still checks the tenant exists).
 */
export function worstCaseCost(
  price: ModelRoute['price'],
  estimatedPromptTokens: number,
  maxOutputTokens: number,
  inputMarginPct: number,
): number {
  const prompt = Math.ceil((estimatedPromptTokens * inputMarginPct) / 100);
  return Math.max(1, costOf(price, prompt, maxOutputTokens));
}
