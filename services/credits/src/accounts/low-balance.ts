import { type OutboxEvent, recordEvent } from '@tollgate/common';
import { type Kysely, sql } from 'kysely';
import type { Database, Db } from '../db/schema';
import { inTransaction } from '../db/transaction';
import { setLowBalanceNotified, type TenantBalance } from './repository';

/**
 * `credits.low_balance` fires once when the available balance drops below the tenant's threshold
 * (or the configured default; 0 = never), and re-arms once the available balance is back at or
 * above it. The `low_balance_notified` flag on the account row is the "already told" state.
 */
export function effectiveThreshold(account: Pick<TenantBalance, 'low_balance_threshold'>, defaultThreshold: number): number {
  return account.low_balance_threshold ?? defaultThreshold;
}

/** Does the account, as a debit left it, call for a notice? (No query: decided on RETURNING.) */
export function isNewlyLow(account: TenantBalance, defaultThreshold: number): boolean {
  return !account.low_balance_notified && account.balance - account.held < effectiveThreshold(account, defaultThreshold);
}

/**
 * Right after a debit (charge or hold) committed and left the account newly low: in one short
 * transaction, set the flag — only if the account is still below and not yet flagged, so of
 * several concurrent debits exactly one wins — and record the event with it. `cause` (the charge
 * or hold id) makes the event id stable. Had the process died before this ran, the flag would
 * still be clear and the next debit below the threshold would send the notice.
 */
export async function notifyIfLow(
  db: Kysely<Database>,
  accountId: string,
  defaultThreshold: number,
  cause: string,
  now: Date,
): Promise<OutboxEvent | undefined> {
  return inTransaction(db, async (trx) => {
    const row = await trx
      .updateTable('accounts')
      .set({ low_balance_notified: true })
      .where('id', '=', accountId)
      .where('low_balance_notified', '=', false)
      .where(sql<boolean>`balance - held < coalesce(low_balance_threshold, ${defaultThreshold})`)
      .returning(['tenant_id', 'balance', 'held', 'low_balance_threshold'])
      .executeTakeFirst();
    if (!row) return undefined;
    const tenantId = row.tenant_id!;
    const available = row.balance! - row.held!;
    return recordEvent(trx, {
      id: `evt_lowbal_${cause}`,
      type: 'credits.low_balance',
      tenant_id: tenantId,
      created_at: now,
      data: { tenant_id: tenantId, available, held: row.held, threshold: row.low_balance_threshold ?? defaultThreshold, caused_by: cause },
    });
  });
}

/** Inside a change that raised the available balance (top-up, capture, release, expiry). */
export async function rearmIfRecovered(db: Db, account: TenantBalance, defaultThreshold: number): Promise<void> {
  if (!account.low_balance_notified) return;
  if (account.balance - account.held >= effectiveThreshold(account, defaultThreshold)) await setLowBalanceNotified(db, account.id, false);
}
