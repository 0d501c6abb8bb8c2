/**
 * The registry of step kinds (architecture §5): one file per kind. Loaded only by commands that
 * plan or run playbooks (it pulls in zod). A run loads only the modules of the kinds its
 * playbook uses (kindsFor); validation and listings load them all (allKinds).
 */
import type { StepKind } from './types.js';
import type { KindCatalog } from '../playbook/validate.js';

type Loader = () => Promise<StepKind<any>[]>;

/** Each module, with the kinds it exports (test/steps-index.test.ts checks the names). */
const MODULES: { kinds: readonly string[]; load: Loader }[] = [
  { kinds: ['exec'], load: () => import('./exec.js').then((m) => [m.exec]) },
  { kinds: ['capture'], load: () => import('./capture.js').then((m) => [m.capture]) },
  { kinds: ['report'], load: () => import('./report.js').then((m) => [m.report]) },
  { kinds: ['verify'], load: () => import('./verify.js').then((m) => [m.verify]) },
  { kinds: ['metrics.record'], load: () => import('./metrics-record.js').then((m) => [m.metricsRecord]) },
  { kinds: ['snapshot', 'snapshot.restore'], load: () => import('./snapshot.js').then((m) => [m.snapshot, m.snapshotRestore]) },
  { kinds: ['stash'], load: () => import('./stash.js').then((m) => [m.stash]) },
  { kinds: ['snapshot.restore-paths'], load: () => import('./snapshot-restore-paths.js').then((m) => [m.snapshotRestorePaths]) },
  { kinds: ['refs.revert'], load: () => import('./refs-revert.js').then((m) => [m.refsRevert]) },
  { kinds: ['git.fetch'], load: () => import('./git-fetch.js').then((m) => [m.gitFetch]) },
  { kinds: ['git.switch'], load: () => import('./git-switch.js').then((m) => [m.gitSwitch]) },
  { kinds: ['git.reset-hard'], load: () => import('./git-reset-hard.js').then((m) => [m.gitResetHard]) },
  { kinds: ['git.clean'], load: () => import('./git-clean.js').then((m) => [m.gitClean]) },
  { kinds: ['git.commit-all'], load: () => import('./git-commit-all.js').then((m) => [m.gitCommitAll]) },
  { kinds: ['git.branch', 'git.tag'], load: () => import('./git-branch.js').then((m) => [m.gitBranch, m.gitTag]) },
  { kinds: ['git.restore-files'], load: () => import('./git-restore-files.js').then((m) => [m.gitRestoreFiles]) },
  { kinds: ['tests.run'], load: () => import('./tests-run.js').then((m) => [m.testsRun]) },
  { kinds: ['git.cherry-pick'], load: () => import('./git-cherry-pick.js').then((m) => [m.gitCherryPick]) },
  { kinds: ['notify'], load: () => import('./notify.js').then((m) => [m.notify]) },
  { kinds: ['deps.install'], load: () => import('./deps-install.js').then((m) => [m.depsInstall]) },
  { kinds: ['services.stop', 'services.start'], load: () => import('./services.js').then((m) => [m.servicesStop, m.servicesStart]) },
];

/** Every kind name, without loading any module. */
export const KIND_NAMES: readonly string[] = MODULES.flatMap((m) => m.kinds);

async function load(mods: typeof MODULES): Promise<Record<string, StepKind<any>>> {
  const loaded = await Promise.all(mods.map((m) => m.load()));
  const out: Record<string, StepKind<any>> = {};
  for (const k of loaded.flat()) out[k.kind] = k;
  return out;
}

export async function allKinds(): Promise<Record<string, StepKind<any>>> {
  return load(MODULES);
}

/**
 * The kinds with these names (names that are no kind are left out, so planning reports them as
 * unknown exactly as with allKinds), loading only their modules.
 */
export async function kindsFor(names: Iterable<string>): Promise<Record<string, StepKind<any>>> {
  const want = new Set(names);
  const all = await load(MODULES.filter((m) => m.kinds.some((k) => want.has(k))));
  const out: Record<string, StepKind<any>> = {};
  for (const [name, k] of Object.entries(all)) if (want.has(name)) out[name] = k;
  return out;
}

/** What validation needs of each kind: its `with` schema and whether it is destructive. */
export async function kindCatalog(): Promise<KindCatalog> {
  const kinds = await allKinds();
  const cat: KindCatalog = {};
  for (const [name, k] of Object.entries(kinds)) cat[name] = { with: k.with, destructive: k.destructive, templateRoots: k.templateRoots };
  return cat;
}
