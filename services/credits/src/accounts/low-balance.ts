import type { Db } from '../db/schema';
import { type PendingEvent, recordEvent } from '../events/outbox';
import { setLowBalanceNotified, type TenantBalance } from './repository';

/**
 * `credits.low_balance` fires once when the available balance drops below the tenant's threshold
 * (or the configured default; 0 = never), and re-arms once the available balance is back at or
 * above it. Both functions run inside the transaction that just changed `account`, whose row
 * lock that change holds, so concurrent operations see the flag in order.
 */
export function effectiveThreshold(account: Pick<TenantBalance, 'low_balance_threshold'>, defaultThreshold: number): number {
  return account.low_balance_threshold ?? defaultThreshold;
}

/**
 * After a change that lowered the available balance (charge, hold). `cause` is the transaction
 * or hold id, so the event id is stable for this one crossing.
 */
export async function notifyIfLow(db: Db, account: TenantBalance, defaultThreshold: number, cause: string, now: Date): Promise<PendingEvent | undefined> {
  const threshold = effectiveThreshold(account, defaultThreshold);
  const available = account.balance - account.held;
  if (available >= threshold || account.low_balance_notified) return undefined;
  await setLowBalanceNotified(db, account.id, true);
  return recordEvent(db, {
    id: `evt_lowbal_${cause}`,
    type: 'credits.low_balance',
    tenant_id: account.tenant_id,
    created_at: now,
    data: { tenant_id: account.tenant_id, available, held: account.held, threshold, caused_by: cause },
  });
}

/** After a change that raised the available balance (top-up, capture, release, expiry). */
export async function rearmIfRecovered(db: Db, account: TenantBalance, defaultThreshold: number): Promise<void> {
  if (!account.low_balance_notified) return;
  if (account.balance - account.held >= effectiveThreshold(account, defaultThreshold)) await setLowBalanceNotified(db, account.id, false);
}
