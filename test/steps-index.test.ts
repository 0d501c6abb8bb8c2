/** The step-kind registry: a run loads only the modules of the kinds its playbook uses. */
import { describe, expect, it } from 'vitest';
import { allKinds, KIND_NAMES, kindsFor } from '../src/steps/index.js';
import { kindsUsed } from '../src/playbook/plan.js';
import type { Playbook } from '../src/types.js';

describe('steps/index', () => {
  it('KIND_NAMES names exactly the kinds the modules export', async () => {
    expect(Object.keys(await allKinds()).sort()).toEqual([...KIND_NAMES].sort());
  });

  it('kindsFor gives the same kinds as allKinds for the names asked, and nothing else', async () => {
    const all = await allKinds();
    const some = await kindsFor(['snapshot', 'git.restore-files', 'report', 'no.such-kind']);
    expect(Object.keys(some).sort()).toEqual(['git.restore-files', 'report', 'snapshot']);
    for (const [name, k] of Object.entries(some)) expect(k).toBe(all[name]);
    expect(await kindsFor([])).toEqual({});
  });

  it('kindsUsed walks groups and reads run: as exec', () => {
    const pb = {
      name: 'x', title: 'x', params: {}, file: 'x.yaml', source: 'repository',
      steps: [
        { id: 'a', uses: 'snapshot' },
        { id: 'g', concurrent: true, steps: [{ id: 'b', run: ['true'] }, { id: 'c', uses: 'capture', with: {} }] },
        { id: 'd', uses: 'snapshot' },
      ],
    } as Playbook;
    expect(kindsUsed(pb).sort()).toEqual(['capture', 'exec', 'snapshot']);
  });
});
