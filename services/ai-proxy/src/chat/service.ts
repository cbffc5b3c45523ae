import { createHash } from 'node:crypto';
import { AppError, type KeyBudgetPolicy, type Logger, randomBase62, scopedSignal, toOpenAiError } from '@tollgate/common';
import { costOf, worstCaseCost } from '../billing/pricing';
import { type Billing, budgetOf } from '../billing/billing';
import { createMeter, errorCodeOf, type Meter, type MeteredCall } from '../billing/metered';
import { estimatePromptTokens, estimateTextTokens, promptChars, promptTokenBound } from '../billing/tokens';
import type { ResponseCache } from '../cache/response-cache';
import type { Config } from '../config';
import type { TokenLimiter } from '../limits/tpm';
import { tpmHeaders } from '../limits/tpm';
import type { AiMetrics } from '../metrics';
import type { ChatCompletion, ChatCompletionChunk, ChatRequest, Usage } from '../openai/schema';
import { ClientGoneError } from '../providers/errors';
import type { Providers } from '../providers';
import { type AttemptRecord, attemptsOfError, executeWithFallback, MidStreamFailure } from '../routing/executor';
import type { ModelRouter } from '../routing/router';
import type { ModelRoute, TargetConfig } from '../routing/schema';
import type { UsageWriter } from '../usage/writer';
import { type CallRecorder, createCallRecorder, type RecordBase } from '../usage/recorder';
import type { Tags } from '../usage/tags';

/** Who is asking (from X-Tollgate-Identity) and under which request id. */
export interface Caller {
  tenantId: string;
  keyId: string;
  requestId: string;
  /** Attribution kept on the usage row: X-Tollgate-Tags, and OpenAI's `user` and `metadata`. */
  tags?: Tags;
  user?: string | undefined;
  metadata?: Record<string, string> | undefined;
  /** The key's model allow-list and tokens-per-minute limit, from the identity (absent: none of its own). */
  allowedModels?: readonly string[] | undefined;
  tokensPerMinute?: number | undefined;
  /** The key's budget per period, reserved by each call's hold (credits refuses with 402 BUDGET_EXCEEDED). */
  budget?: KeyBudgetPolicy | undefined;
}

export interface ChatDeps {
  config: Config;
  router: ModelRouter;
  providers: Providers;
  billing: Billing;
  limiter: TokenLimiter;
  cache: ResponseCache;
  usage: UsageWriter;
  metrics: AiMetrics;
  logger: Logger;
}

/** Where a stream goes: an HTTP response in the API, anything in tests. */
export interface StreamSink {
  /** Fires when the client goes away. */
  readonly signal: AbortSignal;
  readonly started: boolean;
  start(headers: Record<string, string>): void;
  /** One `data:` event; resolves once the socket took it (backpressure). */
  send(payload: unknown): Promise<void>;
  /** `data: [DONE]` and the end. */
  finish(): void;
  /** An error event and the end, without [DONE]. */
  fail(payload: unknown): void;
}

export interface ChatResult {
  body: string;
  headers: Record<string, string>;
}

export type CacheMode = 'on' | 'off' | 'default';

interface Prepared {
  route: ModelRoute;
  promptEstimate: number;
  outputCap: number;
  worstCase: number;
}

export const newCompletionId = () => `chatcmpl-${randomBase62(29)}`;

/**
 * The credits key of a call made with the client's Idempotency-Key: the same key and body give
 * the same hold, so a retry after a dropped connection is billed once even when the first try
 * still finished (credits scopes keys per tenant). Another body under the key is another call.
 */
export function idempotentBillingKey(kind: string, idempotencyKey: string, request: ChatRequest): string {
  const digest = createHash('sha256').update(idempotencyKey).update('\n').update(JSON.stringify(request)).digest('base64url');
  return `ai:${kind}:idem:${digest}`;
}

