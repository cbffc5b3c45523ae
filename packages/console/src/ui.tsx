import { createContext, type ComponentChildren } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';
import { ApiError } from './api';
import type { Session } from './session';

export interface AppContext {
  session: Session;
  /** Shows an error in the banner (null clears it). */
  report: (err: unknown) => void;
  /** A short notice (not an error), e.g. "Top-up recorded". */
  notify: (text: string) => void;
  /** A token that acts inside `tenantId`: the tenant's own key, or for the operator a short-lived key minted for it. */
  tokenFor: (tenantId: string) => Promise<string>;
}

export const Ctx = createContext<AppContext | null>(null);
export const useApp = (): AppContext => {
  const ctx = useContext(Ctx);
  if (!ctx) throw new Error('no app context');
  return ctx;
};

export function ErrorBanner({ error, onClose }: { error: unknown; onClose: () => void }) {
  if (!error) return null;
  const api = error instanceof ApiError ? error : null;
  return (
    <div class="banner banner-error" role="alert" data-testid="error-banner">
      <div>
        <strong>{api ? `${api.status ? `${api.status} ` : ''}${api.code}` : 'Error'}</strong>: {(error as Error).message ?? String(error)}
        {api?.requestId ? (
          <div class="muted">
            request id <code data-testid="error-request-id">{api.requestId}</code>
          </div>
        ) : null}
      </div>
      <button type="button" class="link" onClick={onClose} aria-label="Dismiss the error">
        ×
      </button>
    </div>
  );
}

/** Runs `load` when `deps` change; errors go to the banner. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | undefined; loading: boolean; error: unknown; reload: () => void; set: (v: T) => void } {
  const { report } = useApp();
  const [data, setData] = useState<T | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    load().then(
      (v) => {
        if (!live) return;
        setData(v);
        setError(null);
        setLoading(false);
      },
      (err) => {
        if (!live) return;
        setError(err);
        setLoading(false);
        report(err);
      },
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { data, loading, error, reload: () => setTick((t) => t + 1), set: setData };
}

export const Loading = () => (
  <p class="muted" role="status">
    Loading…
  </p>
);

export function Section({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="card">
      <header class="card-head">
        <h2>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}

export const when = (iso: string | null | undefined): string => (iso ? new Date(iso).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' }) : '—');
