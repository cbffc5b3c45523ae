import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { randomBase62 } from '@tollgate/common';

/**
 * API key format: `tg_` + 32 random base62 characters + a 6-character base62 CRC-32 of them.
 * The checksum lets secret scanners (and this gateway) recognise a Tollgate key, and lets
 * mistyped or made-up keys be refused without a database lookup.
 */
export const KEY_PREFIX = 'tg_';
const RANDOM_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
const VISIBLE_LENGTH = KEY_PREFIX.length + 8;
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const KEY_SHAPE = new RegExp(`^${KEY_PREFIX}[0-9A-Za-z]{${RANDOM_LENGTH + CHECKSUM_LENGTH}}$`);

function base62Fixed(value: number, length: number): string {
  let out = '';
  let n = value;
  for (let i = 0; i < length; i++) {
    out = ALPHABET[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

function checksumOf(random: string): string {
  return base62Fixed(crc32(random), CHECKSUM_LENGTH);
}

export interface GeneratedKey {
  /** Shown to the caller once, never stored. */
  key: string;
  hash: string;
  prefix: string;
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function generateKey(): GeneratedKey {
  const random = randomBase62(RANDOM_LENGTH);
  const key = `${KEY_PREFIX}${random}${checksumOf(random)}`;
  return { key, hash: hashKey(key), prefix: key.slice(0, VISIBLE_LENGTH) };
}

/** Well-formed with a matching checksum; says nothing about whether the key exists. */
export function isWellFormedKey(candidate: string): boolean {
  if (!KEY_SHAPE.test(candidate)) return false;
  const body = candidate.slice(KEY_PREFIX.length);
  return checksumOf(body.slice(0, RANDOM_LENGTH)) === body.slice(RANDOM_LENGTH);
}

export const looksLikeApiKey = (token: string) => token.startsWith(KEY_PREFIX);
