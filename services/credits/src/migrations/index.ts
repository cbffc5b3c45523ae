import type { Migrations } from '@tollgate/common';
import * as m0001 from './0001_create_ledger';
import * as m0002 from './0002_bounded_debt';
import * as m0003 from './0003_ledger_batch_function';
import * as m0004 from './0004_outbox_prune_index';
import * as m0005 from './0005_key_budgets';

/** Numbered migrations, applied in name order under an advisory lock at start-up. */
export const migrations: Migrations = {
  '0001_create_ledger': m0001,
  '0002_bounded_debt': m0002,
  '0003_ledger_batch_function': m0003,
  '0004_outbox_prune_index': m0004,
  '0005_key_budgets': m0005,
};
