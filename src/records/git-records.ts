/**
 * Run records as git objects (issue 20), shared through the remote by `rb sync`.
 *
 * The model is git-bug's: an entity is a chain of commits under a ref of its own, pushed and
 * fetched like a branch. Here one record is one ref,
 *
 *   refs/rb/records/<writer>/<kind>/<id>     kind: runs (every run and undo) or checks (rb check)
 *
 * whose commits each hold a tree of
 *
 *   record.json   what the run was (the journal without local detail: no output tails, no ref
 *                 maps, no paths of this machine), redacted
 *   audit.json    its audit line (rollbacks/audit.jsonl), redacted
 *   metrics.json  its metrics entry or checkpoint (rollbacks/metrics.json), when it has one
 *
 * `<writer>` is a random id made once per clone (<git-common-dir>/rb/writer): a clone only ever
 * writes under its own writer, so two clones (or CI runners) writing at the same moment never
 * touch the same ref, and a fetch never has to merge anything. A record is append-only: writing
 * it again (a resumed run) adds a commit whose parent is the previous one. Reading merges every
 * writer's records (the team's view); an undo is a record of its own (`undo_of`), applied on read.
 *
 * Built with plumbing only: the blobs, tree and commit are hashed here and written by one git
 * process (io/object-batch.ts), then the ref is set by `update-ref`; the index and the work tree
 * are never touched. Secrets are redacted as in the analysis bundle (analyze/redact.ts).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { git, identityFromConfig } from '../io/git.js';
import { configValues } from '../io/repo-state.js';
import { ObjectBatch, addCommit, commitIdentity, objectFormatOf, type ObjectFormat } from '../io/object-batch.js';
import type { GitOptions } from '../io/git.js';
import type { Repo } from '../repo.js';
import type { AuditLine } from './audit.js';
import type { Checkpoint, MetricsEntry } from './metrics.js';
import type { RunRecord } from '../journal/journal.js';
import { redactDeep, redactor, secretsOf, type Secret } from '../analyze/redact.js';

export const RECORDS_REF_PREFIX = 'refs/rb/records/';

export type RecordKind = 'runs' | 'checks';

/** What one record holds (the files of its tree, parsed). */
export interface SharedRecord {
  kind: RecordKind;
  id: string;
  writer: string;
  ref: string;
  commit: string;
  record: SharedRun | null;
  audit: AuditLine | null;
  metrics: (MetricsEntry | Checkpoint) | null;
}

/** The part of a run journal that is shared: what happened, not how this machine is laid out. */
export type SharedRun = Omit<RunRecord, 'root' | 'gitDir' | 'refs' | 'processes' | 'inline' | 'argv' | 'pid' | 'steps'> & {
  steps: Omit<RunRecord['steps'][number], 'outputTail' | 'result'>[];
  writer: string;
};

/** A writer id: 12 hex digits, made once per clone. */
const WRITER_RE = /^[0-9a-f]{12}$/;

