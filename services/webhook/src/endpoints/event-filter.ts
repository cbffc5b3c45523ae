import { EVENT_TYPES } from '@tollgate/common';

/** `*`, an exact type (`image.approved`) or a prefix wildcard (`image.*`, matching every deeper level). */
export const EVENT_PATTERN = /^(\*|[a-z_]+(\.[a-z_]+)*(\.\*)?)$/;

export function matchesEventType(pattern: string, type: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return type.startsWith(pattern.slice(0, -1));
  return pattern === type;
}

export function matchesAny(patterns: readonly string[], type: string): boolean {
  return patterns.some((p) => matchesEventType(p, type));
}

/** Patterns that can never match a known event type (likely typos), for a helpful 400. */
export function unknownPatterns(patterns: readonly string[]): string[] {
  return patterns.filter((p) => !EVENT_TYPES.some((t) => matchesEventType(p, t)));
}
