import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { copyContext, copyInto, type Dockerfile, execForm, parseEnv, substitute } from './dockerfile';

export interface SimulatedStage {
  name: string;
  /** Where this stage's `/` lives on the host. */
  root: string;
  env: Record<string, string>;
  args: Record<string, string | undefined>;
  workdir: string;
  user?: string;
  entrypoint?: string[];
  cmd?: string[];
  healthcheck?: string[];
  /** RUN commands executed, and those left to Docker (system packages, global tools). */
  ran: string[];
  skipped: string[];
  /** Milliseconds each executed RUN took, in order. */
  runMs: number[];
}

export interface SimulateOptions {
  contextDir: string;
  workDir: string;
  buildArgs: Record<string, string>;
  /** Stages whose RUN commands are executed; the others' RUNs are recorded, not run. */
  runStages: string[];
  /** PATH for RUN commands (where pnpm and turbo of the pinned versions are). */
  path: string;
  timeoutMs?: number;
}

/**
 * Runs a Dockerfile's stages outside Docker: each stage's `/` is a directory, COPY copies
 * (honouring .dockerignore for the context), WORKDIR/ENV/ARG behave as in Docker, and RUN
 * commands of the chosen stages execute with `sh -c` in the stage's WORKDIR. RUN commands must use
 * relative paths only (checked), so nothing can touch the host outside the stage's directory.
 */
export function simulateDockerBuild(dockerfile: Dockerfile, options: SimulateOptions): Record<string, SimulatedStage> {
  const stages: Record<string, SimulatedStage> = {};
  const contextCopy = path.join(options.workDir, 'context');
  copyContext(options.contextDir, contextCopy);

  for (const stage of dockerfile.stages) {
    const from = substitute(stage.from, dockerfile.globalArgs);
    const parent = stages[from];
    if (parent && (parent.ran.length || dockerfile.stages.find((s) => s.name === from)!.instructions.some((i) => i.keyword === 'COPY'))) {
      throw new Error(`stage ${stage.name} builds on ${from}, whose files this simulation does not carry over`);
    }
    const state: SimulatedStage = {
      name: stage.name,
      root: path.join(options.workDir, 'stages', stage.name),
      env: { ...(parent?.env ?? {}) },
      args: {},
      workdir: parent?.workdir ?? '/',
      ran: [],
      skipped: [],
      runMs: [],
    };
    mkdirSync(state.root, { recursive: true });
    const host = (p: string) => path.join(state.root, p.startsWith('/') ? p : path.posix.join(state.workdir, p));
    const vars = () => ({ ...state.args, ...state.env });

    for (const ins of stage.instructions) {
      switch (ins.keyword) {
        case 'ARG': {
          const eq = ins.rest.indexOf('=');
          const name = (eq < 0 ? ins.rest : ins.rest.slice(0, eq)).trim();
          const fallback =
            eq < 0
              ? dockerfile.globalArgs[name]
              : ins.rest
                  .slice(eq + 1)
                  .trim()
                  .replace(/^"(.*)"$/, '$1');
          state.args[name] = options.buildArgs[name] ?? fallback;
          break;
        }
        case 'ENV':
          for (const [k, v] of Object.entries(parseEnv(ins.rest))) state.env[k] = substitute(v, vars());
          break;
        case 'WORKDIR':
          state.workdir = path.posix.resolve(state.workdir, substitute(ins.rest, vars()));
          mkdirSync(host(state.workdir), { recursive: true });
          break;
        case 'COPY': {
          const parts = substitute(ins.rest, vars()).split(/\s+/);
          const dest = parts.pop()!;
          const sourceRoot = ins.flags['from'] ? stages[ins.flags['from']]?.root : contextCopy;
          if (!sourceRoot) throw new Error(`COPY --from=${ins.flags['from']}: no such stage`);
          const sources = parts.map((p) => path.join(sourceRoot, p === '.' ? '' : p));
          copyInto(sources, dest.endsWith('/') || dest === '.' || dest === './' ? `${host(dest)}/` : host(dest));
          break;
        }
        case 'RUN': {
          const command = ins.rest;
          if (!options.runStages.includes(stage.name)) {
            state.skipped.push(command);
            break;
          }
          if (/(^|[\s"'=])\/(?!dev\/null)[A-Za-z]/.test(command)) throw new Error(`RUN uses an absolute path (not simulated): ${command}`);
          const cwd = host(state.workdir);
          const env = {
            ...process.env,
            ...Object.fromEntries(Object.entries(state.args).filter(([, v]) => v !== undefined)),
            ...state.env,
            PATH: options.path,
          } as Record<string, string>;
          const started = Date.now();
          const result = spawnSync('sh', ['-ec', command], {
            cwd,
            env,
            encoding: 'utf8',
            timeout: options.timeoutMs ?? 180_000,
            maxBuffer: 32 * 1024 * 1024,
          });
          if (result.status !== 0)
            throw new Error(`RUN ${command}\nexit ${result.status ?? result.signal}\n${(result.stdout + result.stderr).slice(-4000)}`);
          state.ran.push(command);
          state.runMs.push(Date.now() - started);
          break;
        }
        case 'USER':
          state.user = ins.rest;
          break;
        case 'ENTRYPOINT':
          state.entrypoint = execForm(ins.rest);
          break;
        case 'CMD':
          state.cmd = execForm(ins.rest);
          break;
        case 'HEALTHCHECK': {
          const cmd = /\bCMD\s+(\[.*\])$/.exec(ins.rest);
          state.healthcheck = cmd ? execForm(cmd[1]!) : undefined;
          break;
        }
        case 'EXPOSE':
        case 'LABEL':
          break;
        default:
          throw new Error(`instruction not simulated: ${ins.keyword}`);
      }
    }
    if (!existsSync(state.root)) mkdirSync(state.root, { recursive: true });
    stages[stage.name] = state;
  }
  return stages;
}
