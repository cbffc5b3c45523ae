import { createInternalApi, type Service } from '@tollgate/common';
import { accountRoutes } from './accounts/routes';
import type { CreditsDeps } from './deps';
import { holdRoutes } from './holds/routes';
import { openapiDocument } from './openapi';
import { reconcileRoutes } from './reconcile/routes';
import { transactionRoutes } from './transactions/routes';

/** What the routes use: tests build the ledger with buildLedger and pass it in. */
export type AppDeps = Pick<CreditsDeps, 'config' | 'logger' | 'metrics' | 'ledger'> & Partial<Pick<CreditsDeps, 'readiness'>>;

/** The credits API: routes only; the maintenance loop is in workers.ts. */
export function createApp(deps: AppDeps): Service {
  const { ledger } = deps;
  return createInternalApi({
    name: 'credits',
    config: deps.config,
    logger: deps.logger,
    metrics: deps.metrics,
    ...(deps.readiness ? { readiness: deps.readiness } : {}),
    openapi: () => openapiDocument,
    // Holds first: every billed call makes two of them, so they should not be matched against
    // the other routers' paths on the way (no path is shared, so the order changes nothing else).
    routers: [holdRoutes(ledger), accountRoutes(ledger), transactionRoutes(ledger), reconcileRoutes(ledger)],
  });
}
