import { useState } from 'preact/hooks';
import { type ApiKey, type Balance, call, credits, listAll, type Tenant } from './api';
import { Loading, Section, useApp, useLoad, when } from './ui';

const TIERS = ['completion', 'generation', 'write', 'read'] as const;
const SCOPES = ['read', 'write', 'completion', 'generation'] as const;

export function TenantsPage() {
  const { session, report, notify } = useApp();
  const tenants = useLoad(() => listAll<Tenant>('/v1/admin/tenants', session.token), []);
  const [query, setQuery] = useState('');
  const [name, setName] = useState('');
  const q = query.trim().toLowerCase();
  const shown = (tenants.data ?? []).filter((t) => !q || t.name.toLowerCase().includes(q) || t.id.toLowerCase().includes(q));

  const create = async (e: Event) => {
    e.preventDefault();
    try {
      const t = await call<Tenant>('/v1/admin/tenants', { token: session.token, method: 'POST', json: { name: name.trim() } });
      setName('');
      notify(`Tenant ${t.name} created (${t.id}).`);
      location.hash = `#/tenants/${encodeURIComponent(t.id)}`;
    } catch (err) {
      report(err);
    }
  };

  return (
    <>
      <h1>Tenants</h1>
      <Section title="New tenant">
        <form class="row" onSubmit={create}>
          <label for="tenant-name">Name</label>
          <input id="tenant-name" data-testid="tenant-name" value={name} maxLength={200} onInput={(e) => setName((e.target as HTMLInputElement).value)} required />
          <button type="submit" class="primary" data-testid="tenant-create" disabled={!name.trim()}>
            Create tenant
          </button>
        </form>
      </Section>
      <Section
        title={`All tenants${tenants.data ? ` (${shown.length}${q ? ` of ${tenants.data.length}` : ''})` : ''}`}
        actions={
          <div class="row">
            <label for="tenant-search" class="visually-hidden">
              Search tenants
            </label>
            <input id="tenant-search" type="search" placeholder="Search by name or id" data-testid="tenant-search" value={query} onInput={(e) => setQuery((e.target as HTMLInputElement).value)} />
          </div>
        }
      >
        {tenants.loading ? <Loading /> : null}
        <table data-testid="tenants-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Id</th>
              <th scope="col">Rate limits</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((t) => (
              <tr key={t.id} data-testid="tenant-row" data-tenant-id={t.id}>
                <td>
                  <a href={`#/tenants/${encodeURIComponent(t.id)}`}>{t.name}</a>
                </td>
                <td>
                  <code>{t.id}</code>
                </td>
                <td>{Object.keys(t.rate_limits ?? {}).length ? TIERS.filter((k) => t.rate_limits[k]).map((k) => `${k} ${t.rate_limits[k]}`).join(', ') : 'defaults'}</td>
                <td>{when(t.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {tenants.data && shown.length === 0 ? <p class="muted">No tenant matches.</p> : null}
      </Section>
    </>
  );
}

function RateLimits({ tenant, onSaved }: { tenant: Tenant; onSaved: (t: Tenant) => void }) {
  const { session, report, notify } = useApp();
  const [values, setValues] = useState<Record<string, string>>(Object.fromEntries(TIERS.map((k) => [k, tenant.rate_limits?.[k] ? String(tenant.rate_limits[k]) : ''])));
  const save = async (e: Event) => {
    e.preventDefault();
    const rate_limits = Object.fromEntries(TIERS.filter((k) => values[k]?.trim()).map((k) => [k, Number(values[k])]));
    try {
      onSaved(await call<Tenant>(`/v1/admin/tenants/${encodeURIComponent(tenant.id)}`, { token: session.token, method: 'PATCH', json: { rate_limits } }));
      notify('Rate limits saved.');
    } catch (err) {
      report(err);
    }
  };
  return (
    <form class="grid4" onSubmit={save}>
      {TIERS.map((k) => (
        <div key={k} class="stack">
          <label for={`rl-${k}`}>{k} (requests per window)</label>
          <input id={`rl-${k}`} inputMode="numeric" placeholder="default" value={values[k]} onInput={(e) => setValues({ ...values, [k]: (e.target as HTMLInputElement).value })} />
        </div>
      ))}
      <div>
        <button type="submit" class="primary">
          Save rate limits
        </button>
      </div>
    </form>
  );
}

function Keys({ tenantId }: { tenantId: string }) {
  const { session, report, notify } = useApp();
  const keys = useLoad(() => listAll<ApiKey>(`/v1/admin/tenants/${encodeURIComponent(tenantId)}/keys`, session.token), [tenantId]);
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>(['read', 'write', 'completion', 'generation']);
  const [created, setCreated] = useState<ApiKey | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const create = async (e: Event) => {
    e.preventDefault();
    try {
      const key = await call<ApiKey>(`/v1/admin/tenants/${encodeURIComponent(tenantId)}/keys`, {
        token: session.token,
        method: 'POST',
        json: { ...(name.trim() ? { name: name.trim() } : {}), scopes },
      });
      setCreated(key);
      setName('');
      keys.reload();
    } catch (err) {
      report(err);
    }
  };
  const revoke = async (id: string) => {
    try {
      await call(`/v1/admin/keys/${encodeURIComponent(id)}`, { token: session.token, method: 'DELETE' });
      setConfirming(null);
      notify(`Key ${id} revoked.`);
      keys.reload();
    } catch (err) {
      report(err);
    }
  };
  return (
    <Section title="API keys">
      {created ? (
        <div class="banner banner-secret" role="status">
          <p>
            <strong>New key — shown once.</strong> Copy it now; only its prefix is kept.
          </p>
          <code data-testid="new-key">{created.key}</code>{' '}
          <button type="button" class="ghost" onClick={() => void navigator.clipboard?.writeText(created.key ?? '')}>
            Copy
          </button>{' '}
          <button type="button" class="ghost" onClick={() => setCreated(null)}>
            Done
          </button>
        </div>
      ) : null}
      <form class="row" onSubmit={create}>
        <label for="key-name">Key name</label>
        <input id="key-name" data-testid="key-name" value={name} maxLength={200} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        <fieldset class="row">
          <legend>Scopes</legend>
          {SCOPES.map((s) => (
            <label key={s} class="check">
              <input type="checkbox" checked={scopes.includes(s)} onChange={(e) => setScopes((e.target as HTMLInputElement).checked ? [...scopes, s] : scopes.filter((x) => x !== s))} />
              {s}
            </label>
          ))}
        </fieldset>
        <button type="submit" class="primary" data-testid="key-create" disabled={scopes.length === 0}>
          Create key
        </button>
      </form>
      {keys.loading && !keys.data ? <Loading /> : null}
      <table data-testid="keys-table">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Prefix</th>
            <th scope="col">Scopes</th>
            <th scope="col">Expires</th>
            <th scope="col">State</th>
            <th scope="col">
              <span class="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {(keys.data ?? []).map((k) => (
            <tr key={k.id} data-testid="key-row" data-key-id={k.id}>
              <td>{k.name ?? <span class="muted">unnamed</span>}</td>
              <td>
                <code>{k.prefix}…</code>
              </td>
              <td>{k.scopes.join(' ')}</td>
              <td>{when(k.expires_at)}</td>
              <td>{k.revoked_at ? <span class="badge badge-bad">revoked</span> : <span class="badge badge-good">active</span>}</td>
              <td>
                {k.revoked_at ? null : confirming === k.id ? (
                  <>
                    <button type="button" class="danger" data-testid="key-revoke-confirm" onClick={() => void revoke(k.id)}>
                      Confirm revoke
                    </button>{' '}
                    <button type="button" class="ghost" onClick={() => setConfirming(null)}>
                      Cancel
                    </button>
                  </>
                ) : (
                  <button type="button" class="ghost" data-testid="key-revoke" onClick={() => setConfirming(k.id)}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Section>
  );
}

function Credits({ tenantId }: { tenantId: string }) {
  const { session, report, notify } = useApp();
  const balance = useLoad(() => call<Balance>(`/v1/admin/tenants/${encodeURIComponent(tenantId)}/credits`, { token: session.token }), [tenantId]);
  const [amount, setAmount] = useState('');
  const [reason, setReason] = useState('');
  const topUp = async (e: Event) => {
    e.preventDefault();
    const micro = Math.round(Number(amount) * 1_000_000);
    if (!Number.isFinite(micro) || micro <= 0) {
      report(new Error('The amount must be a positive number of credits.'));
      return;
    }
    try {
      await call(`/v1/admin/tenants/${encodeURIComponent(tenantId)}/credits`, {
        token: session.token,
        method: 'POST',
        json: { amount: micro, ...(reason.trim() ? { reason: reason.trim() } : {}) },
      });
      setAmount('');
      setReason('');
      notify(`Topped up ${credits(micro)} credits.`);
      balance.reload();
    } catch (err) {
      report(err);
    }
  };
  return (
    <Section title="Credits">
      <p class="big">
        <span data-testid="balance" data-available={balance.data?.available}>
          {balance.data ? credits(balance.data.available) : '…'}
        </span>{' '}
        <span class="muted">credits available{balance.data?.held ? `, ${credits(balance.data.held)} held` : ''}</span>
      </p>
      <form class="row" onSubmit={topUp}>
        <label for="topup-amount">Top up (credits)</label>
        <input id="topup-amount" data-testid="topup-amount" inputMode="decimal" value={amount} onInput={(e) => setAmount((e.target as HTMLInputElement).value)} required />
        <label for="topup-reason">Reason</label>
        <input id="topup-reason" value={reason} maxLength={200} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
        <button type="submit" class="primary" data-testid="topup-submit">
          Top up
        </button>
      </form>
      <p class="muted small">The transaction history is the tenant's own (it sees it in its view).</p>
    </Section>
  );
}

export function TenantPage({ tenantId }: { tenantId: string }) {
  const { session } = useApp();
  const tenant = useLoad(() => call<Tenant>(`/v1/admin/tenants/${encodeURIComponent(tenantId)}`, { token: session.token }), [tenantId]);
  if (!tenant.data) return tenant.loading ? <Loading /> : <p>Tenant not found.</p>;
  const t = tenant.data;
  return (
    <>
      <p>
        <a href="#/tenants">← Tenants</a>
      </p>
      <h1>
        {t.name} <code class="small">{t.id}</code>
      </h1>
      <p class="row">
        <a class="button" href={`#/review/${encodeURIComponent(t.id)}`} data-testid="open-review">
          Open review queue
        </a>
        <a class="button" href={`#/webhooks/${encodeURIComponent(t.id)}`} data-testid="open-webhooks">
          Webhook endpoints and deliveries
        </a>
      </p>
      <Credits tenantId={t.id} />
      <Keys tenantId={t.id} />
      <Section title="Rate limits">
        <RateLimits tenant={t} onSaved={tenant.set} />
      </Section>
    </>
  );
}

interface Readyz {
  status: string;
  checks?: Record<string, { ok?: boolean; status?: string; error?: string; critical?: boolean; [k: string]: unknown }>;
  [k: string]: unknown;
}

/** The gateway's readiness: its PostgreSQL, Redis and each upstream service (queues live behind those). */
export function HealthPage() {
  const ready = useLoad(async () => {
    const res = await fetch('/readyz');
    if (res.status === 404) return null; // served on METRICS_PORT only
    return { httpStatus: res.status, body: (await res.json()) as Readyz };
  }, []);
  const checks = ready.data?.body.checks ?? {};
  return (
    <>
      <h1>Health</h1>
      <Section title="Gateway readiness" actions={<button type="button" class="ghost" onClick={ready.reload}>Refresh</button>}>
        {ready.loading ? <Loading /> : null}
        {ready.data === null ? <p class="muted">Readiness is served on the metrics port here (METRICS_PORT); see your monitoring.</p> : null}
        {ready.data ? (
          <>
            <p>
              Overall:{' '}
              <span class={`badge ${ready.data.httpStatus === 200 ? 'badge-good' : 'badge-bad'}`} data-testid="health-status">
                {ready.data.body.status ?? ready.data.httpStatus}
              </span>
            </p>
            <table>
              <thead>
                <tr>
                  <th scope="col">Check</th>
                  <th scope="col">State</th>
                  <th scope="col">Detail</th>
                </tr>
              </thead>
              <tbody>
                {Object.entries(checks).map(([name, c]) => {
                  const ok = c.ok ?? c.status === 'ok';
                  return (
                    <tr key={name}>
                      <td>{name}</td>
                      <td>
                        <span class={`badge ${ok ? 'badge-good' : 'badge-bad'}`}>{ok ? 'ok' : 'failing'}</span>
                      </td>
                      <td class="muted">{c.error ?? (c.critical === false ? 'not critical' : '')}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </>
        ) : null}
      </Section>
    </>
  );
}
