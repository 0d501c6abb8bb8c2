/**
 * The user's cache dir, for what rb keeps between runs outside any repository: the kept worktree
 * of `rb check` (check/kept-worktree.ts) and the version of each git binary it has met (repo.ts).
 */
import { homedir, tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/** The user's cache dir: $XDG_CACHE_HOME when it is an absolute path, else ~/.cache (the temp dir when there is no home). */
export function userCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && isAbsolute(xdg)) return xdg;
  let home = '';
  try {
    home = homedir();
  } catch { /* no home directory */ }
  return home && home !== '/' ? join(home, '.cache') : join(tmpdir(), `rb-cache-${process.getuid?.() ?? 'user'}`);
}
