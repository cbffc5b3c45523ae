import { BrokenCircuitError, backoffDelay, createCircuitBreaker, parseRetryAfter, retry, CircuitState } from '../src/resilience';

describe('retry', () => {
  it('retries until success and gives up after the limit', async () => {
    let calls = 0;
    const result = await retry(
      async () => {
        calls++;
        if (calls < 3) throw new Error('transient');
        return 'ok';
      },
      { retries: 5, baseDelayMs: 1, sleep: async () => undefined },
    );
    expect(result).toBe('ok');
    expect(calls).toBe(3);

    calls = 0;
    await expect(
      retry(
        async () => {
          calls++;
          throw new Error('always');
        },
        { retries: 2, sleep: async () => undefined },
      ),
    ).rejects.toThrow('always');
    expect(calls).toBe(3);
  });

  it('does not retry what shouldRetry refuses', async () => {
    let calls = 0;
    await expect(
      retry(
        async () => {
          calls++;
          throw new Error('permanent');
        },
        { retries: 5, shouldRetry: () => false, sleep: async () => undefined },
      ),
    ).rejects.toThrow('permanent');
    expect(calls).toBe(1);
  });

  it('uses full jitter within an exponential ceiling', () => {
    expect(backoffDelay(0, 100, 10_000, () => 0.999)).toBe(99);
    expect(backoffDelay(3, 100, 10_000, () => 0.5)).toBe(400);
    expect(backoffDelay(20, 100, 10_000, () => 0.999)).toBe(9990);
    expect(backoffDelay(4, 100, 10_000, () => 0)).toBe(0);
  });

  it('honours Retry-After as the minimum wait', async () => {
    const waits: number[] = [];
    let calls = 0;
    await retry(
      async () => {
        if (calls++ === 0) throw Object.assign(new Error('429'), { retryAfterMs: 1500 });
        return true;
      },
      { retries: 2, baseDelayMs: 10, maxDelayMs: 5000, random: () => 0.1, sleep: async (ms) => void waits.push(ms) },
    );
    expect(waits).toEqual([1500]);
  });

  it('parses Retry-After seconds and dates', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(new Date(Date.UTC(2030, 0, 1, 0, 0, 10)).toUTCString(), Date.UTC(2030, 0, 1))).toBe(10_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});

describe('circuit breaker', () => {
  it('opens after consecutive failures, fails fast, then half-opens and closes on success', async () => {
    const breaker = createCircuitBreaker({ consecutiveFailures: 3, halfOpenAfterMs: 50 });
    let upstreamCalls = 0;
    const failing = () =>
      breaker.execute(async () => {
        upstreamCalls++;
        throw new Error('500');
      });
    for (let i = 0; i < 3; i++) await expect(failing()).rejects.toThrow('500');
    expect(breaker.state).toBe(CircuitState.Open);
    await expect(failing()).rejects.toBeInstanceOf(BrokenCircuitError);
    expect(upstreamCalls).toBe(3);
    await new Promise((r) => setTimeout(r, 70));
    await expect(breaker.execute(async () => 'recovered')).resolves.toBe('recovered');
    expect(breaker.state).toBe(CircuitState.Closed);
  });

  it('with halfOpenMaxMs, each failed trial keeps it open longer, and a success starts over', async () => {
    const breaker = createCircuitBreaker({ consecutiveFailures: 1, halfOpenAfterMs: 200, halfOpenMaxMs: 5_000 });
    const fail = () =>
      breaker.execute(async () => {
        throw new Error('500');
      });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    /** How long the circuit refuses calls, probing every 10 ms; the probe that gets through fails. */
    const openFor = async () => {
      const started = Date.now();
      for (;;) {
        try {
          await fail();
          throw new Error('a failing call succeeded');
        } catch (err) {
          if (!(err instanceof BrokenCircuitError)) return Date.now() - started;
        }
        await sleep(10);
      }
    };
    await expect(fail()).rejects.toThrow('500');
    // Half jitter: each opening lasts between half and all of 200, 400, 800 ms.
    const first = await openFor();
    const second = await openFor();
    const third = await openFor();
    expect(first).toBeGreaterThanOrEqual(95);
    expect(second).toBeGreaterThanOrEqual(195);
    expect(third).toBeGreaterThanOrEqual(395);
    // A trial that succeeds closes it; the next opening is short again.
    await sleep(1_700); // the fourth opening: half jitter of 1,600 ms
    await expect(breaker.execute(async () => 'up')).resolves.toBe('up');
    expect(breaker.state).toBe(CircuitState.Closed);
    await expect(fail()).rejects.toThrow('500');
    const afterRecovery = await openFor();
    // Back to the first step (100–200 ms), well under the grown third opening.
    expect(afterRecovery).toBeLessThan(third);
  });
});
