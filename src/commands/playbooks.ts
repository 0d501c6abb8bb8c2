/** `rb playbooks`: name, level, title, source of every playbook visible here. */
import { findRepo } from '../repo.js';
import { listPlaybookRefs, loadPlaybookFile } from '../playbook/load.js';
import { print, printJson, table } from '../ui/format.js';
import { RbError } from '../errors.js';

export async function playbooksCommand(opts: { json?: boolean }, cmd: any): Promise<number> {
  const repo = findRepo(cmd.parent?.opts().cwd);
  const rows: { name: string; level: number | null; title: string; source: string; file: string; overrides: boolean; error?: string }[] = [];
  for (const ref of listPlaybookRefs(repo.root)) {
    try {
      const p = await loadPlaybookFile(ref.file, ref.source);
      rows.push({ name: p.name, level: p.level ?? null, title: p.title, source: ref.source, file: ref.file, overrides: ref.overrides });
    } catch (e) {
      rows.push({ name: ref.name, level: null, title: '(invalid: run `rb plan ' + ref.name + '` to see why)', source: ref.source, file: ref.file, overrides: ref.overrides, error: e instanceof RbError ? [e.message, ...(e.details ?? [])].join('\n') : String(e) });
    }
  }
  if (opts.json) printJson({ playbooks: rows });
  else
    print(
      table(
        rows.map((r) => [r.name, r.level === null ? '-' : String(r.level), r.title, r.source === 'repository' ? (r.overrides ? 'repository (overrides built-in)' : 'repository') : 'built-in']),
        ['NAME', 'LEVEL', 'TITLE', 'SOURCE'],
      ),
    );
  return rows.some((r) => r.error) ? 2 : 0;
}
