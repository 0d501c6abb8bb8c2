/**
 * The scope of one rb command: what it may keep between git questions while it runs. Inside a
 * scope (each CLI command runs in one, see cli.ts), answers asked many times — HEAD, branch
 * positions, the snapshot list — are memoized until rb's next command that may change the
 * repository (./repo-state.ts), and objects are read by one long-lived `git cat-file --batch`
 * per repository (./cat-file.ts), closed when the scope ends. Outside a scope (rb used as a
 * library, the tests) every question starts its own git process, as before: a caller may change
 * the repository between two calls by means rb does not see.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export interface RunScope {
  /** memoized answers: key -> the generations of the repository parts they depend on when asked (io/git.ts repoGeneration), and the answer */
  memo: Map<string, { generation: string; value: Promise<unknown> }>;
  /** what holds for the whole command (the repository found for a directory) */
  fixed: Map<string, unknown>;
  /** resources to release when the scope ends (the long-lived cat-file processes) */
  closers: Map<string, { close: () => void }>;
}

const storage = new AsyncLocalStorage<RunScope>();

export function currentScope(): RunScope | undefined {
  return storage.getStore();
}

/** Run fn inside a scope (the current one, when there is one already). */
export async function withRunScope<T>(fn: () => Promise<T>): Promise<T> {
  if (storage.getStore()) return fn();
  const scope: RunScope = { memo: new Map(), fixed: new Map(), closers: new Map() };
  try {
    return await storage.run(scope, fn);
  } finally {
    for (const c of scope.closers.values()) c.close();
    scope.closers.clear();
    scope.memo.clear();
    scope.fixed.clear();
  }
}
