import { AppError, decodeTimeCursor, newestFirstPage, type Page, toTimePage } from '@tollgate/common';
import { type Kysely, type RawBuilder, sql } from 'kysely';
import { z } from 'zod';
import type { AiDatabase, UsageOutcome, UsageRow } from '../db';
import { TAG_NAME } from './tags';

const DAY_MS = 86_400_000;
const DEFAULT_RANGE_MS = 30 * DAY_MS;

/** `from`/`to`: an RFC 3339 time or a plain UTC date; `to` is exclusive. */
const instant = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()])
  .transform((v) => new Date(v.length === 10 ? `${v}T00:00:00Z` : v));

const range = {
  from: instant.optional(),
  to: instant.optional(),
};

function resolveRange(q: { from?: Date | undefined; to?: Date | undefined }, now: Date): { from: Date; to: Date } {
  const to = q.to ?? now;
  const from = q.from ?? new Date(to.getTime() - DEFAULT_RANGE_MS);
  if (from.getTime() >= to.getTime()) throw new AppError('VALIDATION_FAILED', '`from` must be before `to`', { details: { param: 'from' } });
  return { from, to };
}

export type TenantGroupBy = 'model' | 'key' | 'day' | { tag: string };
export type AdminGroupBy = 'tenant' | 'model' | 'day';

const tenantGroupBy = z
  .string()
  .default('model')
  .transform((v, ctx): TenantGroupBy => {
    if (v === 'model' || v === 'key' || v === 'day') return v;
    if (v.startsWith('tag:') && TAG_NAME.test(v.slice(4))) return { tag: v.slice(4) };
    ctx.addIssue({ code: 'custom', message: 'must be model, key, day or tag:<name>' });
    return z.NEVER;
  });

export const usageReportQuery = z.object({ ...range, group_by: tenantGroupBy }).strict();
export const adminUsageReportQuery = z
  .object({ ...range, group_by: z.enum(['tenant', 'model', 'day']).default('tenant'), tenant_id: z.string().min(1).max(64).optional() })
  .strict();

const OUTCOMES = [
  'success',
  'error',
  'stream_error',
  'client_disconnect',
  'insufficient_credits',
  'rate_limited',
  'cache_hit',
  'billing_error',
] as const satisfies readonly UsageOutcome[];

export const usageRequestsQuery = z
  .object({
    ...range,
    model: z.string().min(1).max(256).optional(),
    key_id: z.string().min(1).max(64).optional(),
    status: z.enum(OUTCOMES).optional(),
    cursor: z.string().max(512).optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
  })
  .strict();

export const usageExportQuery = z
  .object({
    ...range,
    format: z.literal('csv').default('csv'),
    model: z.string().min(1).max(256).optional(),
    key_id: z.string().min(1).max(64).optional(),
    status: z.enum(OUTCOMES).optional(),
  })
  .strict();

export interface UsageGroup {
  group: string | null;
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cost: number;
}

export interface UsageReport {
  object: 'list';
  group_by: string;
  from: string;
  to: string;
  data: UsageGroup[];
  totals: Omit<UsageGroup, 'group'>;
}

/**
 * Sums usage over [from, to): whole UTC days before `rolled_through` come from the daily
 * rollup, everything else (the edges of the range, and every day not rolled yet) from raw rows,
 * so each call counts exactly once and the totals equal what the ledger captured.
 */
