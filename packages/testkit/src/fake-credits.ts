import { AppError, type CreditHold, type CreditsClient, newId } from '@tollgate/common';

/**
 * An in-memory stand-in for the credits service's internal contract (holds, capture, release,
 * charges, balance), with the same rules: a hold or charge beyond the available balance is
 * refused with INSUFFICIENT_CREDITS, a capture may not exceed its hold, and every call is
 * idempotent by key. For tests about something else than billing, which need a CreditsClient
 * and no ledger; billing tests run the real credits service (credits/test/support/real-credits).
 */
export interface FakeCredits extends CreditsClient {
  topUp(tenantId: string, amount: number): void;
  holds: Map<string, CreditHold>;
  captures: { holdId: string; amount: number }[];
  charges: { tenantId: string; amount: number; key: string }[];
  account(tenantId: string): { balance: number; held: number };
  /** Make the next calls fail as if credits were down. */
  failing: boolean;
}

export function createFakeCredits(): FakeCredits {
  const accounts = new Map<string, { balance: number; held: number }>();
  const holds = new Map<string, CreditHold>();
  const holdByKey = new Map<string, string>();
  const captures: { holdId: string; amount: number }[] = [];
  const charges: { tenantId: string; amount: number; key: string }[] = [];
  const account = (tenantId: string) => {
    let a = accounts.get(tenantId);
    if (!a) accounts.set(tenantId, (a = { balance: 0, held: 0 }));
    return a;
  };
  const fake: FakeCredits = {
    failing: false,
    holds,
    captures,
    charges,
    account,
    topUp(tenantId, amount) {
      account(tenantId).balance += amount;
    },
    async hold(input) {
      if (fake.failing) throw new AppError('UPSTREAM_FAILED', 'credits down');
      const existing = holdByKey.get(input.idempotencyKey);
      if (existing) return holds.get(existing)!;
      const a = account(input.tenantId);
      if (a.balance - a.held < input.amount)
        throw new AppError('INSUFFICIENT_CREDITS', 'Insufficient credits', { details: { available: a.balance - a.held } });
      a.held += input.amount;
      const hold: CreditHold = {
        id: newId('hold'),
        tenant_id: input.tenantId,
        amount: input.amount,
        status: 'held',
        captured_amount: 0,
        expires_at: new Date(Date.now() + (input.ttlS ?? 300) * 1000).toISOString(),
        created_at: new Date().toISOString(),
      };
      holds.set(hold.id, hold);
      holdByKey.set(input.idempotencyKey, hold.id);
      return hold;
    },
    async capture(holdId, amount) {
      if (fake.failing) throw new AppError('UPSTREAM_FAILED', 'credits down');
      const hold = holds.get(holdId);
      if (!hold) throw new AppError('NOT_FOUND', 'Hold not found');
      if (hold.status === 'captured' && hold.captured_amount === amount) return hold;
      if (hold.status !== 'held') throw new AppError('CONFLICT', `Hold is ${hold.status}`);
      if (amount > hold.amount) throw new AppError('VALIDATION_FAILED', 'capture exceeds the hold');
      const a = account(hold.tenant_id);
      a.held -= hold.amount;
      a.balance -= amount;
      Object.assign(hold, { status: 'captured', captured_amount: amount, released_amount: hold.amount - amount });
      captures.push({ holdId, amount });
      return hold;
    },
    async release(holdId) {
      if (fake.failing) throw new AppError('UPSTREAM_FAILED', 'credits down');
      const hold = holds.get(holdId);
      if (!hold) throw new AppError('NOT_FOUND', 'Hold not found');
      if (hold.status === 'released') return hold;
      if (hold.status !== 'held') throw new AppError('CONFLICT', `Hold is ${hold.status}`);
      account(hold.tenant_id).held -= hold.amount;
      Object.assign(hold, { status: 'released', released_amount: hold.amount });
      return hold;
    },
    async charge(input) {
      if (fake.failing) throw new AppError('UPSTREAM_FAILED', 'credits down');
      const a = account(input.tenantId);
      if (a.balance - a.held < input.amount) throw new AppError('INSUFFICIENT_CREDITS', 'Insufficient credits');
      a.balance -= input.amount;
      charges.push({ tenantId: input.tenantId, amount: input.amount, key: input.idempotencyKey });
      return {
        id: newId('txn'),
        tenant_id: input.tenantId,
        amount: input.amount,
        balance_after: a.balance,
        created_at: new Date().toISOString(),
      };
    },
    async balance(tenantId) {
      const a = account(tenantId);
      return { tenant_id: tenantId, available: a.balance - a.held, held: a.held, currency: 'credits' };
    },
  };
  return fake;
}
