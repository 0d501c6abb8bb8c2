/**
 * A canonical, human-readable description of a working copy (TypeScript port of
 * design/prototype/manifest.py), for "nothing was lost" assertions:
 *
 *   const before = manifest(r.root);
 *   ... destroy, then undo / restore ...
 *   expect(manifest(r.root)).toBe(before);      // vitest prints a line diff on failure
 *
 * It covers, one line each (names read as bytes: a name that is not UTF-8 shows each such byte
 * as \xNN):
 *  - every path under the worktree except the top-level .git (nested repositories' .git dirs
 *    are included): type (F file, D dir, L symlink, O other), permission bits, sha256 of the
 *    content (16 hex) or the link target; directories marked "(empty)";
 *  - HEAD: the symbolic ref and the oid;
 *  - the index: a hash of the raw `ls-files -s -z` plus one line per entry, and the
 *    `ls-files -v -t` flag of every entry whose flag is not plain "H" (assume-unchanged,
 *    skip-worktree, unmerged, ...);
 *  - `status --porcelain=v2 -z --untracked-files=all --ignored=matching`;
 *  - in-progress git state in the worktree's git dir: MERGE_*, AUTO_MERGE, CHERRY_PICK_HEAD,
 *    REVERT_HEAD, REBASE_HEAD, ORIG_HEAD, SQUASH_MSG, BISECT_* (content hashed) and every file
 *    under rebase-merge/, rebase-apply/, sequencer/ (content hashed).
 *
 * Everything is included (rb's own rollbacks/ directory too); pass { exclude: ['rollbacks'] }
 * to leave paths out (a path and everything under it, from the file list, the index lines and
 * the status lines). The manifest never changes the repository: git runs with
 * GIT_OPTIONAL_LOCKS=0, so status does not refresh the index.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gitRun } from './repo.js';

export interface ManifestOptions {
  /** worktree-relative paths to leave out (each with everything under it) */
  exclude?: string[];
}

const STATE_FILES = ['MERGE_HEAD', 'MERGE_MSG', 'MERGE_MODE', 'MERGE_RR', 'MERGE_AUTOSTASH', 'AUTO_MERGE', 'CHERRY_PICK_HEAD',
  'REVERT_HEAD', 'REBASE_HEAD', 'ORIG_HEAD', 'SQUASH_MSG', 'BISECT_LOG', 'BISECT_START', 'BISECT_TERMS', 'BISECT_NAMES',
  'BISECT_EXPECTED_REV', 'BISECT_ANCESTORS_OK', 'BISECT_HEAD', 'BISECT_RUN', 'BISECT_FIRST_PARENT'];
const STATE_DIRS = ['rebase-merge', 'rebase-apply', 'sequencer'];

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex').slice(0, 16);
const q = (s: string) => JSON.stringify(s);
const perm = (mode: number) => '0' + (mode & 0o7777).toString(8);

