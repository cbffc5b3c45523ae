import { AppError, randomBase62 } from '@tollgate/common';
import { costOf, worstCaseCost } from '../billing/pricing';
import { createMeter, type Meter } from '../billing/metered';
import { embeddingTokenBound, estimateEmbeddingTokens } from '../billing/tokens';
import type { ChatDeps, Caller } from '../chat/service';
import { tpmHeaders } from '../limits/tpm';
import type { EmbeddingsRequest, EmbeddingsResponse } from '../openai/schema';
import { type CallRecorder, createCallRecorder } from '../usage/recorder';

/** Float vectors as OpenAI's base64 encoding: little-endian float32, base64. */
export function toBase64Embedding(values: number[]): string {
  const floats = new Float32Array(values);
  return Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength).toString('base64');
}

export type EmbeddingsDeps = Omit<ChatDeps, 'cache'>;

/** Embeddings: the same limit → hold → upstream with fallbacks → capture path as chat, input tokens only. */
export class EmbeddingsService {
  private readonly recorder: CallRecorder;
  private readonly meter: Meter;

  constructor(private readonly deps: EmbeddingsDeps) {
    this.recorder = createCallRecorder(deps.usage, deps.metrics);
    this.meter = createMeter({ ...deps, recorder: this.recorder });
  }

  async embed(caller: Caller, request: EmbeddingsRequest): Promise<{ body: string; headers: Record<string, string> }> {
    const started = performance.now();
    const id = `emb-${randomBase62(24)}`;
    const route = this.deps.router.resolve(request.model, caller.tenantId, 'embedding', caller.allowedModels);
    const base = { id, caller, route, kind: 'embedding', stream: false, started } as const;
    const estimate = estimateEmbeddingTokens(request);
    if (estimate * 4 > this.deps.config.MAX_PROMPT_CHARS) {
      throw new AppError('VALIDATION_FAILED', `The input is too long: at most ${this.deps.config.MAX_PROMPT_CHARS} characters`, {
        details: { param: 'input' },
      });
    }
    const call = await this.meter.open({
      base,
      promptEstimate: estimate,
      worstCase: worstCaseCost(route.price, embeddingTokenBound(request), 0),
      billingKey: `ai:embedding:${id}`,
      ttlS: Math.ceil(route.deadlineMs / 1000) + this.deps.config.HOLD_TTL_MARGIN_S,
    });
    const { hold, tpm } = call;
    const result = await call.upstream((target, signal) => {
      // OpenAI-compatible upstreams encode base64 themselves; for the others we convert below.
      const upstream: EmbeddingsRequest = { ...request, model: target.model };
      if (target.provider !== 'openai') delete upstream.encoding_format;
      return this.deps.providers[target.provider].embed(upstream, { target, signal, requestId: caller.requestId });
    });
    const response: EmbeddingsResponse = result.value;
    const promptTokens = response.usage?.prompt_tokens ?? estimate;
    const cost = costOf(route.price, promptTokens, 0);
    const settlement = await call.settle(cost, promptTokens);
    const data =
      request.encoding_format === 'base64'
        ? response.data.map((d) => ({ ...d, embedding: Array.isArray(d.embedding) ? toBase64Embedding(d.embedding) : d.embedding }))
        : response.data;
    await this.recorder({
      ...base,
      outcome: settlement.error ? 'billing_error' : 'success',
      target: result.target,
      holdId: hold.id,
      promptTokens,
      cost: settlement.charged,
      attempts: result.attempts,
    });
    return {
      body: JSON.stringify({
        object: 'list',
        data,
        model: response.model,
        usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
      }),
      headers: {
        'x-tollgate-cost': String(settlement.charged),
        'x-tollgate-provider': result.target.provider,
        'x-tollgate-prompt-tokens': String(promptTokens),
        ...tpmHeaders(tpm),
      },
    };
  }
}
