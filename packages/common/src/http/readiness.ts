import type { Request, Response } from 'express';

export type ReadinessCheck = () => Promise<unknown>;

export interface CheckResult {
  ok: boolean;
  critical: boolean;
  latency_ms: number;
  error?: string;
}

/** Registered dependency checks plus a draining flag flipped at shutdown. */
export class Readiness {
  private readonly checks = new Map<string, { check: ReadinessCheck; critical: boolean }>();
  private draining = false;

  constructor(private readonly timeoutMs = 2000) {}

  /**
   * A critical check failing makes the service unready; a non-critical one is only reported
   * (the gateway reports each upstream without leaving the load balancer when one is down).
   */
  register(name: string, check: ReadinessCheck, options: { critical?: boolean } = {}): this {
    this.checks.set(name, { check, critical: options.critical ?? true });
    return this;
  }

  setDraining(): void {
    this.draining = true;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  async run(): Promise<{ ready: boolean; checks: Record<string, CheckResult> }> {
    const entries = await Promise.all(
      [...this.checks].map(async ([name, { check, critical }]): Promise<[string, CheckResult]> => {
        const start = performance.now();
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            check(),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error(`timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
            }),
          ]);
          return [name, { ok: true, critical, latency_ms: Math.round(performance.now() - start) }];
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          return [name, { ok: false, critical, latency_ms: Math.round(performance.now() - start), error: message.slice(0, 200) }];
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    const checks = Object.fromEntries(entries);
    return { ready: !this.draining && entries.every(([, r]) => r.ok || !r.critical), checks };
  }

  handler() {
    return async (req: Request, res: Response): Promise<void> => {
      const { ready, checks } = await this.run();
      if (ready) {
        res.status(200).json({ status: 'ready', checks });
        return;
      }
      const failed = Object.entries(checks).filter(([, r]) => !r.ok && r.critical).map(([n]) => n);
      const reason = this.draining ? 'shutting down' : `not ready: ${failed.join(', ')}`;
      res.status(503).json({
        status: this.draining ? 'draining' : 'not_ready',
        checks,
        error: { code: 'SERVICE_UNAVAILABLE', message: reason, request_id: req.requestId, details: { failed } },
      });
    };
  }
}
