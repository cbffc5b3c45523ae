import { type Kysely, sql } from 'kysely';

/** One row per AI call: who, which model and target, tokens, cost, latency and outcome. */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table usage (
      id text primary key,
      tenant_id text not null,
      key_id text not null,
      request_id text not null,
      kind text not null,
      model text not null,
      target text,
      provider text,
      upstream_model text,
      stream boolean not null default false,
      cached boolean not null default false,
      prompt_tokens integer not null default 0,
      completion_tokens integer not null default 0,
      cost bigint not null default 0,
      hold_id text,
      outcome text not null,
      error_code text,
      attempts smallint not null default 0,
      latency_ms integer not null,
      ttft_ms integer,
      created_at timestamptz not null,
      constraint usage_kind check (kind in ('chat', 'embedding', 'async_chat')),
      constraint usage_outcome check (outcome in ('success', 'error', 'stream_error', 'client_disconnect', 'insufficient_credits', 'rate_limited', 'cache_hit', 'billing_error')),
      constraint usage_tokens_nonnegative check (prompt_tokens >= 0 and completion_tokens >= 0),
      constraint usage_cost_nonnegative check (cost >= 0)
    )`.execute(db);
  await sql`create index usage_tenant_created on usage (tenant_id, created_at desc)`.execute(db);
  await sql`create index usage_key_created on usage (key_id, created_at desc)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table usage`.execute(db);
}