/** What a completion cost before it is settled (see `beforeSettle`). */
export interface Metered {
  completion: ChatCompletion;
  cost: number;
}

export class ChatService {
  private readonly recorder: CallRecorder;
  private readonly meter: Meter;

  constructor(private readonly deps: ChatDeps) {
    this.recorder = createCallRecorder(deps.usage, deps.metrics);
    this.meter = createMeter({ ...deps, recorder: this.recorder });
  }

  /** Resolves the model, checks the prompt cap and sizes the worst case; no side effects. */
  prepare(caller: Caller, request: ChatRequest): Prepared {
    const route = this.deps.router.resolve(request.model, caller.tenantId, 'chat', caller.allowedModels);
    const chars = promptChars(request);
    if (chars > this.deps.config.MAX_PROMPT_CHARS) {
      throw new AppError('VALIDATION_FAILED', `The prompt is too long: ${chars} characters, at most ${this.deps.config.MAX_PROMPT_CHARS}`, {
        details: { param: 'messages' },
      });
    }
    const promptEstimate = estimatePromptTokens(request);
    const requested = request.max_completion_tokens ?? request.max_tokens ?? undefined;
    const outputCap = Math.min(requested ?? route.maxOutputTokens, route.maxOutputTokens);
    return {
      route,
      promptEstimate,
      outputCap,
      // The hold's input side is a bound, never an estimate: a call must not run past its hold.
      worstCase: worstCaseCost(route.price, promptTokenBound(request), outputCap),
    };
  }

  /** The request as a target receives it: its model name and our output cap (so the hold covers the reply). */
  private upstreamRequest(request: ChatRequest, target: TargetConfig, outputCap: number): ChatRequest {
    const out: ChatRequest = { ...request, model: target.model, stream: undefined, stream_options: undefined };
    if (request.max_completion_tokens != null) {
      out.max_completion_tokens = outputCap;
      delete out.max_tokens;
    } else {
      out.max_tokens = outputCap;
    }
    return out;
  }

  private cacheable(request: ChatRequest, mode: CacheMode): boolean {
    if (request.stream || mode === 'off') return false;
    if (mode === 'on') return true;
    return this.deps.router.routing.cache.temperature_zero && request.temperature === 0;
  }

  private holdTtlS(route: ModelRoute): number {
    return Math.ceil(route.deadlineMs / 1000) + this.deps.config.HOLD_TTL_MARGIN_S;
  }

  private meterSpec(prepared: Prepared) {
    return { promptEstimate: prepared.promptEstimate, worstCase: prepared.worstCase, ttlS: this.holdTtlS(prepared.route) };
  }

