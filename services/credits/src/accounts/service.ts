import { effectiveThreshold } from './low-balance';
import { ensureTenantAccount, findTenantAccount, setLowBalanceThreshold } from './repository';
import { inTransaction } from '../db/transaction';
import type { LedgerDeps } from '../deps';

export interface BalanceView {
  tenant_id: string;
  /** What the tenant can spend now: the posted balance minus active holds. */
  available: number;
  held: number;
  currency: 'credits';
}

export interface ThresholdView {
  tenant_id: string;
  low_balance_threshold: number;
  /** False when the tenant uses the configured default. */
  custom: boolean;
  available: number;
  held: number;
}

/** A tenant with no account yet (never topped up) simply has nothing: 0 and 0. */
export async function getBalance(deps: LedgerDeps, tenantId: string): Promise<BalanceView> {
  const account = await findTenantAccount(deps.db, tenantId);
  return { tenant_id: tenantId, available: account ? account.balance - account.held : 0, held: account?.held ?? 0, currency: 'credits' };
}

/** Sets the tenant's threshold (null: back to the default) and re-arms the low-balance event. */
export async function setThreshold(deps: LedgerDeps, tenantId: string, threshold: number | null): Promise<ThresholdView> {
  const account = await inTransaction(deps.db, async (trx) => {
    const now = deps.clock.now();
    await ensureTenantAccount(trx, tenantId, deps.ids.next('acct'), now);
    return setLowBalanceThreshold(trx, tenantId, threshold, now);
  });
  return {
    tenant_id: tenantId,
    low_balance_threshold: effectiveThreshold(account, deps.settings.defaultLowBalanceThreshold),
    custom: account.low_balance_threshold !== null,
    available: account.balance - account.held,
    held: account.held,
  };
}
