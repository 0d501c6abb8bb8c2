/**
 * Questions a command asks many times — which branch HEAD is on, its commit, where every branch,
 * tag and remote-tracking branch points, the configuration — answered once per generation of
 * the parts of the repository they depend on: inside a command's scope (./run-scope.ts) an
 * answer is kept until rb starts a command that may change one of those parts (./git.ts
 * partsChangedBy names the classes: writing objects changes none, `clean`/`restore`/`read-tree`
 * only the files, `update-ref refs/rb/…` or `stash store` only the private refs, `git config`
 * only the configuration; every other command, and any command that is not git, all of them).
 * Outside a scope every call asks git.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { git, identityFromConfig, parseConfigZ, repoGeneration, REPO_PARTS, splitZ, type RepoPart } from './git.js';
import { currentScope } from './run-scope.js';

/**
 * `ask()`, or the answer it gave under the same key since one of the parts of the repository it
 * depends on (`dependsOn`, by default all) last may have changed.
 */
export function memoized<T>(key: string, ask: () => Promise<T>, dependsOn: readonly RepoPart[] = REPO_PARTS): Promise<T> {
  const scope = currentScope();
  if (!scope) return ask();
  const generation = repoGeneration(dependsOn);
  const hit = scope.memo.get(key);
  if (hit && hit.generation === generation) return hit.value as Promise<T>;
  const value = ask();
  scope.memo.set(key, { generation, value });
  value.catch(() => {
    if (scope.memo.get(key)?.value === value) scope.memo.delete(key);
  });
  return value;
}

/** One branch, tag or remote-tracking branch: where it points, that object's type, and for a tag what it peels to (one level). */
interface RefRow {
  oid: string;
  type: string;
  peeledOid: string;
  peeledType: string;
}

/**
 * Every branch, tag and remote-tracking branch, asked once per generation of the refs:
 * `listing` as `git for-each-ref --format='%(objectname) %(refname)' refs/heads refs/remotes
 * refs/tags` prints it, byte for byte (the snapshot stores it as meta/refs), and by ref the type
 * of what it points at, so "the commit of this branch" needs no rev-parse.
 */
function refTable(root: string): Promise<{ listing: Buffer; rows: Map<string, RefRow> }> {
  return memoized(`refs ${root}`, async () => {
    const typed = await git(['for-each-ref', `--format=${TYPED_FORMAT}`, ...LISTED], { cwd: root, readOnly: true, binary: true, allowFail: true });
    // a ref whose object is missing makes git fail on %(objecttype) ("fatal: missing object"):
    // then the listing without types, each type unknown (asked of git when needed)
    const out = typed.code === 0
      ? typed.stdoutBuf
      : (await git(['for-each-ref', '--format=%(objectname) ? ? ? %(refname)', ...LISTED], { cwd: root, readOnly: true, binary: true })).stdoutBuf;
    const lines: Buffer[] = [];
    const rows = new Map<string, RefRow>();
    for (let start = 0; start < out.length;) {
      let end = out.indexOf(0x0a, start);
      if (end < 0) end = out.length;
      const line = out.subarray(start, end);
      start = end + 1;
      // `<oid> <type> <peeled oid or nothing> <peeled type or nothing> <refname>`: a refname has no space
      const sp: number[] = [];
      for (let i = 0; i < line.length && sp.length < 4; i++) if (line[i] === 0x20) sp.push(i);
      if (sp.length < 4) continue;
      const oid = line.subarray(0, sp[0]!);
      const name = line.subarray(sp[3]! + 1);
      lines.push(oid, SPACE, name, NEWLINE);
      rows.set(name.toString('utf8'), {
        oid: oid.toString('latin1'),
        type: line.subarray(sp[0]! + 1, sp[1]!).toString('latin1'),
        peeledOid: line.subarray(sp[1]! + 1, sp[2]!).toString('latin1'),
        peeledType: line.subarray(sp[2]! + 1, sp[3]!).toString('latin1'),
      });
    }
    return { listing: Buffer.concat(lines), rows };
  }, ['refs']);
}

const LISTED = ['refs/heads', 'refs/remotes', 'refs/tags'];
const TYPED_FORMAT = '%(objectname) %(objecttype) %(*objectname) %(*objecttype) %(refname)';
const SPACE = Buffer.from(' ');
const NEWLINE = Buffer.from('\n');

/**
 * `git for-each-ref --format='%(objectname) %(refname)' refs/heads refs/remotes refs/tags`, as
 * bytes (the snapshot stores them as meta/refs) — one line per ref, sorted by name.
 */
export async function refListing(root: string): Promise<Buffer> {
  return (await refTable(root)).listing;
}

/** Positions of every branch, tag and remote-tracking branch: ref -> oid. */
export async function refPositions(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [ref, row] of (await refTable(root)).rows) out[ref] = row.oid;
  return out;
}

