// The signed-in session. The token lives in sessionStorage only (never a cookie or the URL):
// it is gone when the tab closes and no other origin or request ever carries it implicitly.
const KEY = 'tollgate.console.session';

export type Role = 'operator' | 'tenant';

export interface Session {
  token: string;
  role: Role;
  /** The tenant a tenant key belongs to (absent for the admin token). */
  tenantId?: string;
  /** Short-lived keys the operator minted to act inside a tenant (review queue, webhooks). */
  actingKeys?: Record<string, { id: string; key: string; expiresAt: string }>;
}

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export function saveSession(session: Session | null): void {
  if (session) sessionStorage.setItem(KEY, JSON.stringify(session));
  else sessionStorage.removeItem(KEY);
}
