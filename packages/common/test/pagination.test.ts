import { Kysely, PostgresDialect } from 'kysely';
import { AppError } from '../src/errors';
import {
  afterCursor,
  decodeCursor,
  decodeSeqCursor,
  decodeTimeCursor,
  encodeCursor,
  newestFirstPage,
  timeCursorOf,
  toPage,
  toTimePage,
} from '../src/pagination';

function expectInvalid(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('VALIDATION_FAILED');
    return;
  }
  throw new Error('expected VALIDATION_FAILED');
}

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
    const page = toPage(
      rows,
      2,
      (r) => r.id,
      (r) => [r.id],
    );
    expect(page.data).toEqual([3, 2]);
    expect(decodeCursor(page.next_cursor!, 1)).toEqual([2]);
    expect(
      toPage(
        rows,
        3,
        (r) => r.id,
        (r) => [r.id],
      ).next_cursor,
    ).toBeNull();
  });
});

describe('time cursors', () => {
  it('decodes the cursors clients already hold (base64url of [ISO, id])', () => {
    // What every (created_at, id) list has handed out: encodeCursor([created_at.toISOString(), id]).
    const held = Buffer.from(JSON.stringify(['2026-03-01T10:00:00.123Z', 'img_abc']), 'utf8').toString('base64url');
    expect(decodeTimeCursor(held)).toEqual({ createdAt: new Date('2026-03-01T10:00:00.123Z'), id: 'img_abc' });
  });

  it('pages with a cursor that decodes back to the last row', () => {
    const rows = [
      { created_at: new Date('2026-01-03T00:00:00Z'), id: 'c' },
      { created_at: '2026-01-02T00:00:00.000Z', id: 'b' },
      { created_at: new Date('2026-01-01T00:00:00Z'), id: 'a' },
    ];
    const page = toTimePage(rows, 2, (r) => r.id);
    expect(page.data).toEqual(['c', 'b']);
    expect(decodeTimeCursor(page.next_cursor!)).toEqual({ createdAt: new Date('2026-01-02T00:00:00Z'), id: 'b' });
    expect(timeCursorOf(rows[0]!)).toEqual(['2026-01-03T00:00:00.000Z', 'c']);
  });

  it('answers every hostile cursor with VALIDATION_FAILED, never a 500', () => {
    const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8').toString('base64url');
    const hostile = [
      '', // empty
      '!!!not base64!!!',
      'eyJ', // truncated base64
      b64('not json'),
      b64({ created_at: '2026-01-01', id: 'x' }), // object, not a tuple
      b64(['2026-01-01T00:00:00Z']), // arity 1
      b64(['2026-01-01T00:00:00Z', 'x', 'y']), // arity 3
      b64(['not-a-date', 'x']), // invalid date
      b64(['2026-13-45T99:99:99Z', 'x']),
      b64([1e300, 'x']), // a number where the date goes
      b64(['2026-01-01T00:00:00Z', 42]), // id not a string
      b64(['2026-01-01T00:00:00Z', '']),
      b64(['2026-01-01T00:00:00Z', null]),
      b64([['nested'], 'x']),
      b64(['2026-01-01T00:00:00Z', 'x'.repeat(10_000)]), // huge
      'A'.repeat(100_000), // huge and not JSON
    ];
    for (const cursor of hostile) expectInvalid(() => decodeTimeCursor(cursor));
  });

  it('decodes integer cursors and refuses anything else', () => {
    expect(decodeSeqCursor(encodeCursor([42]))).toBe(42);
    for (const bad of [encodeCursor(['42']), encodeCursor([1.5]), encodeCursor([2 ** 60]), encodeCursor([1, 2]), 'zz!']) {
      expectInvalid(() => decodeSeqCursor(bad));
    }
  });

  it('compiles the keyset condition as one row comparison', () => {
    interface Db {
      items: { id: string; created_at: Date };
    }
    const db = new Kysely<Db>({ dialect: new PostgresDialect({ pool: {} as never }) });
    const at = new Date('2026-01-01T00:00:00Z');
    const plain = db
      .selectFrom('items')
      .selectAll()
      .where(afterCursor({ createdAt: at, id: 'x' }))
      .compile();
    expect(plain.sql).toBe('select * from "items" where ("created_at", "id") < ($1, $2)');
    expect(plain.parameters).toEqual([at, 'x']);
    const qualified = db
      .selectFrom('items')
      .selectAll()
      .where(afterCursor({ createdAt: at, id: 'x' }, 'items.created_at', 'items.id'))
      .compile();
    expect(qualified.sql).toContain('("items"."created_at", "items"."id") < ($1, $2)');
  });

  it('builds a newest-first page of limit + 1 rows, after the cursor when there is one', () => {
    interface Db {
      items: { id: string; created_at: Date };
    }
    const db = new Kysely<Db>({ dialect: new PostgresDialect({ pool: {} as never }) });
    const first = newestFirstPage(db.selectFrom('items').selectAll(), undefined, 20).compile();
    expect(first.sql).toBe('select * from "items" order by "created_at" desc, "id" desc limit $1');
    expect(first.parameters).toEqual([21]);
    const next = newestFirstPage(db.selectFrom('items').selectAll(), { createdAt: new Date(0), id: 'x' }, 20).compile();
    expect(next.sql).toBe('select * from "items" where ("created_at", "id") < ($1, $2) order by "created_at" desc, "id" desc limit $3');
  });
});
