/**
 * Resolving the baseline (the last known good state): a branch, tag, remote-tracking branch,
 * fully-qualified ref or commit. Read-only. Hostile names are refused before git sees them.
 */
import { commitOf } from '../io/repo-state.js';
import { PreconditionError, UsageError } from '../errors.js';
import type { Repo } from '../repo.js';

export interface Baseline {
  /** as the user named it */
  name: string;
  /** what commands use: a fully-qualified ref, or the commit oid */
  ref: string;
  oid: string | null;
  /** refs/remotes/<remote>/<name> when the remote-tracking branch exists */
  remoteRef: string | null;
  /** what kind of thing it is */
  type: 'branch' | 'remote-branch' | 'tag' | 'ref' | 'commit' | 'missing';
  /** where rb looked, for messages */
  looked: string[];
}

/** Reject names git could read as options or ranges (safety.md §4 fault 10). */
export function assertSafeRefName(name: string, what = 'ref'): void {
  if (!name || name.startsWith('-') || /[\s~^:?*[\\]|\.\.|@\{|\0/.test(name) || name.endsWith('.lock') || name.endsWith('/') || name.endsWith('.')) {
    throw new UsageError(`"${name}" is not a usable ${what} name (it must not start with "-" or contain spaces, "..", "~", "^", ":", "?", "*", "[", "\\" or "@{").`, {
      next: `pass an existing branch, tag or commit, e.g. --to baseline`,
    });
  }
}

const oidOf = (repo: Repo, ref: string) => commitOf(repo.root, ref);

/**
 * The commit each full ref names (`<ref>^{commit}`, as oidOf), or null: from the ref listing
 * asked once per generation of the refs (io/repo-state.ts), git asked only for what the listing
 * cannot say.
 */
function commitsOf(repo: Repo, refs: string[]): Promise<(string | null)[]> {
  return Promise.all(refs.map((ref) => oidOf(repo, ref)));
}

export async function resolveBaseline(repo: Repo, name: string, remote: string): Promise<Baseline> {
  assertSafeRefName(name, 'baseline');
  const looked: string[] = [];
  if (name.startsWith('refs/')) {
    looked.push(name);
    const oid = await oidOf(repo, name);
    return { name, ref: name, oid, remoteRef: null, type: oid ? 'ref' : 'missing', looked };
  }
  const remoteRef = remote ? `refs/remotes/${remote}/${name}` : null;
  const head = `refs/heads/${name}`;
  const tag = `refs/tags/${name}`;
  looked.push(head, tag);
  if (remoteRef) looked.push(remoteRef);
  const [headOid, tagOid, remoteOid = null] = await commitsOf(repo, remoteRef ? [head, tag, remoteRef] : [head, tag]);
  if (headOid && tagOid && headOid !== tagOid) {
    throw new UsageError(`"${name}" is both a branch (${headOid.slice(0, 12)}) and a tag (${tagOid.slice(0, 12)}): rb will not guess which one is the baseline.`, {
      next: `name it fully: --to refs/heads/${name} or --to refs/tags/${name} (or set baseline: refs/heads/${name} in rb.config.yaml)`,
    });
  }
  if (!headOid && remoteOid && tagOid && remoteOid !== tagOid) {
    // a tag (a named checkpoint) and a remote's branch of the same name
    throw new UsageError(`"${name}" is both a tag (${tagOid.slice(0, 12)}) and the remote branch ${remoteRef!.slice('refs/remotes/'.length)} (${remoteOid.slice(0, 12)}): rb will not guess which one is the baseline.`, {
      next: `name it fully: --to refs/tags/${name} or --to ${remoteRef}`,
    });
  }
  if (headOid) return { name, ref: head, oid: headOid, remoteRef: remoteOid ? remoteRef : null, type: 'branch', looked };
  if (remoteOid) return { name, ref: remoteRef!, oid: remoteOid, remoteRef, type: 'remote-branch', looked };
  if (tagOid) return { name, ref: tag, oid: tagOid, remoteRef: null, type: 'tag', looked };
  if (/^[0-9a-f]{4,64}$/i.test(name)) {
    const oid = await oidOf(repo, name);
    if (oid) return { name, ref: oid, oid, remoteRef: null, type: 'commit', looked };
  }
  return { name, ref: head, oid: null, remoteRef: null, type: 'missing', looked };
}

export function missingBaselineError(b: Baseline, remote: string): PreconditionError {
  return new PreconditionError(
    `the baseline "${b.name}" was not found: looked at ${b.looked.join(', ')}${remote ? ` (the remote "${remote}" was not fetched; run \`git fetch ${remote}\` if it has it)` : ' (no remote configured)'}.`,
    { next: `create it at the last good commit (git branch ${b.name} <commit>), pass --to <ref>, or set baseline in rb.config.yaml` },
  );
}