  /** A non-streaming completion: cache, token limit, hold, upstream (with fallbacks), capture. */
  async complete(
    caller: Caller,
    request: ChatRequest,
    options: {
      cacheMode?: CacheMode;
      completionId?: string;
      kind?: 'chat' | 'async_chat';
      /** Credits idempotency key of this call (hold, capture, overage); one per call, not per try. */
      billingKey?: string;
      /** Runs after the upstream answered and before anything is captured (a queued job keeps its result). */
      beforeSettle?: (metered: Metered) => Promise<void>;
    } = {},
  ): Promise<ChatResult> {
    const started = performance.now();
    const id = options.completionId ?? newCompletionId();
    const kind = options.kind ?? 'chat';
    const billingKey = options.billingKey ?? `ai:${kind}:${id}`;
    const prepared = this.prepare(caller, request);
    const { route } = prepared;
    const base = { id, caller, route, kind, stream: false, started } as const;

    const cacheKey = this.cacheable(request, options.cacheMode ?? 'default') ? this.deps.cache.keyFor(caller.tenantId, request) : undefined;
    if (cacheKey) {
      const hit = await this.deps.cache.get(cacheKey);
      this.deps.metrics.cache.inc({ result: hit ? 'hit' : 'miss' });
      if (hit) {
        const cost = Math.ceil(hit.cost * this.deps.router.routing.cache.hit_price_ratio);
        await this.deps.billing.charge({
          tenantId: caller.tenantId,
          amount: cost,
          idempotencyKey: `${billingKey}:cache`,
          description: `cache hit ${route.alias}`,
        });
        await this.recorder({
          ...base,
          outcome: 'cache_hit',
          cached: true,
          target: undefined,
          promptTokens: hit.prompt_tokens,
          completionTokens: hit.completion_tokens,
          cost,
          attempts: [],
        });
        return {
          body: hit.body,
          headers: {
            'x-tollgate-cache': 'hit',
            'x-tollgate-cost': String(cost),
            ...usageHeaders(hit.prompt_tokens, hit.completion_tokens),
          },
        };
      }
    }

    const call = await this.meter.open({ base, ...this.meterSpec(prepared), billingKey });
    const { hold, tpm } = call;
    const result = await call.upstream((t, signal) =>
      this.deps.providers[t.provider].chat(this.upstreamRequest(request, t, prepared.outputCap), {
        target: t,
        signal,
        requestId: caller.requestId,
      }),
    );
    let completion = result.value;
    const { target, attempts } = result;

    const usage = completion.usage ?? {
      prompt_tokens: prepared.promptEstimate,
      completion_tokens: estimateTextTokens(
        completion.choices
          .map((c) => (c.message.content ?? '') + (c.message.tool_calls ?? []).map((t) => t.function.name + t.function.arguments).join(''))
          .join(''),
      ),
      total_tokens: 0,
    };
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    const cost = costOf(route.price, usage.prompt_tokens, usage.completion_tokens);
    completion = { ...completion, id, usage };
    if (options.beforeSettle) {
      try {
        await options.beforeSettle({ completion, cost });
      } catch (err) {
        // Nothing captured yet; the caller's retry finds the same hold under the same key.
        await this.deps.limiter.settle(tpm, usage.total_tokens);
        throw err;
      }
    }
    const settlement = await call.settle(cost, usage.total_tokens);
    const body = JSON.stringify(completion);
    if (cacheKey && completion.choices[0]?.finish_reason) {
      await this.deps.cache.set(
        cacheKey,
        { body, cost, prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens, target: target.id },
        this.deps.router.routing.cache.ttl_s,
      );
    }
    await this.recorder({
      ...base,
      outcome: settlement.error ? 'billing_error' : 'success',
      target,
      holdId: hold.id,
      promptTokens: usage.prompt_tokens,
      completionTokens: usage.completion_tokens,
      cost: settlement.charged,
      attempts,
    });
    return {
      body,
      headers: {
        'x-tollgate-cost': String(settlement.charged),
        'x-tollgate-provider': target.provider,
        ...usageHeaders(usage.prompt_tokens, usage.completion_tokens),
        ...(cacheKey ? { 'x-tollgate-cache': 'miss' } : {}),
        ...tpmHeaders(tpm),
      },
    };
  }

  /**
   * Settles a call whose answer was kept by an earlier try (a queued job): takes the same hold
   * again (credits answers with the one it has under the key) and captures `cost` from it, which
   * is a no-op if that try captured already.
   */
  async settleKept(
    caller: Caller,
    request: ChatRequest,
    options: { kind: 'async_chat'; billingKey: string; kept: Metered },
  ): Promise<void> {
    const started = performance.now();
    const prepared = this.prepare(caller, request);
    const hold = await this.deps.billing.hold({
      tenantId: caller.tenantId,
      amount: prepared.worstCase,
      idempotencyKey: options.billingKey,
      ttlS: this.holdTtlS(prepared.route),
      description: `${options.kind} ${prepared.route.alias}`,
      budget: budgetOf(caller),
    });
    // Captured: that try also wrote the call's usage row. Still held: it died before either.
    const unsettled = hold.status === 'held';
    const settlement = await this.deps.billing.settle(hold, options.kept.cost, options.billingKey);
    if (!unsettled) return;
    const usage = options.kept.completion.usage;
    await this.recorder({
      id: options.kept.completion.id,
      caller,
      route: prepared.route,
      kind: options.kind,
      stream: false,
      started,
      outcome: settlement.error ? 'billing_error' : 'success',
      target: undefined,
      holdId: hold.id,
      promptTokens: usage?.prompt_tokens ?? 0,
      completionTokens: usage?.completion_tokens ?? 0,
      cost: settlement.charged,
      attempts: [],
    });
  }

