/**
 * `rb sync [--remote <name>] [--timeout <seconds>] [--json]`: share run records through the git
 * remote — fetch every writer's refs/rb/records/, push this clone's own (records/sync.ts).
 * Snapshots, branches and tags are never part of it.
 *
 * Exit 0 when both directions worked; 2 for a bad option; 3 when there is no remote to sync
 * with (nothing changed); 1 when the fetch or the push failed (what did work is still printed).
 */
import { findRepo } from '../repo.js';
import { PreconditionError, RbError, UsageError } from '../errors.js';
import { print, printJson } from '../ui/format.js';

export interface SyncCommandOptions {
  remote?: string;
  timeout?: string;
  json?: boolean;
}

export async function syncCommand(opts: SyncCommandOptions, cmd: any): Promise<number> {
  const repo = findRepo(cmd?.parent?.opts().cwd);
  const { loadConfig } = await import('../config/load.js');
  const { config } = await loadConfig(repo.root);
  const remote = opts.remote ?? config.remote;
  const timeoutSeconds = opts.timeout === undefined ? config.records.timeoutSeconds : Number(opts.timeout);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
    throw new UsageError(`--timeout takes a number of seconds, got "${opts.timeout}"`, { next: 'rb sync --timeout 30' });
  }
  if (!remote) {
    throw new UsageError('no remote to sync with: rb.config.yaml has remote: "".', { next: 'name one: `rb sync --remote origin`, or set remote: in rb.config.yaml' });
  }
  const { git } = await import('../io/git.js');
  const known = await git(['remote'], { cwd: repo.root, readOnly: true });
  if (!known.stdout.split('\n').includes(remote)) {
    throw new PreconditionError(`this repository has no remote named "${remote}": nothing was fetched or pushed.`, { next: `add it with \`git remote add ${remote} <url>\`, or pass \`rb sync --remote <name>\`` });
  }
  const { syncRecords } = await import('../records/sync.js');
  const r = await syncRecords(repo, { remote, timeoutMs: timeoutSeconds * 1000 });
  if (opts.json) printJson({ sync: r });
  else {
    const fetched = r.fetched.added + r.fetched.updated;
    print([
      `rb sync with ${remote} (refs/rb/records/; snapshots stay local):`,
      `  fetched: ${fetched ? `${r.fetched.added} new record${r.fetched.added === 1 ? '' : 's'}${r.fetched.updated ? `, ${r.fetched.updated} updated` : ''}` : 'nothing new'}`,
      `  pushed:  ${r.pushed ? `${r.pushed} record${r.pushed === 1 ? '' : 's'} of this clone (writer ${r.writer})` : `nothing new (writer ${r.writer}${r.upToDate ? `, ${r.upToDate} already there` : ''})`}`,
    ].join('\n'));
  }
  if (r.errors.length) {
    throw new RbError(`rb sync with ${remote} did not finish: ${r.errors.join('; ')}`, 1, { next: `check the remote (\`git ls-remote ${remote}\`), then run \`rb sync\` again` });
  }
  return 0;
}
