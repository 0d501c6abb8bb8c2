/** `rb config`: the effective configuration and where each value came from. */
import { findRepo } from '../repo.js';
import { loadConfig } from '../config/load.js';
import { print, printJson, table } from '../ui/format.js';

function leaves(v: unknown, prefix: string, out: [string, unknown][]): void {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) leaves(x, prefix ? `${prefix}.${k}` : k, out);
  } else out.push([prefix, v]);
}

export async function configCommand(opts: { json?: boolean }, cmd: any): Promise<number> {
  const repo = findRepo(cmd.parent?.opts().cwd);
  const loaded = await loadConfig(repo.root);
  // a webhook URL's path is its secret: show only where it goes
  if (loaded.config.notify.webhook) {
    try {
      loaded.config.notify.webhook = `${new URL(loaded.config.notify.webhook).origin}/… (path hidden)`;
    } catch {
      loaded.config.notify.webhook = '(set; hidden)';
    }
  }
  if (opts.json) {
    printJson(loaded);
    return 0;
  }
  const rows: [string, unknown][] = [];
  leaves(loaded.config, '', rows);
  const src = (k: string) => loaded.sources[k] ?? Object.entries(loaded.sources).find(([s]) => k.startsWith(s + '.') || s.startsWith(k + '.'))?.[1] ?? 'default';
  print(`Configuration for ${repo.root} (${loaded.file ? 'from ' + loaded.file + ' and defaults' : 'no rb.config.yaml: defaults'})\n`);
  print(table(rows.map(([k, v]) => [k, JSON.stringify(v), src(k)]), ['KEY', 'VALUE', 'SOURCE']));
  return 0;
}
