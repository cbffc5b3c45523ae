import type { ModelRoute } from '../routing/schema';

/** Cost in integer micro-credits, rounded up so a call is never billed below its price. */
export function costOf(price: ModelRoute['price'], promptTokens: number, completionTokens: number): number {
  return Math.ceil((promptTokens * price.input_per_1k + completionTokens * price.output_per_1k) / 1_000);
}

/**
 * The most a call can cost: the prompt's token bound plus the output cap (sent upstream as
 * max_tokens). At least 1, so every call takes a hold (a free price table still checks the tenant exists).
 */
export function worstCaseCost(price: ModelRoute['price'], promptTokenBound: number, maxOutputTokens: number): number {
  return Math.max(1, costOf(price, promptTokenBound, maxOutputTokens));
}
