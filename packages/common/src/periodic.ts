import type { Logger } from './logger';

export interface Periodic {
  /**
   * Runs the task now and resolves when that run is over (a failure is logged, not thrown). A run
   * already going is waited for first, so the caller always sees a run that started after its call.
   */
  runNow(): Promise<void>;
  /** Clears the timer and waits for a run in progress. */
  stop(): Promise<void>;
}

export interface PeriodicOptions {
  name: string;
  intervalMs: number;
  logger: Logger;
  run: () => Promise<unknown>;
  /**
   * Also run once at start, not only after the first interval: for work whose backlog built up
   * while no process ran (holds that expired overnight), and for results an alert reads.
   */
  runAtStart?: boolean;
}

/**
 * Runs a background task every `intervalMs` in this process: never two runs at once (a tick that
 * finds one still going is skipped), a failed run is logged and the next tick tries again, and the
 * timer never keeps the process alive. `intervalMs` ≤ 0 never runs it (nor at start). For sweeps
 * whose state is the database (re-enqueue, retention, retries), so any replica may run them.
 * Several tasks with their own intervals are several Periodics (see stopAll).
 */
export function startPeriodic(options: PeriodicOptions): Periodic {
  const { name, intervalMs, logger, run } = options;
  let running: Promise<void> | undefined;
  let stopped = false;
  const start = (): Promise<void> => {
    const current: Promise<void> = run()
      .then(() => undefined)
      .catch((err: unknown) => {
        logger.error(`${name} failed; the next run tries again`, { err });
      })
      .finally(() => {
        if (running === current) running = undefined;
      });
    running = current;
    return current;
  };
  const timer =
    intervalMs > 0
      ? setInterval(() => {
          if (!running && !stopped) void start();
        }, intervalMs)
      : undefined;
  timer?.unref();
  if (options.runAtStart && intervalMs > 0) void start();
  return {
    async runNow() {
      while (running) await running;
      if (!stopped) await start();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      while (running) await running;
    },
  };
}

/** Stops several Periodics at once (each waits for its own run in progress). */
export async function stopAll(periodics: Periodic[]): Promise<void> {
  await Promise.all(periodics.map((p) => p.stop()));
}
