/**
 * The three levels: `rb emergency`, `rb sprint <n>`, `rb files <path...>`. Thin: validate the
 * arguments (before anything changes), turn them into playbook parameters, hand over to the
 * engine. The procedures themselves are the playbooks/emergency|sprint|files.yaml playbooks,
 * which a team can override in .rb/playbooks/.
 */
import { lstatSync, realpathSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { execute, preloadPlaybook } from '../engine/execute.js';
import { PreconditionError, UsageError } from '../errors.js';
import { git } from '../io/git.js';
import { headState } from '../io/repo-state.js';
import { findRepo } from '../repo.js';
import { fsPath, hasRawBytes, splitNulPaths } from '../io/path-bytes.js';
import { showPath } from '../ui/format.js';

interface Common {
  to?: string;
  from?: string;
  reason?: string;
  cause?: string;
  force?: boolean;
  dryRun?: boolean;
  yes?: boolean;
  json?: boolean;
  skipUnwritable?: boolean;
}

const cwdOf = (cmd: any): string | undefined => cmd.parent?.opts().cwd;

export async function emergencyCommand(opts: Common & { install?: boolean; services?: boolean }, cmd: any): Promise<number> {
  const r = await execute({
    playbook: 'emergency',
    params: { install: opts.install !== false, services: opts.services !== false },
    cwd: cwdOf(cmd),
    to: opts.to,
    reason: opts.reason,
    cause: opts.cause,
    force: opts.force,
    dryRun: opts.dryRun,
    yes: opts.yes,
    json: opts.json,
    skipUnwritable: opts.skipUnwritable,
    command: 'rb emergency',
  });
  return r.code;
}

export async function sprintCommand(n: string, opts: Common & { tests?: boolean }, cmd: any): Promise<number> {
  if (!/^\d+$/.test(n.trim()) || Number(n) < 1 || !Number.isSafeInteger(Number(n))) {
    throw new UsageError(`the sprint number must be a positive whole number, got "${n}".`, { next: 'rb sprint 4' });
  }
  const repo = findRepo(cwdOf(cmd));
  if ((await headState(repo)).oid === null) {
    throw new PreconditionError('this branch has no commits yet (unborn HEAD): there is no sprint work to back up and nothing to roll back from.', {
      next: 'make a first commit, or use `rb snapshots create` to keep the current files',
    });
  }
  const r = await execute({
    playbook: 'sprint',
    params: { sprint: Number(n), tests: opts.tests !== false },
    cwd: cwdOf(cmd),
    to: opts.to,
    reason: opts.reason,
    cause: opts.cause,
    force: opts.force,
    dryRun: opts.dryRun,
    yes: opts.yes,
    json: opts.json,
    skipUnwritable: opts.skipUnwritable,
    command: `rb sprint ${Number(n)}`,
    prepared: { repo },
  });
  return r.code;
}

/**
 * `abs` with its symlinks resolved only while it is outside the repository: once a prefix
 * resolves into the repository, the rest is kept as written, so a symlinked directory inside
 * the repository is still seen (and refused) by validatePaths.
 */
function enterRepo(realRoot: string, abs: string): string {
  const parts = abs.split(sep).filter(Boolean);
  let cur: string = sep;
  for (let i = 0; i < parts.length; i++) {
    const rel = relative(realRoot, cur);
    if (!rel.startsWith('..') && !isAbsolute(rel)) return join(cur, ...parts.slice(i));
    cur = join(cur, parts[i]!);
    try {
      cur = realpathSync(cur);
    } catch {
      return join(cur, ...parts.slice(i + 1)); // does not exist: nothing more to resolve
    }
  }
  return cur;
}

/** A user's path in a message: in quotes, escaped where it must be (showPath). */
const quoted = (p: string) => {
  const shown = showPath(p);
  return shown.startsWith('"') ? shown : `"${shown}"`;
};

/**
 * Validate user paths for `rb files` (safety.md §4 faults 24–29): resolved from the current
 * directory, inside the repository, not through a symlinked directory; returned relative to
 * the root with '/' separators. Throws UsageError (exit 2) naming every bad path.
 */
export function validatePaths(root: string, cwd: string, paths: string[]): string[] {
  const problems: string[] = [];
  const out: string[] = [];
  const realRoot = realpathSync(root);
  for (const p of paths) {
    if (p === '' || p.includes('\0')) {
      problems.push(`${quoted(p)}: empty or invalid path`);
      continue;
    }
    let abs = resolve(cwd, p);
    let rel = relative(root, abs);
    if (rel.startsWith('..') || isAbsolute(rel)) {
      // an absolute path may reach the repository through a symlink outside it (~/link-to-repo/src/a.ts)
      abs = enterRepo(realRoot, abs);
      rel = relative(realRoot, abs);
    }
    if (rel === '' ) {
      problems.push(`${quoted(p)} is the repository root: name the files or directories to restore`);
      continue;
    }
    if (rel.startsWith('..') || isAbsolute(rel)) {
      problems.push(`${quoted(p)} is outside the repository (${root})`);
      continue;
    }
    const parts = rel.split(sep);
    if (parts[0] === '.git') {
      problems.push(`${quoted(p)} is inside .git`);
      continue;
    }
    // no component before the last may be a symlink (a path through a symlinked directory)
    let cur = realRoot;
    let bad = '';
    for (let i = 0; i < parts.length - 1; i++) {
      cur = join(cur, parts[i]!);
      try {
        if (lstatSync(fsPath(cur)).isSymbolicLink()) {
          bad = parts.slice(0, i + 1).join('/');
          break;
        }
      } catch {
        break; // does not exist in the worktree: fine (it may exist in the baseline)
      }
    }
    if (bad) {
      problems.push(`${quoted(p)} goes through the symlinked directory ${quoted(bad)}: name the path inside the repository instead`);
      continue;
    }
    rel = parts.join('/');
    out.push(rel);
  }
  if (problems.length) {
    throw new UsageError(`cannot restore ${problems.length === 1 ? 'this path' : 'these paths'}; nothing was changed:`, {
      details: problems,
      next: 'pass paths inside the repository, e.g. `rb files src/app.ts`',
    });
  }
  return [...new Set(out)];
}

export async function filesCommand(paths: string[], opts: Common & { deleteMissing?: boolean; tests?: boolean; glob?: boolean }, cmd: any): Promise<number> {
  const repo = findRepo(cwdOf(cmd));
  if (!paths.length) throw new UsageError('name at least one path to restore.', { next: 'rb files src/app.ts' });
  let rels = validatePaths(repo.root, repo.cwd, paths);
  const playbook = preloadPlaybook(repo.root, 'files');
  const { loadConfig } = await import('../config/load.js');
  const { config } = await loadConfig(repo.root);
  const { resolveBaseline, missingBaselineError } = await import('../engine/baseline.js');
  const baseline = await resolveBaseline(repo, opts.from ?? config.baseline, config.remote);
  if (!baseline.oid) throw missingBaselineError(baseline, config.remote);
  if (opts.glob) {
    // ls-tree refuses :(glob) pathspecs; diff-tree from the empty tree lists the baseline's files that match
    const empty = (await git(['hash-object', '-t', 'tree', '--stdin'], { cwd: repo.root, input: '', readOnly: true })).stdout.trim();
    const r = await git(['diff-tree', '-r', '-z', '--name-only', '--no-renames', empty, baseline.oid, '--', ...rels.map((g) => `:(glob)${g}`)], { cwd: repo.root, readOnly: true, binary: true });
    const matched = splitNulPaths(r.stdoutBuf);
    if (!matched.length) throw new UsageError(`no file in ${baseline.name} matches ${rels.map(showPath).join(', ')}.`, { next: `list the baseline's files with \`git ls-tree -r --name-only ${baseline.name}\`` });
    rels = matched;
  }
  // every path must exist in the baseline or in the working copy (--glob's matches come from the baseline)
  const unknown: string[] = [];
  const { pathsInTree, hasPathspecFromFile } = await import('../steps/git-common.js');
  const inBase = opts.glob ? new Set<string>() : await pathsInTree(repo, baseline.oid, rels);
  for (const p of opts.glob ? [] : rels) {
    let inTree = false;
    try {
      lstatSync(fsPath(join(repo.root, p)));
      inTree = true;
    } catch {
      /* absent */
    }
    if (!inBase.has(p) && !inTree) unknown.push(p);
  }
  if (unknown.length) {
    throw new UsageError(`no such path in ${baseline.name} or in the working copy: ${unknown.map(showPath).join(', ')}; nothing was changed.`, {
      next: opts.glob ? 'check the pattern' : `check the spelling (paths are taken literally; pass --glob to expand patterns)`,
    });
  }
  const raw = rels.filter(hasRawBytes);
  if (raw.length && !hasPathspecFromFile()) {
    throw new PreconditionError(`${raw.map(showPath).join(', ')}: a name that is not UTF-8 reaches git only through --pathspec-from-file, which needs git 2.26 or newer; nothing was changed.`, {
      next: 'upgrade git, or restore that file by hand: `git restore --source=<baseline> -- <path>` typed in your shell',
    });
  }
  let testFiles: string[] = [];
  let tests = opts.tests !== false;
  if (tests) {
    const { findTestsFor } = await import('../steps/tests-run.js');
    testFiles = [...new Set(findTestsFor(repo.root, rels, config.testMap).flatMap((t) => t.tests))];
    if (!testFiles.length || !config.test) tests = false;
  }
  const r = await execute({
    playbook: 'files',
    params: { paths: rels, deleteMissing: Boolean(opts.deleteMissing), tests, testFiles },
    cwd: cwdOf(cmd),
    to: opts.from,
    reason: opts.reason,
    cause: opts.cause,
    force: opts.force,
    dryRun: opts.dryRun,
    yes: opts.yes,
    json: opts.json,
    skipUnwritable: opts.skipUnwritable,
    command: `rb files ${paths.join(' ')}`,
    prepared: { repo, config, baseline, playbook },
  });
  if (!opts.json && opts.tests !== false && !tests && !opts.dryRun) {
    process.stdout.write(config.test ? `No tests found for the restored files (looked for: testMap, ${(await import('../steps/tests-run.js')).testConventionsText()}).\n` : 'No test command configured: tests were not run (set test in rb.config.yaml).\n');
  }
  return r.code;
}
