import { useEffect, useRef, useState } from 'preact/hooks';
import { type BatchResult, call, type Image, imageDataUrl, listAll, type Page, type QualityItem, type Tenant } from './api';
import { Loading, Section, useApp, useLoad } from './ui';

/** The operator picks a tenant first; a tenant's own key goes straight to its queue. */
export function ReviewTenantPicker() {
  const { session } = useApp();
  if (session.role === 'tenant') return <ReviewPage tenantId={session.tenantId!} />;
  const tenants = useLoad(() => listAll<Tenant>('/v1/admin/tenants', session.token), []);
  return (
    <>
      <h1>Review</h1>
      <Section title="Open a tenant's review queue">
        {tenants.loading ? <Loading /> : null}
        <ul class="plain">
          {(tenants.data ?? []).map((t) => (
            <li key={t.id}>
              <a href={`#/review/${encodeURIComponent(t.id)}`}>{t.name}</a> <code class="small">{t.id}</code>
            </li>
          ))}
        </ul>
      </Section>
    </>
  );
}

// Thumbnails are fetched a few at a time, in queue order.
const MAX_THUMBS_IN_FLIGHT = 6;
let thumbsInFlight = 0;
const thumbWaiters: (() => void)[] = [];
async function withThumbSlot<T>(fn: () => Promise<T>): Promise<T> {
  if (thumbsInFlight >= MAX_THUMBS_IN_FLIGHT) await new Promise<void>((r) => thumbWaiters.push(r));
  thumbsInFlight++;
  try {
    return await fn();
  } finally {
    thumbsInFlight--;
    thumbWaiters.shift()?.();
  }
}

function Thumb({ id, token }: { id: string; token: string }) {
  const [src, setSrc] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let live = true;
    withThumbSlot(() => imageDataUrl(`/v1/images/${encodeURIComponent(id)}/content?variant=thumb`, token)).then(
      (url) => live && setSrc(url),
      () => live && setFailed(true),
    );
    return () => {
      live = false;
    };
  }, [id, token]);
  if (src) return <img class="thumb" src={src} alt={`Thumbnail of image ${id}`} width={160} height={160} />;
  return <div class="thumb thumb-empty">{failed ? 'no thumbnail' : '…'}</div>;
}

const itemText = (q: QualityItem | string): string => (typeof q === 'string' ? q : (q.message ?? q.code ?? JSON.stringify(q)));

function Quality({ image }: { image: Image }) {
  const q = image.quality;
  if (!q) return <p class="muted small">No quality report.</p>;
  const info =
    q.info && !Array.isArray(q.info)
      ? Object.entries(q.info).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
      : (q.info ?? []).map(itemText);
  return (
    <div class="quality small">
      {(q.errors ?? []).map((e, i) => (
        <div key={`e${i}`} class="q-error">
          error: {itemText(e)}
        </div>
      ))}
      {(q.warnings ?? []).map((w, i) => (
        <div key={`w${i}`} class="q-warn">
          warning: {itemText(w)}
        </div>
      ))}
      {info.length ? <div class="muted">{info.join(' · ')}</div> : null}
    </div>
  );
}

type Outcome = { status: string; message?: string };

