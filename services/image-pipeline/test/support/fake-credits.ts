import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { verifyIdentity } from '@tollgate/common';
import { listen, type Listening, readBody, TEST_INTERNAL_SECRET } from '@tollgate/testkit';

interface Hold {
  id: string;
  tenant_id: string;
  amount: number;
  status: 'held' | 'captured' | 'released' | 'expired';
  captured_amount: number;
  idempotency_key: string;
  expires_at: string;
  created_at: string;
}

export interface FakeCredits extends Listening {
  /** available balance per tenant */
  balances: Map<string, number>;
  holds: Map<string, Hold>;
  /** captures and charges that moved money, in order */
  debits: { tenant_id: string; amount: number; source: string }[];
  requests: { method: string; path: string }[];
  topUp(tenantId: string, amount: number): void;
  available(tenantId: string): number;
}

/**
 * A faithful stand-in for the credits service's internal routes (docs/architecture.md "Internal
 * contracts"): holds are idempotent by key and reserve funds, a capture with the same amount
 * replays, a second different capture or a capture of a released hold is 409 with the hold's
 * status in details, release of a released hold answers it as it is, 402 when funds are short.
 */
export async function startFakeCredits(): Promise<FakeCredits> {
  const balances = new Map<string, number>();
  const holds = new Map<string, Hold>();
  const byKey = new Map<string, string>();
  const debits: FakeCredits['debits'] = [];
  const requests: FakeCredits['requests'] = [];
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const error = (res: ServerResponse, status: number, code: string, message: string, details?: Record<string, unknown>) =>
    send(res, status, { error: { code, message, request_id: 'fake', ...(details ? { details } : {}) } });
  const heldFor = (tenant: string) =>
    [...holds.values()].filter((h) => h.tenant_id === tenant && h.status === 'held').reduce((s, h) => s + h.amount, 0);
  const available = (tenant: string) => (balances.get(tenant) ?? 0) - heldFor(tenant);

  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0]!;
    requests.push({ method: req.method ?? '', path });
    try {
      const identity = verifyIdentity(String(req.headers['x-tollgate-identity'] ?? ''), TEST_INTERNAL_SECRET);
      if (!identity.scopes.includes('service')) return error(res, 403, 'FORBIDDEN', 'service scope required');
    } catch {
      return error(res, 401, 'UNAUTHENTICATED', 'Missing or invalid service identity');
    }
    const raw = (await readBody(req)).toString('utf8');
    const body = (raw ? JSON.parse(raw) : {}) as Record<string, unknown>;
    let m: RegExpMatchArray | null;
    if (req.method === 'POST' && path === '/internal/v1/holds') {
      const key = String(body['idempotency_key']);
      const existing = byKey.get(`${String(body['tenant_id'])}:${key}`);
      if (existing) return send(res, 200, holds.get(existing));
      const tenant = String(body['tenant_id']);
      const amount = Number(body['amount']);
      if (available(tenant) < amount)
        return error(res, 402, 'INSUFFICIENT_CREDITS', 'Not enough credits', { available: available(tenant), required: amount });
      const now = new Date();
      const hold: Hold = {
        id: `hold_${randomBytes(12).toString('hex')}`,
        tenant_id: tenant,
        amount,
        status: 'held',
        captured_amount: 0,
        idempotency_key: key,
        expires_at: new Date(now.getTime() + Number(body['ttl_s'] ?? 900) * 1000).toISOString(),
        created_at: now.toISOString(),
      };
      holds.set(hold.id, hold);
      byKey.set(`${tenant}:${key}`, hold.id);
      return send(res, 201, hold);
    }
    if (req.method === 'POST' && (m = path.match(/^\/internal\/v1\/holds\/([^/]+)\/(capture|release)$/))) {
      const hold = holds.get(decodeURIComponent(m[1]!));
      if (!hold) return error(res, 404, 'NOT_FOUND', 'Hold not found');
      if (m[2] === 'capture') {
        const amount = Number(body['amount']);
        if (hold.status === 'captured' && hold.captured_amount === amount) return send(res, 200, hold);
        if (hold.status !== 'held')
          return error(res, 409, 'CONFLICT', `The hold is ${hold.status}`, { status: hold.status, hold_id: hold.id });
        hold.status = 'captured';
        hold.captured_amount = amount;
        balances.set(hold.tenant_id, (balances.get(hold.tenant_id) ?? 0) - amount);
        debits.push({ tenant_id: hold.tenant_id, amount, source: hold.id });
        return send(res, 200, hold);
      }
      if (hold.status === 'captured') return error(res, 409, 'CONFLICT', 'The hold is captured', { status: hold.status, hold_id: hold.id });
      if (hold.status === 'held') hold.status = 'released';
      return send(res, 200, hold);
    }
    if (req.method === 'POST' && path === '/internal/v1/charges') {
      const tenant = String(body['tenant_id']);
      const amount = Number(body['amount']);
      if (available(tenant) < amount) return error(res, 402, 'INSUFFICIENT_CREDITS', 'Not enough credits');
      balances.set(tenant, (balances.get(tenant) ?? 0) - amount);
      debits.push({ tenant_id: tenant, amount, source: String(body['idempotency_key']) });
      return send(res, 201, {
        id: `txn_${randomBytes(8).toString('hex')}`,
        tenant_id: tenant,
        amount,
        balance_after: balances.get(tenant),
        created_at: new Date().toISOString(),
      });
    }
    return error(res, 404, 'NOT_FOUND', `No route for ${req.method} ${path}`);
  };
  const server = await listen((req, res) => {
    void handler(req, res).catch((err: unknown) => error(res, 500, 'INTERNAL', String(err)));
  });
  return {
    ...server,
    balances,
    holds,
    debits,
    requests,
    topUp: (tenant, amount) => balances.set(tenant, (balances.get(tenant) ?? 0) + amount),
    available,
  };
}
