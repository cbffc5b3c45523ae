import { AppError } from '../src/errors';
import { decodeCursor, encodeCursor, toPage } from '../src/pagination';

describe('cursor pagination', () => {
  it('round-trips an opaque cursor', () => {
    const cursor = encodeCursor(['2026-01-01T00:00:00.000Z', 'txn_1']);
    expect(cursor).not.toContain('txn_1');
    expect(decodeCursor(cursor, 2)).toEqual(['2026-01-01T00:00:00.000Z', 'txn_1']);
  });

  it('answers a malformed cursor with VALIDATION_FAILED', () => {
    for (const bad of ['%%%', encodeCursor(['only-one']), Buffer.from('{"a":1}').toString('base64url')]) {
      expect(() => decodeCursor(bad, 2)).toThrow(AppError);
    }
  });

  it('builds a page from limit + 1 rows', () => {
    const rows = [{ id: 3 }, { id: 2 }, { id: 1 }];
    const page = toPage(rows, 2, (r) => r.id, (r) => [r.id]);
    expect(page.data).toEqual([3, 2]);
    expect(decodeCursor(page.next_cursor!, 1)).toEqual([2]);
    expect(toPage(rows, 3, (r) => r.id, (r) => [r.id]).next_cursor).toBeNull();
  });
});
