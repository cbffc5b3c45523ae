import type { KeyBudgetPolicy, OutboxEventsTable } from '@tollgate/common';
import type { ColumnType, Insertable, Kysely, Selectable, Transaction } from 'kysely';

/** Tables of the `ai` schema. */
export interface UsageTable {
  id: string;
  tenant_id: string;
  key_id: string;
  request_id: string;
  kind: 'chat' | 'embedding' | 'async_chat';
  model: string;
  target: string | null;
  provider: string | null;
  upstream_model: string | null;
  stream: boolean;
  cached: boolean;
  prompt_tokens: number;
  completion_tokens: number;
  cost: number;
  hold_id: string | null;
  outcome: UsageOutcome;
  error_code: string | null;
  attempts: number;
  latency_ms: number;
  ttft_ms: number | null;
  created_at: ColumnType<Date, Date, never>;
  tags: ColumnType<Record<string, string>, string | undefined, never>;
  user: string | null;
  metadata: ColumnType<Record<string, string> | null, string | null, never>;
}

export type UsageOutcome =
  'success' | 'error' | 'stream_error' | 'client_disconnect' | 'insufficient_credits' | 'rate_limited' | 'cache_hit' | 'billing_error';

export type AsyncJobStatus = 'queued' | 'running' | 'succeeded' | 'failed';

export interface AsyncJobTable {
  id: string;
  tenant_id: string;
  key_id: string;
  request_id: string;
  model: string;
  status: AsyncJobStatus;
  request: ColumnType<unknown, string, string>;
  result: ColumnType<unknown | null, string | null, string | null>;
  error: ColumnType<{ code: string; message: string } | null, string | null, string | null>;
  cost: number | null;
  attempts: number;
  created_at: ColumnType<Date, Date, never>;
  updated_at: ColumnType<Date, Date, Date>;
  completed_at: Date | null;
  tags: ColumnType<Record<string, string>, string | undefined, never>;
  /** The submitting key's budget (null: none), for the worker's hold. */
  budget: ColumnType<KeyBudgetPolicy | null, string | null | undefined, never>;
}

export interface PendingSettlementTable {
  hold_id: string;
  tenant_id: string;
  capture_amount: ColumnType<number, number, number>;
  overage: ColumnType<number, number, number>;
  idempotency_key: string;
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: ColumnType<Date, Date, Date>;
  last_error: string | null;
  created_at: ColumnType<Date, Date | undefined, never>;
}

export interface AiDatabase {
  usage: UsageTable;
  async_jobs: AsyncJobTable;
  pending_settlements: PendingSettlementTable;
  outbox_events: OutboxEventsTable;
}

export type UsageRow = Selectable<UsageTable>;
export type NewUsageRow = Insertable<UsageTable>;
export type AsyncJobRow = Selectable<AsyncJobTable>;

/** What data access functions take: the pool or the caller's transaction. */
export type Db = Kysely<AiDatabase> | Transaction<AiDatabase>;
