/**
 * rb.config.yaml's file name, static defaults and the path/name rules — everything about the
 * configuration that needs no YAML parser and no zod, so commands can load a configuration
 * without them when the repository has no rb.config.yaml (startup budget, stack.md).
 */
import { posix } from 'node:path';
import type { Config } from '../types.js';

export const CONFIG_FILE = 'rb.config.yaml';

/** rb's own files in a repository (root-relative): never cleaned, and never what makes a tree "not clean". */
export const RB_OWN_PATHS: readonly string[] = ['.rb', CONFIG_FILE];

/**
 * The names of dependency dirs (the folders a package manager fills from lockfiles): never
 * captured by a snapshot when ignored, whatever snapshots.skipIgnored says, and kept through a
 * rollback's clean while their lockfiles are unchanged (steps/dependency-dirs.ts finds them).
 */
export const DEPENDENCY_DIR_NAMES: readonly string[] = ['node_modules', '.venv', 'venv', '__pypackages__'];

/** The ignored names a snapshot leaves out: snapshots.skipIgnored plus every dependency dir name. */
export function snapshotSkipNames(skipIgnored: readonly string[]): Set<string> {
  return new Set([...skipIgnored, ...DEPENDENCY_DIR_NAMES]);
}

/** npm's placeholder test script, which is not a test command. */
export const NPM_PLACEHOLDER_TEST = 'echo "Error: no test specified" && exit 1';

/** The environment variable that sets notify.webhook (it wins over the file: secrets stay out of the repository). */
export const WEBHOOK_ENV = 'RB_WEBHOOK_URL';

/**
 * Why `p` is not a safe path inside the repository, or null when it is. A safe path is
 * relative to the repository root, and stays inside it after normalization.
 */
export function repoPathProblem(p: string, opts: { allowRoot?: boolean; allowGitDir?: boolean } = {}): string | null {
  if (p.trim() === '') return 'must not be empty';
  if (p.includes('\0')) return 'must not contain a NUL character';
  const slashed = p.replace(/\\/g, '/');
  if (slashed.startsWith('/') || /^[A-Za-z]:/.test(slashed) || p.startsWith('~')) {
    return `must be a path relative to the repository root, got the absolute path ${JSON.stringify(p)}`;
  }
  const norm = posix.normalize(slashed).replace(/\/+$/, '') || '.';
  if (norm === '..' || norm.startsWith('../')) {
    return `must stay inside the repository, but ${JSON.stringify(p)} leads outside it`;
  }
  if (norm === '.' && !opts.allowRoot) return 'must be a folder inside the repository, not its root';
  if (!opts.allowGitDir && (norm === '.git' || norm.startsWith('.git/'))) {
    return 'must not be inside .git';
  }
  return null;
}

/**
 * Why `name` is unsafe as a git branch/tag/remote name passed on a command line, or null.
 * (A subset of git check-ref-format, plus: never starting with "-", which git would read as an option.)
 */
export function refNameProblem(name: string): string | null {
  if (name.startsWith('-')) return 'must not start with "-"';
  // eslint-disable-next-line no-control-regex
  if (/[\s\x00-\x1f\x7f~^:?*[\\]/.test(name)) return 'must not contain spaces or any of ~ ^ : ? * [ \\';
  if (name.includes('..') || name.includes('@{') || name.endsWith('.lock') || name.endsWith('/') || name.endsWith('.')) {
    return 'is not a valid git name (no "..", "@{", and no trailing "/", "." or ".lock")';
  }
  return null;
}

/** Defaults that do not depend on the repository (test and install are detected by loadConfig). */
export function staticDefaults(): Config {
  return {
    baseline: 'baseline',
    remote: 'origin',
    rollbacksDir: 'rollbacks',
    test: null,
    coverage: null,
    performance: null,
    build: null,
    verify: null,
    install: [],
    services: [],
    keep: ['.env', '.env.*'],
    skipUnwritable: false,
    testMap: [],
    undo: { windowHours: 24 },
    snapshots: { keepDays: 30, maxIgnoredBytes: 52428800, skipIgnored: ['node_modules'] },
    check: { maxDiskPercent: 90, baselineTests: true, tag: true, worktree: null },
    metrics: { healthyRate: 0.05, reviewRate: 0.1, countNamedCheckpoints: false },
    notify: { webhook: null },
    records: { share: false, timeoutSeconds: 10 },
  };
}

/** The top-level keys of Config (for validating `{{ config.… }}` references in playbooks). */
export const CONFIG_KEYS: readonly (keyof Config)[] = Object.keys(staticDefaults()) as (keyof Config)[];

/** Config keys whose values are mappings of further keys; every other key is a leaf. */
export const NESTED_CONFIG_KEYS = ['undo', 'snapshots', 'check', 'metrics', 'notify', 'records'] as const;
