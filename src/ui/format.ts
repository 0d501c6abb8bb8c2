/** Small text helpers shared by the read-only commands (no heavy imports). */
import { pathBytes } from '../io/path-bytes.js';

const pad2 = (n: number) => String(n).padStart(2, '0');

/** `YYYYMMDD-HHMMSS`: run ids, record folders, checkpoint tags (local time) and snapshot ids (utc). */
export function stampOf(d: Date, opts: { utc?: boolean } = {}): string {
  return opts.utc
    ? `${d.getUTCFullYear()}${pad2(d.getUTCMonth() + 1)}${pad2(d.getUTCDate())}-${pad2(d.getUTCHours())}${pad2(d.getUTCMinutes())}${pad2(d.getUTCSeconds())}`
    : `${d.getFullYear()}${pad2(d.getMonth() + 1)}${pad2(d.getDate())}-${pad2(d.getHours())}${pad2(d.getMinutes())}${pad2(d.getSeconds())}`;
}

export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${(s / 3600).toFixed(1)}h ago`;
  return `${(s / 86400).toFixed(1)}d ago`;
}

export function duration(ms: number | undefined): string {
  if (ms === undefined) return '-';
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.floor(ms / 60000)}m${Math.round((ms % 60000) / 1000)}s`;
}

/**
 * The width tables are fitted to: the terminal's columns when stdout is a terminal that reports
 * them; null (never cut) for pipes, files and CI logs, where a reader wants whole rows, and for a
 * terminal that reports 0 columns.
 */
export function terminalWidth(stream: NodeJS.WriteStream = process.stdout): number | null {
  return stream.isTTY && (stream.columns ?? 0) > 0 ? stream.columns : null;
}

const GAP = 2;
/** A cut cell keeps at least this many characters (and its column's title). */
const MIN_CELL = 6;

/**
 * Column widths that fit `width`: the widest shrinkable column is narrowed first, down to its
 * title and MIN_CELL; `keep` columns (ids people copy) are never narrowed. Returns the natural
 * widths when they fit, or when nothing more can be taken (the rows then wrap).
 */
export function fitWidths(natural: number[], titles: number[], width: number, keep: readonly number[]): number[] {
  const w = [...natural];
  const floor = (i: number) => (keep.includes(i) ? w[i]! : Math.min(natural[i]!, Math.max(MIN_CELL, titles[i] ?? 0)));
  let excess = w.reduce((a, b) => a + b, 0) + GAP * (w.length - 1) - width;
  while (excess > 0) {
    const shrinkable = w.map((x, i) => i).filter((i) => w[i]! > floor(i));
    if (!shrinkable.length) break;
    const widest = shrinkable.reduce((a, b) => (w[b]! > w[a]! ? b : a));
    const next = Math.max(floor(widest), ...shrinkable.filter((i) => i !== widest).map((i) => w[i]!));
    const take = Math.min(excess, w[widest]! - next || 1);
    w[widest] = w[widest]! - take;
    excess -= take;
  }
  return w;
}

const cut = (s: string, n: number) => (s.length <= n ? s : `${s.slice(0, Math.max(0, n - 1))}…`);

/**
 * A plain left-aligned table. On a terminal (`width`, default terminalWidth()) rows wider than
 * the terminal are cut to fit, with "…" in each cut cell and a last line saying so; `keep`
 * names columns never cut (default the first: run ids, names).
 */
export function table(rows: string[][], header?: string[], opts: { width?: number | null; keep?: readonly number[]; full?: string } = {}): string {
  const all = header ? [header, ...rows] : rows;
  const natural: number[] = [];
  for (const r of all) r.forEach((c, i) => (natural[i] = Math.max(natural[i] ?? 0, c.length)));
  const width = opts.width === undefined ? terminalWidth() : opts.width;
  const widths = width === null ? natural : fitWidths(natural, (header ?? []).map((h) => h.length), width, opts.keep ?? [0]);
  const wasCut = all.some((r) => r.some((c, i) => c.length > widths[i]!));
  const lines = all.map((r) => r.map((c, i) => (i === r.length - 1 ? cut(c, widths[i]!) : cut(c, widths[i]!).padEnd(widths[i]!))).join(' '.repeat(GAP)).trimEnd());
  if (wasCut) lines.push(`(rows cut at ${width} columns, marked …; ${opts.full ?? '--json'} shows them in full)`);
  return lines.join('\n');
}

/**
 * A step's command line as plans (`rb plan`, `--dry-run`) and `rb show` print it: `$ ` before a
 * command you could run yourself, `· ` before what rb does itself (a snapshot, a report it
 * writes, a metrics entry, a note such as "(no services configured)").
 */
export function stepLine(line: string): string {
  return /^(snapshot the working copy|restore snapshot|write |append to |POST |# )|^\([^)]*\)$/.test(line) ? `· ${line}` : `$ ${line}`;
}

export function print(s: string): void {
  process.stdout.write(s.endsWith('\n') ? s : s + '\n');
}

export function printJson(v: unknown): void {
  process.stdout.write(JSON.stringify(v, null, 2) + '\n');
}

/** What showPath escapes: C0 controls, DEL, C1 controls, bidi overrides, line separators, bytes that are not UTF-8. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\udc80-\udcff]/;
const C_ESCAPES: Record<string, string> = { '\u0007': '\\a', '\b': '\\b', '\t': '\\t', '\n': '\\n', '\v': '\\v', '\f': '\\f', '\r': '\\r', '"': '\\"', '\\': '\\\\' };
const octal = (b: number) => '\\' + b.toString(8).padStart(3, '0');

/**
 * A path (or any name from the file system) as rb prints it in messages and reports: as it is
 * when every character is printable; otherwise in double quotes with C-style escapes, the way
 * git quotes paths (`git status` shows the same text): \t, \n, … and \ooo (octal) for each byte
 * of any other control character, of a bidi override and of a byte that is not UTF-8 (held as
 * in io/path-bytes.ts); `"` and `\` are escaped inside the quotes. A file name can then neither
 * drive the terminal (colours, cursor, title) nor hide or reorder what is printed around it.
 */
export function showPath(p: string): string {
  if (!UNPRINTABLE.test(p)) return p;
  let out = '';
  for (const ch of p) {
    if (C_ESCAPES[ch]) out += C_ESCAPES[ch];
    else if (UNPRINTABLE.test(ch)) for (const b of pathBytes(ch)) out += octal(b);
    else out += ch;
  }
  return `"${out}"`;
}
