import { spawnSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });

/**
 * docs/openapi.json and docs/api.md are generated from the services' zod schemas (npm run
 * openapi); a commit that changes a route but not them fails here. npm test builds first, and
 * the export reads the builds.
 */
describe('the public API document', () => {
  it('docs/openapi.json and docs/api.md are what the code generates', () => {
    const result = run(['scripts/openapi-export.mjs', '--check']);
    expect(`${result.stdout}${result.stderr}`.trim()).toBe('');
    expect(result.status).toBe(0);
  });

  it('passes Redocly lint (redocly.yaml) with no error and no warning', () => {
    const cli = path.join(ROOT, 'node_modules/@redocly/cli/bin/cli.js');
    const result = run([cli, 'lint', 'docs/openapi.json', '--format=summary'], {
      REDOCLY_TELEMETRY: 'off',
      REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
    });
    const output = `${result.stdout}${result.stderr}`;
    expect(output).toContain('Woohoo! Your API description is valid');
    expect(output).not.toMatch(/warning/i);
    expect(result.status).toBe(0);
  });
});
