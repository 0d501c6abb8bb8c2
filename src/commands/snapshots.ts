/** `rb snapshots [list|create|show|restore|prune]`: manage the snapshots under refs/rb/snapshots/. */
import { findRepo } from '../repo.js';
import { listRuns } from '../journal/journal.js';
import { RbError, UsageError } from '../errors.js';
import { DURATION_HELP, parseDuration } from '../duration.js';
import { ago, print, printJson, showPath, table } from '../ui/format.js';
import type { Repo } from '../repo.js';
import type { SnapshotInfo } from '../snapshot/format.js';
import { repoPaths } from './diff.js';

function parseAge(s: string): number {
  const ms = parseDuration(s);
  if (ms === null) throw new UsageError(`--older-than takes a duration (${DURATION_HELP}), got "${s}"`, { next: 'rb snapshots prune --older-than 30d' });
  return ms;
}

export async function snapshotsCommand(action: string | undefined, id: string | undefined, paths: string[], opts: { json?: boolean; message?: string; olderThan?: string; dryRun?: boolean; yes?: boolean; skipUnwritable?: boolean; remote?: string; includeIgnored?: boolean }, cmd: any): Promise<number> {
  const cwd = cmd.parent?.opts().cwd;
  const repo = findRepo(cwd);
  if (paths.length && action !== 'restore') throw new UsageError(`only \`rb snapshots restore <id> -- <path...>\` takes paths; got ${paths.length} extra argument(s) for "${action ?? 'list'}".`, { next: 'rb snapshots --help' });
  if (action === 'create') return createSnapshot(repo, opts);
  const store = await import('../snapshot/index.js');
  switch (action ?? 'list') {
    case 'list': {
      const snaps = await store.listSnapshots(repo);
      if (opts.json) printJson({ snapshots: snaps });
      else if (!snaps.length) print('No snapshots. Take one with `rb snapshots create -m "before my experiment"`.');
      else print(table(snaps.map((s) => [s.id, ago(s.createdAt), s.runId ?? '-', s.message ?? '', s.skipped.length ? `${s.skipped.length} not captured` : '']), ['ID', 'TAKEN', 'RUN', 'MESSAGE', '']));
      return 0;
    }
    case 'show': {
      if (!id) throw new UsageError('which snapshot? `rb snapshots show <id>`', { next: 'rb snapshots list' });
      const s = await store.resolveSnapshot(repo, id);
      if (!s) throw new UsageError(`no snapshot "${id}".`, { next: 'rb snapshots list' });
      if (opts.json) printJson({ snapshot: s });
      else {
        print([`snapshot ${s.id}`, `  ref:     ${s.ref}`, `  commit:  ${s.commit}`, `  taken:   ${s.createdAt} (${ago(s.createdAt)})`, `  message: ${s.message ?? ''}`, `  run:     ${s.runId ?? '-'}`, `  HEAD:    ${s.headRef ?? '(detached)'} ${s.headOid ?? '(unborn)'}`, `  conflicted index: ${s.conflicted ? 'yes' : 'no'}`, ...s.skipped.map((k) => `  not captured: ${showPath(k.path)} (${k.reason})`)].join('\n'));
      }
      return 0;
    }
    case 'restore': {
      if (!id) throw new UsageError('which snapshot? `rb snapshots restore <id>`', { next: 'rb snapshots list' });
      const s = await store.resolveSnapshot(repo, id);
      if (!s) throw new UsageError(`no snapshot "${id}".`, { next: 'rb snapshots list' });
      return restoreSnapshotRun(repo, s, { resetBranch: false, paths, dryRun: opts.dryRun, yes: opts.yes, json: opts.json, skipUnwritable: opts.skipUnwritable, command: `rb snapshots restore ${s.id}` }, cmd);
    }
    case 'prune': {
      const { loadConfig } = await import('../config/load.js');
      const { config } = await loadConfig(repo.root);
      const maxAge = opts.olderThan ? parseAge(opts.olderThan) : config.snapshots.keepDays * 86400_000;
      const now = Date.now();
      const runs = listRuns(repo);
      const protectedIds = new Set<string>();
      for (const r of runs) {
        const inWindow = now - Date.parse(r.endedAt ?? r.startedAt) < config.undo.windowHours * 3600_000;
        if (r.snapshot && (inWindow || r.status === 'running' || r.status === 'interrupted' || r.status === 'failed')) protectedIds.add(r.snapshot);
      }
      const snaps = await store.listSnapshots(repo);
      const removed: string[] = [];
      const kept: string[] = [];
      for (const s of snaps) {
        if (now - Date.parse(s.createdAt) < maxAge) continue;
        if (protectedIds.has(s.id)) {
          kept.push(s.id);
          continue;
        }
        if (!opts.dryRun) await store.deleteSnapshot(repo, s.id);
        removed.push(s.id);
      }
      if (opts.json) printJson({ removed, keptInUndoWindow: kept, dryRun: Boolean(opts.dryRun) });
      else {
        print(`${opts.dryRun ? 'would remove' : 'removed'} ${removed.length} snapshot(s)${removed.length ? ': ' + removed.join(', ') : ''}`);
        if (kept.length) print(`kept ${kept.length} old snapshot(s) whose run is still undoable: ${kept.join(', ')}`);
        if (removed.length && !opts.dryRun) print('their objects go away at the next `git gc` (after the reflog expires)');
      }
      return 0;
    }
    case 'push': {
      if (!id) throw new UsageError('which snapshot? `rb snapshots push <id>`', { next: 'rb snapshots list' });
      const s = await store.resolveSnapshot(repo, id);
      const { loadConfig } = await import('../config/load.js');
      const { config } = await loadConfig(repo.root);
      const remote = opts.remote ?? config.remote;
      if (!remote) throw new UsageError('no remote to push to: rb.config.yaml has remote: "".', { next: `rb snapshots push ${s.id} --remote origin` });
      const { pushSnapshot } = await import('../snapshot/push.js');
      let r;
      try {
        r = await pushSnapshot(repo, s, { remote, includeIgnored: Boolean(opts.includeIgnored), timeoutMs: config.records.timeoutSeconds * 1000 * 6 });
      } catch (e) {
        throw new RbError(`snapshot ${s.id} was not pushed to ${remote}: ${(e as Error).message}`, 1, { next: `check the remote (\`git ls-remote ${remote}\`), then run \`rb snapshots push ${s.id}\` again` });
      }
      if (opts.json) printJson({ push: r });
      else {
        const sample = r.ignoredSample.map(showPath).join(', ') + (r.ignoredFiles > r.ignoredSample.length ? ', …' : '');
        print(`pushed snapshot ${r.id} to ${remote} as ${r.ref} (${r.commit.slice(0, 12)})`);
        if (!r.ignoredFiles) print('  it holds no ignored files');
        else if (r.includeIgnored) print(`  with its ${r.ignoredFiles} ignored file(s) (--include-ignored): ${sample}`);
        else print(`  without its ${r.ignoredFiles} ignored file(s), which stay in this clone: ${sample}\n  (\`rb snapshots push ${r.id} --include-ignored\` sends them too)`);
      }
      return 0;
    }
    default:
      throw new UsageError(`unknown action "${action}" (list, create, show, restore, prune, push)`, { next: 'rb snapshots --help' });
  }
}

