import { type Balance, call, credits, type Page, type Transaction } from './api';
import { Loading, Section, useApp, useLoad, when } from './ui';

/** The tenant's own view: balance and history (its keys are the operator's to manage). */
export function OverviewPage() {
  const { session } = useApp();
  if (session.role !== 'tenant') {
    location.hash = '#/tenants';
    return null;
  }
  const balance = useLoad(() => call<Balance>('/v1/credits/balance', { token: session.token }), []);
  const txs = useLoad(() => call<Page<Transaction>>('/v1/credits/transactions?limit=50', { token: session.token }), []);
  return (
    <>
      <h1>Overview</h1>
      <Section title="Balance">
        <p class="big">
          <span data-testid="balance" data-available={balance.data?.available}>
            {balance.data ? credits(balance.data.available) : '…'}
          </span>{' '}
          <span class="muted">credits available{balance.data?.held ? `, ${credits(balance.data.held)} held` : ''}</span>
        </p>
      </Section>
      <Section title="Recent transactions">
        {txs.loading ? <Loading /> : null}
        <table>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Type</th>
              <th scope="col">Amount</th>
              <th scope="col">Balance after</th>
              <th scope="col">Description</th>
            </tr>
          </thead>
          <tbody>
            {(txs.data?.data ?? []).map((t) => (
              <tr key={t.id}>
                <td>{when(t.created_at)}</td>
                <td>{t.type}</td>
                <td>{credits(t.amount)}</td>
                <td>{credits(t.balance_after)}</td>
                <td>{t.description ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      <Section title="API keys">
        <p class="muted">
          You are signed in with key <code>{session.token.slice(0, 10)}…</code>. Keys are created and revoked by your operator.
        </p>
      </Section>
    </>
  );
}
