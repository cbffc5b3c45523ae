import type { Logger } from './logger';

export interface Periodic {
  /** Clears the timer and waits for a run in progress. */
  stop(): Promise<void>;
}

/**
 * Runs a background task every `intervalMs` in this process: never two runs at once (a tick that
 * finds one still going is skipped), a failed run is logged and the next tick tries again, and the
 * timer never keeps the process alive. `intervalMs` ≤ 0 never runs it. For sweeps whose state is
 * the database (re-enqueue, retention, retries), so any replica may run them.
 */
export function startPeriodic(options: { name: string; intervalMs: number; logger: Logger; run: () => Promise<unknown> }): Periodic {
  const { name, intervalMs, logger, run } = options;
  let running: Promise<unknown> | undefined;
  const timer =
    intervalMs > 0
      ? setInterval(() => {
          if (running) return;
          running = run()
            .catch((err: unknown) => logger.error(`${name} failed; the next run tries again`, { err }))
            .finally(() => {
              running = undefined;
            });
        }, intervalMs)
      : undefined;
  timer?.unref();
  return {
    async stop() {
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
