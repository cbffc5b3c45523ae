import { type Kysely, sql } from 'kysely';

/**
 * Holds, captures and releases as ONE server-side function call, applied in batches (group
 * commit, see src/ledger/group-commit.ts): `credits_apply_batch(ops jsonb, default_threshold)`
 * applies an array of operations in one transaction and returns one outcome per operation.
 *
 * No savepoints: every operation checks all its conditions before its first write, so an op that
 * fails (insufficient credits, unknown hold, wrong state, reused key) writes nothing and the
 * others go on. The only write on a refusal is the one the API already made: a capture after the
 * TTL expires the hold (its funds return) and answers 409.
 *
 * Locks, taken up front in one order so batches, charges and the expiry sweeper never form a
 * cycle: the hold rows the batch captures or releases (id order), then every account it touches
 * (id order), and the revenue shards last (their deltas summed per shard, written in shard order
 * at the end). A charge locks account then shard; the sweeper takes holds with SKIP LOCKED, then
 * accounts in id order. Idempotency keys are checked after the tenant's account row is locked:
 * every hold of a tenant locks that row first, so a concurrent hold with the same key has either
 * committed (and is seen: READ COMMITTED gives each statement a fresh snapshot) or not started.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // A hold row as the service reads it (the same columns as HOLD_COLUMNS).
  await sql`
    create function credits_hold_json(h holds) returns jsonb language sql immutable as $$
      select jsonb_build_object(
        'id', h.id, 'tenant_id', h.tenant_id, 'account_id', h.account_id, 'amount', h.amount, 'status', h.status,
        'captured_amount', h.captured_amount, 'capture_transaction_id', h.capture_transaction_id, 'description', h.description,
        'idempotency_key', h.idempotency_key, 'request_hash', h.request_hash, 'expires_at', h.expires_at,
        'created_at', h.created_at, 'finalized_at', h.finalized_at)
    $$`.execute(db);

  // Reserve: op = {op: 'hold', id, tenant_id, amount, key, hash, description, expires_at, now}.
  await sql`
    create function credits_hold(op jsonb, default_threshold bigint) returns jsonb language plpgsql set search_path from current as $$
    declare
      amt bigint := (op->>'amount')::bigint;
      at timestamptz := (op->>'now')::timestamptz;
      a accounts;
      h holds;
      threshold bigint;
      event jsonb;
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
      update accounts set held = held + amt, updated_at = at where id = a.id returning * into a;
      insert into holds (id, tenant_id, account_id, amount, status, description, idempotency_key, request_hash, expires_at, created_at)
      values (op->>'id', a.tenant_id, a.id, amt, 'held', op->>'description', op->>'key', op->>'hash', (op->>'expires_at')::timestamptz, at)
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

  // Ends a held hold without posting (release, or expiry found by a late capture).
  await sql`
    create function credits_return_hold(h holds, new_status text, at timestamptz, default_threshold bigint) returns holds
    language plpgsql set search_path from current as $$
    declare
      done holds;
    begin
      update accounts a
         set held = a.held - h.amount, updated_at = at,
             low_balance_notified = a.low_balance_notified and a.balance - (a.held - h.amount) < coalesce(a.low_balance_threshold, default_threshold)
       where a.id = h.account_id;
      update holds set status = new_status, finalized_at = at where id = h.id returning * into done;
      return done;
    end $$`.execute(db);

  // Capture: op = {op: 'capture', hold_id, amount, txn_id (null when 0), shard, now}. The posted
  // amount goes to the revenue shard by the caller (credits_apply_batch), as 'shard_credit'.
  await sql`
    create function credits_capture(op jsonb, default_threshold bigint) returns jsonb language plpgsql set search_path from current as $$
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

  // Release: op = {op: 'release', hold_id, now}. Expired or released already: a replay.
  await sql`
    create function credits_release(op jsonb, default_threshold bigint) returns jsonb language plpgsql set search_path from current as $$
    declare
      h holds;
    begin
      select * into h from holds where id = op->>'hold_id';
      if not found then
        return jsonb_build_object('ok', false, 'error', 'not_found');
      end if;
      if h.status = 'held' then
        h := credits_return_hold(h, 'released', (op->>'now')::timestamptz, default_threshold);
        return jsonb_build_object('ok', true, 'replayed', false, 'hold', credits_hold_json(h));
      end if;
      if h.status in ('released', 'expired') then
        return jsonb_build_object('ok', true, 'replayed', true, 'hold', credits_hold_json(h));
      end if;
      return jsonb_build_object('ok', false, 'error', 'not_held', 'action', 'released', 'hold', credits_hold_json(h));
    end $$`.execute(db);

  await sql`
    create function credits_apply_batch(ops jsonb, default_threshold bigint) returns jsonb language plpgsql set search_path from current as $$
    declare
      op jsonb;
      outcome jsonb;
      outcomes jsonb := '[]'::jsonb;
      shard_credit bigint[] := '{}';
      s int;
    begin
      -- Locks in one order (see the migration's comment): holds, then accounts, then shards.
      perform 1 from holds
        where id in (select o->>'hold_id' from jsonb_array_elements(ops) o where o->>'op' in ('capture', 'release'))
        order by id for update;
      -- One IN over a UNION ALL (not an OR of two INs, which scans every account): index lookups only.
      perform 1 from accounts
        where id in (select account_id from holds
                      where id in (select o->>'hold_id' from jsonb_array_elements(ops) o where o->>'op' in ('capture', 'release'))
                     union all
                     select a.id from accounts a
                      where a.kind = 'tenant' and a.tenant_id in (select o->>'tenant_id' from jsonb_array_elements(ops) o where o->>'op' = 'hold'))
        order by id for update;

      for op in select value from jsonb_array_elements(ops) loop
        outcome := case op->>'op'
          when 'hold' then credits_hold(op, default_threshold)
          when 'capture' then credits_capture(op, default_threshold)
          when 'release' then credits_release(op, default_threshold)
        end;
        if outcome is null then
          raise exception 'credits_apply_batch: unknown operation %', op->>'op' using errcode = 'invalid_parameter_value';
        end if;
        if outcome ? 'shard_credit' then
          if jsonb_typeof(outcome->'shard_credit') = 'object' then
            s := (outcome->'shard_credit'->>'shard')::int + 1;
            shard_credit[s] := coalesce(shard_credit[s], 0) + (outcome->'shard_credit'->>'amount')::bigint;
          end if;
          outcome := outcome - 'shard_credit';
        end if;
        outcomes := outcomes || jsonb_build_array(outcome);
      end loop;

      -- Revenue: one write per shard used, in shard order, after every account lock.
      for s in 1 .. coalesce(array_upper(shard_credit, 1), 0) loop
        if coalesce(shard_credit[s], 0) <> 0 then
          insert into system_balance_shards (account_id, shard, balance) values ('sys_revenue', s - 1, shard_credit[s])
          on conflict (account_id, shard) do update set balance = system_balance_shards.balance + excluded.balance;
        end if;
      end loop;
      return outcomes;
    end $$`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop function if exists credits_apply_batch(jsonb, bigint)`.execute(db);
  await sql`drop function if exists credits_release(jsonb, bigint)`.execute(db);
  await sql`drop function if exists credits_capture(jsonb, bigint)`.execute(db);
  await sql`drop function if exists credits_return_hold(holds, text, timestamptz, bigint)`.execute(db);
  await sql`drop function if exists credits_hold(jsonb, bigint)`.execute(db);
  await sql`drop function if exists credits_hold_json(holds)`.execute(db);
}
