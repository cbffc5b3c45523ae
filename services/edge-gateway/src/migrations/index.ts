import type { Migrations } from '@tollgate/common';
import * as m0001 from './0001_create_tenants_and_api_keys';
import * as m0002 from './0002_key_policy_and_rotation';
import * as m0003 from './0003_create_audit_log';
import * as m0004 from './0004_key_budget';

/** Numbered migrations, applied in name order under an advisory lock at start-up. */
export const migrations: Migrations = {
  '0001_create_tenants_and_api_keys': m0001,
  '0002_key_policy_and_rotation': m0002,
  '0003_create_audit_log': m0003,
  '0004_key_budget': m0004,
};
