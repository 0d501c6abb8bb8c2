/**
 * Who listens on a local TCP port, and which processes descend from which: what services.start
 * needs to tell "the service rb started is answering" from "something else answers on its port".
 *
 * Linux: the listening sockets of /proc/net/tcp and /proc/net/tcp6 (state 0A), matched to
 * processes through the socket inodes of /proc/<pid>/fd/*. A socket whose process rb may not
 * look into (another user's, without privileges) is reported as held by an unknown process.
 * Elsewhere: `lsof -nP -iTCP:<port> -sTCP:LISTEN` when it is installed, else a connect probe,
 * which tells that the port is taken but not by whom.
 *
 * Read-only; never signals anything.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { spawnSync } from 'node:child_process';

export interface PortHolder {
  pid: number;
  /** its command line (from /proc/<pid>/cmdline or lsof), shortened */
  command: string;
}

export interface PortState {
  /** something listens on the port */
  held: boolean;
  /** the listening processes rb could identify */
  holders: PortHolder[];
  /** true: every listener was matched to its process (so `holders` is the whole truth) */
  complete: boolean;
  /** how it was found out, for messages: proc, lsof or connect */
  method: 'proc' | 'lsof' | 'connect';
}

/** A URL's host and port when it names this machine (loopback, a wildcard, or one of its own addresses), else null. */
export function localPortOf(url: string): { host: string; port: number } | null {
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    return null;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  const host = u.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  if (!isLocalHost(host)) return null;
  return { host, port };
}

function isLocalHost(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost') || host === '::1' || host === '::' || host === '0.0.0.0' || /^127\./.test(host)) return true;
  return Object.values(networkInterfaces()).some((list) => (list ?? []).some((a) => a.address.toLowerCase() === host));
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Decode a /proc/net/tcp{,6} address ("0100007F" or 32 hex digits, little-endian words) to text. */
export function decodeProcAddress(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((w) => (w.match(/../g) ?? []).reverse().map((b) => parseInt(b, 16)));
  if (bytes.length === 4) return bytes.join('.');
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return `::ffff:${bytes.slice(12).join('.')}`;
  // the full form (0:0:0:0:0:0:0:1), which is what reaches() compares
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return groups.join(':');
}

interface Listener { address: string; port: number; inode: string }

/** The listening sockets of one /proc/net/tcp{,6} text. */
export function parseProcNetTcp(text: string): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== '0A') continue;
    const [addr, port] = f[1]!.split(':');
    out.push({ address: decodeProcAddress(addr!), port: parseInt(port!, 16), inode: f[9]! });
  }
  return out;
}

const WILDCARDS = new Set(['0.0.0.0', '0:0:0:0:0:0:0:0']);
const LOOPBACK6 = '0:0:0:0:0:0:0:1';

/** Could a connection to `host` reach a socket listening on `address` (as decodeProcAddress writes it)? */
function reaches(address: string, host: string): boolean {
  if (WILDCARDS.has(address)) return true;
  const a = address.replace(/^::ffff:/, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return /^127\./.test(a) || a === LOOPBACK6;
  if (host === '0.0.0.0' || host === '::') return true;
  if (host === '::1') return a === LOOPBACK6;
  return a === host.replace(/^::ffff:/, '');
}

/** pid → its command line, shortened to 200 characters. */
export function commandOf(pid: number): string {
  const raw = readText(`/proc/${pid}/cmdline`);
  const cmd = raw ? raw.split('\0').filter(Boolean).join(' ') : (readText(`/proc/${pid}/comm`)?.trim() ?? '?');
  return cmd.length > 200 ? `${cmd.slice(0, 199)}…` : cmd;
}

/** socket inode → pids holding it, from /proc/<pid>/fd (processes rb may not read are left out). */
function socketOwners(inodes: Set<string>): Map<string, number[]> {
  const owners = new Map<string, number[]>();
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return owners;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1]!)) {
        const list = owners.get(m[1]!) ?? [];
        if (!list.includes(Number(pid))) list.push(Number(pid));
        owners.set(m[1]!, list);
      }
    }
  }
  return owners;
}

function fromProc(host: string, port: number): PortState | null {
  const tables = ['/proc/net/tcp', '/proc/net/tcp6'].map(readText);
  if (tables.every((t) => t === undefined)) return null;
  const listeners = tables.flatMap((t) => (t ? parseProcNetTcp(t) : [])).filter((l) => l.port === port && reaches(l.address, host));
  if (!listeners.length) return { held: false, holders: [], complete: true, method: 'proc' };
  const owners = socketOwners(new Set(listeners.map((l) => l.inode)));
  const pids = [...new Set(listeners.flatMap((l) => owners.get(l.inode) ?? []))].sort((a, b) => a - b);
  return {
    held: true,
    holders: pids.map((pid) => ({ pid, command: commandOf(pid) })),
    complete: listeners.every((l) => owners.has(l.inode)),
    method: 'proc',
  };
}

function fromLsof(port: number): PortState | null {
  const r = spawnSync('lsof', ['-nP', `-iTCP:${port}`, '-sTCP:LISTEN', '-Fpc'], { encoding: 'utf8', timeout: 5_000 });
  if (r.error || (r.status !== 0 && r.status !== 1)) return null;
  const holders: PortHolder[] = [];
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('p')) holders.push({ pid: Number(line.slice(1)), command: '?' });
    else if (line.startsWith('c') && holders.length) holders[holders.length - 1]!.command = line.slice(1);
  }
  // lsof exits 1 when nothing matched; it sees only what this user may see
  return { held: holders.length > 0, holders, complete: holders.length > 0, method: 'lsof' };
}

function probe(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ host: host === 'localhost' ? '127.0.0.1' : host === '0.0.0.0' ? '127.0.0.1' : host, port });
    const done = (v: boolean) => {
      s.destroy();
      res(v);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Who listens on host:port (host as in localPortOf). */
export async function portState(host: string, port: number): Promise<PortState> {
  const proc = fromProc(host, port);
  if (proc) return proc;
  const lsof = fromLsof(port);
  if (lsof?.held) return lsof;
  return { held: await probe(host, port), holders: [], complete: false, method: 'connect' };
}

/** Fields of /proc/<pid>/stat after the command name ([1] ppid, [2] pgrp, [19] start time), or undefined. */
function statFields(pid: number): string[] | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  return stat ? stat.slice(stat.lastIndexOf(')') + 2).split(' ') : undefined;
}

/** Is `pid` in process group `pgid`, or a descendant of `ancestor`? undefined where /proc cannot tell. */
export function belongsTo(pid: number, pgid: number, ancestor: number): boolean | undefined {
  let f = statFields(pid);
  if (!f) return undefined;
  if (f[2] === String(pgid)) return true;
  for (let cur = pid, hops = 0; f && hops < 64; hops++) {
    if (cur === ancestor) return true;
    const parent = Number(f[1]);
    if (!parent || parent === cur) break;
    cur = parent;
    f = statFields(cur);
  }
  return false;
}

/** Start time of a process in clock ticks since boot (Linux), for "started before / after". */
export function startTicks(pid: number): number | undefined {
  const v = statFields(pid)?.[19];
  return v === undefined ? undefined : Number(v);
}
