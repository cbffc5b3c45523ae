import type { Migrations } from '@tollgate/common';
import * as m0001 from './0001_create_usage';
import * as m0002 from './0002_create_async_jobs';
import * as m0003 from './0003_create_pending_settlements';
import * as m0004 from './0004_async_jobs_sweep_indexes';
import * as m0005 from './0005_usage_attribution';
import * as m0006 from './0006_usage_rollups';

/** Numbered migrations, applied in name order under an advisory lock at start-up. */
export const migrations: Migrations = {
  '0001_create_usage': m0001,
  '0002_create_async_jobs': m0002,
  '0003_create_pending_settlements': m0003,
  '0004_async_jobs_sweep_indexes': m0004,
  '0005_usage_attribution': m0005,
  '0006_usage_rollups': m0006,
};