/**
 * `rb snapshots create`: the capture starts as soon as its own module is loaded (not the restore
 * side of the snapshot module), and the configuration is read while git walks the working copy
 * (issue 18): the settings taken from there are needed only once the listings are in, and an
 * invalid configuration fails the capture before it writes anything.
 */
async function createSnapshot(repo: Repo, opts: { json?: boolean; message?: string }): Promise<number> {
  const [{ captureSnapshot }, { describeLeftovers, sweepLeftovers }] = await Promise.all([import('../snapshot/capture.js'), import('../journal/leftovers.js')]);
  const swept = sweepLeftovers(repo);
  if (swept.length) process.stderr.write(`rb: removed ${describeLeftovers(swept)}\n`);
  const configure = async () => {
    const { config } = await (await import('../config/load.js')).loadConfig(repo.root);
    return { maxIgnoredBytes: config.snapshots.maxIgnoredBytes, skipIgnored: config.snapshots.skipIgnored, exclude: [config.rollbacksDir] };
  };
  const info = await captureSnapshot(repo, { message: opts.message ?? 'manual snapshot', configure });
  if (opts.json) printJson({ snapshot: info });
  else {
    print(`snapshot ${info.id} (${info.commit.slice(0, 12)})`);
    for (const s of info.skipped) print(`  not captured: ${showPath(s.path)} (${s.reason})`);
    print(`restore it with \`rb snapshots restore ${info.id}\``);
  }
  return 0;
}

/**
 * Restore a snapshot as a journaled run (a safety snapshot first; `rb undo` takes it back): the
 * whole working copy, or with `paths` only those paths (their files and index entries).
 */
export async function restoreSnapshotRun(
  repo: Repo,
  s: SnapshotInfo,
  o: { resetBranch: boolean; paths?: string[]; dryRun?: boolean; yes?: boolean; json?: boolean; skipUnwritable?: boolean; reason?: string; command: string },
  cmd: any,
): Promise<number> {
  const { execute } = await import('../engine/execute.js');
  const paths = o.paths?.length ? repoPaths(repo, o.paths) : null;
  if (paths) {
    // a path the snapshot does not hold would restore nothing: refuse before anything runs
    const { pathsIn, snapshotTrees } = await import('../steps/snapshot-restore-paths.js');
    const trees = await snapshotTrees(repo, s.commit);
    const held = new Set([...(await pathsIn(repo, trees.worktree, paths)), ...(await pathsIn(repo, trees.ignored, paths))]);
    const missing = paths.filter((p) => !held.has(p));
    if (missing.length) {
      throw new UsageError(`snapshot ${s.id} does not hold ${missing.map(showPath).join(', ')}; nothing was changed.`, {
        next: `\`rb diff ${s.id} --name-only\` lists what it holds differently from the working copy`,
      });
    }
  }
  const steps = paths
    ? [
        { id: 'snapshot', title: 'Safety snapshot of the current state', uses: 'snapshot', with: { message: `before restoring ${paths.length} path(s) from ${s.id}` } },
        { id: 'restore', title: `Restore ${paths.map(showPath).join(', ')} from snapshot ${s.id}`, uses: 'snapshot.restore-paths', with: { id: s.id, paths } },
      ]
    : [{ id: 'restore', title: `Restore snapshot ${s.id} (after a safety snapshot of the current state)`, uses: 'snapshot.restore', with: { id: s.id, resetBranch: o.resetBranch } }];
  const out = await execute({
    playbook: 'restore',
    playbookObject: { name: 'restore', title: paths ? `Restore ${paths.length} path(s) from snapshot ${s.id}` : `Restore snapshot ${s.id}`, params: {}, file: '(internal: rb snapshots restore)', source: 'built-in', steps },
    cwd: cmd.parent?.opts().cwd,
    dryRun: o.dryRun,
    yes: o.yes,
    json: o.json,
    reason: o.reason,
    force: true,
    skipUnwritable: o.skipUnwritable,
    command: paths ? `${o.command} -- ${paths.join(' ')}` : o.command,
  });
  return out.code;
}
