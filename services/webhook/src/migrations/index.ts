import type { Migrations } from '@tollgate/common';
import * as m0001 from './0001_create_webhooks';
import * as m0002 from './0002_retention_indexes';

/** Numbered migrations, applied in name order under an advisory lock at start-up. */
export const migrations: Migrations = {
  '0001_create_webhooks': m0001,
  '0002_retention_indexes': m0002,
};
