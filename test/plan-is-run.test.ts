/**
 * The plan is the run (issue 19, point 5): what `rb plan <level>` shows is what the run then
 * journals, in the same words, with the same values — run id, records folder, cause — except the
 * marked values a plan cannot know yet (<…>, {{ … }}, [-N], […]…; src/steps/common.ts). Each
 * level is planned, then run, on the same throwaway repository; every command line the run
 * journaled must be a line of the plan, in order. Before, the plan showed another run id and
 * records folder, "cause unspecified" where the run said "emergency", pseudo-commands such as
 * `rb snapshot -m …`, and git commands with other flags than the ones run.
 *
 * tests.run is left out: its describe/run pair is being rewritten with steps/tests-run.ts.
 */
import { describe, expect, it } from 'vitest';
import { copyRepo, tmpRepos } from './helpers/repo.js';
import { emergencyRepo, rbAsync, sprintRepo } from './helpers/scenarios.js';

tmpRepos();

/** A plan line as a pattern: its marks match what the run filled in. */
export function planPattern(line: string): RegExp {
  const TOKEN = String.raw`(?:'(?:[^']|'\\'')*'|[^\s']+)+`;
  let re = '';
  let i = 0;
  while (i < line.length) {
    const rest = line.slice(i);
    const list = /^ \[(?!-N\])[^\]]*\]…?/.exec(rest);
    const mark = /^<[^<>\n]+>|^\{\{[^}]*\}\}/.exec(rest);
    if (list) {
      re += `(?: ${TOKEN})*`;
      i += list[0].length;
    } else if (rest.startsWith('[-N]')) {
      re += '(?:-\\d+)?';
      i += 4;
    } else if (mark) {
      re += '.+?';
      i += mark[0].length;
    } else {
      re += line[i]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      i++;
    }
  }
  return new RegExp(`^${re}$`);
}

interface PlanStep { id: string; kind: string; commands: string[]; children?: PlanStep[] }
interface RunStep { id: string; kind: string; status: string; commands?: string[]; planned: string[] }

const flat = (steps: PlanStep[]): PlanStep[] => steps.flatMap((s) => [s, ...flat(s.children ?? [])]);

/** Every journaled line is a plan line, in the plan's order. */
function expectJournalFollowsPlan(plan: { steps: PlanStep[] }, run: { steps: RunStep[] }): number {
  const planned = new Map(flat(plan.steps).map((s) => [s.id, s]));
  let compared = 0;
  for (const s of run.steps) {
    if (s.kind === 'tests.run' || s.kind === 'group' || s.status !== 'succeeded') continue;
    const lines = s.commands ?? s.planned;
    const patterns = planned.get(s.id)!.commands.map(planPattern);
    let at = 0;
    for (const line of lines) {
      while (at < patterns.length && !patterns[at]!.test(line)) at++;
      expect(at < patterns.length, `step ${s.id}: the journal's\n  ${line}\nis not a line of the plan:\n  ${planned.get(s.id)!.commands.join('\n  ')}`).toBe(true);
      at++;
      compared++;
    }
  }
  return compared;
}

