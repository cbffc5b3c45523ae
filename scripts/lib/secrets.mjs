// Secrets of the local mesh (`npm start`): the operator's value from the environment wins and is
// never written to .data/ (nor over what is there); otherwise the one kept in .data/<file>,
// generated on first run.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DATA_DIR, writePrivateFile } from './infra.mjs';

/** @returns {{ value: string, source: 'env' | 'file' | 'created' }} */
export function localSecret(envName, fileName, make, { env = process.env, dir = DATA_DIR } = {}) {
  const fromEnv = env[envName];
  if (fromEnv) return { value: fromEnv, source: 'env' };
  const file = path.join(dir, fileName);
  if (existsSync(file)) return { value: readFileSync(file, 'utf8').trim(), source: 'file' };
  const value = make();
  writePrivateFile(file, `${value}\n`);
  return { value, source: 'created' };
}
