/** `rb run <playbook>` and `rb plan <playbook>`: thin — options to a RunRequest, then the engine. */
import { execute, planOnly } from '../engine/execute.js';

export interface RunOptions {
  set?: string[];
  dryRun?: boolean;
  yes?: boolean;
  json?: boolean;
  reason?: string;
  cause?: string;
  force?: boolean;
  to?: string;
  skipUnwritable?: boolean;
}

function globalCwd(cmd: { parent?: { opts(): { cwd?: string } } | null }): string | undefined {
  return cmd.parent?.opts().cwd;
}

export async function runCommand(name: string, opts: RunOptions, cmd: any): Promise<number> {
  const r = await execute({
    playbook: name,
    sets: opts.set,
    cwd: globalCwd(cmd),
    dryRun: opts.dryRun,
    yes: opts.yes,
    json: opts.json,
    reason: opts.reason,
    cause: opts.cause,
    force: opts.force,
    to: opts.to,
    skipUnwritable: opts.skipUnwritable,
    command: `rb run ${name}`,
  });
  return r.code;
}

export async function planCommand(name: string, opts: RunOptions, cmd: any): Promise<number> {
  const r = await planOnly({ playbook: name, sets: opts.set, cwd: globalCwd(cmd), json: opts.json, to: opts.to, command: `rb plan ${name}` });
  return r.code;
}
