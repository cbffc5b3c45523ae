import { type Logger, parseOrThrow, requireScope, tenantOf } from '@tollgate/common';
import { Router, type Response } from 'express';
import type { Kysely } from 'kysely';
import type { AiDatabase } from '../db';
import {
  adminUsageReport,
  adminUsageReportQuery,
  CSV_HEADER,
  csvLine,
  pageUsageRequests,
  streamUsageRows,
  tenantUsageReport,
  usageExportQuery,
  usageReportQuery,
  usageRequestsQuery,
} from './reports';

/** Resolves when the socket can take more, or the client left. */
async function writeWithBackpressure(res: Response, chunk: string): Promise<void> {
  if (res.write(chunk) || res.destroyed) return;
  // Both listeners go once either fires (events.once would leave the loser's behind on every batch).
  await new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * Usage reports. Tenants see their own calls (scope `read`); operators see every tenant's
 * (`/v1/admin/usage`, scope `admin`). Costs are micro-credits, equal to the ledger's captures.
 */
export function usageRoutes(deps: { db: Kysely<AiDatabase>; logger: Logger; now?: () => Date }): Router {
  const { db } = deps;
  const now = () => deps.now?.() ?? new Date();
  const router = Router();

  router.get('/v1/usage', requireScope('read'), async (req, res) => {
    const q = parseOrThrow(usageReportQuery, req.query, 'query');
    res.json(await tenantUsageReport(db, tenantOf(req), q, now()));
  });

  router.get('/v1/usage/requests', requireScope('read'), async (req, res) => {
    const q = parseOrThrow(usageRequestsQuery, req.query, 'query');
    res.json(await pageUsageRequests(db, tenantOf(req), q, now()));
  });

  router.get('/v1/usage/export', requireScope('read'), async (req, res) => {
    const q = parseOrThrow(usageExportQuery, req.query, 'query');
    const tenantId = tenantOf(req);
    const gone = new AbortController();
    res.on('close', () => gone.abort());
    let started = false;
    try {
      await streamUsageRows(
        db,
        tenantId,
        q,
        now(),
        async (rows) => {
          if (!started) {
            started = true;
            res.status(200).type('text/csv; charset=utf-8').set('content-disposition', 'attachment; filename="usage.csv"');
            res.write(CSV_HEADER);
          }
          await writeWithBackpressure(res, rows.map(csvLine).join(''));
        },
        { signal: gone.signal },
      );
    } catch (err) {
      // Before the first row the usual error answer still fits; after it, the cut stream says it.
      if (!started) throw err;
      deps.logger.error('usage export failed mid-stream', { err });
      res.destroy();
      return;
    }
    if (!started)
      res.status(200).type('text/csv; charset=utf-8').set('content-disposition', 'attachment; filename="usage.csv"').write(CSV_HEADER);
    res.end();
  });

  router.get('/v1/admin/usage', requireScope('admin'), async (req, res) => {
    const q = parseOrThrow(adminUsageReportQuery, req.query, 'query');
    res.json(await adminUsageReport(db, q, now()));
  });

  return router;
}
