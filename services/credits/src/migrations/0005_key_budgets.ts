import { type Kysely, sql } from 'kysely';
import * as previous from './0003_ledger_batch_function';

/**
 * Per-key budgets (issue 17): a key may have a budget per day, week or month. It is reserved by
 * the same hold as the call — credits_hold checks and raises the key's `held` for the period in
 * the transaction that reserves the tenant's credits, under the tenant's account lock — so
 * concurrent calls spend at most the budget, never more. A capture moves the hold from `held` to
 * `spent` (what was really used); a release or expiry gives it back. The period (its start and
 * when it resets) is decided by the credits service's clock and sent with each hold.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table key_budgets (
      tenant_id text not null,
      key_id text not null,
      period_start timestamptz not null,
      held bigint not null default 0 check (held >= 0),
      spent bigint not null default 0 check (spent >= 0),
      primary key (tenant_id, key_id, period_start)
    )`.execute(db);
  await sql`alter table holds add column budget_key_id text, add column budget_period_start timestamptz`.execute(db);

  // A hold that counted against a key's budget leaves it: `spent` is what was posted (0 on release/expiry).
  await sql`
    create function credits_budget_settle(h holds, posted bigint) returns void language sql set search_path from current as $$
      update key_budgets
         set held = held - h.amount, spent = spent + posted
       where h.budget_key_id is not null
         and tenant_id = h.tenant_id and key_id = h.budget_key_id and period_start = h.budget_period_start
    $$`.execute(db);

  await sql`
    create or replace function credits_hold(op jsonb, default_threshold bigint) returns jsonb language plpgsql set search_path from current as $$
    declare
      amt bigint := (op->>'amount')::bigint;
      at timestamptz := (op->>'now')::timestamptz;
      a accounts;
      h holds;
      threshold bigint;
      event jsonb;
      budget jsonb := case when jsonb_typeof(op->'budget') = 'object' then op->'budget' end;
      budget_used bigint := 0;
    begin
      select * into a from accounts where tenant_id = op->>'tenant_id' and kind = 'tenant';
      if not found then
        return jsonb_build_object('ok', false, 'error', 'insufficient_credits', 'available', 0, 'requested', amt);
      end if;
      select * into h from holds where tenant_id = op->>'tenant_id' and idempotency_key = op->>'key';
      if found then
        if h.request_hash <> op->>'hash' then
          return jsonb_build_object('ok', false, 'error', 'idempotency_key_reused');
        end if;
        return jsonb_build_object('ok', true, 'replayed', true, 'hold', credits_hold_json(h));
      end if;
      if a.balance - a.held < amt then
        return jsonb_build_object('ok', false, 'error', 'insufficient_credits', 'available', a.balance - a.held, 'requested', amt);
      end if;
      -- The key's budget for this period, reserved by the same hold (the tenant's account row is
      -- locked, so every hold of this key is serialised here: concurrent calls never overshoot).
      if budget is not null then
        select kb.held + kb.spent into budget_used from key_budgets kb
         where kb.tenant_id = a.tenant_id and kb.key_id = budget->>'key_id' and kb.period_start = (budget->>'period_start')::timestamptz;
        budget_used := coalesce(budget_used, 0);
        if budget_used + amt > (budget->>'limit')::bigint then
          return jsonb_build_object('ok', false, 'error', 'budget_exceeded', 'limit', (budget->>'limit')::bigint, 'used', budget_used,
            'requested', amt, 'resets_at', budget->>'resets_at');
        end if;
        insert into key_budgets (tenant_id, key_id, period_start, held, spent)
        values (a.tenant_id, budget->>'key_id', (budget->>'period_start')::timestamptz, amt, 0)
        on conflict (tenant_id, key_id, period_start) do update set held = key_budgets.held + excluded.held;
      end if;
      update accounts set held = held + amt, updated_at = at where id = a.id returning * into a;
      insert into holds (id, tenant_id, account_id, amount, status, description, idempotency_key, request_hash, expires_at, created_at,
                         budget_key_id, budget_period_start)
      values (op->>'id', a.tenant_id, a.id, amt, 'held', op->>'description', op->>'key', op->>'hash', (op->>'expires_at')::timestamptz, at,
              budget->>'key_id', (budget->>'period_start')::timestamptz)
      returning * into h;
      -- credits.low_balance, in this transaction: once per downward crossing (the flag re-arms on recovery).
      threshold := coalesce(a.low_balance_threshold, default_threshold);
      if not a.low_balance_notified and a.balance - a.held < threshold then
        update accounts set low_balance_notified = true where id = a.id;
        event := jsonb_build_object('id', 'evt_lowbal_' || h.id, 'type', 'credits.low_balance', 'tenant_id', a.tenant_id, 'created_at', at,
          'data', jsonb_build_object('tenant_id', a.tenant_id, 'available', a.balance - a.held, 'held', a.held, 'threshold', threshold, 'caused_by', h.id));
        insert into outbox_events (id, type, tenant_id, data, created_at)
        values (event->>'id', event->>'type', a.tenant_id, event->'data', at) on conflict (id) do nothing;
      end if;
      return jsonb_build_object('ok', true, 'replayed', false, 'hold', credits_hold_json(h), 'event', event);
    end $$`.execute(db);

  await sql`
    create or replace function credits_return_hold(h holds, new_status text, at timestamptz, default_threshold bigint) returns holds
    language plpgsql set search_path from current as $$
    declare
      done holds;
    begin
      update accounts a
         set held = a.held - h.amount, updated_at = at,
             low_balance_notified = a.low_balance_notified and a.balance - (a.held - h.amount) < coalesce(a.low_balance_threshold, default_threshold)
       where a.id = h.account_id;
      perform credits_budget_settle(h, 0);
      update holds set status = new_status, finalized_at = at where id = h.id returning * into done;
      return done;
    end $$`.execute(db);

  await sql`
    create or replace function credits_capture(op jsonb, default_threshold bigint) returns jsonb language plpgsql set search_path from current as $$
    declare
      amt bigint := (op->>'amount')::bigint;
      at timestamptz := (op->>'now')::timestamptz;
      txn text := op->>'txn_id';
      h holds;
      bal bigint;
    begin
      select * into h from holds where id = op->>'hold_id';
      if not found then
        return jsonb_build_object('ok', false, 'error', 'not_found');
      end if;
      if h.status = 'held' and h.expires_at > at and h.amount >= amt then
        update accounts a
           set balance = a.balance - amt, held = a.held - h.amount, updated_at = at,
               low_balance_notified = a.low_balance_notified
                 and (a.balance - amt) - (a.held - h.amount) < coalesce(a.low_balance_threshold, default_threshold)
         where a.id = h.account_id
        returning a.balance into bal;
        if amt > 0 then
          -- The transaction first: the hold's capture_transaction_id references it.
          insert into transactions (id, tenant_id, type, amount, description, hold_id, created_at)
          values (txn, h.tenant_id, 'capture', amt, h.description, h.id, at);
          insert into entries (transaction_id, account_id, amount, balance_after, created_at)
          values (txn, h.account_id, -amt, bal, at), (txn, 'sys_revenue', amt, null, at);
        end if;
        perform credits_budget_settle(h, amt);
        update holds
           set status = 'captured', captured_amount = amt, capture_transaction_id = case when amt > 0 then txn end, finalized_at = at
         where id = h.id
        returning * into h;
        return jsonb_build_object('ok', true, 'replayed', false, 'hold', credits_hold_json(h),
          'shard_credit', case when amt > 0 then jsonb_build_object('shard', (op->>'shard')::int, 'amount', amt) end);
      end if;
      if h.status = 'captured' then
        if h.captured_amount = amt then
          return jsonb_build_object('ok', true, 'replayed', true, 'hold', credits_hold_json(h));
        end if;
        return jsonb_build_object('ok', false, 'error', 'not_held', 'action', 'captured again with a different amount', 'hold', credits_hold_json(h));
      end if;
      if h.status <> 'held' then
        return jsonb_build_object('ok', false, 'error', 'not_held', 'action', 'captured', 'hold', credits_hold_json(h));
      end if;
      if h.expires_at <= at then
        -- Past its TTL but not swept yet: expire it now (its funds return), then refuse the capture.
        h := credits_return_hold(h, 'expired', at, default_threshold);
        return jsonb_build_object('ok', false, 'error', 'not_held', 'action', 'captured', 'hold', credits_hold_json(h));
      end if;
      return jsonb_build_object('ok', false, 'error', 'capture_exceeds_hold', 'held', h.amount, 'requested', amt);
    end $$`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // The functions of 0003 come back by re-running its up() after dropping them.
  await previous.down(db);
  await sql`alter table holds drop column if exists budget_key_id, drop column if exists budget_period_start`.execute(db);
  await sql`drop function if exists credits_budget_settle(holds, bigint)`.execute(db);
  await sql`drop table if exists key_budgets`.execute(db);
  await previous.up(db);
}
