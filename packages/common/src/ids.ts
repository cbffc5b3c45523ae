import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Random base62 string; rejection sampling keeps it unbiased. */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248) out += ALPHABET[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** Public ids look like `hold_3kT9...`: a type prefix and 24 random base62 characters. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBase62(24)}`;
}

export interface IdGenerator {
  next(prefix: string): string;
}

export const randomIds: IdGenerator = { next: newId };

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
