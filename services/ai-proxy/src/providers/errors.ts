/**
 * Why an upstream call failed, in terms the router acts on: whether to retry the same target,
 * whether it counts against the target's breaker, and how long the upstream asked us to wait.
 */
export type UpstreamFailureKind = 'http' | 'connect' | 'timeout' | 'protocol' | 'upstream_error_event';

export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';

  constructor(
    message: string,
    readonly kind: UpstreamFailureKind,
    readonly options: { status?: number; retryAfterMs?: number; upstreamMessage?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }

  get status(): number | undefined {
    return this.options.status;
  }

  get retryAfterMs(): number | undefined {
    return this.options.retryAfterMs;
  }

  /** Connect errors, timeouts, broken streams, 408/409/425/429 and 5xx (incl. Anthropic's 529). */
  get retryable(): boolean {
    if (this.kind !== 'http') return true;
    const s = this.status ?? 0;
    return s === 408 || s === 409 || s === 425 || s === 429 || s >= 500;
  }

  /**
   * The request itself was refused (400/404/413/422): another target would refuse it too, so the
   * caller gets a 400. Auth failures (401/403) mean this target is misconfigured: fall back.
   */
  get isClientFault(): boolean {
    const s = this.status ?? 0;
    return this.kind === 'http' && (s === 400 || s === 413 || s === 422);
  }

  /** Whether the breaker of the target counts this failure. */
  get countsAgainstTarget(): boolean {
    return !this.isClientFault;
  }
}

export const isUpstreamError = (err: unknown): err is UpstreamError => err instanceof UpstreamError;

/** Thrown into a running stream when our own client went away; never the upstream's fault. */
export class ClientGoneError extends Error {
  override readonly name = 'ClientGoneError';
  constructor() {
    super('the client closed the connection');
  }
}
