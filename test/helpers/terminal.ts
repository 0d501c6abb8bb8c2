/**
 * The built rb on a real pseudo-terminal made by script(1) (util-linux), whose size `stty` sets;
 * without a size it reports 0 columns, as `docker run -t` and some CI runners do.
 * rbOnTerminal runs a command to its end; rbTyping answers its prompts key by key, each once
 * what it waits for is on the screen.
 */
import { spawn, spawnSync } from 'node:child_process';
import { RB } from './cli.js';
import { testEnv } from './repo.js';

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
/** CI variables std-env reads, removed so that a test decides which one is set. */
export const NO_CI = Object.fromEntries(['CI', 'GITHUB_ACTIONS', 'GITLAB_CI', 'BUILDKITE', 'CIRCLECI', 'TRAVIS', 'JENKINS_URL', 'TF_BUILD', 'BUILD_ID', 'RUN_ID', 'CONTINUOUS_INTEGRATION', 'TEAMCITY_VERSION'].map((k) => [k, undefined]));

const scriptArgs = (args: string[], cols: number) => ['-qec', `${cols > 0 ? `stty cols ${cols} rows 40; ` : ''}exec ${q(process.execPath)} ${q(RB)} ${args.map(q).join(' ')}`, '/dev/null'];

/** Run rb on a pseudo-terminal of `cols` columns (0: one that reports no size). */
export function rbOnTerminal(cwd: string, args: string[], cols: number, env: Record<string, string | undefined> = {}): { code: number | null; out: string } {
  const r = spawnSync('script', scriptArgs(args, cols), {
    cwd,
    env: testEnv({ ...NO_CI, NO_COLOR: '1', TERM: 'xterm-256color', ...env }),
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, out: (r.stdout ?? '').replace(/\r\n/g, '\n') };
}

/** One answer: once `after` matches what appeared since the previous answer, type `keys`. */
export interface Keystroke {
  after: RegExp;
  keys: string;
}

/** Keys as a terminal sends them. */
export const KEY = { down: '\x1b[B', up: '\x1b[A', enter: '\r', ctrlC: '\x03' } as const;

/** Screen output without colours and cursor movements, for matching text. */
export const plain = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');

/** Run rb on a 120-column pseudo-terminal and type `keys` as their prompts appear. */
export function rbTyping(cwd: string, args: string[], keys: Keystroke[], env: Record<string, string | undefined> = {}): Promise<{ code: number | null; out: string; typed: number }> {
  const child = spawn('script', scriptArgs(args, 120), { cwd, env: testEnv({ ...NO_CI, NO_COLOR: '1', TERM: 'xterm-256color', ...env }), stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let from = 0;
  let typed = 0;
  const onData = (d: Buffer) => {
    out += d.toString('utf8');
    const next = keys[typed];
    if (!next) return;
    const seen = plain(out.slice(from));
    if (next.after.test(seen)) {
      from = out.length;
      typed++;
      // a moment for the prompt to finish drawing and switch the terminal to raw mode
      setTimeout(() => child.stdin.write(next.keys), 150);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out: plain(out), typed });
    }),
  );
}