  /**
   * A streaming completion. Chunks go to the sink as the upstream produces them. Before the
   * first chunk a failure falls back to the next target; after it, the stream ends with an error
   * event and no [DONE]. A client that leaves pays for what was generated until then.
   */
  async stream(caller: Caller, request: ChatRequest, sink: StreamSink): Promise<void> {
    const started = performance.now();
    const id = newCompletionId();
    const prepared = this.prepare(caller, request);
    const { route } = prepared;
    const base = { id, caller, route, kind: 'chat', stream: true, started } as const;
    const includeUsage = request.stream_options?.include_usage === true;

    const call = await this.meter.open({ base, ...this.meterSpec(prepared), billingKey: `ai:chat:${id}` });
    const { hold, tpm } = call;

    // What this attempt produced; reset when a target fails before its first chunk.
    let state = {
      chars: 0,
      usage: undefined as Usage | undefined,
      created: 0,
      model: route.alias,
      ttftMs: undefined as number | undefined,
    };
    const run = async (target: TargetConfig, signal: AbortSignal) => {
      state = { chars: 0, usage: undefined, created: Math.floor(Date.now() / 1000), model: target.model, ttftMs: undefined };
      const upstream = this.deps.providers[target.provider].streamChat(this.upstreamRequest(request, target, prepared.outputCap), {
        target,
        signal,
        requestId: caller.requestId,
      });
      for await (const chunk of upstream) {
        state.created = chunk.created || state.created;
        state.model = chunk.model || state.model;
        if (chunk.usage) state.usage = chunk.usage;
        for (const choice of chunk.choices) {
          const d = choice.delta;
          state.chars += (d.content?.length ?? 0) + (d.refusal?.length ?? 0);
          for (const call of d.tool_calls ?? [])
            state.chars += (call.function?.name?.length ?? 0) + (call.function?.arguments?.length ?? 0);
        }
        // The upstream's usage-only chunk is replaced by ours (with the cost) at the end.
        if (chunk.choices.length === 0) continue;
        const out: ChatCompletionChunk = { ...chunk, id };
        if (includeUsage) out.usage = null;
        else delete out.usage;
        if (!sink.started) {
          sink.start({ 'x-tollgate-provider': target.provider, 'x-tollgate-model': route.alias, ...tpmHeaders(tpm) });
          state.ttftMs = performance.now() - started;
          this.deps.metrics.timeToFirstToken.observe({ model: route.alias, target: target.id }, state.ttftMs / 1000);
        }
        await sink.send(out);
      }
    };

    const deadline = scopedSignal([sink.signal], route.deadlineMs);
    let result: Awaited<ReturnType<typeof executeWithFallback<void>>>;
    try {
      result = await executeWithFallback(this.deps.router, route, run, {
        deadline: deadline.signal,
        deadlineAt: Date.now() + route.deadlineMs,
        clientSignal: sink.signal,
        committed: () => sink.started,
        streaming: true,
        logger: this.deps.logger,
        metrics: this.deps.metrics,
      });
    } catch (err) {
      await this.streamFailed(err, { prepared, call, sink, state, base });
      return;
    } finally {
      deadline.dispose();
    }

    const prompt = state.usage?.prompt_tokens ?? prepared.promptEstimate;
    const completionTokens = state.usage?.completion_tokens ?? tokensForChars(state.chars);
    const cost = costOf(route.price, prompt, completionTokens);
    const settlement = await call.settle(cost, prompt + completionTokens);
    if (!sink.started) sink.start({ 'x-tollgate-provider': result.target.provider, 'x-tollgate-model': route.alias, ...tpmHeaders(tpm) });
    if (includeUsage && !sink.signal.aborted) {
      const usage: Usage = {
        prompt_tokens: prompt,
        completion_tokens: completionTokens,
        total_tokens: prompt + completionTokens,
        cost: settlement.charged,
      };
      await sink
        .send({
          id,
          object: 'chat.completion.chunk',
          created: state.created,
          model: state.model,
          choices: [],
          usage,
        } satisfies ChatCompletionChunk)
        .catch(() => undefined);
    }
    // The billed row is written before [DONE]: a client that saw the end can find the call in its usage.
    await this.recorder({
      ...base,
      outcome: settlement.error ? 'billing_error' : 'success',
      target: result.target,
      holdId: hold.id,
      promptTokens: prompt,
      completionTokens,
      cost: settlement.charged,
      attempts: result.attempts,
      ttftMs: state.ttftMs,
    });
    sink.finish();
  }

