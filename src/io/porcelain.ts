/**
 * simple-git, for the porcelain listings it parses well — status, log, branch and tag lists —
 * where rb reads them for messages and reports (rb check's dirty-path list, rb analyze's commit
 * lines and refs listing). Configured like every git call rb makes (./git.ts): rb's hardening
 * `-c` flags, the scrubbed C-locale environment with prompts off, no optional locks.
 *
 * Never on the start-up or snapshot paths: importing simple-git costs about 100 ms, and the
 * snapshot needs binary output and a temporary GIT_INDEX_FILE, which simple-git refuses
 * (docs/dependencies.md has the measurements). Import this module lazily.
 *
 * simple-git 4 guards against dangerous configuration and environment, for programs that pass
 * untrusted input to git. rb's argv is its own, and its environment is the user's as git itself
 * would see it (GIT_CONFIG_GLOBAL, GIT_EXEC_PATH — set by git when rb runs as `git rb` —,
 * EDITOR, PAGER, …) plus rb's hardening (core.hooksPath=/dev/null, inert editor, pager, askpass
 * and ssh prompts): the guards for exactly those are relaxed, here only.
 */
import { simpleGit, type SimpleGit } from 'simple-git';
import { HARDENING, currentFileSystemFlags, gitEnv } from './git.js';

/** The values of `-c key=value` pairs, as simple-git's `config` option takes them. */
const configValues = (flags: readonly string[]): string[] => flags.filter((_, i) => i % 2 === 1);
/** Their keys: simple-git 4.1 warns on stderr about configuration keys not in `allowConfig`. */
const configKeys = (values: readonly string[]): string[] => values.map((kv) => kv.slice(0, kv.indexOf('=')));

/** A simple-git client for read-only porcelain in `root`. */
export function porcelain(root: string, opts: { timeoutMs?: number } = {}): SimpleGit {
  const env = gitEnv({ readOnly: true });
  // rb's hardening and what the file system is (./git.ts setFileSystemFlags)
  const config = configValues([...HARDENING, ...currentFileSystemFlags()]);
  return simpleGit({
    baseDir: root,
    config,
    allowConfig: configKeys(config),
    maxConcurrentProcesses: 4,
    trimmed: false,
    ...(opts.timeoutMs ? { timeout: { block: opts.timeoutMs } } : {}),
    // rb's own environment (./git.ts gitEnv): its GIT_* and prompt/pager settings are deliberate
    allowEnvironment: Object.keys(env),
    unsafe: {
      allowUnsafeHooksPath: true, // rb's own -c core.hooksPath=/dev/null
      // the environment git would see anyway
      allowUnsafeEditor: true, allowUnsafeAskPass: true, allowUnsafeSshCommand: true, allowUnsafePager: true,
      allowUnsafeConfigPaths: true, allowUnsafeExec: true, allowUnsafeDiffExternal: true, allowUnsafeGitProxy: true, allowUnsafeTemplateDir: true,
    },
  }).env(env);
}
