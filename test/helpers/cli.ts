/**
 * Running the built `rb` (dist/cli.js) as a user would: a child process in a given directory,
 * stdin closed (not a TTY), returning exit code and output. `npm test` builds dist first.
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const RB = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface RbResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const baseEnv = (): NodeJS.ProcessEnv => {
  const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
  delete env.GIT_DIR;
  delete env.GIT_WORK_TREE;
  delete env.GIT_INDEX_FILE;
  return env;
};

/** Run rb synchronously (stdin closed). */
export function rb(cwd: string, args: string[], env: Record<string, string | undefined> = {}): RbResult {
  const r = spawnSync(process.execPath, [RB, ...args], { cwd, env: { ...baseEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Start rb without waiting (for concurrency, SIGINT and SIGKILL tests). */
export function rbSpawn(cwd: string, args: string[], env: Record<string, string | undefined> = {}) {
  const child = spawn(process.execPath, [RB, ...args], { cwd, env: { ...baseEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<RbResult>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done, output: () => ({ stdout, stderr }) };
}

/** Wait until a condition holds (bounded). */
export async function waitFor(cond: () => boolean, timeoutMs = 30_000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
