import { sql } from 'kysely';
import { asTenantBalance, type ReturnedRow, type TenantBalance } from '../accounts/repository';
import { SYSTEM_ACCOUNTS } from '../ledger/system-accounts';
import type { Db, Hold, HoldStatus } from '../db/schema';

const HOLD_COLUMNS = [
  'id',
  'tenant_id',
  'account_id',
  'amount',
  'status',
  'captured_amount',
  'capture_transaction_id',
  'description',
  'idempotency_key',
  'request_hash',
  'expires_at',
  'created_at',
  'finalized_at',
] as const;

/** A hold as callers see it. */
export interface HoldView {
  id: string;
  tenant_id: string;
  amount: number;
  status: HoldStatus;
  captured_amount: number;
  /** What went (or will go, once finished) back to the available balance. */
  released_amount: number;
  /** The capture's transaction; null unless captured with a non-zero amount. */
  transaction_id: string | null;
  description: string | null;
  expires_at: string;
  created_at: string;
  finalized_at: string | null;
}

export function toHoldView(hold: Hold): HoldView {
  return {
    id: hold.id,
    tenant_id: hold.tenant_id,
    amount: hold.amount,
    status: hold.status,
    captured_amount: hold.captured_amount,
    released_amount: hold.status === 'held' ? 0 : hold.amount - hold.captured_amount,
    transaction_id: hold.capture_transaction_id,
    description: hold.description,
    expires_at: hold.expires_at.toISOString(),
    created_at: hold.created_at.toISOString(),
    finalized_at: hold.finalized_at ? hold.finalized_at.toISOString() : null,
  };
}

export interface NewHoldInput {
  id: string;
  tenantId: string;
  amount: number;
  description: string | null;
  idempotencyKey: string;
  requestHash: string;
  expiresAt: Date;
  now: Date;
}

/**
 * Reserves `amount` and records the hold in ONE statement, committed on its own, under the same
 * conditional update (and row lock) as a charge: see postCharge. Undefined when the available
 * balance is short (nothing written); a repeated key fails on `holds_idempotency`.
 */
export async function reserveHold(db: Db, input: NewHoldInput): Promise<{ hold: Hold; account: TenantBalance } | undefined> {
  const { rows } = await sql<Hold & { balance: number; held: number; low_balance_threshold: number | null; low_balance_notified: boolean }>`
    with acct as (
      update accounts set held = held + ${input.amount}::bigint, updated_at = ${input.now}::timestamptz
       where tenant_id = ${input.tenantId} and kind = 'tenant' and balance - held >= ${input.amount}::bigint
      returning id, tenant_id, balance, held, low_balance_threshold, low_balance_notified
    ), created as (
      insert into holds (id, tenant_id, account_id, amount, status, description, idempotency_key, request_hash, expires_at, created_at)
      select ${input.id}::text, tenant_id, id, ${input.amount}::bigint, 'held', ${input.description}::text, ${input.idempotencyKey}::text, ${input.requestHash}::text,
             ${input.expiresAt}::timestamptz, ${input.now}::timestamptz
        from acct
      returning ${sql.join(HOLD_COLUMNS.map((c) => sql.ref(c)))}
    )
    select created.*, acct.balance, acct.held, acct.low_balance_threshold, acct.low_balance_notified from created cross join acct`.execute(
    db,
  );
  const row = rows[0];
  if (!row) return undefined;
  const { balance, held, low_balance_threshold, low_balance_notified, ...hold } = row;
  const account: ReturnedRow = {
    id: hold.account_id,
    tenant_id: hold.tenant_id,
    balance,
    held,
    low_balance_threshold,
    low_balance_notified,
  };
  return { hold: hold as Hold, account: asTenantBalance(account)! };
}

export async function findHold(db: Db, id: string): Promise<Hold | undefined> {
  return db.selectFrom('holds').select(HOLD_COLUMNS).where('id', '=', id).executeTakeFirst();
}

/** SET clause fragment: clear the low-balance flag if the account's new available balance is back at or above its threshold. */
const rearmed = (newAvailable: ReturnType<typeof sql>, defaultThreshold: number) =>
  sql`a.low_balance_notified and ${newAvailable} < coalesce(a.low_balance_threshold, ${defaultThreshold}::bigint)`;

export interface CaptureInput {
  holdId: string;
  amount: number;
  /** Null when capturing 0 (nothing is posted). */
  transactionId: string | null;
  /** Revenue shard to post to (any shard is correct; see SYSTEM_BALANCE_SHARDS). */
  shard: number;
  now: Date;
  defaultLowBalanceThreshold: number;
}

