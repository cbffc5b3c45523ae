import type { Clock, Logger, OutboxRelay } from '@tollgate/common';
import { sql } from 'kysely';
import type { Config } from '../config';
import type { Db } from '../db';
import * as quota from '../files/quota';
import * as filesRepo from '../files/repository';
import type { FileService } from '../files/service';
import type { ObjectStorage } from '../storage';
import * as tusRepo from '../tus/repository';
import type { TusService } from '../tus/service';
import type { TusStaging } from '../tus/staging';

const BATCH = 200;
/** Bounded work per run; whatever is left waits for the next tick. */
const MAX_BATCHES = 20;
const ORPHAN_KEY_BATCH = 500;

export interface SweeperDeps {
  db: Db;
  storage: ObjectStorage;
  staging: TusStaging;
  files: FileService;
  tus: TusService;
  outbox: OutboxRelay;
  config: Config;
  clock: Clock;
  logger: Logger;
}

export interface SweepReport {
  expired: number;
  purged: number;
  reservationsReleased: number;
  uploadsExpired: number;
  orphanObjects: number;
  orphanTemporary: number;
  orphanStaged: number;
  /** Events a previous release's replica wrote to its own `event_outbox`, moved to the outbox. */
  legacyEventsMoved: number;
  eventsRelayed: number;
}

/**
 * The `upload-maintenance` sweep. Every step is idempotent, so overlapping or repeated runs
 * (a retried job, two replicas) do no harm.
 */
export class Sweeper {
  constructor(private readonly deps: SweeperDeps) {}

  async run(): Promise<SweepReport> {
    const report: SweepReport = {
      expired: await this.expireDueFiles(),
      purged: await this.purgeRemovedFiles(),
      reservationsReleased: await this.releaseStaleReservations(),
      uploadsExpired: await this.expireUploads(),
      orphanObjects: await this.removeOrphanObjects(),
      orphanTemporary: await this.deps.storage.removeStaleTemporary(this.graceCutoff()),
      orphanStaged: await this.removeOrphanStaged(),
      legacyEventsMoved: await this.moveLegacyOutbox(),
      eventsRelayed: await this.deps.outbox.sweep({ minAgeMs: 5_000 }),
    };
    if (Object.values(report).some((n) => n > 0)) this.deps.logger.info('upload maintenance sweep', { ...report });
    return report;
  }

  /**
   * During a rolling deploy from the release before the common outbox, old replicas still record
   * events in `event_outbox`: move them, in one statement, where the relay publishes them.
   */
  private async moveLegacyOutbox(): Promise<number> {
    const moved = await sql`
      with moved as (delete from event_outbox returning id, type, tenant_id, data, created_at)
      insert into outbox_events (id, type, tenant_id, data, created_at)
      select id, type, tenant_id, data, created_at from moved
      on conflict (id) do nothing`.execute(this.deps.db);
    return Number(moved.numAffectedRows ?? 0n);
  }

  private graceCutoff(): Date {
    return new Date(this.deps.clock.now().getTime() - this.deps.config.ORPHAN_GRACE_S * 1000);
  }

  /** Files past `expires_at`: gone for readers already; here their quota, object and row go, with `file.expired`. */
  async expireDueFiles(): Promise<number> {
    let count = 0;
    for (let i = 0; i < MAX_BATCHES; i += 1) {
      const due = await filesRepo.findDueForExpiry(this.deps.db, this.deps.clock.now(), BATCH);
      for (const { id } of due) if (await this.deps.files.remove(id, 'expired')) count += 1;
      if (due.length < BATCH) break;
    }
    return count;
  }

  /** Deleted/expired rows whose object removal failed earlier. */
  async purgeRemovedFiles(): Promise<number> {
    const { db, storage } = this.deps;
    const pending = await filesRepo.findPendingRemoval(db, BATCH);
    for (const row of pending) {
      await storage.remove(row.storage_key);
      await filesRepo.deleteRemovedRow(db, row.id);
    }
    return pending.length;
  }

  /** Multipart reservations of requests that died with their process. */
  async releaseStaleReservations(): Promise<number> {
    const { db, config, clock } = this.deps;
    const stale = await quota.findStaleReservations(db, new Date(clock.now().getTime() - config.RESERVATION_TTL_S * 1000), BATCH);
    let count = 0;
    for (const { id } of stale) if (await db.transaction().execute((trx) => quota.releaseReservation(trx, id))) count += 1;
    return count;
  }

  /** tus uploads past their expiry: unfinished ones lose their bytes and quota. */
  async expireUploads(): Promise<number> {
    const expired = await tusRepo.findExpiredUploads(this.deps.db, this.deps.clock.now(), BATCH);
    for (const { id } of expired) await this.deps.tus.discard(id);
    return expired.length;
  }

  /** Committed objects no file row knows (a crash between rename and commit). */
  async removeOrphanObjects(): Promise<number> {
    const { db, storage } = this.deps;
    const cutoff = this.graceCutoff();
    let removed = 0;
    let batch: string[] = [];
    const flush = async (): Promise<void> => {
      const known = await filesRepo.knownStorageKeys(db, batch);
      for (const key of batch) {
        if (!known.has(key)) {
          await storage.remove(key);
          removed += 1;
        }
      }
      batch = [];
    };
    for await (const object of storage.list()) {
      if (object.modifiedAt >= cutoff) continue;
      batch.push(object.key);
      if (batch.length >= ORPHAN_KEY_BATCH) await flush();
    }
    if (batch.length) await flush();
    return removed;
  }

  /** Staged tus bytes whose upload row is gone. */
  async removeOrphanStaged(): Promise<number> {
    const { db, staging } = this.deps;
    const cutoff = this.graceCutoff();
    const old = (await staging.list()).filter((f) => f.modifiedAt < cutoff).map((f) => f.id);
    let removed = 0;
    for (let i = 0; i < old.length; i += ORPHAN_KEY_BATCH) {
      const ids = old.slice(i, i + ORPHAN_KEY_BATCH);
      const known = await tusRepo.existingUploadIds(db, ids);
      for (const id of ids) {
        if (!known.has(id)) {
          await staging.remove(id);
          removed += 1;
        }
      }
    }
    return removed;
  }
}
