/**
 * Git helpers shared by the git.* step kinds: the state checks every mutating command is
 * followed by (safety.md §2: check HEAD and refs, not only the exit code).
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { RB_OWN_PATHS } from '../config/defaults.js';
import { join } from 'node:path';
import { git, identityEnv, isValidBranchName, revParse, shellQuote, splitZ } from '../io/git.js';
import { gitVersion, type Repo } from '../repo.js';
import { hasRawBytes, nulPaths, splitNulPaths } from '../io/path-bytes.js';
import { objectInfo, type ObjectInfo } from '../io/cat-file.js';
import { showPath } from '../ui/format.js';

/** Where HEAD is (branch ref, commit): asked once per repository generation (io/repo-state.ts). */
export { headState } from '../io/repo-state.js';
import { commitOf, configValues, headState, memoized, refPositions } from '../io/repo-state.js';
import { readIndexFlags } from '../io/index-file.js';

/** The commit a revision names, or null (a plain branch, tag or remote-tracking ref: from the ref listing). */
export async function oidOf(repo: Repo, rev: string): Promise<string | null> {
  if (rev === 'HEAD') return (await headState(repo)).oid;
  return commitOf(repo.root, rev);
}

/** Where a ref points, or null when it does not exist (a branch, tag or remote-tracking branch: from the ref listing asked once per repository generation). */
export async function refOid(repo: Repo, ref: string): Promise<string | null> {
  if (/^refs\/(heads|tags|remotes)\//.test(ref)) return (await refPositions(repo.root))[ref] ?? null;
  return revParse(repo.root, ref);
}

/**
 * The paths the index holds unmerged entries of (stages 1-3), as `git ls-files -u` names them.
 * The index file is read first (io/index-file.ts): when it has no such entry, git is not asked;
 * when it has, or is one rb does not read (split, sparse, unreadable), git lists them.
 */
export async function unmergedPaths(repo: Pick<Repo, 'root' | 'gitDir'>): Promise<string[]> {
  if (await indexHasNoUnmerged(repo)) return [];
  const r = await git(['ls-files', '-u', '-z'], { cwd: repo.root, readOnly: true });
  return [...new Set(r.stdout.split('\0').filter(Boolean).map((l) => l.slice(l.indexOf('\t') + 1)))];
}

/** True when the index file says it has no unmerged entry (no index file: none); false when it has one or rb cannot tell. */
async function indexHasNoUnmerged(repo: Pick<Repo, 'root' | 'gitDir'>): Promise<boolean> {
  let bytes: Buffer;
  try {
    bytes = await readFile(join(repo.gitDir, 'index'));
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
  const hashBytes = (await configValues(repo.root))['extensions.objectformat']?.toLowerCase() === 'sha256' ? 32 : 20;
  const flags = readIndexFlags(bytes, hashBytes);
  return flags !== null && !flags.conflicted;
}

/** Validate a branch name given by a user or a playbook (fault 10: `-x`, `a..b`, `--upload-pack=…`). */
export async function assertBranchName(repo: Repo, name: string): Promise<void> {
  if (!(await isValidBranchName(repo.root, name))) throw new Error(`"${name}" is not a valid branch name (git check-ref-format --branch)`);
}

/** First free branch name: name, name-2, name-3, … */
export async function freeBranchName(repo: Repo, name: string): Promise<string> {
  for (let i = 1; ; i++) {
    const candidate = i === 1 ? name : `${name}-${i}`;
    if (!(await refOid(repo, `refs/heads/${candidate}`))) return candidate;
  }
}

/**
 * Branches checked out in other worktrees (fault 13). A repository without linked worktrees (this
 * is its main worktree and `<git dir>/worktrees/` holds none) has no other: git is not asked.
 */
export async function branchesInOtherWorktrees(repo: Repo): Promise<Map<string, string>> {
  if (repo.gitDir === repo.commonDir && !hasLinkedWorktrees(repo.commonDir)) return new Map();
  const r = await git(['worktree', 'list', '--porcelain', '-z'], { cwd: repo.root, allowFail: true, readOnly: true });
  const out = new Map<string, string>();
  let path = '';
  for (const line of r.stdout.split('\0')) {
    if (line.startsWith('worktree ')) path = line.slice(9);
    else if (line.startsWith('branch ') && path !== repo.root) out.set(line.slice(7), path);
  }
  return out;
}

/** Does `<common dir>/worktrees/` hold a linked worktree's admin directory? (what `git worktree list` reads) */
function hasLinkedWorktrees(commonDir: string): boolean {
  try {
    return readdirSync(join(commonDir, 'worktrees')).length > 0;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ENOENT'; // unreadable: ask git
  }
}

/**
 * git pathspecs matching what a gitignore-style `keep` pattern matches: a pattern without a
 * slash matches a name at any depth (`.env` -> `**\/.env`), one with a slash is anchored at the
 * root; both also match everything below a directory of that name.
 */
export function keepPathspecs(patterns: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of patterns) {
    let p = raw.trim().replace(/^\.\//, '');
    if (!p || p.startsWith('#') || p.startsWith('!')) continue;
    const dirOnly = p.endsWith('/');
    p = p.replace(/\/+$/, '');
    const anchored = p.startsWith('/') || p.includes('/');
    p = p.replace(/^\/+/, '');
    const base = anchored ? p : `**/${p}`;
    if (!dirOnly) out.push(`:(glob)${base}`);
    out.push(`:(glob)${base}/**`);
  }
  return out;
}

export { identityEnv };

/**
 * Which of `paths` (files or directories, repository-relative, taken literally) exist in a tree.
 * A name that is not UTF-8 (io/path-bytes.ts) cannot be given to git as an argument: when there
 * is one, the tree's whole listing is read instead and compared byte for byte.
 */
export async function pathsInTree(repo: Repo, treeish: string, paths: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>();
  const plain = paths.filter((p) => !hasRawBytes(p));
  const raw = paths.filter((p) => hasRawBytes(p));
  // a tree named by its oid never changes: its answer is kept for the whole command (depends on no part)
  const fixed = /^([0-9a-f]{40}|[0-9a-f]{64})$/.test(treeish);
  for (const p of plain) {
    const ask = async () => (await git(['--literal-pathspecs', 'ls-tree', '-z', '--name-only', treeish, '--', p], { cwd: repo.root, readOnly: true })).stdout.length > 0;
    if (await (fixed ? memoized(`in tree ${repo.root} ${treeish} ${p}`, ask, []) : ask())) found.add(p);
  }
  if (raw.length) {
    const r = await git(['ls-tree', '-r', '-t', '-z', '--name-only', '--full-tree', treeish], { cwd: repo.root, readOnly: true, binary: true });
    const all = new Set(splitNulPaths(r.stdoutBuf));
    for (const p of raw) if (all.has(p)) found.add(p);
  }
  return found;
}

/** git's --pathspec-from-file (restore, rm, checkout) came with git 2.26. */
export function hasPathspecFromFile(): boolean {
  const [maj, min] = gitVersion();
  return maj > 2 || (maj === 2 && min >= 26);
}

/**
 * The argv tail (and stdin) that hand `paths` to a git command taking pathspecs: `-- <paths>`
 * when every name is UTF-8, else `--pathspec-from-file=- --pathspec-file-nul` with the names'
 * bytes on stdin (git 2.26+).
 */
export function pathspecArgs(paths: readonly string[]): { args: string[]; input?: Buffer } {
  if (!paths.some(hasRawBytes)) return { args: ['--', ...paths] };
  if (!hasPathspecFromFile()) throw new Error(`restoring a path whose name is not UTF-8 (${paths.filter(hasRawBytes).map(showPath).join(', ')}) needs git 2.26 or newer`);
  return { args: ['--pathspec-from-file=-', '--pathspec-file-nul'], input: nulPaths(paths) };
}

/** A kept file (a `keep` path) whose content a rollback changed, and how to get the user's version back. */
export interface KeptPathChanged {
  path: string;
  /** the file is gone from disk (the commit rolled back to does not have it) */
  removed: boolean;
  /** shows the version the snapshot holds */
  show: string;
  /** writes that version back over the file (only that file) */
  restore: string;
}

/**
 * What a reset or switch changed that the snapshot `snapshotId` holds otherwise, asked with one
 * diff against the snapshot:
 * - `own`: rb's own files (.rb/, rb.config.yaml): they go with the user, committed or not — put
 *   back by restoreOwnFiles;
 * - `kept`: the `keep` paths (.env, .env.*) whose content on disk is no longer the snapshot's —
 *   changed or removed by a commit that tracks them differently — each with the git commands
 *   that show and restore just that file. A path the snapshot did not have (the baseline brought
 *   it) is no loss and is not listed; one of rb's own files is in `own` only (put back, it is
 *   the snapshot's again).
 */
export async function changedSinceSnapshotOf(repo: Repo, snapshotId: string, keep: readonly string[]): Promise<{ own: KeptPathChanged[]; kept: KeptPathChanged[] }> {
  const changed = await changedSinceSnapshot(repo, snapshotId, [...RB_OWN_PATHS.map((p) => `:(literal)${p}`), ...keepPathspecs(keep)]);
  const isOwn = (p: string) => RB_OWN_PATHS.some((o) => p === o || p.startsWith(`${o}/`));
  return { own: changed.filter((c) => isOwn(c.path)), kept: changed.filter((c) => !isOwn(c.path)) };
}

/**
 * Put rb's own files that a reset or switch changed (`own` of changedSinceSnapshotOf) back as
 * the snapshot holds them; files the snapshot did not have are left as the commit brought them.
 */
export async function restoreOwnFiles(repo: Repo, snapshotId: string, changed: readonly KeptPathChanged[]): Promise<string[]> {
  if (!changed.length) return [];
  const ref = `refs/rb/snapshots/${snapshotId}`;
  const fromWorktree = changed.filter((c) => c.restore.startsWith('git restore')).map((c) => c.path);
  if (fromWorktree.length) await git(['--literal-pathspecs', 'restore', `--source=${ref}:worktree`, '--worktree', '--', ...fromWorktree], { cwd: repo.root });
  for (const c of changed.filter((c) => !c.restore.startsWith('git restore'))) {
    const blob = await git(['cat-file', 'blob', `${ref}:ignored/${c.path}`], { cwd: repo.root, readOnly: true, binary: true });
    writeFileSync(join(repo.root, c.path), blob.stdoutBuf);
  }
  return changed.map((c) => c.path);
}

async function changedSinceSnapshot(repo: Repo, snapshotId: string, specs: string[]): Promise<KeptPathChanged[]> {
  if (!specs.length) return [];
  const ref = `refs/rb/snapshots/${snapshotId}`;
  // candidates: paths whose working copy differs from the snapshot's worktree/ tree (untracked
  // files show as deleted there, so each candidate is checked against the bytes below)
  const diff = await git(['diff', '--name-only', '-z', '--no-renames', `${ref}:worktree`, '--', ...specs], { cwd: repo.root, readOnly: true, allowFail: true });
  const candidates = splitZ(diff.stdout).filter((p) => !/[\n\r]/.test(p));
  if (!candidates.length) return [];
  const names = candidates.flatMap((p) => [`${ref}:worktree/${p}`, `${ref}:ignored/${p}`]);
  const answers = await objectInfo(repo.root, names);
  const present = candidates.filter((p) => existsSync(join(repo.root, p)));
  const hashed = present.length ? (await git(['hash-object', '--stdin-paths'], { cwd: repo.root, readOnly: true, input: present.map((p) => p + '\n').join('') })).stdout.split('\n') : [];
  const onDisk = new Map(present.map((p, i) => [p, hashed[i] ?? '']));
  const out: KeptPathChanged[] = [];
  candidates.forEach((p, i) => {
    const blob = (o: ObjectInfo | null | undefined) => (o?.type === 'blob' ? o.oid : null);
    const inWorktree = blob(answers[2 * i]);
    const inIgnored = blob(answers[2 * i + 1]);
    const was = inWorktree ?? inIgnored;
    if (!was || onDisk.get(p) === was) return;
    const q = shellQuote(p);
    out.push(
      inWorktree
        ? { path: p, removed: !onDisk.has(p), show: `git show ${ref}:worktree/${q}`, restore: `git restore --source=${ref}:worktree --worktree -- ${q}` }
        : { path: p, removed: !onDisk.has(p), show: `git show ${ref}:ignored/${q}`, restore: `git cat-file blob ${ref}:ignored/${q} > ${q}` },
    );
  });
  return out;
}
