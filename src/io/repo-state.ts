/**
 * Questions a command asks many times — which branch HEAD is on, its commit, where every branch,
 * tag and remote-tracking branch points — answered once per repository generation: inside a
 * command's scope (./run-scope.ts) an answer is kept until rb starts a command that may change
 * the repository (a git command that is not read-only, or any other command: ./git.ts
 * repoGeneration). Outside a scope every call asks git.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { git, identityFromConfig, parseConfigZ, repoGeneration } from './git.js';
import { currentScope } from './run-scope.js';

/** `ask()`, or the answer it gave under the same key since the repository last may have changed. */
export function memoized<T>(key: string, ask: () => Promise<T>): Promise<T> {
  const scope = currentScope();
  if (!scope) return ask();
  const generation = repoGeneration();
  const hit = scope.memo.get(key);
  if (hit && hit.generation === generation) return hit.value as Promise<T>;
  const value = ask();
  scope.memo.set(key, { generation, value });
  value.catch(() => {
    if (scope.memo.get(key)?.value === value) scope.memo.delete(key);
  });
  return value;
}

/**
 * `git for-each-ref --format='%(objectname) %(refname)' refs/heads refs/remotes refs/tags`, as
 * bytes (the snapshot stores them as meta/refs) — one line per ref, sorted by name.
 */
export function refListing(root: string): Promise<Buffer> {
  return memoized(`refs ${root}`, async () =>
    (await git(['for-each-ref', '--format=%(objectname) %(refname)', 'refs/heads', 'refs/remotes', 'refs/tags'], { cwd: root, readOnly: true, binary: true })).stdoutBuf);
}

/** Positions of every branch, tag and remote-tracking branch: ref -> oid. */
export async function refPositions(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const line of (await refListing(root)).toString('utf8').split('\n')) {
    const i = line.indexOf(' ');
    if (i > 0) out[line.slice(i + 1)] = line.slice(0, i);
  }
  return out;
}

/**
 * The ref HEAD points at (refs/heads/x), or null when detached, read from `<git dir>/HEAD` as
 * git does; anything unusual there (a reftable repository's placeholder, a symlink) is left to
 * `git symbolic-ref`.
 */
export async function headRef(root: string, gitDir: string): Promise<string | null> {
  try {
    const t = (await readFile(join(gitDir, 'HEAD'), 'utf8')).trim();
    const m = /^ref: (refs\/\S+)$/.exec(t);
    if (m && m[1] !== 'refs/heads/.invalid') return m[1]!;
    if (/^([0-9a-f]{40}|[0-9a-f]{64})$/.test(t)) return null;
  } catch { /* ask git */ }
  const r = await git(['symbolic-ref', '-q', 'HEAD'], { cwd: root, allowFail: true, readOnly: true });
  return r.code === 0 ? r.stdout.trim() || null : null;
}

/**
 * Where HEAD is: the branch ref it is on (null when detached) and its commit (null on an unborn
 * branch). A branch's commit comes from the ref listing (absent there: unborn); a detached HEAD,
 * or a ref outside refs/heads, is asked of rev-parse.
 */
export function headState(repo: { root: string; gitDir: string }): Promise<{ ref: string | null; oid: string | null }> {
  return memoized(`head ${repo.root}`, async () => {
    const ref = await headRef(repo.root, repo.gitDir);
    if (ref?.startsWith('refs/heads/')) {
      const listing = (await refListing(repo.root)).toString('utf8');
      const line = listing.split('\n').find((l) => l.slice(l.indexOf(' ') + 1) === ref);
      return { ref, oid: line ? line.slice(0, line.indexOf(' ')) : null };
    }
    const r = await git(['rev-parse', '-q', '--verify', 'HEAD^{commit}'], { cwd: repo.root, allowFail: true, readOnly: true });
    return { ref, oid: r.code === 0 ? r.stdout.trim() || null : null };
  });
}

/**
 * The configuration rb reads (core.autocrlf, core.filemode, core.symlinks, core.sparseCheckout,
 * user.name, user.email), keys lowercased, the last value of a key winning, null for a key
 * without a value (./git.ts parseConfigZ): one `git config` for the snapshot and the identity.
 */
export function configValues(root: string): Promise<Record<string, string | null>> {
  return memoized(`config ${root}`, async () => {
    const r = await git(['config', '-z', '--get-regexp', '^(core\\.(autocrlf|filemode|symlinks|sparsecheckout)|user\\.(name|email))$'], { cwd: root, allowFail: true, readOnly: true });
    return parseConfigZ(r.code === 0 ? r.stdout : '');
  });
}

/**
 * Environment that gives rb's own commits an identity when the user has none configured
 * (safety.md §2). The user's identity is used when present.
 */
export async function identityEnv(cwd: string): Promise<Record<string, string>> {
  return identityFromConfig(await configValues(cwd));
}
