import { render } from 'preact';
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, type ApiKey, type Balance, call, setUnauthenticatedHandler } from './api';
import { HealthPage, TenantPage, TenantsPage } from './operator';
import { ReviewPage, ReviewTenantPicker } from './review';
import { loadSession, saveSession, type Session } from './session';
import { OverviewPage } from './tenant';
import { Ctx, type AppContext, ErrorBanner } from './ui';
import { UsagePage } from './usage';
import { WebhooksPage } from './webhooks';

/** Hash routes (#/tenants/ten_x): the gateway serves one index.html, deep links still work. */
function useRoute(): string[] {
  const read = () => location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

/** Which credential was typed: the admin token answers the admin API; a tenant key is refused there (403) but reads its balance. */
async function signIn(token: string): Promise<Session> {
  try {
    await call('/v1/admin/tenants?limit=1', { token, probing: true });
    return { token, role: 'operator' };
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 403) throw err;
  }
  const balance = await call<Balance>('/v1/credits/balance', { token, probing: true });
  return { token, role: 'tenant', tenantId: balance.tenant_id };
}

function Login({ onSignedIn, reason }: { onSignedIn: (s: Session) => void; reason: string | null }) {
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await signIn(token.trim()));
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? new ApiError(401, err.code, 'This token was not accepted (unknown, expired or revoked).', err.requestId) : err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <h1>Tollgate console</h1>
      <p class="muted">Sign in with the admin token (operator) or a tenant API key (tenant and review).</p>
      {reason ? (
        <p class="banner banner-info" role="status">
          {reason}
        </p>
      ) : null}
      <ErrorBanner error={error} onClose={() => setError(null)} />
      <form onSubmit={submit} class="stack">
        <label for="login-token">Admin token or API key</label>
        <input
          id="login-token"
          data-testid="login-token"
          type="password"
          autocomplete="off"
          spellcheck={false}
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
          required
        />
        <button type="submit" class="primary" data-testid="login-submit" disabled={busy || !token.trim()}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <p class="muted small">The token stays in this tab's session storage and is sent only to this gateway.</p>
    </main>
  );
}

function Nav({ session, route }: { session: Session; route: string[] }) {
  const links =
    session.role === 'operator'
      ? [
          ['tenants', 'Tenants'],
          ['review', 'Review'],
          ['usage', 'Usage'],
          ['health', 'Health'],
        ]
      : [
          ['overview', 'Overview'],
          ['review', 'Review'],
          ['usage', 'Usage'],
          ['webhooks', 'Webhooks'],
        ];
  return (
    <nav aria-label="Main">
      <ul>
        {links.map(([id, label]) => (
          <li key={id}>
            <a href={`#/${id}`} data-testid={`nav-${id}`} aria-current={route[0] === id ? 'page' : undefined}>
              {label}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

function Page({ route }: { route: string[] }) {
  const [page, id] = route;
  switch (page) {
    case 'tenants':
      return id ? <TenantPage tenantId={id} /> : <TenantsPage />;
    case 'review':
      return id ? <ReviewPage tenantId={id} /> : <ReviewTenantPicker />;
    case 'usage':
      return <UsagePage />;
    case 'webhooks':
      return <WebhooksPage tenantId={id} />;
    case 'health':
      return <HealthPage />;
    default:
      return <OverviewPage />;
  }
}

function App() {
  const [session, setSession] = useState<Session | null>(loadSession);
  const [signedOutReason, setSignedOutReason] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const route = useRoute();

  const update = useCallback((s: Session | null) => {
    saveSession(s);
    setSession(s);
  }, []);

  useEffect(() => {
    setUnauthenticatedHandler(() => {
      update(null);
      setError(null);
      setSignedOutReason('Your session ended: the token expired or was revoked. Sign in again.');
    });
  }, [update]);

  // A fresh page per route: the last page's error or notice does not follow.
  useEffect(() => {
    setError(null);
    setNotice(null);
  }, [route.join('/')]);

  const ctx = useMemo<AppContext | null>(() => {
    if (!session) return null;
    return {
      session,
      report: (err) => setError(err),
      notify: (text) => setNotice(text),
      tokenFor: async (tenantId) => {
        if (session.role === 'tenant') return session.token;
        // The admin token holds only the admin scope; the tenant routes (images, webhooks) need
        // a credential of the tenant. The operator gets a named key that expires in an hour.
        const current = loadSession() ?? session;
        const held = current.actingKeys?.[tenantId];
        if (held && Date.parse(held.expiresAt) - Date.now() > 5 * 60_000) return held.key;
        const expiresAt = new Date(Date.now() + 60 * 60_000).toISOString();
        const key = await call<ApiKey>(`/v1/admin/tenants/${encodeURIComponent(tenantId)}/keys`, {
          token: session.token,
          method: 'POST',
          json: { name: 'console operator session', scopes: ['read', 'write'], expires_at: expiresAt },
        });
        const next = { ...current, actingKeys: { ...current.actingKeys, [tenantId]: { id: key.id, key: key.key!, expiresAt } } };
        saveSession(next);
        return key.key!;
      },
    };
  }, [session]);

  if (!session || !ctx) {
    return (
      <Login
        reason={signedOutReason}
        onSignedIn={(s) => {
          setSignedOutReason(null);
          update(s);
          location.hash = s.role === 'operator' ? '#/tenants' : '#/overview';
        }}
      />
    );
  }

  const signOut = async () => {
    // The operator's acting keys are revoked now rather than left to expire.
    const acting = Object.values(loadSession()?.actingKeys ?? {});
    await Promise.allSettled(acting.map((k) => call(`/v1/admin/keys/${encodeURIComponent(k.id)}`, { token: session.token, method: 'DELETE', probing: true })));
    update(null);
    location.hash = '';
  };

  return (
    <Ctx.Provider value={ctx}>
      <header class="top">
        <a class="brand" href={session.role === 'operator' ? '#/tenants' : '#/overview'}>
          Tollgate
        </a>
        <Nav session={session} route={route} />
        <span class="who">{session.role === 'operator' ? 'Operator' : `Tenant ${session.tenantId}`}</span>
        <button type="button" class="ghost" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main id="main">
        <ErrorBanner error={error} onClose={() => setError(null)} />
        {notice ? (
          <p class="banner banner-info" role="status" data-testid="notice">
            {notice}
          </p>
        ) : null}
        <Page route={route.length ? route : [session.role === 'operator' ? 'tenants' : 'overview']} />
      </main>
    </Ctx.Provider>
  );
}

render(<App />, document.getElementById('app')!);
