import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

export interface HeldLock {
  release(): Promise<void>;
}

/**
 * One writer per tus upload across every replica: a Redis lock with a token, kept alive while
 * the PATCH streams, expiring on its own if the process dies.
 */
export class UploadLocks {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs = 30_000,
  ) {}

  private key(id: string): string {
    return `${this.prefix}:upload:tus-lock:${id}`;
  }

  async tryAcquire(id: string): Promise<HeldLock | undefined> {
    const token = randomBytes(16).toString('hex');
    const key = this.key(id);
    const ok = await this.redis.set(key, token, 'PX', this.ttlMs, 'NX');
    if (ok !== 'OK') return undefined;
    const keepAlive = setInterval(() => {
      this.redis.eval(EXTEND, 1, key, token, String(this.ttlMs)).catch(() => undefined);
    }, this.ttlMs / 3);
    keepAlive.unref();
    return {
      release: async () => {
        clearInterval(keepAlive);
        await this.redis.eval(RELEASE, 1, key, token).catch(() => undefined);
      },
    };
  }

  /**
   * Take the lock, waiting (briefly) for a writer that is finishing: a client that aborts its
   * PATCH and terminates right away (tus-js-client's `abort(true)`) sends the DELETE while the
   * cut PATCH is still recording its offset. Undefined if it is still held after `timeoutMs`.
   */
  async acquire(id: string, timeoutMs: number): Promise<HeldLock | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lock = await this.tryAcquire(id);
      if (lock || Date.now() >= deadline) return lock;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Wait (briefly) for a writer to finish, so HEAD reports a settled offset. */
  async waitUntilFree(id: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await this.redis.exists(this.key(id))) === 1 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
