import { useState } from 'preact/hooks';
import { call, type Delivery, type Endpoint, listAll, type Page } from './api';
import { Loading, Section, useApp, useLoad, when } from './ui';

function Attempts({ token, deliveryId }: { token: string; deliveryId: string }) {
  const detail = useLoad(() => call<Delivery>(`/v1/webhooks/deliveries/${encodeURIComponent(deliveryId)}`, { token }), [deliveryId]);
  if (!detail.data) return <Loading />;
  return (
    <table class="small" data-testid="attempts">
      <caption class="visually-hidden">Attempts of delivery {deliveryId}</caption>
      <thead>
        <tr>
          <th scope="col">#</th>
          <th scope="col">Round</th>
          <th scope="col">Trigger</th>
          <th scope="col">Started</th>
          <th scope="col">Outcome</th>
          <th scope="col">HTTP</th>
          <th scope="col">Latency</th>
          <th scope="col">Error</th>
        </tr>
      </thead>
      <tbody>
        {(detail.data.attempt_log ?? []).map((a) => (
          <tr key={a.id}>
            <td>{a.attempt}</td>
            <td>{a.round}</td>
            <td>{a.trigger}</td>
            <td>{when(a.started_at)}</td>
            <td>{a.outcome}</td>
            <td>{a.status_code ?? '—'}</td>
            <td>{a.latency_ms === null ? '—' : `${a.latency_ms} ms`}</td>
            <td>{a.error_message ?? ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Deliveries({ token, endpoint }: { token: string; endpoint: Endpoint }) {
  const { report, notify } = useApp();
  const [status, setStatus] = useState('');
  const [open, setOpen] = useState<string | null>(null);
  const list = useLoad(
    () => call<Page<Delivery>>(`/v1/webhooks/endpoints/${encodeURIComponent(endpoint.id)}/deliveries?limit=50${status ? `&status=${status}` : ''}`, { token }),
    [endpoint.id, status, token],
  );
  const retry = async (d: Delivery) => {
    try {
      const updated = await call<Delivery>(`/v1/webhooks/deliveries/${encodeURIComponent(d.id)}/retry`, { token, method: 'POST' });
      notify(`Delivery ${d.id} scheduled again (${updated.status}).`);
      list.reload();
    } catch (err) {
      report(err);
    }
  };
  return (
    <Section
      title={`Deliveries to ${endpoint.url}`}
      actions={
        <div class="row">
          <label for="delivery-status">Status</label>
          <select id="delivery-status" value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value)}>
            <option value="">any</option>
            <option value="pending">pending</option>
            <option value="succeeded">succeeded</option>
            <option value="failed">failed</option>
          </select>
          <button type="button" class="ghost" onClick={list.reload}>
            Refresh
          </button>
        </div>
      }
    >
      {!endpoint.enabled ? <p class="banner banner-info">This endpoint is disabled{endpoint.disabled_reason ? `: ${endpoint.disabled_reason}` : ''}.</p> : null}
      {list.loading && !list.data ? <Loading /> : null}
      <table data-testid="deliveries-table">
        <thead>
          <tr>
            <th scope="col">Event</th>
            <th scope="col">Status</th>
            <th scope="col">Attempts</th>
            <th scope="col">Last answer</th>
            <th scope="col">Created</th>
            <th scope="col">
              <span class="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {(list.data?.data ?? []).map((d) => [
            <tr key={d.id} data-testid="delivery-row" data-delivery-id={d.id} data-status={d.status}>
              <td>{d.event_type}</td>
              <td>
                <span class={`badge ${d.status === 'succeeded' ? 'badge-good' : d.status === 'failed' ? 'badge-bad' : 'badge-neutral'}`}>{d.status}</span>
              </td>
              <td>{d.attempts}</td>
              <td>{d.last_status_code ?? d.last_error ?? '—'}</td>
              <td>{when(d.created_at)}</td>
              <td class="nowrap">
                <button type="button" class="ghost" aria-expanded={open === d.id} onClick={() => setOpen(open === d.id ? null : d.id)}>
                  Attempts
                </button>{' '}
                {d.status === 'failed' ? (
                  <button type="button" class="primary" data-testid="retry" onClick={() => void retry(d)}>
                    Retry
                  </button>
                ) : null}
              </td>
            </tr>,
            open === d.id ? (
              <tr key={`${d.id}-attempts`}>
                <td colSpan={6}>
                  <Attempts token={token} deliveryId={d.id} />
                </td>
              </tr>
            ) : null,
          ])}
        </tbody>
      </table>
      {list.data && list.data.data.length === 0 ? <p class="muted">No deliveries{status ? ` with status ${status}` : ''}.</p> : null}
    </Section>
  );
}

/** Endpoints and their deliveries: the tenant's own, or for the operator any tenant's (#/webhooks/<tenant>). */
export function WebhooksPage({ tenantId }: { tenantId: string | undefined }) {
  const { session, tokenFor } = useApp();
  const tenant = session.role === 'tenant' ? session.tenantId! : tenantId;
  const [chosen, setChosen] = useState<string | null>(null);
  const loaded = useLoad(async () => {
    if (!tenant) return null;
    const token = await tokenFor(tenant);
    return { token, endpoints: await listAll<Endpoint>('/v1/webhooks/endpoints', token) };
  }, [tenant]);
  if (!tenant) return <p>Open a tenant first (Tenants → a tenant → Webhook endpoints and deliveries).</p>;
  const endpoints = loaded.data?.endpoints ?? [];
  const endpoint = endpoints.find((e) => e.id === chosen) ?? endpoints[0];
  return (
    <>
      {session.role === 'operator' ? (
        <p>
          <a href={`#/tenants/${encodeURIComponent(tenant)}`}>← Tenant {tenant}</a>
        </p>
      ) : null}
      <h1>Webhooks</h1>
      <Section title="Endpoints">
        {loaded.loading ? <Loading /> : null}
        {loaded.data && endpoints.length === 0 ? <p class="muted">No endpoints registered.</p> : null}
        <ul class="plain">
          {endpoints.map((e) => (
            <li key={e.id}>
              <label class="check">
                <input type="radio" name="endpoint" checked={endpoint?.id === e.id} onChange={() => setChosen(e.id)} />
                <code>{e.url}</code> <span class={`badge ${e.enabled ? 'badge-good' : 'badge-bad'}`}>{e.enabled ? 'enabled' : 'disabled'}</span>{' '}
                <span class="muted small">{e.event_types.join(', ')}</span>
              </label>
            </li>
          ))}
        </ul>
      </Section>
      {endpoint && loaded.data ? <Deliveries token={loaded.data.token} endpoint={endpoint} /> : null}
    </>
  );
}
