/**
 * The shapes shared by `rb check`'s checks (src/check/*.ts), its orchestration (run-check.ts)
 * and its output (output.ts). Pure types.
 */

/** pass: fine · warn: worth a look, does not fail the gate · fail: the gate fails (exit 3). */
export type CheckStatus = 'pass' | 'warn' | 'fail';

/** The checks, in the order they run and are reported. */
export type CheckId = 'worktree' | 'in-progress' | 'baseline' | 'clean' | 'disk' | 'dependencies' | 'baseline-tests';

/** What one check found: a status and a one-line reason, plus what to run when it is not a pass. */
export interface CheckResult {
  id: CheckId;
  /** short human title ("Working tree clean") */
  title: string;
  status: CheckStatus;
  /** one line: what was found */
  reason: string;
  /** the command(s) to run to fix a fail or a warn */
  next?: string;
  /** further lines (the first dirty paths, the tail of a failing test run) */
  details?: string[];
  /** machine-readable facts for --json (counts, oids, paths) */
  data?: Record<string, unknown>;
}

/** The checkpoint recorded after a passing check (a local annotated tag and a metrics entry). */
export interface CheckpointInfo {
  /** the tag name, or null when the tag could not be created */
  tag: string | null;
  commit: string;
  branch: string | null;
  /** rollbacks/metrics.json, relative to the repository root, when the checkpoint was recorded there */
  metrics: string | null;
  /** what went wrong while recording it (the gate still passed) */
  warnings: string[];
}

/** The result of `rb check`: what `--json` prints. */
export interface CheckReport {
  /** true when no check failed */
  ok: boolean;
  /** the repository's top level, or null outside a work tree */
  root: string | null;
  checks: CheckResult[];
  /** the checkpoint tag created, or null (a check failed, --no-tag, check.tag: false, or tagging failed) */
  tag: string | null;
  checkpoint: CheckpointInfo | null;
  /** why no checkpoint was taken, when none was */
  checkpointSkipped: string | null;
  /**
   * where the baseline's tests ran: the kept worktree (its path, outside the repository, and
   * whether this check created it), a temporary one, or the work tree itself; null when they did not run
   */
  worktree: { kind: 'kept' | 'temporary' | 'in-place'; path: string; created: boolean } | null;
  /** what to run, one entry per failing check */
  next: string[];
  durationMs: number;
}

/** Lines of progress for a human (long steps such as the baseline tests); never on stdout under --json. */
export type Progress = (line: string) => void;
