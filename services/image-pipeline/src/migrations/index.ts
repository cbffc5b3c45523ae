import type { Migrations } from '@tollgate/common';
import * as m0001 from './0001_create_images';
import * as m0002 from './0002_outbox';

/** Numbered migrations, applied in name order under an advisory lock at start-up. */
export const migrations: Migrations = {
  '0001_create_images': m0001,
  '0002_outbox': m0002,
};
