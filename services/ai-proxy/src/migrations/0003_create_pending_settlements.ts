import { type Kysely, sql } from 'kysely';

/**
 * Settlements the credits service could not take when a call ended (it was restarting, or
 * unreachable): kept here and retried until the tenant is billed, so a call is never left unpaid.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table pending_settlements (
      hold_id text primary key,
      tenant_id text not null,
      capture_amount bigint not null,
      overage bigint not null default 0,
      idempotency_key text not null,
      attempts integer not null default 0,
      next_attempt_at timestamptz not null,
      last_error text,
      created_at timestamptz not null default now(),
      constraint pending_settlements_amounts check (capture_amount > 0 and overage >= 0)
    )`.execute(db);
  await sql`create index pending_settlements_due on pending_settlements (next_attempt_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table pending_settlements`.execute(db);
}
