import type { OutboxEventsTable } from '@tollgate/common';
import type { ColumnType, Generated, Kysely, Selectable, Transaction } from 'kysely';

/** Timestamps are written as Date and read back as Date (pg parses timestamptz). */
type Timestamp = ColumnType<Date, Date, Date>;

export type AccountKind = 'tenant' | 'system';

export interface AccountsTable {
  id: string;
  kind: AccountKind;
  tenant_id: string | null;
  code: string | null;
  /** Posted balance (sum of the account's entries); null for system accounts (see shards). */
  balance: number | null;
  /** Sum of the account's active holds; null for system accounts. */
  held: number | null;
  /** Null: the configured default applies. */
  low_balance_threshold: number | null;
  /** True once `credits.low_balance` was emitted for the current dip below the threshold. */
  low_balance_notified: Generated<boolean>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface SystemBalanceShardsTable {
  account_id: string;
  shard: number;
  balance: Generated<number>;
}

export type TransactionType = 'top_up' | 'charge' | 'capture';

export interface TransactionsTable {
  id: string;
  seq: Generated<number>;
  tenant_id: string;
  type: TransactionType;
  amount: number;
  description: string | null;
  hold_id: string | null;
  idempotency_key: string | null;
  request_hash: string | null;
  created_at: Timestamp;
}

export interface EntriesTable {
  id: Generated<number>;
  transaction_id: string;
  account_id: string;
  /** Signed: negative takes from the account, positive adds to it. */
  amount: number;
  /** The tenant account's posted balance after this entry; null on system accounts. */
  balance_after: number | null;
  created_at: Timestamp;
}

export type HoldStatus = 'held' | 'captured' | 'released' | 'expired';

export interface HoldsTable {
  id: string;
  tenant_id: string;
  account_id: string;
  amount: number;
  status: HoldStatus;
  captured_amount: Generated<number>;
  capture_transaction_id: string | null;
  description: string | null;
  idempotency_key: string;
  request_hash: string;
  expires_at: Timestamp;
  created_at: Timestamp;
  finalized_at: Timestamp | null;
}

export interface Database {
  accounts: AccountsTable;
  system_balance_shards: SystemBalanceShardsTable;
  transactions: TransactionsTable;
  entries: EntriesTable;
  holds: HoldsTable;
  outbox_events: OutboxEventsTable;
}

/** Repository functions take either the pool or an open transaction. */
export type Db = Kysely<Database> | Transaction<Database>;

export type Hold = Selectable<HoldsTable>;
