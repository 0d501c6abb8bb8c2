/**
 * The registry of step kinds (architecture §5): one file per kind. Loaded only by commands that
 * plan or run playbooks (it pulls in zod).
 */
import type { StepKind } from './types.js';
import type { KindCatalog } from '../playbook/validate.js';

export async function allKinds(): Promise<Record<string, StepKind<any>>> {
  const mods = await Promise.all([
    import('./exec.js').then((m) => m.exec),
    import('./capture.js').then((m) => m.capture),
    import('./report.js').then((m) => m.report),
    import('./verify.js').then((m) => m.verify),
    import('./metrics-record.js').then((m) => m.metricsRecord),
    import('./snapshot.js').then((m) => [m.snapshot, m.snapshotRestore]),
    import('./stash.js').then((m) => m.stash),
    import('./refs-revert.js').then((m) => m.refsRevert),
    import('./git-fetch.js').then((m) => m.gitFetch),
    import('./git-switch.js').then((m) => m.gitSwitch),
    import('./git-reset-hard.js').then((m) => m.gitResetHard),
    import('./git-clean.js').then((m) => m.gitClean),
    import('./git-commit-all.js').then((m) => m.gitCommitAll),
    import('./git-branch.js').then((m) => [m.gitBranch, m.gitTag]),
    import('./git-restore-files.js').then((m) => m.gitRestoreFiles),
    import('./tests-run.js').then((m) => m.testsRun),
    import('./git-cherry-pick.js').then((m) => m.gitCherryPick),
    import('./notify.js').then((m) => m.notify),
    import('./deps-install.js').then((m) => m.depsInstall),
    import('./services.js').then((m) => [m.servicesStop, m.servicesStart]),
  ]);
  const out: Record<string, StepKind<any>> = {};
  for (const k of mods.flat()) out[k.kind] = k;
  return out;
}

/** What validation needs of each kind: its `with` schema and whether it is destructive. */
export async function kindCatalog(): Promise<KindCatalog> {
  const kinds = await allKinds();
  const cat: KindCatalog = {};
  for (const [name, k] of Object.entries(kinds)) cat[name] = { with: k.with, destructive: k.destructive, templateRoots: k.templateRoots };
  return cat;
}
