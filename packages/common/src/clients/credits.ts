import { signServiceIdentity } from '../identity';
import { callJson, type JsonClientOptions } from './http-json';

/** A reservation of credits: reduces the available balance at once; captured or released later. */
export interface CreditHold {
  id: string;
  tenant_id: string;
  amount: number;
  status: 'held' | 'captured' | 'released' | 'expired';
  captured_amount: number;
  released_amount?: number;
  transaction_id?: string | null;
  expires_at: string;
  created_at: string;
}

export interface CreditCharge {
  id: string;
  tenant_id: string;
  amount: number;
  balance_after: number;
  created_at: string;
}

export interface CreditBalance {
  tenant_id: string;
  available: number;
  held: number;
  currency: 'credits';
}

/**
 * The credits service's internal contract (docs/architecture.md, "Internal contracts"). Every call carries
 * an idempotency key, so retrying after a timeout can never charge twice. Amounts are integer
 * micro-credits. A refused hold or charge throws AppError INSUFFICIENT_CREDITS (402).
 */
export interface CreditsClient {
  /** `budget`: the calling key's budget, reserved by the same hold (402 BUDGET_EXCEEDED when over). */
  hold(input: {
    tenantId: string;
    amount: number;
    idempotencyKey: string;
    ttlS?: number;
    description?: string;
    budget?: { keyId: string; amount: number; period: 'day' | 'week' | 'month' } | undefined;
  }): Promise<CreditHold>;
  capture(holdId: string, amount: number): Promise<CreditHold>;
  release(holdId: string): Promise<CreditHold>;
  /** `allowDebt`: a late charge for usage already delivered; it may take the balance below zero (bounded by credits' MAX_DEBT). */
  charge(input: {
    tenantId: string;
    amount: number;
    idempotencyKey: string;
    description?: string;
    allowDebt?: boolean;
  }): Promise<CreditCharge>;
  balance(tenantId: string): Promise<CreditBalance>;
}

export interface HttpCreditsClientOptions {
  baseUrl: string;
  internalSecret: string;
  /** Who is calling, for the credits service's logs. */
  serviceName: string;
  timeoutMs?: number;
  retries?: number;
}

/**
 * The service token, signed at most once per second: jsonwebtoken stamps `iat` (and `exp` from
 * it) in whole seconds, so every token signed within one second is byte-identical anyway.
 */
function serviceIdentityPerSecond(serviceName: string, secret: string): () => string {
  let second = -1;
  let token = '';
  return () => {
    const now = Math.floor(Date.now() / 1000);
    if (now !== second) {
      token = signServiceIdentity(serviceName, secret);
      second = now;
    }
    return token;
  };
}

export function createCreditsClient(options: HttpCreditsClientOptions): CreditsClient {
  const client: JsonClientOptions = {
    baseUrl: options.baseUrl,
    identity: serviceIdentityPerSecond(options.serviceName, options.internalSecret),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.retries !== undefined ? { retries: options.retries } : {}),
  };
  return {
    hold: (input) =>
      callJson<CreditHold>(client, 'POST', '/internal/v1/holds', {
        tenant_id: input.tenantId,
        amount: input.amount,
        idempotency_key: input.idempotencyKey,
        ...(input.ttlS !== undefined ? { ttl_s: input.ttlS } : {}),
        ...(input.description !== undefined ? { description: input.description } : {}),
        ...(input.budget ? { budget: { key_id: input.budget.keyId, amount: input.budget.amount, period: input.budget.period } } : {}),
      }),
    capture: (holdId, amount) =>
      callJson<CreditHold>(client, 'POST', `/internal/v1/holds/${encodeURIComponent(holdId)}/capture`, { amount }),
    release: (holdId) => callJson<CreditHold>(client, 'POST', `/internal/v1/holds/${encodeURIComponent(holdId)}/release`, {}),
    charge: (input) =>
      callJson<CreditCharge>(client, 'POST', '/internal/v1/charges', {
        tenant_id: input.tenantId,
        amount: input.amount,
        idempotency_key: input.idempotencyKey,
        ...(input.description !== undefined ? { description: input.description } : {}),
        ...(input.allowDebt ? { allow_debt: true } : {}),
      }),
    balance: (tenantId) => callJson<CreditBalance>(client, 'GET', `/internal/v1/accounts/${encodeURIComponent(tenantId)}/balance`),
  };
}