async function report(
  db: Kysely<AiDatabase>,
  options: { tenantId?: string | undefined; from: Date; to: Date; groupExpr: RawBuilder<unknown>; groupLabel: string; byTag?: boolean },
): Promise<UsageReport> {
  const { from, to } = options;
  const state = await sql<{
    rolled_through: Date | null;
  }>`select (rolled_through::timestamp at time zone 'UTC') as rolled_through from usage_rollup_state where id = 1`.execute(db);
  const watermark = state.rows[0]?.rolled_through ?? null;
  // Whole days inside the range that the rollup holds: [rollStart, rollEnd).
  const rollStart = new Date(Math.ceil(from.getTime() / DAY_MS) * DAY_MS);
  const rollEnd = new Date(Math.min(Math.floor(to.getTime() / DAY_MS) * DAY_MS, watermark?.getTime() ?? 0));
  const useRollup = rollEnd.getTime() > rollStart.getTime();
  const tenantRaw = options.tenantId === undefined ? sql`true` : sql`tenant_id = ${options.tenantId}`;
  const rollupPart = useRollup
    ? sql`
      select tenant_id, key_id, model, ${options.byTag ? sql`tags` : sql`'{}'::jsonb`} as tags, (day::timestamp at time zone 'UTC') as t,
             requests, input_tokens, output_tokens, cost
      from ${options.byTag ? sql`usage_daily_tags` : sql`usage_daily`} where ${tenantRaw} and day >= ${rollStart.toISOString().slice(0, 10)}::date and day < ${rollEnd.toISOString().slice(0, 10)}::date
      union all`
    : sql``;
  // The raw parts as plain ranges (a NOT over the rolled days would walk the whole range's index entries).
  const rawRanges: [Date, Date][] = useRollup
    ? (
        [
          [from, rollStart],
          [rollEnd, to],
        ] as [Date, Date][]
      ).filter(([a, b]) => a.getTime() < b.getTime())
    : [[from, to]];
  const rawPart = rawRanges.length
    ? sql.join(
        rawRanges.map(
          ([a, b]) => sql`
      select tenant_id, key_id, model, tags, created_at as t, 1::bigint as requests, prompt_tokens::bigint as input_tokens,
             completion_tokens::bigint as output_tokens, cost
      from usage where ${tenantRaw} and created_at >= ${a} and created_at < ${b}`,
        ),
        sql` union all `,
      )
    : sql`select null::text, null::text, null::text, null::jsonb, null::timestamptz, 0::bigint, 0::bigint, 0::bigint, 0::bigint where false`;
  const result = await sql<{ grp: string | null; requests: string; input_tokens: string; output_tokens: string; cost: string }>`
    with src as (
      ${rollupPart}
      ${rawPart}
    )
    select ${options.groupExpr} as grp, sum(requests)::text as requests, sum(input_tokens)::text as input_tokens,
           sum(output_tokens)::text as output_tokens, sum(cost)::text as cost
    from src group by 1 order by 1 nulls last`.execute(db);
  const data = result.rows.map((r) => ({
    group: r.grp,
    requests: Number(r.requests),
    input_tokens: Number(r.input_tokens),
    output_tokens: Number(r.output_tokens),
    cost: Number(r.cost),
  }));
  const totals = data.reduce(
    (t, g) => ({
      requests: t.requests + g.requests,
      input_tokens: t.input_tokens + g.input_tokens,
      output_tokens: t.output_tokens + g.output_tokens,
      cost: t.cost + g.cost,
    }),
    { requests: 0, input_tokens: 0, output_tokens: 0, cost: 0 },
  );
  return { object: 'list', group_by: options.groupLabel, from: from.toISOString(), to: to.toISOString(), data, totals };
}

const DAY_EXPR = sql`to_char(t at time zone 'UTC', 'YYYY-MM-DD')`;

export async function tenantUsageReport(
  db: Kysely<AiDatabase>,
  tenantId: string,
  q: z.infer<typeof usageReportQuery>,
  now: Date,
): Promise<UsageReport> {
  const { from, to } = resolveRange(q, now);
  const g = q.group_by;
  const groupExpr = g === 'model' ? sql`model` : g === 'key' ? sql`key_id` : g === 'day' ? DAY_EXPR : sql`tags ->> ${g.tag}`;
  return report(db, {
    tenantId,
    from,
    to,
    groupExpr,
    groupLabel: typeof g === 'string' ? g : `tag:${g.tag}`,
    byTag: typeof g !== 'string',
  });
}

export async function adminUsageReport(db: Kysely<AiDatabase>, q: z.infer<typeof adminUsageReportQuery>, now: Date): Promise<UsageReport> {
  const { from, to } = resolveRange(q, now);
  const groupExpr = q.group_by === 'tenant' ? sql`tenant_id` : q.group_by === 'model' ? sql`model` : DAY_EXPR;
  return report(db, { tenantId: q.tenant_id, from, to, groupExpr, groupLabel: q.group_by });
}

export interface UsageRequestView {
  id: string;
  object: 'usage.request';
  created_at: string;
  kind: string;
  model: string;
  key_id: string;
  status: UsageOutcome;
  input_tokens: number;
  output_tokens: number;
  cost: number;
  latency_ms: number;
  request_id: string;
  cached: boolean;
  tags: Record<string, string>;
  user: string | null;
  metadata: Record<string, string> | null;
}

