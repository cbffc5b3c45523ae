import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** `npm start`'s secrets (scripts/lib/secrets.mjs, an ES module, so run in a child node). */
const LIB = path.resolve(__dirname, '../../lib/secrets.mjs');

function localSecret(envName: string, fileName: string, env: Record<string, string>, dir: string): { value: string; source: string } {
  const code = `import(${JSON.stringify(LIB)}).then(({ localSecret }) => {
    const r = localSecret(${JSON.stringify(envName)}, ${JSON.stringify(fileName)}, () => 'generated-value', { env: process.env, dir: ${JSON.stringify(dir)} });
    process.stdout.write(JSON.stringify(r));
  })`;
  const run = spawnSync(process.execPath, ['-e', code], { env: { PATH: process.env['PATH'] ?? '', ...env }, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(run.stderr);
  return JSON.parse(run.stdout) as { value: string; source: string };
}

describe("npm start's local secrets", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-start-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("an operator's ADMIN_TOKEN / INTERNAL_JWT_SECRET win over .data/ and are never written there", () => {
    writeFileSync(path.join(dir, 'admin-token'), 'kept-in-data\n');
    expect(localSecret('ADMIN_TOKEN', 'admin-token', { ADMIN_TOKEN: 'from-the-operator' }, dir)).toEqual({ value: 'from-the-operator', source: 'env' });
    expect(readFileSync(path.join(dir, 'admin-token'), 'utf8')).toBe('kept-in-data\n');
    expect(localSecret('INTERNAL_JWT_SECRET', 'internal-jwt-secret', { INTERNAL_JWT_SECRET: 'operator-secret' }, dir)).toEqual({ value: 'operator-secret', source: 'env' });
    expect(existsSync(path.join(dir, 'internal-jwt-secret'))).toBe(false);
  });

  it('without one, the value is generated once into .data/ and reused', () => {
    expect(localSecret('ADMIN_TOKEN', 'admin-token', {}, dir)).toEqual({ value: 'generated-value', source: 'created' });
    writeFileSync(path.join(dir, 'admin-token'), 'kept-in-data\n');
    expect(localSecret('ADMIN_TOKEN', 'admin-token', {}, dir)).toEqual({ value: 'kept-in-data', source: 'file' });
  });
});
