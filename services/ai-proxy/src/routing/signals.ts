/**
 * Abort signals with a timeout that are released as soon as the work is done. AbortSignal.timeout
 * keeps its signal (and everything listening to it) alive until the timer fires, and
 * AbortSignal.any holds on to its sources: with a 2-minute deadline per request that is minutes
 * of garbage at high request rates. Here the timer is cleared and the parent listeners removed
 * by dispose(), so memory stays flat under load.
 */
export interface ScopedSignal {
  signal: AbortSignal;
  dispose(): void;
}

/** Aborts when any parent aborts (with its reason) or after timeoutMs (with a TimeoutError, like AbortSignal.timeout). */
export function scopedSignal(parents: (AbortSignal | undefined)[], timeoutMs?: number): ScopedSignal {
  const controller = new AbortController();
  const live = parents.filter((p): p is AbortSignal => p !== undefined);
  const already = live.find((p) => p.aborted);
  if (already) {
    controller.abort(already.reason);
    return { signal: controller.signal, dispose: () => undefined };
  }
  const listeners = live.map((parent) => {
    const onAbort = () => controller.abort(parent.reason);
    parent.addEventListener('abort', onAbort, { once: true });
    return () => parent.removeEventListener('abort', onAbort);
  });
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), timeoutMs);
  timer?.unref();
  return {
    signal: controller.signal,
    dispose() {
      if (timer) clearTimeout(timer);
      for (const remove of listeners) remove();
    },
  };
}