/**
 * Captures in ONE statement: the hold moves to `captured` only if it is still held, unexpired and
 * at least `amount`; then its account drops the whole hold from `held` and `amount` from the
 * balance, and the capture is posted (transaction, both entries, revenue shard). Locks: hold row,
 * then account row, then shard — each CTE reads the one before. Undefined when the hold did not
 * qualify; nothing was written then, and the caller reads the hold to say why.
 */
export async function captureHeldHold(db: Db, input: CaptureInput): Promise<Hold | undefined> {
  const revenue = SYSTEM_ACCOUNTS.revenue;
  const amount = sql`${input.amount}::bigint`;
  const now = sql`${input.now}::timestamptz`;
  const { rows } = await sql<Hold>`
    with h as (
      update holds
         set status = 'captured', captured_amount = ${amount}, capture_transaction_id = ${input.transactionId}::text, finalized_at = ${now}
       where id = ${input.holdId} and status = 'held' and expires_at > ${now} and amount >= ${amount}
      returning ${sql.join(HOLD_COLUMNS.map((c) => sql.ref(c)))}
    ), acct as (
      update accounts a
         set balance = a.balance - ${amount}, held = a.held - h.amount, updated_at = ${now},
             low_balance_notified = ${rearmed(sql`(a.balance - ${amount}) - (a.held - h.amount)`, input.defaultLowBalanceThreshold)}
        from h
       where a.id = h.account_id
      returning a.id, a.balance
    ), txn as (
      insert into transactions (id, tenant_id, type, amount, description, hold_id, created_at)
      select ${input.transactionId}::text, h.tenant_id, 'capture', ${amount}, h.description, h.id, ${now} from h where ${amount} > 0
    ), legs as (
      insert into entries (transaction_id, account_id, amount, balance_after, created_at)
      select ${input.transactionId}::text, acct.id, -${amount}, acct.balance, ${now} from acct where ${amount} > 0
      union all
      select ${input.transactionId}::text, ${revenue}::text, ${amount}, null, ${now} from acct where ${amount} > 0
    ), revenue_shard as (
      insert into system_balance_shards (account_id, shard, balance)
      select ${revenue}::text, ${input.shard}::smallint, ${amount} from acct where ${amount} > 0
      on conflict (account_id, shard) do update set balance = system_balance_shards.balance + excluded.balance
    )
    select * from h`.execute(db);
  return rows[0];
}

/** Releases in ONE statement if the hold is still held (expired or not); undefined otherwise. */
export async function releaseHeldHold(db: Db, holdId: string, now: Date, defaultLowBalanceThreshold: number): Promise<Hold | undefined> {
  const { rows } = await sql<Hold>`
    with h as (
      update holds set status = 'released', finalized_at = ${now}::timestamptz
       where id = ${holdId} and status = 'held'
      returning ${sql.join(HOLD_COLUMNS.map((c) => sql.ref(c)))}
    ), acct as (
      update accounts a
         set held = a.held - h.amount, updated_at = ${now}::timestamptz,
             low_balance_notified = ${rearmed(sql`a.balance - (a.held - h.amount)`, defaultLowBalanceThreshold)}
        from h
       where a.id = h.account_id
      returning a.id
    )
    select * from h`.execute(db);
  return rows[0];
}

export async function findHoldByKey(db: Db, tenantId: string, key: string): Promise<Hold | undefined> {
  return db
    .selectFrom('holds')
    .select(HOLD_COLUMNS)
    .where('tenant_id', '=', tenantId)
    .where('idempotency_key', '=', key)
    .executeTakeFirst();
}

/** Reads the hold and locks it until the transaction ends (locks: hold first, then its account). */
export async function lockHold(db: Db, id: string): Promise<Hold | undefined> {
  return db.selectFrom('holds').select(HOLD_COLUMNS).where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function finishHold(
  db: Db,
  id: string,
  status: Exclude<HoldStatus, 'held'>,
  capturedAmount: number,
  captureTransactionId: string | null,
  now: Date,
): Promise<Hold> {
  return db
    .updateTable('holds')
    .set({ status, captured_amount: capturedAmount, capture_transaction_id: captureTransactionId, finalized_at: now })
    .where('id', '=', id)
    .where('status', '=', 'held')
    .returning(HOLD_COLUMNS)
    .executeTakeFirstOrThrow();
}

/**
 * Locks up to `limit` holds past their expiry. SKIP LOCKED lets several sweepers (API replicas
 * and workers) share the work, and passes over a hold a capture is busy with.
 */
export async function lockExpiredHolds(db: Db, now: Date, limit: number): Promise<Hold[]> {
  return db
    .selectFrom('holds')
    .select(HOLD_COLUMNS)
    .where('status', '=', 'held')
    .where('expires_at', '<=', now)
    .orderBy('expires_at')
    .limit(limit)
    .forUpdate()
    .skipLocked()
    .execute();
}
