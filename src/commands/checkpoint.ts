/**
 * `rb checkpoint <name>` / `rb checkpoint --list`: tag a good state by name, the way teams tag
 * `day_2_complete`, so every level can roll back to it (`--to <name>`, `rb files --from <name>`).
 *
 * One checkpoint is two things with the same name: an annotated tag at HEAD (local; its message
 * quotes the baseline's test result when an earlier `rb check` recorded one) and a snapshot of
 * the whole working copy (`rb snapshots restore <name>` brings back uncommitted and ignored
 * files too). The records (metrics.json, audit.jsonl) are src/check/checkpoint.ts.
 *
 * Refused with exit 2 and nothing changed: a name that is not usable as both a tag and a snapshot
 * id, or one already taken by a tag, a branch (`--to` would be ambiguous) or a snapshot.
 * Exit 3: HEAD has no commit yet.
 */
import { findRepo, type Repo } from '../repo.js';
import { PreconditionError, UsageError } from '../errors.js';
import { git } from '../io/git.js';
import { ago, print, printJson, table } from '../ui/format.js';

export interface CheckpointOptions {
  list?: boolean;
  message?: string;
  json?: boolean;
}

const NAME_RULE = 'letters, digits, ".", "_" and "-", starting with a letter, digit or "_" (it names a tag and a snapshot)';

/** Is the name usable as a tag and as a snapshot id? */
async function assertUsableName(repo: Repo, name: string): Promise<void> {
  const { isValidSnapshotId } = await import('../snapshot/format.js');
  const ok = isValidSnapshotId(name) &&
    (await git(['check-ref-format', `refs/tags/${name}`], { cwd: repo.root, allowFail: true, readOnly: true })).code === 0;
  if (!ok) throw new UsageError(`"${name}" is not a usable checkpoint name: use ${NAME_RULE}.`, { next: 'rb checkpoint day_2_complete' });
}

/** The name must be new as a tag, a branch (local, or the remote's as last fetched) and a snapshot. */
async function assertNameFree(repo: Repo, name: string, remote: string): Promise<void> {
  const { revParse } = await import('../io/git.js');
  const { readSnapshot } = await import('../snapshot/index.js');
  const [tag, local, remoteBranch, snap] = await Promise.all([
    revParse(repo.root, `refs/tags/${name}^{}`), revParse(repo.root, `refs/heads/${name}`),
    remote ? revParse(repo.root, `refs/remotes/${remote}/${name}`) : null, readSnapshot(repo, name),
  ]);
  const branch = local ?? remoteBranch;
  if (tag) {
    throw new UsageError(`a tag "${name}" already exists (at ${tag.slice(0, 12)}); a checkpoint name is used once.`, {
      next: `choose another name, or see it with \`git show ${name}\` (rb checkpoint --list lists the checkpoints)`,
    });
  }
  if (branch) throw new UsageError(`a branch "${local ? name : `${remote}/${name}`}" exists: \`--to ${name}\` could not tell the checkpoint from the branch.`, { next: 'choose another name for the checkpoint' });
  if (snap) throw new UsageError(`a snapshot "${name}" already exists (taken ${snap.createdAt}).`, { next: `choose another name, or remove the old snapshot with \`git update-ref -d ${snap.ref}\`` });
}

export async function checkpointCommand(name: string | undefined, opts: CheckpointOptions, cmd: any): Promise<number> {
  const repo = findRepo(cmd.parent?.opts().cwd);
  if (opts.list) {
    if (name) throw new UsageError('--list takes no name.', { next: 'rb checkpoint --list' });
    return listCommand(repo, opts);
  }
  if (!name) throw new UsageError('name the checkpoint.', { next: 'rb checkpoint day_2_complete   (or rb checkpoint --list)' });
  return createCommand(repo, name, opts);
}