const REQUEST_COLUMNS = [
  'id',
  'created_at',
  'kind',
  'model',
  'key_id',
  'outcome',
  'prompt_tokens',
  'completion_tokens',
  'cost',
  'latency_ms',
  'request_id',
  'cached',
  'tags',
  'user',
  'metadata',
] as const;

type RequestRow = Pick<UsageRow, (typeof REQUEST_COLUMNS)[number]>;

const toRequestView = (r: RequestRow): UsageRequestView => ({
  id: r.id,
  object: 'usage.request',
  created_at: r.created_at.toISOString(),
  kind: r.kind,
  model: r.model,
  key_id: r.key_id,
  status: r.outcome,
  input_tokens: r.prompt_tokens,
  output_tokens: r.completion_tokens,
  cost: r.cost,
  latency_ms: r.latency_ms,
  request_id: r.request_id,
  cached: r.cached,
  tags: r.tags,
  user: r.user,
  metadata: r.metadata,
});

type Filters = { model?: string | undefined; key_id?: string | undefined; status?: UsageOutcome | undefined };

function filtered(db: Kysely<AiDatabase>, tenantId: string, range: { from: Date; to: Date }, f: Filters) {
  let query = db
    .selectFrom('usage')
    .select(REQUEST_COLUMNS)
    .where('tenant_id', '=', tenantId)
    .where('created_at', '>=', range.from)
    .where('created_at', '<', range.to);
  if (f.model) query = query.where('model', '=', f.model);
  if (f.key_id) query = query.where('key_id', '=', f.key_id);
  if (f.status) query = query.where('outcome', '=', f.status);
  return query;
}

/** One row per call (raw rows: the last USAGE_RETENTION_DAYS), newest first, with a (created_at, id) cursor. */
export async function pageUsageRequests(
  db: Kysely<AiDatabase>,
  tenantId: string,
  q: z.infer<typeof usageRequestsQuery>,
  now: Date,
): Promise<Page<UsageRequestView>> {
  const range = resolveRange(q, now);
  const after = q.cursor ? decodeTimeCursor(q.cursor) : undefined;
  const rows = (await newestFirstPage(filtered(db, tenantId, range, q), after, q.limit).execute()) as RequestRow[];
  return toTimePage(rows, q.limit, toRequestView);
}

export const CSV_HEADER = 'id,created_at,kind,model,key_id,status,input_tokens,output_tokens,cost,latency_ms,request_id,cached,user,tags\n';

function csvField(value: string | number | boolean | null): string {
  if (value === null) return '';
  const s = String(value);
  // Quote what needs it; a leading =,+,-,@ is prefixed so a spreadsheet never runs it as a formula.
  const safe = /^[=+\-@\t\r]/.test(s) && typeof value === 'string' ? `'${s}` : s;
  return /[",\n\r]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

export function csvLine(r: RequestRow): string {
  return (
    [
      r.id,
      r.created_at.toISOString(),
      r.kind,
      r.model,
      r.key_id,
      r.outcome,
      r.prompt_tokens,
      r.completion_tokens,
      r.cost,
      r.latency_ms,
      r.request_id,
      r.cached,
      r.user,
      JSON.stringify(r.tags),
    ]
      .map(csvField)
      .join(',') + '\n'
  );
}

/**
 * The export's rows through a server-side cursor, `batch` at a time, oldest first: memory stays
 * one batch whatever the range. `write` resolves when the consumer can take more (backpressure).
 */
export async function streamUsageRows(
  db: Kysely<AiDatabase>,
  tenantId: string,
  q: z.infer<typeof usageExportQuery>,
  now: Date,
  write: (rows: RequestRow[]) => Promise<void>,
  options: { batch?: number; signal?: AbortSignal } = {},
): Promise<void> {
  const range = resolveRange(q, now);
  const compiled = filtered(db, tenantId, range, q).orderBy('created_at', 'asc').orderBy('id', 'asc').compile();
  const batch = options.batch ?? 1_000;
  await db.connection().execute(async (conn) => {
    await sql`begin isolation level repeatable read read only`.execute(conn);
    try {
      await conn.executeQuery({ ...compiled, sql: `declare usage_export no scroll cursor for ${compiled.sql}` });
      for (;;) {
        if (options.signal?.aborted) break;
        const { rows } = await sql<RequestRow>`fetch ${sql.raw(String(batch))} from usage_export`.execute(conn);
        if (rows.length === 0) break;
        await write(rows);
        if (rows.length < batch) break;
      }
    } finally {
      await sql`rollback`.execute(conn);
    }
  });
}
