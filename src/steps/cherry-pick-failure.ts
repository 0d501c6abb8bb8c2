/**
 * What stopped a `git cherry-pick`, read from git's state after it failed, not guessed from its
 * exit code: each kind has its own message and its own next step.
 *
 *   conflict     unmerged paths in the index
 *   empty        a pick in progress (CHERRY_PICK_HEAD) with nothing staged: its changes are
 *                already on the branch (git.cherry-pick normally skips these itself)
 *   hook         the changes applied and are staged, and a hook refused the commit (cherry-pick
 *                runs prepare-commit-msg), or a reference-transaction hook refused to move the
 *                branch after the commit was written (no pick in progress then, changes staged)
 *   signing      the changes applied and are staged, and the commit could not be signed
 *                (commit.gpgSign is on, or git says so)
 *   commit       the changes applied and are staged, and git could not write the commit for
 *                another reason (its own words are quoted)
 *   not-started  nothing in progress, nothing staged: git refused to start (an untracked file or
 *                a local change in the way); trying the same commit again is safe
 *
 * git runs with LC_ALL=C (io/git.ts), so its words are stable English.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { git } from '../io/git.js';
import type { Repo } from '../repo.js';
import { unmergedPaths } from './git-common.js';

export type PickFailureKind = 'conflict' | 'empty' | 'hook' | 'signing' | 'commit' | 'not-started';

export interface PickFailure {
  kind: PickFailureKind;
  /** a pick is still in progress or its changes are staged: `rb recover --continue` must not pick it again */
  stopped: boolean;
  /** conflicted paths (conflict) */
  files: string[];
  /** the hook that refused (hook) */
  hook?: string;
  /** git's own last lines, for the message */
  gitSays: string;
  /** one sentence: what failed */
  what: string;
  /** what to run next */
  next: string;
}

const CONTINUE = '`git cherry-pick --continue`, then `rb recover --continue`';
const ABORT = 'or `rb recover --abort` to put everything back';

/** git's error lines (error:/fatal:/hook output), without the generic "cherry-pick failed" and hints. */
function gitLines(out: string, n = 4): string {
  const lines = out.split('\n').map((l) => l.trim()).filter((l) => l && !/^hint:/.test(l) && !/^fatal: cherry-pick failed$/.test(l));
  return lines.slice(-n).join(' | ');
}

async function signingOn(repo: Repo): Promise<boolean> {
  const r = await git(['config', '--bool', 'commit.gpgSign'], { cwd: repo.root, hardened: false, allowFail: true, readOnly: true });
  return r.stdout.trim() === 'true';
}

async function stagedChanges(repo: Repo): Promise<boolean> {
  const r = await git(['diff', '--cached', '--quiet'], { cwd: repo.root, allowFail: true, readOnly: true });
  return r.code === 1;
}

/**
 * Explain a failed `git cherry-pick <commit>` from the repository's state and git's output.
 * @param output git's stdout + stderr of the failed pick
 */
export async function explainPickFailure(repo: Repo, commit: string, output: string): Promise<PickFailure> {
  const short = commit.slice(0, 12);
  const files = await unmergedPaths(repo);
  const inProgress = existsSync(join(repo.gitDir, 'CHERRY_PICK_HEAD'));
  const gitSays = gitLines(output);
  if (files.length) {
    return {
      kind: 'conflict', stopped: true, files, gitSays,
      what: `stopped with conflicts in: ${files.join(', ')}`,
      next: `Resolve them, \`git add\` the files and run ${CONTINUE}; ${ABORT}.`,
    };
  }
  const staged = await stagedChanges(repo);
  const hook = /'([\w.-]+)' hook failed/.exec(output)?.[1] ?? (/ref updates aborted by hook/.test(output) ? 'reference-transaction' : undefined);
  if (inProgress && !staged) {
    return {
      kind: 'empty', stopped: true, files, gitSays,
      what: 'is empty: its changes are already on the branch',
      next: `Leave it out with \`git cherry-pick --skip\`, then \`rb recover --continue\`; ${ABORT}.`,
    };
  }
  if (inProgress) {
    if (hook) {
      return {
        kind: 'hook', stopped: true, files, hook, gitSays,
        what: `applied cleanly, but your ${hook} hook refused the commit (${gitSays})`,
        next: `Fix what the hook reports (the changes are staged), then run ${CONTINUE}; ${ABORT}.`,
      };
    }
    if (/sign/i.test(output) || (await signingOn(repo))) {
      return {
        kind: 'signing', stopped: true, files, gitSays,
        what: `applied cleanly, but the commit could not be signed (commit.gpgSign is on): ${gitSays}`,
        next: `Fix commit signing (see \`git config gpg.program\`, \`gpg.format\` and \`user.signingkey\`), then run ${CONTINUE}; ` +
          `to commit this pick unsigned instead: \`git -c commit.gpgSign=false cherry-pick --continue\`, then \`rb recover --continue\`; ${ABORT}.`,
      };
    }
    return {
      kind: 'commit', stopped: true, files, gitSays,
      what: `applied cleanly, but git could not write the commit: ${gitSays}`,
      next: `Fix what git reports (the changes are staged), then run ${CONTINUE}; ${ABORT}.`,
    };
  }
  if (staged && hook) {
    // the commit object was written, the branch was not moved: the pick's changes sit staged
    return {
      kind: 'hook', stopped: true, files, hook, gitSays,
      what: `was committed, but your ${hook} hook refused to move the branch (${gitSays}); its changes are left staged`,
      next: `Fix the hook, then commit the staged changes with \`git commit -C ${short}\` and run \`rb recover --continue\`; ${ABORT}.`,
    };
  }
  return {
    kind: 'not-started', stopped: false, files, gitSays,
    what: `did not start: ${gitSays}`,
    next: `Do what git asks (move or remove the files it names, or commit or stash your changes), then \`rb recover --continue\` tries this commit again; ${ABORT}.`,
  };
}
