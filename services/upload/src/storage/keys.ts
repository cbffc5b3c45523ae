import { randomBase62 } from '@tollgate/common';

const KEY_PATTERN = /^[A-Za-z0-9]{32}$/;

/** Storage keys are random and unrelated to names, tenants or ids. */
export const newStorageKey = (): string => randomBase62(32);

export function assertStorageKey(key: string): string {
  if (!KEY_PATTERN.test(key)) throw new Error('invalid storage key');
  return key;
}