describe('the plan is the run', () => {
  it('the marks: a plan line with <…>, {{…}}, [-N] and […]… matches what a run fills in', () => {
    expect(planPattern("git stash store -m 'EMERGENCY: State before rollback <stamp>' <commit>").test("git stash store -m 'EMERGENCY: State before rollback 20261207-165311' 6f0fe550e081")).toBe(true);
    expect(planPattern('git reset --hard {{steps.fetch.target}}').test('git reset --hard 7874e060d379')).toBe(true);
    expect(planPattern("git update-ref -m 'rb: branch backup/sprint-4-<stamp>[-N]' refs/heads/backup/sprint-4-<stamp>[-N] <oid of HEAD> ''").test("git update-ref -m 'rb: branch backup/sprint-4-20261207-165410-2' refs/heads/backup/sprint-4-20261207-165410-2 49735fda ''")).toBe(true);
    const clean = planPattern("git clean -fd -x -e /rollbacks/ -e '.env.*' [-e <path the snapshot did not capture>]…");
    expect(clean.test("git clean -fd -x -e /rollbacks/ -e '.env.*'")).toBe(true);
    expect(clean.test("git clean -fd -x -e /rollbacks/ -e '.env.*' -e /node_modules/ -e '/big file.bin'")).toBe(true);
    expect(clean.test('git clean -fd -e /rollbacks/')).toBe(false);
    const deps = planPattern("git clean -fd -x -e /rollbacks/ [-e /node_modules/ (if package-lock.json unchanged)] [-e <path the snapshot did not capture>]…");
    expect(deps.test('git clean -fd -x -e /rollbacks/ -e /node_modules/')).toBe(true);
    expect(deps.test('git clean -fd -x -e /rollbacks/')).toBe(true);
    expect(planPattern('git reset --hard --no-recurse-submodules {{steps.fetch.target}}').test('git reset --hard 7874e06')).toBe(false);
  });

  it('rb emergency: the run id, records folder, cause and every command are the plan\'s', async () => {
    const r = copyRepo(emergencyRepo());
    const planned = await rbAsync(r.root, ['plan', 'emergency', '--json']);
    expect(planned.code, planned.stderr).toBe(0);
    const plan = JSON.parse(planned.stdout).plan;
    expect(plan.run.id).toBe('<stamp>-emergency');
    expect(plan.run.dir).toBe('emergency-<stamp>');
    const text = (await rbAsync(r.root, ['plan', 'emergency'])).stdout;
    expect(text).toContain('run id: <stamp>-emergency  records: emergency-<stamp>/');
    expect(text).toContain('append to rollbacks/metrics.json (severity critical, cause emergency)');
    expect(text).not.toMatch(/\$ rb snapshot|rb restore|cause unspecified/);
    expect(text).toMatch(/^ {5}· snapshot the working copy -> refs\/rb\/snapshots\/<id> /m);

    const ran = await rbAsync(r.root, ['emergency', '--yes', '--json']);
    expect(ran.code, ran.stderr).toBe(0);
    const run = JSON.parse(ran.stdout).run;
    expect(run.id).toMatch(planPattern(plan.run.id));
    expect(run.runDir).toMatch(planPattern(plan.run.dir));
    expect(run.cause).toBe('emergency');
    expect(expectJournalFollowsPlan(plan, run)).toBeGreaterThanOrEqual(10);
    // the dry run previews with the same marks and words as the plan
    const dry = JSON.parse((await rbAsync(r.root, ['emergency', '--dry-run', '--json'])).stdout).plan;
    expect(flat(dry.steps).map((s: PlanStep) => s.commands)).toEqual(flat(plan.steps).map((s) => s.commands));
  });

  it('rb sprint 4: the branches, the WIP commit and the records folder are the plan\'s', async () => {
    const r = copyRepo(sprintRepo());
    const plan = JSON.parse((await rbAsync(r.root, ['plan', 'sprint', '--set', 'sprint=4', '--json'])).stdout).plan;
    expect(plan.run.id).toBe('<stamp>-sprint-4');
    const ran = await rbAsync(r.root, ['sprint', '4', '--yes', '--json']);
    expect(ran.code, ran.stderr).toBe(0);
    const run = JSON.parse(ran.stdout).run;
    expect(run.id).toMatch(planPattern(plan.run.id));
    expect(run.cause).toBe('sprint-failure');
    expect(expectJournalFollowsPlan(plan, run)).toBeGreaterThanOrEqual(8);
  });

  it('rb files: the restore and the records are the plan\'s', async () => {
    const r = copyRepo(emergencyRepo());
    const plan = JSON.parse((await rbAsync(r.root, ['plan', 'files', '--set', 'paths=src/a.ts', '--set', 'tests=false', '--json'])).stdout).plan;
    const ran = await rbAsync(r.root, ['files', 'src/a.ts', '--no-tests', '--yes', '--json']);
    expect(ran.code, ran.stderr).toBe(0);
    const run = JSON.parse(ran.stdout).run;
    expect(run.cause).toBe('files');
    expect(expectJournalFollowsPlan(plan, run)).toBeGreaterThanOrEqual(3);
  });
});
