import type { Migrations } from '@tollgate/common';

/** Numbered migrations, applied in name order under an advisory lock at start-up. */
export const migrations: Migrations = {};
