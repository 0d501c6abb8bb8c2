/**
 * File names are bytes; JavaScript strings are UTF-16. A name that is not valid UTF-8 (Latin-1
 * `café.txt` written by an old tool) cannot be decoded to a string and encoded back: Node turns
 * each bad byte into U+FFFD, in process.argv as in Buffer#toString, and the name is lost.
 *
 * rb keeps such a name as a string with each byte that is not part of valid UTF-8 held as a
 * lone low surrogate U+DC80..U+DCFF (Python's "surrogateescape", PEP 383). Decoding valid UTF-8
 * never yields a lone surrogate, so the two cannot be confused; the string survives JSON (the
 * journal) and path.join/relative; `pathBytes` gives the exact bytes back for the file system
 * and for git (through stdin: an argv is always encoded as UTF-8). Small and dependency-free:
 * cli.ts and the message helpers load it eagerly.
 */
import { readFileSync } from 'node:fs';

const ESC = 0xdc00;

/** Bytes -> string; valid UTF-8 decodes as usual, every other byte b becomes U+DC00+b. */
export function decodePathBytes(buf: Uint8Array): string {
  let out = '';
  let i = 0;
  let runStart = 0;
  while (i < buf.length) {
    const n = utf8SequenceLength(buf, i);
    if (n > 0) {
      i += n;
      continue;
    }
    out += Buffer.from(buf.buffer, buf.byteOffset + runStart, i - runStart).toString('utf8') + String.fromCharCode(ESC + buf[i]!);
    runStart = ++i;
  }
  return out + Buffer.from(buf.buffer, buf.byteOffset + runStart, buf.length - runStart).toString('utf8');
}

/** String -> the bytes it stands for (the inverse of decodePathBytes). */
export function pathBytes(s: string): Buffer {
  if (!hasRawBytes(s)) return Buffer.from(s, 'utf8');
  const parts: Buffer[] = [];
  let run = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (ch.length === 1 && c >= ESC + 0x80 && c <= ESC + 0xff) {
      if (run) parts.push(Buffer.from(run, 'utf8'));
      run = '';
      parts.push(Buffer.from([c - ESC]));
    } else run += ch;
  }
  if (run) parts.push(Buffer.from(run, 'utf8'));
  return Buffer.concat(parts);
}

/** -z output of git (file names) as strings in the form of decodePathBytes; empty records dropped. */
export function splitNulPaths(buf: Buffer): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = buf.indexOf(0); i >= 0; i = buf.indexOf(0, start)) {
    if (i > start) out.push(decodePathBytes(buf.subarray(start, i)));
    start = i + 1;
  }
  if (start < buf.length) out.push(decodePathBytes(buf.subarray(start)));
  return out;
}

/** Paths as NUL-terminated bytes, for git's -z / --pathspec-file-nul input on stdin. */
export function nulPaths(paths: readonly string[]): Buffer {
  return Buffer.concat(paths.flatMap((p) => [pathBytes(p), Buffer.from([0])]));
}

/** Does the string hold bytes that are not UTF-8 (so it must reach git and the file system as bytes)? */
export function hasRawBytes(s: string): boolean {
  return /[\udc80-\udcff]/.test(s) && [...s].some((ch) => ch.length === 1 && ch >= '\udc80' && ch <= '\udcff');
}

/** A path for node:fs: the string when it is UTF-8, else its bytes. */
export function fsPath(s: string): string | Buffer {
  return hasRawBytes(s) ? pathBytes(s) : s;
}

/** Length of the valid UTF-8 sequence starting at i (1-4), or 0 when the byte there starts none. */
function utf8SequenceLength(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number) => i + k < b.length && (b[i + k]! & 0xc0) === 0x80;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    const c1 = b[i + 1]!;
    if (c === 0xe0 && c1 < 0xa0) return 0; // overlong
    if (c === 0xed && c1 >= 0xa0) return 0; // a surrogate
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const c1 = b[i + 1]!;
    if (c === 0xf0 && c1 < 0x90) return 0; // overlong
    if (c === 0xf4 && c1 >= 0x90) return 0; // over U+10FFFF
    return 4;
  }
  return 0;
}

/**
 * process.argv without the loss: Node decodes each argument as UTF-8, turning a byte that is not
 * UTF-8 into U+FFFD. Where an argument holds U+FFFD, its bytes are read again from
 * /proc/self/cmdline (Linux, where such names occur) and decoded with decodePathBytes. Elsewhere,
 * or when the two do not line up, process.argv is returned as it is.
 */
export function losslessArgv(argv: readonly string[] = process.argv, readCmdline: () => Buffer | null = readProcCmdline): string[] {
  if (!argv.some((a) => a.includes('\ufffd'))) return [...argv];
  const raw = readCmdline();
  if (!raw) return [...argv];
  const entries: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0) {
      entries.push(raw.subarray(start, i));
      start = i + 1;
    }
  }
  // cmdline = node, its own options, the script, the arguments; argv = node, the script, the arguments
  const userArgs = argv.length - 2;
  if (userArgs <= 0 || entries.length < userArgs) return [...argv];
  const tail = entries.slice(entries.length - userArgs);
  const out = [...argv];
  for (let k = 0; k < userArgs; k++) {
    const bytes = tail[k]!;
    if (bytes.toString('utf8') !== argv[k + 2]) return [...argv]; // not the same arguments
    out[k + 2] = decodePathBytes(bytes);
  }
  return out;
}

function readProcCmdline(): Buffer | null {
  try {
    return readFileSync('/proc/self/cmdline');
  } catch {
    return null;
  }
}

const C_UNESCAPES: Record<string, number> = { a: 7, b: 8, t: 9, n: 10, v: 11, f: 12, r: 13, '"': 34, '\\': 92 };

/**
 * A path as git prints it in human-readable output ("Removing x", "Skipping repository x"), read
 * with decodePathBytes: as it is, or C-quoted ("a\tb", "caf\351.txt") when it holds special
 * characters. Returned in the form of decodePathBytes.
 */
export function unquoteGitPath(s: string): string {
  if (!(s.length >= 2 && s.startsWith('"') && s.endsWith('"'))) return s;
  const chars = [...s.slice(1, -1)];
  const bytes: Buffer[] = [];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch !== '\\') {
      bytes.push(pathBytes(ch));
      continue;
    }
    const next = chars[i + 1] ?? '';
    if (/^[0-7]$/.test(next)) {
      bytes.push(Buffer.from([parseInt(chars.slice(i + 1, i + 4).join(''), 8)]));
      i += 3;
    } else {
      bytes.push(C_UNESCAPES[next] !== undefined ? Buffer.from([C_UNESCAPES[next]!]) : pathBytes(next));
      i++;
    }
  }
  return decodePathBytes(Buffer.concat(bytes));
}