/** The manifest of the working copy at `root` (see the module comment). */
export function manifest(root: string, opts: ManifestOptions = {}): string {
  const excluded = (p: string) => (opts.exclude ?? []).some((e) => p === e || p.startsWith(e.replace(/\/$/, '') + '/'));
  const files: string[] = [];
  // names are read as bytes: one that is not UTF-8 is listed by its bytes, exactly
  const walk = (rel: Buffer) => {
    const abs = rel.length === 0 ? Buffer.from(root) : Buffer.concat([Buffer.from(root + '/'), rel]);
    for (const name of readdirSync(abs, { encoding: 'buffer' })) {
      if (rel.length === 0 && name.toString('latin1') === '.git') continue;
      const r = rel.length === 0 ? name : Buffer.concat([rel, Buffer.from('/'), name]);
      const shown = nameText(r);
      if (excluded(shown)) continue;
      const p = Buffer.concat([abs, Buffer.from('/'), name]);
      const st = lstatSync(p);
      if (st.isSymbolicLink()) files.push(`L ${perm(st.mode)} ${q(shown)} -> ${q(nameText(readlinkSync(p, { encoding: 'buffer' })))}`);
      else if (st.isDirectory()) {
        files.push(`D ${perm(st.mode)} ${q(shown)}${readdirSync(p).length === 0 ? ' (empty)' : ''}`);
        walk(r);
      } else if (st.isFile()) files.push(`F ${perm(st.mode)} ${q(shown)} ${sha(readFileSync(p))}`);
      else files.push(`O ${perm(st.mode)} ${q(shown)}`);
    }
  };
  walk(Buffer.alloc(0));
  files.sort();
  const out = [...files];

  const g = (...args: string[]) => gitRun(root, args, { env: { GIT_OPTIONAL_LOCKS: '0' } });
  const gitDir = g('rev-parse', '--absolute-git-dir').stdout.trim();
  out.push('HEAD-ref ' + g('symbolic-ref', '-q', 'HEAD').stdout.trim());
  out.push('HEAD-oid ' + g('rev-parse', '-q', '--verify', 'HEAD').stdout.trim());

  const idx = splitZ(g('ls-files', '-s', '-z').stdoutBuf).filter((rec) => !excluded(rec.slice(rec.indexOf('\t') + 1)));
  out.push('ls-files-s ' + sha(idx.join('\0')));
  for (const rec of idx) out.push('  idx ' + q(rec));
  for (const rec of splitZ(g('ls-files', '-v', '-t', '-z').stdoutBuf)) {
    if (!rec.startsWith('H ') && !excluded(rec.slice(2))) out.push('  flag ' + q(rec));
  }
  const status = splitZ(g('status', '--porcelain=v2', '-z', '--untracked-files=all', '--ignored=matching').stdoutBuf);
  for (let i = 0; i < status.length; i++) {
    let rec = status[i]!;
    // a rename/copy record is followed by a record holding the original path
    if (rec.startsWith('2 ') && i + 1 < status.length) rec += '\0' + status[++i]!;
    if (!excluded(statusPath(rec.split('\0')[0]!))) out.push('  status ' + q(rec));
  }

  for (const f of STATE_FILES) {
    const p = join(gitDir, f);
    if (existsSync(p) && statSync(p).isFile()) out.push(`gitstate ${f} ${sha(readFileSync(p))}`);
  }
  for (const d of STATE_DIRS) {
    const p = join(gitDir, d);
    if (!existsSync(p)) continue;
    out.push(`gitstate ${d}/ present`);
    const inner = (rel: string) => {
      for (const name of readdirSync(join(p, rel)).sort()) {
        const r = rel ? `${rel}/${name}` : name;
        const st = lstatSync(join(p, r));
        if (st.isDirectory()) inner(r);
        else out.push(`gitstate ${d}/${r} ${st.isFile() ? sha(readFileSync(join(p, r))) : 'special'}`);
      }
    };
    inner('');
  }
  return out.join('\n') + '\n';
}

/** -z output as records, each as nameText gives it. */
function splitZ(buf: Buffer): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = buf.indexOf(0); i >= 0; i = buf.indexOf(0, start)) {
    if (i > start) out.push(nameText(buf.subarray(start, i)));
    start = i + 1;
  }
  if (start < buf.length) out.push(nameText(buf.subarray(start)));
  return out;
}

/** Bytes as text: the UTF-8 string when they are valid UTF-8, else each byte >= 0x80 as \xNN (exact either way). */
function nameText(b: Buffer): string {
  const s = b.toString('utf8');
  if (Buffer.from(s, 'utf8').equals(b)) return s;
  let out = '';
  for (const byte of b) out += byte < 0x80 ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  return out;
}

/** The path of a porcelain v2 record (for exclusion). */
function statusPath(rec: string): string {
  const t = rec[0];
  const fields = t === '1' ? 8 : t === '2' ? 9 : t === 'u' ? 10 : 1;
  const parts = rec.split(' ');
  return parts.slice(fields).join(' ');
}