async function createCommand(repo: Repo, name: string, opts: CheckpointOptions): Promise<number> {
  const started = Date.now();
  // 1. validate: nothing is written before all of these pass
  await assertUsableName(repo, name);
  const { headOf } = await import('../check/work-tree.js');
  const head = await headOf(repo);
  if (!head.oid) throw new PreconditionError('HEAD has no commit yet: there is nothing to tag.', { next: 'make a first commit, then `rb checkpoint <name>`' });
  const { loadConfig } = await import('../config/load.js');
  const { config } = await loadConfig(repo.root);
  await assertNameFree(repo, name, config.remote);
  const { resolveBaseline } = await import('../engine/baseline.js');
  const baseline = await resolveBaseline(repo, config.baseline, config.remote).catch(() => null);
  const { dirtyPaths } = await import('../check/clean.js');
  const dirty = await dirtyPaths(repo, config.rollbacksDir);

  // 2. the snapshot, named like the checkpoint
  const { describeLeftovers, sweepLeftovers } = await import('../journal/leftovers.js');
  const swept = sweepLeftovers(repo);
  if (swept.length) process.stderr.write(`rb: removed ${describeLeftovers(swept)}\n`);
  const store = await import('../snapshot/index.js');
  const snap = await store.captureSnapshot(repo, {
    id: name, message: `checkpoint ${name}${opts.message ? `: ${opts.message}` : ''}`,
    maxIgnoredBytes: config.snapshots.maxIgnoredBytes, skipIgnored: config.snapshots.skipIgnored, exclude: [config.rollbacksDir],
  });

  // 3. the tag and the records; without the tag there is no checkpoint: its snapshot goes too
  const { knownBaselineTests, recordNamedCheckpoint } = await import('../check/checkpoint.js');
  const baselineTests = baseline?.oid ? knownBaselineTests(repo, config, baseline.oid) : null;
  let info;
  try {
    info = await recordNamedCheckpoint(repo, config, {
      name, commit: head.oid, branch: head.branch, baseline: baseline ? { name: baseline.name, oid: baseline.oid } : null,
      baselineTests, snapshot: snap.id, message: opts.message, durationMs: Date.now() - started,
    });
  } catch (e) {
    await store.deleteSnapshot(repo, snap.id);
    throw new PreconditionError(`${(e as Error).message}; the snapshot ${snap.id} was removed again, nothing else was changed.`, { next: 'fix what git reports, then run the command again' });
  }

  // 4. say what was made
  const report = {
    name, tag: name, commit: head.oid, branch: head.branch, snapshot: snap.id,
    baseline: baseline ? { name: baseline.name, commit: baseline.oid } : null,
    baselineTests, uncommitted: dirty.length, notCaptured: snap.skipped, metrics: info.metrics, warnings: info.warnings,
  };
  if (opts.json) {
    printJson(report);
    return 0;
  }
  print([
    `checkpoint ${name}`,
    `  tag:       ${name} → ${head.oid.slice(0, 12)}${head.branch ? ` (${head.branch})` : ' (detached HEAD)'}, annotated, local (share it with \`git push ${config.remote || '<remote>'} ${name}\`)`,
    `  snapshot:  ${snap.id}: every file, ignored ones too (\`rb snapshots restore ${snap.id}\`)`,
    ...snap.skipped.map((k) => `             not captured: ${k.path} (${k.reason})`),
    `  baseline:  ${baseline ? `${baseline.name} ${baseline.oid ? baseline.oid.slice(0, 12) : '(not found)'}` : '(none)'}; its tests: ${baselineTests ?? 'not known (run `rb check` to test the baseline)'}`,
    ...(dirty.length ? [`  note:      ${dirty.length} uncommitted path${dirty.length === 1 ? ' is' : 's are'} in the snapshot only, not in the tagged commit`] : []),
    ...info.warnings.map((w) => `  warning:   ${w}`),
    `roll back to it: rb emergency --to ${name} · rb sprint <n> --to ${name} · rb files <path> --from ${name}`,
  ].join('\n'));
  return 0;
}

async function listCommand(repo: Repo, opts: CheckpointOptions): Promise<number> {
  const { listNamedCheckpoints } = await import('../check/checkpoint.js');
  const { listSnapshots } = await import('../snapshot/index.js');
  const [named, snaps] = await Promise.all([listNamedCheckpoints(repo), listSnapshots(repo)]);
  const snapIds = new Set(snaps.map((s) => s.id));
  const rows = named.map((c) => ({
    ...c,
    snapshot: snapIds.has(c.name) ? c.name : null,
    baselineTests: /^baseline tests: (.*)$/m.exec(c.body)?.[1] ?? null,
  }));
  if (opts.json) {
    printJson({ checkpoints: rows });
    return 0;
  }
  if (!rows.length) {
    print('No named checkpoints. Tag a good state with `rb checkpoint <name>` (rb check tags checkpoint-<stamp> tags of its own: `git tag -l "checkpoint-*"`).');
    return 0;
  }
  print(table(rows.map((c) => [c.name, c.commit.slice(0, 12), ago(c.createdAt), c.snapshot ? 'yes' : 'missing', c.baselineTests ?? '-']), ['NAME', 'COMMIT', 'TAKEN', 'SNAPSHOT', 'BASELINE TESTS']));
  return 0;
}