/** This clone's writer id (<git-common-dir>/rb/writer), made on first use. */
export function writerId(repo: Pick<Repo, 'commonDir'>): string {
  const file = join(repo.commonDir, 'rb', 'writer');
  for (let attempt = 0; attempt < 50; attempt++) {
    if (existsSync(file)) {
      const id = readFileSync(file, 'utf8').trim();
      if (WRITER_RE.test(id)) return id;
      // another rb is writing it this instant (or it is damaged: then the last attempt replaces it)
      if (attempt < 49) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
        continue;
      }
      rmSync(file, { force: true });
    }
    mkdirSync(join(repo.commonDir, 'rb'), { recursive: true });
    try {
      // exclusive create: two rb processes starting at once agree on one id
      writeFileSync(file, randomBytes(6).toString('hex') + '\n', { mode: 0o644, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  throw new Error(`could not read or create ${file}`);
}

/** The ref of one record. Ids are run ids (20261122-101502-sprint-4): safe in a ref name. */
export function recordRef(writer: string, kind: RecordKind, id: string): string {
  return `${RECORDS_REF_PREFIX}${writer}/${kind}/${id}`;
}

/** Secrets to keep out of records: as the analysis bundle (plus the webhook, whose path is a token). */
export function recordSecrets(webhook: string | null, env: NodeJS.ProcessEnv = process.env): Secret[] {
  return secretsOf(env, webhook ? [{ name: 'notify.webhook', value: webhook }] : []);
}

/** The shared form of a run journal (see {@link SharedRun}). */
export function sharedRun(run: RunRecord, writer: string): SharedRun {
  const { root: _r, gitDir: _g, refs: _refs, processes: _p, inline: _i, argv: _a, pid: _pid, steps, ...rest } = run;
  return {
    ...rest,
    steps: steps.map(({ outputTail: _o, result: _res, ...s }) => s),
    writer,
  };
}

export interface WriteRecordInput {
  kind: RecordKind;
  id: string;
  record?: SharedRun | null;
  audit?: AuditLine | null;
  metrics?: MetricsEntry | Checkpoint | null;
  secrets: readonly Secret[];
  /** the commit identity's fallback env when it is already known (identityFromConfig); read from git config otherwise */
  identity?: Record<string, string>;
}

/**
 * Write (or append to) one record: blobs, a tree, a commit whose parent is the record's previous
 * commit, and a compare-and-swap update of its ref. Returns the ref and the new commit.
 */
export async function writeRecord(repo: Repo, input: WriteRecordInput): Promise<{ ref: string; commit: string }> {
  const writer = writerId(repo);
  const ref = recordRef(writer, input.kind, input.id);
  // where the ref is: first rb's guess from the loose ref file (none: a new record), checked by
  // the compare-and-swap update-ref; when that fails (the ref is packed, or moved meanwhile),
  // asked of git and written again on the answer
  let old = await looseRef(repo, ref);
  for (let attempt = 0; ; attempt++) {
    const commit = await recordCommit(repo, input, writer, old);
    // compare-and-swap: the ref must still be where we read it (a zero oid: must not exist yet)
    const u = await git(['update-ref', '-m', 'rb record', ref, commit, old ?? '0'.repeat(commit.length)], { cwd: repo.root, allowFail: attempt < 2 });
    if (u.code === 0) return { ref, commit };
    const parent = await git(['rev-parse', '-q', '--verify', `${ref}^{commit}`], { cwd: repo.root, allowFail: true, readOnly: true });
    old = parent.code === 0 ? parent.stdout.trim() : null;
  }
}

/** The object id in the loose ref file of `ref` (the files backend), or null: absent, packed, or not one object id. */
async function looseRef(repo: Repo, ref: string): Promise<string | null> {
  try {
    const t = await readFile(join(repo.commonDir, ref), 'utf8');
    return /^([0-9a-f]{40}|[0-9a-f]{64})\n$/.test(t) ? t.trim() : null;
  } catch {
    return null;
  }
}

/** The record's blobs, tree and commit on `old` (null: the first), written by one git process; returns the commit. */
async function recordCommit(repo: Repo, input: WriteRecordInput, writer: string, old: string | null): Promise<string> {
  const clean = redactor(input.secrets);
  const files: [string, unknown][] = [
    ['audit.json', input.audit],
    ['metrics.json', input.metrics],
    ['record.json', input.record],
  ];
  // append-only: a file not given this time is the previous commit's
  if (old && files.some(([, v]) => v === undefined)) {
    const prev = await catBatch(repo, files.map(([name]) => `${old}:${name}`));
    files.forEach((f, i) => {
      if (f[1] === undefined) f[1] = parseJson(prev[i] ?? null);
    });
  }
  const present = files.filter(([, v]) => v !== null && v !== undefined);
  // blobs, tree and commit: hashed here, written by one git process before the ref moves
  const run = (args: readonly string[], o: Partial<GitOptions> = {}) => git(args, { cwd: repo.root, ...o });
  const cfg = await configValues(repo.root);
  const objects = new ObjectBatch(run, objectFormat(old, cfg));
  const tree = objects.tree(present.map(([name, v]) => ({ mode: '100644', name, oid: objects.blob(JSON.stringify(redactDeep(v, clean), null, 2) + '\n') })));
  const result = (input.audit?.result as string | undefined) ?? (input.record?.status as string | undefined) ?? '';
  const message = `rb record ${input.kind}/${input.id}${result ? `: ${result}` : ''}\n\nrb-writer: ${writer}\n`;
  const env = input.identity ?? identityFromConfig(cfg);
  const identity = commitIdentity(cfg, { ...process.env, ...env });
  const commit = await addCommit(objects, run, { tree, parents: old ? [old] : [], message, identity, env });
  await objects.flush();
  return commit;
}

/** The repository's object format: from the record's previous commit, else from extensions.objectFormat. */
function objectFormat(known: string | null, cfg: Readonly<Record<string, string | null>>): ObjectFormat {
  if (known) return objectFormatOf(known);
  return cfg['extensions.objectformat']?.toLowerCase() === 'sha256' ? 'sha256' : 'sha1';
}

/** Every record under refs/rb/records/ (this clone's and every fetched writer's), tips only. */
export async function readRecords(repo: Repo, opts: { kind?: RecordKind } = {}): Promise<SharedRecord[]> {
  const r = await git(['for-each-ref', '--format=%(objectname) %(refname)', RECORDS_REF_PREFIX], { cwd: repo.root, readOnly: true });
  const rows: { commit: string; ref: string; writer: string; kind: RecordKind; id: string }[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^([0-9a-f]+) (refs\/rb\/records\/([^/]+)\/(runs|checks)\/(.+))$/.exec(line);
    if (!m) continue;
    if (opts.kind && m[4] !== opts.kind) continue;
    rows.push({ commit: m[1]!, ref: m[2]!, writer: m[3]!, kind: m[4] as RecordKind, id: m[5]! });
  }
  if (!rows.length) return [];
  const names = ['record.json', 'audit.json', 'metrics.json'] as const;
  const specs = rows.flatMap((row) => names.map((n) => `${row.commit}:${n}`));
  const blobs = await catBatch(repo, specs);
  return rows.map((row, i) => {
    const [record, audit, metrics] = names.map((_, j) => parseJson(blobs[i * names.length + j] ?? null));
    return { ...row, record: record as SharedRun | null, audit: audit as AuditLine | null, metrics: metrics as MetricsEntry | Checkpoint | null };
  });
}

function parseJson(b: Buffer | null): unknown {
  if (!b) return null;
  try {
    return JSON.parse(b.toString('utf8'));
  } catch {
    return null;
  }
}

/** `git cat-file --batch` of specs; null for a missing object. */
async function catBatch(repo: Repo, specs: readonly string[]): Promise<(Buffer | null)[]> {
  const { catFileBatch } = await import('../snapshot/format.js');
  return catFileBatch(repo, specs);
}

/** The writers whose records this clone holds, with how many records each. */
export async function recordWriters(repo: Repo): Promise<Map<string, number>> {
  const r = await git(['for-each-ref', '--format=%(refname)', RECORDS_REF_PREFIX], { cwd: repo.root, readOnly: true });
  const out = new Map<string, number>();
  for (const ref of r.stdout.split('\n').filter(Boolean)) {
    const w = ref.slice(RECORDS_REF_PREFIX.length).split('/')[0]!;
    out.set(w, (out.get(w) ?? 0) + 1);
  }
  return out;
}
