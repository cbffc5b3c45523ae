import { captureLogger } from '@tollgate/testkit';
import { startPeriodic, stopAll } from '../src/periodic';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('startPeriodic', () => {
  it('never runs twice at once, survives a failed run, and stop() waits for the run in progress', async () => {
    const { logger, lines } = captureLogger();
    let inFlight = 0;
    let maxInFlight = 0;
    let runs = 0;
    const periodic = startPeriodic({
      name: 'test sweep',
      intervalMs: 10,
      logger,
      run: async () => {
        runs++;
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        try {
          if (runs === 1) throw new Error('first run fails');
          await sleep(40); // longer than the interval: ticks meanwhile are skipped
        } finally {
          inFlight--;
        }
      },
    });
    while (runs < 3) await sleep(5);
    await periodic.stop();
    // stop() returned only after the run that was going had finished (or none was going).
    expect(inFlight).toBe(0);
    const runsAtStop = runs;
    await sleep(50);
    expect(runs).toBe(runsAtStop);
    expect(maxInFlight).toBe(1);
    expect(lines.some((l) => l.level === 'error' && String(l.message).includes('test sweep failed'))).toBe(true);
  });

  it('an interval of 0 never runs', async () => {
    let runs = 0;
    const periodic = startPeriodic({ name: 'off', intervalMs: 0, logger: captureLogger().logger, run: async () => void runs++ });
    await sleep(30);
    await periodic.stop();
    expect(runs).toBe(0);
  });

  it('runAtStart runs once at once, then every interval; runNow waits for a run that started after it was called', async () => {
    const starts: number[] = [];
    let release: (() => void) | undefined;
    const periodic = startPeriodic({
      name: 'at start',
      intervalMs: 1_000_000,
      logger: captureLogger().logger,
      runAtStart: true,
      run: async () => {
        starts.push(Date.now());
        await new Promise<void>((r) => (release = r));
      },
    });
    expect(starts).toHaveLength(1); // started synchronously, still going
    const now = periodic.runNow();
    await sleep(10);
    expect(starts).toHaveLength(1); // never two at once: runNow waits for the first
    release!();
    while (starts.length < 2) await sleep(2);
    release!();
    await now;
    expect(starts).toHaveLength(2);
    await periodic.stop();
  });

  it('several tasks with their own intervals are several Periodics, stopped together', async () => {
    const runs = { fast: 0, slow: 0 };
    const logger = captureLogger().logger;
    const tasks = [
      startPeriodic({ name: 'fast', intervalMs: 5, logger, run: async () => void runs.fast++ }),
      startPeriodic({ name: 'slow', intervalMs: 1_000_000, logger, runAtStart: true, run: async () => void runs.slow++ }),
    ];
    while (runs.fast < 3) await sleep(5);
    await stopAll(tasks);
    expect(runs.slow).toBe(1);
    const fastAtStop = runs.fast;
    await sleep(20);
    expect(runs.fast).toBe(fastAtStop);
  });

  it('runNow after stop does not run', async () => {
    let runs = 0;
    const periodic = startPeriodic({ name: 'stopped', intervalMs: 1_000, logger: captureLogger().logger, run: async () => void runs++ });
    await periodic.stop();
    await periodic.runNow();
    expect(runs).toBe(0);
  });
});
