/**
 * The data shapes shared across modules. Pure types: importing this file costs nothing at run time.
 */

/** A command: a string is run by the shell (`sh -c`), an array is an argv. */
export type Command = string | string[];

export interface InstallConfig {
  command: Command;
  cwd: string;
  lockfiles: string[];
  /** dependency directory, kept through clean when lockfiles are unchanged (null: none) */
  dir: string | null;
}

export interface ServiceConfig {
  name: string;
  start: Command;
  stop: Command | null;
  ready: Command | null;
  cwd: string;
}

export interface TestMapEntry {
  match: string;
  tests: string[];
}

export interface Config {
  baseline: string;
  remote: string;
  rollbacksDir: string;
  test: Command | null;
  coverage: Command | null;
  performance: Command | null;
  build: Command | null;
  verify: Command | null;
  install: InstallConfig[];
  services: ServiceConfig[];
  keep: string[];
  /** leave entries this user cannot change (another user's build/) where they are instead of stopping the run */
  skipUnwritable: boolean;
  testMap: TestMapEntry[];
  undo: { windowHours: number };
  snapshots: { keepDays: number; maxIgnoredBytes: number; skipIgnored: string[] };
  check: {
    maxDiskPercent: number; baselineTests: boolean; tag: boolean;
    /** where `rb check` keeps its worktree of the baseline (absolute or ~/…); null: a per-repository folder of the cache dir */
    worktree: string | null;
  };
  metrics: { healthyRate: number; reviewRate: number; countNamedCheckpoints: boolean };
  notify: { webhook: string | null };
  /** run records shared through the git remote (refs/rb/records/*, rb sync) */
  records: { share: boolean; timeoutSeconds: number };
}

/** Where each effective configuration value came from (for `rb config`). */
export type ConfigSource = 'default' | 'rb.config.yaml' | 'package.json' | 'environment';

export interface LoadedConfig {
  config: Config;
  /** dotted key (e.g. "undo.windowHours") -> source */
  sources: Record<string, ConfigSource>;
  /** absolute path of rb.config.yaml, or null when there is none */
  file: string | null;
}

export interface ParamSpec {
  type: 'string' | 'integer' | 'number' | 'boolean' | 'string[]';
  required?: boolean;
  default?: unknown;
  description?: string;
}

export interface StepSpec {
  id: string;
  title?: string;
  /** a built-in step kind (e.g. "git.reset-hard") */
  uses?: string;
  /** shorthand for uses: exec with command */
  run?: Command;
  shell?: boolean;
  with?: Record<string, unknown>;
  /** an interpolated expression; the step runs when it is truthy */
  when?: string;
  continueOnError?: boolean;
  /** e.g. "30s", "5m" */
  timeout?: string;
  concurrent?: boolean;
  steps?: StepSpec[];
  /** approval gate: a prompt on a TTY, --yes otherwise */
  confirm?: string | boolean;
  /** for exec/run steps: does this change the working copy? */
  destructive?: boolean;
  /** source position for messages */
  line?: number;
  column?: number;
}

export type Severity = 'critical' | 'high' | 'medium' | 'low';

export interface Playbook {
  name: string;
  level?: 1 | 2 | 3;
  title: string;
  description?: string;
  severity?: Severity;
  /** recovery-time objective, e.g. "15m" */
  target?: string;
  /** the cause tag runs record in metrics.json unless --cause gives another */
  cause?: string;
  params: Record<string, ParamSpec>;
  /** folder of the run's records under rollbacksDir, a template (default "<name>-<stamp>"), e.g. "sprint-{{params.sprint}}" */
  records?: string;
  steps: StepSpec[];
  /** absolute file path */
  file: string;
  source: 'built-in' | 'repository';
}

/** One problem found while validating a file. */
export interface ValidationIssue {
  file: string;
  line: number;
  column: number;
  message: string;
}
