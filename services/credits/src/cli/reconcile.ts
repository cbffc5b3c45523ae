import { ConfigError, createDb, parseConfig } from '@tollgate/common';
import { configSchema } from '../config';
import { reconcile } from '../reconcile/service';

/**
 * `pnpm --filter @tollgate/credits reconcile`: checks the ledger in the database named by
 * DATABASE_URL / DB_SCHEMA and prints the report as JSON. Exit code 0: it reconciles;
 * 1: a mismatch (the report names the first one); 2: the check could not run.
 */
export async function runReconcileCli(
  env: Record<string, string | undefined>,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  let config;
  try {
    config = parseConfig(configSchema, env);
  } catch (e) {
    if (e instanceof ConfigError) {
      err.write(`${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const db = createDb<any>({
    connectionString: config.DATABASE_URL,
    schema: config.DB_SCHEMA,
    poolMax: 1,
    applicationName: 'credits-reconcile',
    statementTimeoutMs: 600_000,
  });
  try {
    const report = await reconcile(db);
    out.write(`${JSON.stringify(report, null, 2)}\n`);
    if (!report.ok) err.write(`ledger does NOT reconcile: ${report.mismatch?.check} (see report)\n`);
    return report.ok ? 0 : 1;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    err.write(`reconcile failed: ${message}\n`);
    return 2;
  } finally {
    await db.destroy();
  }
}

if (require.main === module) {
  void runReconcileCli(process.env, process.stdout, process.stderr).then((code) => {
    process.exitCode = code;
  });
}
