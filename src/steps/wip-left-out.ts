/**
 * What a WIP commit (`git.commit-all`, `rb sprint`) leaves out, and why. A WIP commit ends up on
 * a backup branch the team may push, so it never holds:
 *
 *   - a path matching `keep` (default `.env`, `.env.*`), tracked or not: a tracked one keeps
 *     HEAD's version in the commit, the change stays on disk only;
 *   - rb's own files (`.rb/`, `rb.config.yaml`) when they are not committed as they are;
 *   - an untracked file that looks like a secret by its name ({@link SECRET_FILE_NAMES}) or by
 *     what it holds (what `rb analyze` redacts: a private key, a URL with a password, the value
 *     of a secret-named environment variable; see src/analyze/redact.ts).
 *
 * Ignored files are never part of it either (`git add -A` leaves them). Everything left out is
 * in the run's snapshot, and stays on disk across the switch to the retry branch (git.switch
 * `carryLeftOutOf`).
 */
import { lstatSync, openSync, readSync, closeSync } from 'node:fs';
import { join, posix } from 'node:path';
import { git, splitZ } from '../io/git.js';
import { keepPathspecs } from './git-common.js';
import type { Repo } from '../repo.js';
import { RB_OWN_PATHS } from '../config/defaults.js';
import { secretsIn, secretsOf, type Secret } from '../analyze/redact.js';

/** A path the WIP commit leaves out, and why (for the output and the report). */
export interface LeftOut {
  path: string;
  /** "keep path", "rb's own file", "looks like a secret: *.pem", "holds a URL with a password" */
  why: string;
  /** tracked in HEAD (its HEAD version is what the commit keeps) */
  tracked: boolean;
}

/** File names that look like secrets (matched against the file's base name). */
export const SECRET_FILE_NAMES: readonly string[] = ['.env*', '*.pem', '*.key', 'id_rsa*', '*.p12'];

/** How much of an untracked file is read to look for secrets. */
export const SECRET_SCAN_BYTES = 1 << 20;

function globToRegExp(glob: string): RegExp {
  const s = glob.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${s}$`);
}
const SECRET_NAME_RES = SECRET_FILE_NAMES.map((g) => ({ g, re: globToRegExp(g) }));

/** The secret-looking name pattern a path matches, or null. */
export function secretNamePattern(path: string): string | null {
  const base = posix.basename(path);
  return SECRET_NAME_RES.find((x) => x.re.test(base))?.g ?? null;
}

/** rb's own files as literal pathspecs (a directory matches everything below it). */
const OWN_PATHSPECS = RB_OWN_PATHS.map((p) => `:(literal)${p}`);

/** Paths (tracked or untracked, not ignored) that differ from HEAD and match the pathspecs. */
async function changedMatching(repo: Repo, head: string | null, pathspecs: string[]): Promise<{ tracked: string[]; untracked: string[] }> {
  if (!pathspecs.length) return { tracked: [], untracked: [] };
  const [diff, others] = await Promise.all([
    head
      ? git(['diff', '--name-only', '-z', '--no-renames', head, '--', ...pathspecs], { cwd: repo.root, readOnly: true })
      : git(['ls-files', '-z', '--cached', '--', ...pathspecs], { cwd: repo.root, readOnly: true }),
    git(['ls-files', '-z', '-o', '--exclude-standard', '--', ...pathspecs], { cwd: repo.root, readOnly: true }),
  ]);
  return { tracked: splitZ(diff.stdout), untracked: splitZ(others.stdout).filter((p) => !p.endsWith('/')) };
}

/** The first bytes of a regular file, or null (a symlink, a directory, unreadable). */
function head(abs: string): string | null {
  try {
    if (!lstatSync(abs).isFile()) return null;
    const fd = openSync(abs, 'r');
    try {
      const buf = Buffer.alloc(SECRET_SCAN_BYTES);
      const n = readSync(fd, buf, 0, buf.length, 0);
      return buf.subarray(0, n).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
}

/**
 * Everything the WIP commit on top of `headOid` must leave out (see the module comment), in
 * path order. `untracked` is the list of untracked, not ignored files (`ls-files -o
 * --exclude-standard`), which the caller has anyway.
 */
export async function leftOutOfWipCommit(
  repo: Repo,
  opts: { headOid: string | null; keep: readonly string[]; untracked: readonly string[]; env?: NodeJS.ProcessEnv },
): Promise<LeftOut[]> {
  const out = new Map<string, LeftOut>();
  // one question for both kinds (pathspec magic is per pathspec): a path at or under .rb/ or
  // rb.config.yaml is named as rb's own file, any other match is a keep path
  const matched = await changedMatching(repo, opts.headOid, [...keepPathspecs(opts.keep), ...OWN_PATHSPECS]);
  const why = (p: string) => (RB_OWN_PATHS.some((o) => p === o || p.startsWith(`${o}/`)) ? "rb's own file" : 'keep path');
  for (const p of matched.tracked) out.set(p, { path: p, why: why(p), tracked: true });
  for (const p of matched.untracked) if (!out.has(p)) out.set(p, { path: p, why: why(p), tracked: false });
  const secrets: Secret[] = secretsOf(opts.env ?? process.env);
  for (const p of opts.untracked) {
    if (p.endsWith('/') || out.has(p)) continue;
    const byName = secretNamePattern(p);
    if (byName) {
      out.set(p, { path: p, why: `looks like a secret: ${byName}`, tracked: false });
      continue;
    }
    const text = head(join(repo.root, p));
    const found = text === null ? [] : secretsIn(text, secrets);
    if (found.length) out.set(p, { path: p, why: `holds ${found.join(', ')}`, tracked: false });
  }
  return [...out.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** "a.pem (looks like a secret: *.pem), .env (keep path)" */
export function describeLeftOut(list: readonly LeftOut[]): string {
  return list.map((l) => `${l.path} (${l.why})`).join(', ');
}
