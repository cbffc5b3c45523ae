import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface Instruction {
  keyword: string;
  /** Everything after the keyword, continuations joined. */
  args: string;
  /** `--name=value` flags at the start of args (COPY --from, RUN --mount, ...). */
  flags: Record<string, string>;
  /** args without the flags. */
  rest: string;
}

export interface Stage {
  from: string;
  name: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Record<string, string | undefined>;
  stages: Stage[];
}

/** A Dockerfile parser for the syntax deploy/Dockerfile uses (no heredocs, no ONBUILD). */
export function parseDockerfile(text: string): Dockerfile {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (current === '' && /^\s*#/.test(line)) continue; // comments and parser directives
    if (current !== '' && /^\s*#/.test(line)) continue; // comment lines inside a continuation
    if (/\\\s*$/.test(line)) {
      current += line.replace(/\\\s*$/, ' ');
      continue;
    }
    current += line;
    if (current.trim()) logical.push(current.trim());
    current = '';
  }
  if (current.trim()) logical.push(current.trim());

  const result: Dockerfile = { globalArgs: {}, stages: [] };
  for (const line of logical) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const flags: Record<string, string> = {};
    let rest = args;
    for (;;) {
      const flag = /^--([a-z-]+)=(\S+)\s*/.exec(rest);
      if (!flag) break;
      flags[flag[1]!] = flag[2]!;
      rest = rest.slice(flag[0].length);
    }
    const instruction: Instruction = { keyword: keyword.toUpperCase(), args, flags, rest };
    if (instruction.keyword === 'FROM') {
      const [, from = '', name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest) ?? [];
      result.stages.push({ from, name: name ?? String(result.stages.length), instructions: [] });
    } else if (result.stages.length === 0) {
      if (instruction.keyword !== 'ARG') throw new Error(`${instruction.keyword} before FROM`);
      const [name, value] = splitArg(rest);
      result.globalArgs[name] = value;
    } else {
      result.stages.at(-1)!.instructions.push(instruction);
    }
  }
  return result;
}

function splitArg(text: string): [string, string | undefined] {
  const eq = text.indexOf('=');
  return eq < 0 ? [text.trim(), undefined] : [text.slice(0, eq).trim(), unquote(text.slice(eq + 1).trim())];
}

function unquote(value: string): string {
  return /^".*"$/.test(value) || /^'.*'$/.test(value) ? value.slice(1, -1) : value;
}

/** `${NAME}` / `$NAME` substitution as Docker does in FROM, COPY, WORKDIR, ENV and ARG. */
export function substitute(text: string, vars: Record<string, string | undefined>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, a?: string, b?: string) => vars[(a ?? b)!] ?? '');
}

/** ENV's `KEY=value KEY2="value 2"` form. */
export function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const match of text.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/g)) env[match[1]!] = unquote(match[2]!);
  return env;
}

/** The exec form `["a", "b"]` of CMD/ENTRYPOINT/HEALTHCHECK CMD. */
export function execForm(text: string): string[] {
  const parsed: unknown = JSON.parse(text);
  if (!Array.isArray(parsed) || !parsed.every((p) => typeof p === 'string')) throw new Error(`not exec form: ${text}`);
  return parsed;
}

/**
 * .dockerignore matching (moby's patternmatcher): `*`, `?`, `**`, a leading `!` re-includes,
 * the last matching pattern wins, and excluding a directory excludes everything under it.
 */
export function dockerignoreMatcher(text: string): (relativePath: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = path.posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, '')).replace(/\/+$/, '');
      const source = pattern
        .split(/(\*\*\/|\*\*|\*|\?)/)
        .map((part) =>
          part === '**/'
            ? '(?:.*/)?'
            : part === '**'
              ? '.*'
              : part === '*'
                ? '[^/]*'
                : part === '?'
                  ? '[^/]'
                  : part.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
        )
        .join('');
      return { negate, regex: new RegExp(`^${source}$`) };
    });
  return (relativePath) => {
    const parts = relativePath.split('/');
    let excluded = false;
    for (const rule of rules) {
      for (let i = 1; i <= parts.length; i++) {
        if (rule.regex.test(parts.slice(0, i).join('/'))) {
          excluded = !rule.negate;
          break;
        }
      }
    }
    return excluded;
  };
}

/** Copies the build context as `docker build` would send it: everything .dockerignore keeps. */
export function copyContext(contextDir: string, target: string): string[] {
  const ignored = dockerignoreMatcher(
    existsSync(path.join(contextDir, '.dockerignore')) ? readFileSync(path.join(contextDir, '.dockerignore'), 'utf8') : '',
  );
  const sent: string[] = [];
  const walk = (relative: string) => {
    for (const entry of readdirSync(path.join(contextDir, relative), { withFileTypes: true })) {
      const rel = relative ? `${relative}/${entry.name}` : entry.name;
      if (ignored(rel)) continue;
      if (entry.isDirectory()) {
        mkdirSync(path.join(target, rel), { recursive: true });
        walk(rel);
      } else {
        cpSync(path.join(contextDir, rel), path.join(target, rel), { verbatimSymlinks: true });
        sent.push(rel);
      }
    }
  };
  mkdirSync(target, { recursive: true });
  walk('');
  return sent;
}

/** COPY semantics: a directory source copies its contents; a file into `dest/` keeps its name. */
export function copyInto(sources: string[], dest: string): void {
  const intoDir = dest.endsWith('/') || sources.length > 1;
  for (const source of sources) {
    if (!existsSync(source)) throw new Error(`COPY source missing: ${source}`);
    if (lstatSync(source).isDirectory()) {
      cpSync(source, dest, { recursive: true, verbatimSymlinks: true });
    } else {
      const target = intoDir ? path.join(dest, path.basename(source)) : dest;
      mkdirSync(path.dirname(target), { recursive: true });
      cpSync(source, target, { verbatimSymlinks: true });
    }
  }
}
