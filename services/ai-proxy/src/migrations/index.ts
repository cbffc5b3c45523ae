import type { Migrations } from '@tollgate/common';
import * as m0001 from './0001_create_usage';
import * as m0002 from './0002_create_async_jobs';
import * as m0003 from './0003_create_pending_settlements';
import * as m0004 from './0004_async_jobs_sweep_indexes';
import * as m0007 from './0007_outbox';
import * as m0008 from './0008_usage_attribution';
import * as m0009 from './0009_usage_rollups';
import * as m0010 from './0010_async_job_budget';

/** Numbered migrations, applied in name order under an advisory lock at start-up. */
export const migrations: Migrations = {
  '0001_create_usage': m0001,
  '0002_create_async_jobs': m0002,
  '0003_create_pending_settlements': m0003,
  '0004_async_jobs_sweep_indexes': m0004,
  '0007_outbox': m0007,
  '0008_usage_attribution': m0008,
  '0009_usage_rollups': m0009,
  '0010_async_job_budget': m0010,
};
