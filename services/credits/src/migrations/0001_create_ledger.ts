import { type Kysely, sql } from 'kysely';

/**
 * The ledger, modelled on TigerBeetle's guarantees:
 * - accounts: one per tenant (posted `balance` and pending `held`) plus system accounts;
 * - transactions + entries: double entry, append-only; a deferred constraint trigger refuses
 *   any commit where a transaction's entries do not sum to zero;
 * - holds: two-phase pending transfers; they move nothing until captured, but count against
 *   the available balance at once (`balance - held >= 0` is a CHECK on the row).
 *
 * System accounts (top-up source, revenue) would be one hot row every tenant's charge must lock;
 * their balance is instead kept in a few shard rows (`system_balance_shards`), summed on read,
 * so tenants never queue behind each other.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table accounts (
      id text primary key,
      kind text not null,
      tenant_id text unique,
      code text unique,
      balance bigint,
      held bigint,
      low_balance_threshold bigint,
      low_balance_notified boolean not null default false,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      constraint accounts_kind check (kind in ('tenant', 'system')),
      constraint accounts_tenant_shape check (
        (kind = 'tenant' and tenant_id is not null and code is null and balance is not null and held is not null)
        or (kind = 'system' and tenant_id is null and code is not null and balance is null and held is null)
      ),
      constraint accounts_tenant_id_format check (tenant_id ~ '^[A-Za-z0-9_-]{1,64}$'),
      constraint accounts_held_nonnegative check (held >= 0),
      constraint accounts_available_nonnegative check (balance - held >= 0),
      constraint accounts_balance_safe_integer check (balance <= 9007199254740991),
      constraint accounts_threshold_nonnegative check (low_balance_threshold >= 0)
    )`.execute(db);

  await sql`
    create table system_balance_shards (
      account_id text not null references accounts (id),
      shard smallint not null,
      balance bigint not null default 0,
      primary key (account_id, shard),
      constraint system_balance_shards_shard_range check (shard >= 0 and shard < 1024)
    )`.execute(db);

  await sql`
    insert into accounts (id, kind, code, created_at, updated_at) values
      ('sys_top_up_source', 'system', 'top_up_source', now(), now()),
      ('sys_revenue', 'system', 'revenue', now(), now())`.execute(db);

  await sql`
    create table holds (
      id text primary key,
      tenant_id text not null,
      account_id text not null references accounts (id),
      amount bigint not null,
      status text not null,
      captured_amount bigint not null default 0,
      capture_transaction_id text,
      description text,
      idempotency_key text not null,
      request_hash text not null,
      expires_at timestamptz not null,
      created_at timestamptz not null,
      finalized_at timestamptz,
      constraint holds_amount_positive check (amount > 0),
      constraint holds_status check (status in ('held', 'captured', 'released', 'expired')),
      constraint holds_captured_range check (captured_amount >= 0 and captured_amount <= amount),
      constraint holds_captured_only_when_captured check (status = 'captured' or (captured_amount = 0 and capture_transaction_id is null)),
      constraint holds_finalized_when_done check ((status = 'held') = (finalized_at is null)),
      constraint holds_idempotency unique (tenant_id, idempotency_key)
    )`.execute(db);
  await sql`create index holds_expiry on holds (expires_at) where status = 'held'`.execute(db);
  await sql`create index holds_account_active on holds (account_id) where status = 'held'`.execute(db);

  await sql`
    create table transactions (
      id text primary key,
      seq bigint generated always as identity unique,
      tenant_id text not null,
      type text not null,
      amount bigint not null,
      description text,
      hold_id text unique references holds (id),
      idempotency_key text,
      request_hash text,
      created_at timestamptz not null,
      constraint transactions_type check (type in ('top_up', 'charge', 'capture')),
      constraint transactions_amount_positive check (amount > 0),
      constraint transactions_capture_has_hold check ((type = 'capture') = (hold_id is not null)),
      constraint transactions_key_has_hash check ((idempotency_key is null) = (request_hash is null))
    )`.execute(db);
  // One idempotency key per tenant and operation; a retry finds the original by this index.
  await sql`create unique index transactions_idempotency on transactions (tenant_id, type, idempotency_key) where idempotency_key is not null`.execute(
    db,
  );
  await sql`create index transactions_tenant_history on transactions (tenant_id, seq desc)`.execute(db);
  await sql`alter table holds add constraint holds_capture_transaction_fk foreign key (capture_transaction_id) references transactions (id)`.execute(
    db,
  );

  await sql`
    create table entries (
      id bigint generated always as identity primary key,
      transaction_id text not null references transactions (id),
      account_id text not null references accounts (id),
      amount bigint not null,
      balance_after bigint,
      created_at timestamptz not null,
      constraint entries_amount_nonzero check (amount <> 0)
    )`.execute(db);
  await sql`create index entries_transaction on entries (transaction_id)`.execute(db);
  await sql`create index entries_account on entries (account_id)`.execute(db);

  // History is append-only: corrections are new transactions, never edits.
  await sql`
    create function ledger_refuse_change() returns trigger language plpgsql set search_path from current as $$
    begin
      raise exception 'ledger rows are append-only: % on % refused', tg_op, tg_table_name using errcode = 'restrict_violation';
    end $$`.execute(db);
  for (const table of ['transactions', 'entries']) {
    await sql`create trigger ${sql.id(`${table}_append_only`)} before update or delete on ${sql.id(table)} for each row execute function ledger_refuse_change()`.execute(
      db,
    );
    await sql`create trigger ${sql.id(`${table}_no_truncate`)} before truncate on ${sql.id(table)} for each statement execute function ledger_refuse_change()`.execute(
      db,
    );
  }

  // Checked at commit (deferred), after every entry of the transaction is written: at least two
  // entries, summing to zero, and the positive side equal to the transaction's amount.
  await sql`
    create function ledger_assert_balanced(txn_id text) returns void language plpgsql set search_path from current as $$
    declare
      entry_count bigint;
      total numeric;
      debited numeric;
      expected bigint;
    begin
      select count(*), coalesce(sum(amount), 0), coalesce(sum(amount) filter (where amount > 0), 0)
        into entry_count, total, debited
        from entries where transaction_id = txn_id;
      select amount into expected from transactions where id = txn_id;
      if entry_count < 2 or total <> 0 or debited is distinct from expected then
        raise exception 'transaction % is unbalanced: % entries, sum %, moved % of %', txn_id, entry_count, total, debited, expected
          using errcode = 'check_violation';
      end if;
    end $$`.execute(db);
  await sql`
    create function ledger_check_transaction_balanced() returns trigger language plpgsql set search_path from current as $$
    begin
      perform ledger_assert_balanced(new.id);
      return null;
    end $$`.execute(db);
  await sql`
    create function ledger_check_entry_balanced() returns trigger language plpgsql set search_path from current as $$
    begin
      perform ledger_assert_balanced(new.transaction_id);
      return null;
    end $$`.execute(db);
  await sql`create constraint trigger transactions_balanced after insert on transactions deferrable initially deferred for each row execute function ledger_check_transaction_balanced()`.execute(
    db,
  );
  await sql`create constraint trigger entries_balanced after insert on entries deferrable initially deferred for each row execute function ledger_check_entry_balanced()`.execute(
    db,
  );

  // Events recorded in the same transaction as the change they announce, published after commit
  // (and re-published by the maintenance loop if the process died in between).
  await sql`
    create table outbox_events (
      id text primary key,
      type text not null,
      tenant_id text not null,
      data jsonb not null,
      created_at timestamptz not null,
      published_at timestamptz
    )`.execute(db);
  await sql`create index outbox_events_unpublished on outbox_events (created_at) where published_at is null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table if exists outbox_events`.execute(db);
  await sql`alter table holds drop constraint if exists holds_capture_transaction_fk`.execute(db);
  await sql`drop table if exists entries`.execute(db);
  await sql`drop table if exists transactions`.execute(db);
  await sql`drop table if exists holds`.execute(db);
  await sql`drop table if exists system_balance_shards`.execute(db);
  await sql`drop table if exists accounts`.execute(db);
  await sql`drop function if exists ledger_check_transaction_balanced()`.execute(db);
  await sql`drop function if exists ledger_check_entry_balanced()`.execute(db);
  await sql`drop function if exists ledger_assert_balanced(text)`.execute(db);
  await sql`drop function if exists ledger_refuse_change()`.execute(db);
}
