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

/** A plain left-aligned table. */
export function table(rows: string[][], header?: string[]): string {
  const all = header ? [header, ...rows] : rows;
  const widths: number[] = [];
  for (const r of all) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
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
