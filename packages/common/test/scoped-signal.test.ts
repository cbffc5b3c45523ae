import { scopedSignal } from '../src/resilience';

/** Counts the listeners added to a signal and not yet removed. */
function countListeners(signal: AbortSignal): { readonly count: number } {
  let count = 0;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((...args: Parameters<AbortSignal['addEventListener']>) => {
    count += 1;
    add(...args);
  }) as AbortSignal['addEventListener'];
  signal.removeEventListener = ((...args: Parameters<AbortSignal['removeEventListener']>) => {
    count -= 1;
    remove(...args);
  }) as AbortSignal['removeEventListener'];
  return {
    get count() {
      return count;
    },
  };
}

describe('scopedSignal', () => {
  it('aborts with the reason of whichever parent aborts first', () => {
    const a = new AbortController();
    const b = new AbortController();
    const scoped = scopedSignal([a.signal, undefined, b.signal]);
    b.abort(new Error('client left'));
    expect(scoped.signal.aborted).toBe(true);
    expect((scoped.signal.reason as Error).message).toBe('client left');
    scoped.dispose();
  });

  it('is already aborted when a parent already is', () => {
    const a = new AbortController();
    a.abort('gone');
    const scoped = scopedSignal([a.signal], 10_000);
    expect(scoped.signal.aborted).toBe(true);
    expect(scoped.signal.reason).toBe('gone');
  });

  it('aborts with a TimeoutError after its timeout, like AbortSignal.timeout', async () => {
    const scoped = scopedSignal([], 5);
    await new Promise<void>((resolve) => scoped.signal.addEventListener('abort', () => resolve(), { once: true }));
    expect((scoped.signal.reason as DOMException).name).toBe('TimeoutError');
  });

  it('after dispose, neither its parents nor its timer reach it, and it holds no listener on a parent', async () => {
    const parent = new AbortController();
    const listeners = countListeners(parent.signal);

    const scoped = scopedSignal([parent.signal], 5);
    expect(listeners.count).toBe(1);
    scoped.dispose();
    expect(listeners.count).toBe(0);
    parent.abort();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(scoped.signal.aborted).toBe(false);
  });

  it('leaves no listener on a shared parent and no timer behind after many calls', () => {
    const parent = new AbortController();
    const listeners = countListeners(parent.signal);
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();

    for (let i = 0; i < 5_000; i++) scopedSignal([parent.signal, undefined], 120_000).dispose();

    expect(listeners.count).toBe(0);
    expect(timers()).toBe(before);
  });
});
