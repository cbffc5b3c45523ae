// The public API as the console uses it: same origin, `Authorization: Bearer <token>`, the
// error envelope turned into an ApiError that keeps the request id for the error banner.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | null,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** Called on any 401: the token expired or was revoked, so the console returns to sign-in. */
let onUnauthenticated: (err: ApiError) => void = () => undefined;
export const setUnauthenticatedHandler = (fn: (err: ApiError) => void) => {
  onUnauthenticated = fn;
};

export interface CallOptions {
  token: string;
  method?: string;
  json?: unknown;
  /** A 401 here means "not this kind of credential", not "signed out" (sign-in probing). */
  probing?: boolean;
}

async function send(path: string, options: CallOptions): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${options.token}` };
  if (options.json !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method: options.method ?? 'GET', headers, ...(options.json !== undefined ? { body: JSON.stringify(options.json) } : {}) });
  } catch (err) {
    throw new ApiError(0, 'NETWORK', `The gateway did not answer: ${(err as Error).message}`, null);
  }
  if (res.ok) return res;
  const requestId = res.headers.get('x-request-id');
  let body: { error?: { code?: string; message?: string; type?: string; request_id?: string; details?: unknown } } | undefined;
  try {
    body = (await res.json()) as typeof body;
  } catch {
    body = undefined;
  }
  const error = new ApiError(
    res.status,
    body?.error?.code ?? body?.error?.type ?? `HTTP_${res.status}`,
    body?.error?.message ?? `${res.status} ${res.statusText}`,
    body?.error?.request_id ?? requestId,
    body?.error?.details,
  );
  if (res.status === 401 && !options.probing) onUnauthenticated(error);
  throw error;
}

export async function call<T>(path: string, options: CallOptions): Promise<T> {
  const res = await send(path, options);
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/**
 * An image variant as a data: URL. The content route needs the bearer token, which an <img src>
 * cannot send; the gateway's CSP allows images from 'self' and data: only (not blob:).
 */
export async function imageDataUrl(path: string, token: string): Promise<string> {
  const blob = await (await send(path, { token })).blob();
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error ?? new Error('could not read the image'));
    reader.readAsDataURL(blob);
  });
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

/** Every page of a cursor-paginated list, up to `max` items. */
export async function listAll<T>(path: string, token: string, max = 1000): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page: Page<T> = await call<Page<T>>(`${path}${sep}limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token });
    out.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor && out.length < max);
  return out;
}

export interface Tenant {
  id: string;
  name: string;
  rate_limits: Partial<Record<'completion' | 'generation' | 'write' | 'read', number>>;
  created_at: string;
}
export interface ApiKey {
  id: string;
  tenant_id: string;
  name: string | null;
  prefix: string;
  scopes: string[];
  expires_at: string | null;
  revoked_at: string | null;
  created_at: string;
  key?: string;
}
export interface Balance {
  tenant_id: string;
  available: number;
  held: number;
  currency: string;
}
export interface Transaction {
  id: string;
  type: string;
  amount: number;
  balance_after: number;
  description: string | null;
  created_at: string;
}
export interface QualityItem {
  code?: string;
  message?: string;
  [k: string]: unknown;
}
export interface Image {
  id: string;
  status: string;
  source: string;
  profile: string;
  prompt: string | null;
  model: string | null;
  rejection_reason: string | null;
  quality: { errors?: QualityItem[]; warnings?: QualityItem[]; info?: Record<string, unknown> | QualityItem[] } | null;
  failure: { code: string; message: string } | null;
  created_at: string;
}
export interface BatchResult {
  batch_id?: string;
  successful: string[];
  failed: { id: string; code: string; message: string }[];
  skipped: { id: string; reason: string }[];
  counts: { requested: number; successful: number; failed: number; skipped: number };
}
export interface Endpoint {
  id: string;
  url: string;
  description: string | null;
  event_types: string[];
  enabled: boolean;
  disabled_reason: string | null;
}
export interface Delivery {
  id: string;
  endpoint_id: string;
  event_type: string;
  status: string;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  created_at: string;
  attempt_log?: { id: string; attempt: number; round: number; trigger: string; started_at: string; latency_ms: number | null; status_code: number | null; outcome: string; error_message: string | null }[];
}
export interface UsageRow {
  group: string;
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cost: number;
}
export interface UsageReport {
  object: 'list';
  data: UsageRow[];
  totals: Partial<Omit<UsageRow, 'group'>>;
}

/** Micro-credits (integers) as credits for people. */
export const credits = (micro: number): string =>
  (micro / 1_000_000).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 6 });