export function ReviewPage({ tenantId }: { tenantId: string }) {
  const { session, report, notify, tokenFor } = useApp();
  const [token, setToken] = useState<string | null>(null);
  const [images, setImages] = useState<Image[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [current, setCurrent] = useState(0);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [outcomes, setOutcomes] = useState<Record<string, Outcome>>({});
  const [reason, setReason] = useState('Does not meet the print guidelines');
  const [batch, setBatch] = useState<BatchResult | null>(null);
  const [busy, setBusy] = useState(false);
  const listRef = useRef<HTMLUListElement>(null);
  const keyHandler = useRef<(e: KeyboardEvent) => void>(() => undefined);

  const load = async (after: string | null) => {
    setLoading(true);
    try {
      const t = token ?? (await tokenFor(tenantId));
      setToken(t);
      const page = await call<Page<Image>>(
        `/v1/images?status=pending_review&limit=100${after ? `&cursor=${encodeURIComponent(after)}` : ''}`,
        { token: t },
      );
      setImages((prev) => (after ? [...prev, ...page.data] : page.data));
      setCursor(page.next_cursor);
      if (!after) {
        setOutcomes({});
        setSelected(new Set());
        setCurrent(0);
      }
    } catch (err) {
      report(err);
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => {
    setToken(null);
    void load(null);
  }, [tenantId]);

  const pendingIndex = (from: number, step: 1 | -1): number => {
    for (let i = from; i >= 0 && i < images.length; i += step) if (!outcomes[images[i]!.id]) return i;
    return Math.min(Math.max(from, 0), Math.max(images.length - 1, 0));
  };

  const act = async (image: Image, action: 'approve' | 'reject') => {
    if (!token || outcomes[image.id]) return;
    try {
      const updated = await call<Image>(`/v1/images/${encodeURIComponent(image.id)}/${action}`, {
        token,
        method: 'POST',
        json: action === 'reject' ? { reason } : {},
      });
      setOutcomes((o) => ({ ...o, [image.id]: { status: updated.status } }));
      const index = images.findIndex((i) => i.id === image.id);
      setCurrent(pendingIndex(index + 1, 1));
    } catch (err) {
      report(err);
    }
  };

  const runBatch = async (action: 'approve' | 'reject') => {
    if (!token || selected.size === 0) return;
    setBusy(true);
    try {
      const ids = [...selected];
      const result = await call<BatchResult>(`/v1/images/batch/${action}`, {
        token,
        method: 'POST',
        json: action === 'reject' ? { image_ids: ids, reason } : { image_ids: ids },
      });
      const status = action === 'approve' ? 'approved' : 'rejected';
      setOutcomes((o) => {
        const next = { ...o };
        for (const id of result.successful) next[id] = { status };
        for (const f of result.failed) next[f.id] = { status: 'failed', message: `${f.code}: ${f.message}` };
        for (const s of result.skipped) next[s.id] = { status: 'skipped', message: s.reason };
        return next;
      });
      setBatch(result);
      setSelected(new Set());
      notify(`Batch ${action}: ${result.counts.successful} done, ${result.counts.failed} failed, ${result.counts.skipped} skipped.`);
    } catch (err) {
      report(err);
    } finally {
      setBusy(false);
    }
  };

  const toggle = (id: string) =>
    setSelected((s) => {
      const next = new Set(s);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  // Keyboard: j/k move, x selects, a approves, r rejects (with the reason above). Not while typing.
  // The handler is rebuilt on every render and read through a ref: an effect re-registering it runs
  // only after paint, so a quick key after an approval would still see the state before it.
  keyHandler.current = (e: KeyboardEvent) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const target = e.target as HTMLElement | null;
    if (target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.isContentEditable)) return;
    const image = images[current];
    switch (e.key) {
      case 'j':
        setCurrent((c) => Math.min(c + 1, images.length - 1));
        break;
      case 'k':
        setCurrent((c) => Math.max(c - 1, 0));
        break;
      case 'x':
        if (image && !outcomes[image.id]) toggle(image.id);
        break;
      case 'a':
        if (image) void act(image, 'approve');
        break;
      case 'r':
        if (image) void act(image, 'reject');
        break;
      default:
        return;
    }
    e.preventDefault();
  };
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => keyHandler.current(e);
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, []);

  useEffect(() => {
    listRef.current?.children[current]?.scrollIntoView({ block: 'nearest' });
  }, [current]);

  const pending = images.filter((i) => !outcomes[i.id]).length;
  return (
    <>
      {session.role === 'operator' ? (
        <p>
          <a href={`#/tenants/${encodeURIComponent(tenantId)}`}>← Tenant {tenantId}</a>
        </p>
      ) : null}
      <h1>Review queue</h1>
      <p class="muted">
        <kbd>j</kbd>/<kbd>k</kbd> move · <kbd>x</kbd> select · <kbd>a</kbd> approve · <kbd>r</kbd> reject with the reason below
      </p>
      <div class="toolbar card">
        <label for="reject-reason">Reject reason</label>
        <input
          id="reject-reason"
          data-testid="reject-reason"
          value={reason}
          maxLength={1000}
          onInput={(e) => setReason((e.target as HTMLInputElement).value)}
        />
        <span data-testid="selected-count">{selected.size} selected</span>
        <button type="button" class="ghost" onClick={() => setSelected(new Set(images.filter((i) => !outcomes[i.id]).map((i) => i.id)))}>
          Select all pending
        </button>
        <button
          type="button"
          class="primary"
          data-testid="batch-approve"
          disabled={busy || selected.size === 0}
          onClick={() => void runBatch('approve')}
        >
          Approve selected
        </button>
        <button
          type="button"
          class="danger"
          data-testid="batch-reject"
          disabled={busy || selected.size === 0 || !reason.trim()}
          onClick={() => void runBatch('reject')}
        >
          Reject selected
        </button>
        <button type="button" class="ghost" onClick={() => void load(null)}>
          Refresh
        </button>
      </div>
      {batch ? (
        <p class="banner banner-info" role="status" data-testid="batch-result">
          Batch: {batch.counts.successful} succeeded, {batch.counts.failed} failed, {batch.counts.skipped} skipped of{' '}
          {batch.counts.requested}.
        </p>
      ) : null}
      <p>
        <span data-testid="pending-count">{pending}</span> pending on this page{cursor ? ' (more after it)' : ''}.
      </p>
      {loading && images.length === 0 ? <Loading /> : null}
      {!loading && images.length === 0 ? <p class="muted">Nothing waits for review.</p> : null}
      <ul class="queue" data-testid="review-queue" ref={listRef} aria-label="Images pending review">
        {images.map((image, index) => {
          const outcome = outcomes[image.id];
          return (
            <li
              key={image.id}
              data-testid="review-item"
              data-image-id={image.id}
              data-status={outcome?.status ?? image.status}
              class={`item${index === current ? ' current' : ''}${selected.has(image.id) ? ' selected' : ''}`}
              aria-current={index === current ? 'true' : undefined}
              onClick={() => setCurrent(index)}
            >
              <input
                type="checkbox"
                aria-label={`Select image ${image.id}`}
                checked={selected.has(image.id)}
                disabled={!!outcome}
                onChange={() => toggle(image.id)}
              />
              {token ? <Thumb id={image.id} token={token} /> : <div class="thumb thumb-empty">…</div>}
              <div class="meta">
                <div>
                  <code>{image.id}</code> · profile <strong>{image.profile}</strong> · {image.source}
                </div>
                {image.prompt ? <div class="small">“{image.prompt}”</div> : null}
                <Quality image={image} />
                {outcome ? (
                  <div>
                    <span class={`badge ${outcome.status === 'approved' ? 'badge-good' : 'badge-bad'}`} data-testid="item-outcome">
                      {outcome.status}
                    </span>{' '}
                    {outcome.message ? <span class="small">{outcome.message}</span> : null}
                  </div>
                ) : null}
              </div>
              <div class="actions">
                <button type="button" class="primary" data-testid="approve" disabled={!!outcome} onClick={() => void act(image, 'approve')}>
                  Approve
                </button>
                <button
                  type="button"
                  class="danger"
                  data-testid="reject"
                  disabled={!!outcome || !reason.trim()}
                  onClick={() => void act(image, 'reject')}
                >
                  Reject
                </button>
              </div>
            </li>
          );
        })}
      </ul>
      {cursor ? (
        <button type="button" class="ghost" onClick={() => void load(cursor)}>
          Load more
        </button>
      ) : null}
    </>
  );
}
