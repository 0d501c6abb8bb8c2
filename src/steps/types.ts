/**
 * The contract every step kind implements (architecture §5): one file per kind in src/steps/,
 * exporting a StepKind. Kinds import heavy libraries (execa, listr2) lazily inside run().
 */
import type { ZodType } from '#zod';
import type { Config, Playbook } from '../types.js';
import type { Repo } from '../repo.js';
import type { AccessReport } from '../engine/access.js';
import type { InTheWay } from './in-the-way.js';

export interface RunInfo {
  id: string;
  /** e.g. 20261122-101502 */
  stamp: string;
  /** the run's folder, relative to rollbacksDir (e.g. sprint-4); `to:` paths are relative to rollbacksDir */
  dir: string;
  /** ISO time the run started */
  startedAt: string;
  /** --reason and --cause */
  reason?: string;
  cause?: string;
  /** the branch (or null when detached) and commit HEAD was on when the run started */
  branch?: string | null;
  head?: string | null;
  /**
   * go around entries this user cannot change (`--skip-unwritable`, config skipUnwritable):
   * untracked and ignored ones are left where they are and named, instead of stopping the run
   */
  skipUnwritable?: boolean;
}

/** What describe() and run() may read. */
export interface PlanContext {
  repo: Repo;
  config: Config;
  playbook: Playbook;
  run: RunInfo;
  /** the resolved baseline: a fully-qualified ref (refs/heads/baseline) and its oid, or null in a dry plan with no baseline */
  baseline: { name: string; ref: string; oid: string | null; remoteRef: string | null };
  params: Record<string, unknown>;
  dryRun: boolean;
}

/** What an access() hook may read: the plan's context and the kinds of the steps before it. */
export interface AccessContext extends PlanContext {
  earlier: readonly string[];
  /** answers already worked out in this preflight, by question (the emergency's switch and reset ask the same) */
  memo: Map<string, Promise<AccessReport>>;
}

/** Output channel of a running step (backed by the listr task and the journal). */
export interface StepReporter {
  /** a progress line shown under the task */
  output(line: string): void;
  /** a warning: kept in the journal and the report, does not fail the step */
  warn(line: string): void;
  /** change the visible title */
  title(t: string): void;
}

export interface StepContext extends PlanContext {
  reporter: StepReporter;
  /** results of steps that already ran, by id */
  results: Record<string, StepResult>;
  /** the run's snapshot id once a snapshot step ran */
  snapshotId: string | null;
  /** aborts when the run is interrupted */
  signal: AbortSignal;
  /** step timeout in ms, when the step has one */
  timeoutMs?: number;
  /** state saved by an earlier, interrupted attempt of this same step (resume) */
  previous?: StepResult;
  /** the id of the step being run */
  stepId?: string;
  /** the run's journal record as it stands (for reports) */
  journal?: () => {
    steps: { id: string; title: string; kind?: string; status: string; destructive?: boolean; durationMs?: number; error?: string; warnings?: string[]; result?: unknown }[];
    warnings: string[];
    snapshot: string | null;
    startedAt: string;
  };
  /** persist partial progress now (so a resumed step can skip what is done) */
  checkpoint(partial: StepResult): Promise<void>;
}

/** What a step leaves behind: free-form data readable as {{steps.<id>.<key>}}, plus facts for undo. */
export interface StepResult {
  [key: string]: unknown;
  /** commands actually run, for the journal */
  commands?: string[];
  /** exit code of the step's main command, when it has one */
  exitCode?: number;
  /** last lines of output */
  outputTail?: string;
  /** refs this step created (undo deletes them if they are still where the step left them) */
  createdRefs?: { ref: string; oid: string }[];
  /** refs this step moved (undo puts them back if they are still where the step left them) */
  movedRefs?: { ref: string; from: string; to: string }[];
  /** set by a snapshot step */
  snapshotId?: string;
  warnings?: string[];
  /** the step had nothing to do */
  skipped?: string;
  /** a destructive step that checked it changed nothing (e.g. restored files that already matched): the run is not counted as a rollback */
  unchanged?: boolean;
  /**
   * values for later steps of this same process only, never journaled: they describe the
   * working copy of this moment, which a resumed run cannot rely on
   */
  transient?: Record<string, unknown>;
}

export interface StepKind<W = Record<string, unknown>> {
  kind: string;
  /** one line for `rb playbooks --kinds` and validation messages */
  summary: string;
  /** schema of the step's `with` */
  with: ZodType<W>;
  /** does running it change the working copy, index, HEAD or refs in a way that needs a snapshot first? */
  destructive: boolean | ((w: W) => boolean);
  /** adds commits or refs without being destructive (a WIP commit, a backup branch): the run counts as having changed the repository */
  mutates?: boolean;
  /**
   * Can a step that started (and was killed or failed part-way) be run again by `rb resume`?
   * Default true: rb's own kinds journal their progress and finish the job when run again. A kind
   * that runs the user's commands says false where repeating them could repeat damage.
   */
  rerunnable?: boolean | ((w: W) => boolean);
  /** keys of `with` the engine leaves as written: the kind renders them itself (e.g. a report template) */
  rawWith?: readonly string[];
  /** extra names the kind's own templates may read (validation), e.g. ['report'] */
  templateRoots?: readonly string[];
  /** the exact commands it would run, for `rb plan` and --dry-run */
  describe(w: W, ctx: PlanContext): string[];
  /**
   * What running it now would have to change that this user cannot (engine/access.ts), for the
   * preflight; reads only. `w` may still hold `{{ steps.… }}` templates (known at run time only);
   * `ctx.earlier` lists the kinds of the steps that run before it.
   */
  access?(w: W, ctx: AccessContext): Promise<AccessReport>;
  /**
   * The modules `run` (and `access`) import when they are called, left out of planning (a dry
   * run loads none of them): the engine starts loading them when a run begins, so they load while
   * its preflight asks git.
   */
  preload?(): Promise<unknown>;
  /**
   * The untracked and ignored entries running it now would write over (steps/in-the-way.ts), for
   * the preflight and the dry run: each must be one the snapshot holds; reads only.
   */
  inTheWay?(w: W, ctx: AccessContext): Promise<InTheWay[]>;
  /**
   * Read-only questions `run` will ask, started by the engine when the run's preflight starts so
   * git answers them while the steps before this one run. Each answer is memoized under what it
   * depends on (io/repo-state.ts memoized: a commit id in its key, or the parts of the repository
   * it reads): when something changed it by the time the step runs, the step asks again. Never
   * awaited by the engine; errors are left for `run` to meet.
   */
  readAhead?(w: W, ctx: PlanContext): Promise<unknown>;
  run(w: W, ctx: StepContext): Promise<StepResult | void>;
}
