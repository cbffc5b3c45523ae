import type { Migrations } from '@tollgate/common';
import * as m0001 from './0001_create_images';

/** Numbered migrations, applied in name order under an advisory lock at start-up. */
export const migrations: Migrations = {
  '0001_create_images': m0001,
};
