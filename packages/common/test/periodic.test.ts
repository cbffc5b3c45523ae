import { captureLogger } from '@tollgate/testkit';
import { startPeriodic } from '../src/periodic';

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
});
