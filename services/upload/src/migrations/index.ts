import type { Migrations } from '@tollgate/common';
import * as m0001 from './0001_create_files';
import * as m0002 from './0002_common_outbox';

/** Numbered migrations, applied in name order under an advisory lock at start-up. */
export const migrations: Migrations = {
  '0001_create_files': m0001,
  '0002_common_outbox': m0002,
};
