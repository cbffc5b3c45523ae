import { decodeSeqCursor, type Identity, type Page, toPage } from '@tollgate/common';
import type { Request } from 'express';
import type { Db } from '../db';

/** Who did an admin action, under which request. */
export interface AuditActor {
  actor: string;
  requestId: string;
}

/** `admin_token`, `jwt:<subject>`, or the API key id that carried the admin scope. */
export function auditActorOf(req: Request): AuditActor {
  const identity = req.identity as Identity | undefined;
  const actor = !identity
    ? 'unknown'
    : identity.keyId === 'admin' && identity.tenantId === 'admin'
      ? 'admin_token'
      : identity.keyId === 'jwt'
        ? `jwt:${identity.tenantId}`
        : identity.keyId;
  return { actor, requestId: req.requestId };
}

export interface AuditEntry {
  action: string;
  /** `tenant:<id>`, `key:<id>`, … */
  target: string;
  tenantId: string | null;
  changes: Record<string, unknown>;
}

/** Appends one entry; call it in the transaction that made the change, so the change and its record land together. */
export async function appendAudit(db: Db, who: AuditActor, entry: AuditEntry, at: Date): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      at,
      actor: who.actor,
      request_id: who.requestId,
      action: entry.action,
      target: entry.target,
      tenant_id: entry.tenantId,
      changes: JSON.stringify(entry.changes),
    })
    .execute();
}

export interface AuditView {
  id: string;
  object: 'audit_event';
  at: string;
  actor: string;
  request_id: string;
  action: string;
  target: string;
  tenant_id: string | null;
  changes: Record<string, unknown>;
}

/** Newest first, by id (the insertion order); `target` and `actor` filter exactly. */
export async function pageAudit(
  db: Db,
  q: { target?: string | undefined; actor?: string | undefined; cursor?: string | undefined; limit: number },
): Promise<Page<AuditView>> {
  let query = db.selectFrom('audit_log').selectAll();
  if (q.target) query = query.where('target', '=', q.target);
  if (q.actor) query = query.where('actor', '=', q.actor);
  if (q.cursor) {
    query = query.where('id', '<', decodeSeqCursor(q.cursor));
  }
  const rows = await query
    .orderBy('id', 'desc')
    .limit(q.limit + 1)
    .execute();
  return toPage(
    rows,
    q.limit,
    (r) => ({
      id: `aud_${r.id}`,
      object: 'audit_event' as const,
      at: r.at.toISOString(),
      actor: r.actor,
      request_id: r.request_id,
      action: r.action,
      target: r.target,
      tenant_id: r.tenant_id,
      changes: r.changes,
    }),
    (r) => [Number(r.id)],
  );
}

/** Field by field: what a change set, with the value before (only the fields that differ). */
export function diff<T extends Record<string, unknown>>(
  before: T,
  after: T,
  fields: readonly (keyof T & string)[],
): Record<string, { from: unknown; to: unknown }> {
  const out: Record<string, { from: unknown; to: unknown }> = {};
  for (const f of fields) {
    const a = normalise(before[f]);
    const b = normalise(after[f]);
    if (JSON.stringify(a) !== JSON.stringify(b)) out[f] = { from: a, to: b };
  }
  return out;
}

const normalise = (v: unknown) => (v instanceof Date ? v.toISOString() : (v ?? null));