  private async streamFailed(
    err: unknown,
    ctx: {
      prepared: Prepared;
      call: MeteredCall;
      sink: StreamSink;
      state: { chars: number; usage: Usage | undefined; ttftMs: number | undefined };
      base: RecordBase;
    },
  ): Promise<void> {
    const { prepared, call, sink, state, base } = ctx;
    const { hold } = call;
    const attempts = attemptsOf(err, []);
    const target = err instanceof MidStreamFailure ? err.target : undefined;
    const clientGone = err instanceof ClientGoneError || sink.signal.aborted;
    if (!sink.started) {
      // Nothing reached the client: nothing to pay.
      await call.release();
      if (clientGone) {
        await this.recorder({
          ...base,
          outcome: 'client_disconnect',
          target,
          holdId: hold.id,
          promptTokens: 0,
          completionTokens: 0,
          cost: 0,
          attempts,
        });
        return;
      }
      await this.recorder({ ...base, outcome: 'error', target, holdId: hold.id, errorCode: errorCodeOf(err), attempts });
      throw err;
    }
    const appError = err instanceof AppError ? err : new AppError('UPSTREAM_FAILED', 'The upstream failed in the middle of the stream');
    if (!clientGone) sink.fail(toOpenAiError(appError, base.caller.requestId));
    // What reached the client is paid for, whoever ended the stream (the client, the upstream or
    // the deadline): the prompt was processed and those tokens were delivered.
    const completionTokens = state.usage?.completion_tokens ?? tokensForChars(state.chars);
    const prompt = state.usage?.prompt_tokens ?? prepared.promptEstimate;
    const settlement = await call.settle(costOf(prepared.route.price, prompt, completionTokens), prompt + completionTokens);
    await this.recorder({
      ...base,
      outcome: clientGone ? 'client_disconnect' : 'stream_error',
      target,
      holdId: hold.id,
      ...(clientGone ? {} : { errorCode: appError.code }),
      promptTokens: prompt,
      completionTokens,
      cost: settlement.charged,
      attempts,
      ttftMs: state.ttftMs,
    });
  }
}

function usageHeaders(prompt: number, completion: number): Record<string, string> {
  return { 'x-tollgate-prompt-tokens': String(prompt), 'x-tollgate-completion-tokens': String(completion) };
}

function attemptsOf(err: unknown, fallback: AttemptRecord[]): AttemptRecord[] {
  if (err instanceof MidStreamFailure) return err.attempts;
  return attemptsOfError(err) ?? fallback;
}

/** Tokens for streamed characters when the upstream reported no usage. */
const tokensForChars = (chars: number) => (chars === 0 ? 0 : Math.ceil(chars / 4));
