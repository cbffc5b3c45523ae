import { useState } from 'preact/hooks';
import { ApiError, call, credits, type UsageReport, type UsageRow } from './api';
import { Loading, Section, useApp, useLoad } from './ui';

type Metric = 'cost' | 'requests' | 'tokens';
const value = (row: UsageRow, metric: Metric): number => (metric === 'cost' ? row.cost : metric === 'requests' ? row.requests : row.input_tokens + row.output_tokens);
const label = (v: number, metric: Metric): string => (metric === 'cost' ? `${credits(v)} cr` : v.toLocaleString('en-US'));

/** A bar chart in SVG (no chart library: a few bars do not need 40 KB), with the numbers as a table too. */
function BarChart({ rows, metric, title, testid }: { rows: UsageRow[]; metric: Metric; title: string; testid: string }) {
  const width = 720;
  const barGap = 4;
  const height = 200;
  const max = Math.max(1, ...rows.map((r) => value(r, metric)));
  const barWidth = rows.length ? Math.max(6, (width - 40) / rows.length - barGap) : 0;
  return (
    <figure class="chart" data-testid={testid}>
      <svg viewBox={`0 0 ${width} ${height + 40}`} role="img" aria-label={`${title}: ${rows.map((r) => `${r.group} ${label(value(r, metric), metric)}`).join(', ')}`}>
        <line x1="30" y1={height} x2={width} y2={height} stroke="#57606a" />
        {rows.map((r, i) => {
          const h = Math.round((value(r, metric) / max) * (height - 20));
          const x = 34 + i * (barWidth + barGap);
          return (
            <g key={r.group}>
              <rect x={x} y={height - h} width={barWidth} height={h} fill="#0b57d0" rx="2">
                <title>{`${r.group}: ${label(value(r, metric), metric)}`}</title>
              </rect>
              {rows.length <= 16 ? (
                <text x={x + barWidth / 2} y={height + 16} text-anchor="middle" font-size="11" fill="#1b1f24">
                  {r.group.length > 12 ? `${r.group.slice(0, 11)}…` : r.group}
                </text>
              ) : null}
            </g>
          );
        })}
        <text x="2" y="14" font-size="11" fill="#1b1f24">
          {label(max, metric)}
        </text>
      </svg>
      <figcaption>{title}</figcaption>
    </figure>
  );
}

function UsageTable({ report, caption }: { report: UsageReport; caption: string }) {
  return (
    <table>
      <caption class="visually-hidden">{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Group</th>
          <th scope="col">Requests</th>
          <th scope="col">Input tokens</th>
          <th scope="col">Output tokens</th>
          <th scope="col">Cost (credits)</th>
        </tr>
      </thead>
      <tbody>
        {report.data.map((r) => (
          <tr key={r.group}>
            <td>{r.group}</td>
            <td>{r.requests.toLocaleString('en-US')}</td>
            <td>{r.input_tokens.toLocaleString('en-US')}</td>
            <td>{r.output_tokens.toLocaleString('en-US')}</td>
            <td>{credits(r.cost)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

type Loaded = { available: true; byDay: UsageReport; byModel: UsageReport; byTenant?: UsageReport } | { available: false };

export function UsagePage() {
  const { session } = useApp();
  const [metric, setMetric] = useState<Metric>('cost');
  const base = session.role === 'operator' ? '/v1/admin/usage' : '/v1/usage';
  const usage = useLoad<Loaded>(async () => {
    try {
      const get = (groupBy: string) => call<UsageReport>(`${base}?group_by=${groupBy}`, { token: session.token });
      const [byDay, byModel, byTenant] = await Promise.all([get('day'), get('model'), session.role === 'operator' ? get('tenant') : Promise.resolve(undefined)]);
      return { available: true, byDay, byModel, ...(byTenant ? { byTenant } : {}) };
    } catch (err) {
      // A gateway without usage reporting (older than the usage routes) answers 404: an empty state, not an error.
      if (err instanceof ApiError && err.status === 404) return { available: false };
      throw err;
    }
  }, [base]);
  const data = usage.data;
  return (
    <>
      <h1>Usage</h1>
      <div class="row">
        <label for="usage-metric">Show</label>
        <select id="usage-metric" value={metric} onChange={(e) => setMetric((e.target as HTMLSelectElement).value as Metric)}>
          <option value="cost">cost</option>
          <option value="requests">requests</option>
          <option value="tokens">tokens</option>
        </select>
      </div>
      {usage.loading ? <Loading /> : null}
      {data && !data.available ? (
        <div class="card empty" data-testid="usage-chart" data-state="unavailable">
          <p>
            <strong>No usage reporting here yet.</strong> This gateway does not answer <code>{base}</code> (404).
          </p>
        </div>
      ) : null}
      {data?.available ? (
        <>
          <p>
            Total: <strong data-testid="usage-total">{label(metric === 'tokens' ? (data.byDay.totals.input_tokens ?? 0) + (data.byDay.totals.output_tokens ?? 0) : (data.byDay.totals[metric] ?? 0), metric)}</strong>
          </p>
          <Section title="Per day">
            {data.byDay.data.length ? <BarChart rows={data.byDay.data} metric={metric} title={`${metric} per day`} testid="usage-chart" /> : <p class="muted" data-testid="usage-chart" data-state="empty">No usage yet.</p>}
            <UsageTable report={data.byDay} caption="Usage per day" />
          </Section>
          <Section title="Per model">
            {data.byModel.data.length ? <BarChart rows={data.byModel.data} metric={metric} title={`${metric} per model`} testid="usage-chart-model" /> : <p class="muted">No usage yet.</p>}
            <UsageTable report={data.byModel} caption="Usage per model" />
          </Section>
          {data.byTenant ? (
            <Section title="Per tenant">
              <UsageTable report={data.byTenant} caption="Usage per tenant" />
            </Section>
          ) : null}
        </>
      ) : null}
    </>
  );
}