/**
 * The commit a full ref name under refs/heads, refs/remotes or refs/tags names (`<ref>^{commit}`),
 * from the ref listing: null when there is no such ref or it names no commit; undefined when the
 * listing cannot say (a tag of a tag: ask git).
 */
export async function listedCommitOf(root: string, ref: string): Promise<string | null | undefined> {
  const row = (await refTable(root)).rows.get(ref);
  if (!row) return null;
  if (row.type === 'commit') return row.oid;
  if (row.type === 'tag' && row.peeledType === 'commit') return row.peeledOid;
  if (row.type === 'tree' || row.type === 'blob' || (row.type === 'tag' && (row.peeledType === 'tree' || row.peeledType === 'blob'))) return null;
  return undefined;
}

/** A full name of a branch, tag or remote-tracking branch, nothing more (no `~1`, `^{…}`, `@{…}`, `:path`). */
const PLAIN_LISTED_REF = /^refs\/(heads|remotes|tags)\/[^\s~^:?*[\\]+$/;

/**
 * The commit `rev` names (`git rev-parse -q --verify <rev>^{commit}`), or null: a plain
 * branch, tag or remote-tracking ref is answered by the ref listing, anything else by git.
 */
export async function commitOf(root: string, rev: string): Promise<string | null> {
  if (PLAIN_LISTED_REF.test(rev) && !rev.includes('..') && !rev.includes('@{')) {
    const listed = await listedCommitOf(root, rev);
    if (listed !== undefined) return listed;
  }
  const r = await git(['rev-parse', '-q', '--verify', '--end-of-options', `${rev}^{commit}`], { cwd: root, allowFail: true, readOnly: true });
  return r.code === 0 ? r.stdout.trim() || null : null;
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
 * a ref outside refs/heads, or a branch the listing does not show as a commit, is asked of rev-parse.
 */
export function headState(repo: { root: string; gitDir: string }): Promise<{ ref: string | null; oid: string | null }> {
  return memoized(`head ${repo.root}`, async () => {
    const ref = await headRef(repo.root, repo.gitDir);
    if (ref?.startsWith('refs/heads/')) {
      const row = (await refTable(repo.root)).rows.get(ref);
      if (!row) return { ref, oid: null };
      if (row.type === 'commit') return { ref, oid: row.oid };
    }
    const r = await git(['rev-parse', '-q', '--verify', 'HEAD^{commit}'], { cwd: repo.root, allowFail: true, readOnly: true });
    return { ref, oid: r.code === 0 ? r.stdout.trim() || null : null };
  }, ['head', 'refs']);
}

/**
 * The configuration rb reads (core.autocrlf, core.filemode, core.symlinks, core.sparseCheckout,
 * user/author/committer.name and .email, i18n.commitEncoding, extensions.objectFormat), keys lowercased, the last value of a key winning, null for a key
 * without a value (./git.ts parseConfigZ): one `git config` for the snapshot and the identity,
 * and the names of the remotes it gives a URL (`remote.<name>.url`, names as written).
 */
function configTable(root: string): Promise<{ values: Record<string, string | null>; remotesWithUrl: Set<string> }> {
  return memoized(`config ${root}`, async () => {
    const r = await git(['config', '-z', '--get-regexp', '^(core\\.(autocrlf|filemode|symlinks|sparsecheckout)|(user|author|committer)\\.(name|email)|i18n\\.commitencoding|extensions\\.objectformat|remote\\..+\\.url)$'], { cwd: root, allowFail: true, readOnly: true });
    const out = r.code === 0 ? r.stdout : '';
    const values = parseConfigZ(out);
    const remotesWithUrl = new Set<string>();
    for (const key of Object.keys(values)) if (key.startsWith('remote.')) delete values[key];
    // git prints the section and variable lowercased and the subsection (the remote's name) as written
    for (const rec of splitZ(out)) {
      const m = /^remote\.(.+)\.url(\n|$)/.exec(rec);
      if (m && rec.includes('\n')) remotesWithUrl.add(m[1]!);
    }
    return { values, remotesWithUrl };
  }, ['config']);
}

export async function configValues(root: string): Promise<Record<string, string | null>> {
  return (await configTable(root)).values;
}

/**
 * Does the remote `name` exist? True when the configuration gives it a URL (read with the rest
 * of the configuration); otherwise git is asked (`remote get-url`: a remote defined in the old
 * .git/remotes or .git/branches files, or none).
 */
export async function remoteExists(root: string, name: string): Promise<boolean> {
  if ((await configTable(root)).remotesWithUrl.has(name)) return true;
  const r = await git(['remote', 'get-url', '--', name], { cwd: root, allowFail: true, readOnly: true });
  return r.code === 0;
}

/**
 * Environment that gives rb's own commits an identity when the user has none configured
 * (safety.md §2). The user's identity is used when present.
 */
export async function identityEnv(cwd: string): Promise<Record<string, string>> {
  return identityFromConfig(await configValues(cwd));
}
