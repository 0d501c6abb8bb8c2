/**
 * Loads rb.config.yaml (architecture §3): validates it, fills in every default, and records
 * where each effective value came from.
 *
 * Precedence, per leaf key: RB_WEBHOOK_URL (notify.webhook only) > rb.config.yaml >
 * what the repository implies (package.json's test script; lockfiles for install) > rb's default.
 * Lists (install, services, keep, testMap, snapshots.skipIgnored) are leaves: a list in the file
 * replaces the default list; install and service entries get their own defaults filled in.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, realpath, rename, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.js';
import type { Command, Config, ConfigSource, InstallConfig, LoadedConfig, ServiceConfig, ValidationIssue } from '../types.js';
import type { ParsedYaml } from '../playbook/parse.js';
import type { ConfigFile } from './schema.js';
import { CONFIG_FILE, NESTED_CONFIG_KEYS, NPM_PLACEHOLDER_TEST, WEBHOOK_ENV, repoPathProblem, staticDefaults } from './defaults.js';

// The YAML parser and zod (~170 ms to import together) are loaded only when there is an
// rb.config.yaml to read; without one the defaults need neither.
let P: typeof import('../playbook/parse.js');
const dottedPath = (path: Parameters<typeof P.dottedPath>[0]) => P.dottedPath(path);

/** What `next` says when rb.config.yaml is not valid. */
const NEXT = `fix the lines above in ${CONFIG_FILE} and run the command again (nothing was changed)`;

function invalid(issues: ValidationIssue[]): UsageError {
  return new UsageError(`${CONFIG_FILE} is not valid`, { details: P.sortIssues(issues).map(P.formatIssue), next: NEXT });
}

/**
 * Reads `<root>/rb.config.yaml` (optional) and returns the effective configuration.
 * @param root absolute path of the repository's top level
 * @param env environment to read RB_WEBHOOK_URL from (default: process.env)
 * @throws UsageError listing every problem in the file as `rb.config.yaml:line:column: message`
 */
export async function loadConfig(root: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  const path = resolve(root, CONFIG_FILE);
  let file: ConfigFile = {};
  let present = false;

  const cached = existsSync(path) ? await readCached(root, path) : null;
  if (cached) {
    present = true;
    file = cached;
  } else if (existsSync(path)) {
    present = true;
    P = await import('../playbook/parse.js');
    const { ConfigFileSchema } = await import('./schema.js');
    const { describeValue, issuesFromZod, parseYaml, readYamlFile } = P;
    const text = await readYamlFile(path, CONFIG_FILE);
    const result = parseYaml(text, CONFIG_FILE);
    if (!result.ok) throw invalid(result.issues);
    const parsed = result.parsed;
    const data = parsed.data ?? {}; // an empty file means "all defaults"
    const issues: ValidationIssue[] = [];
    if (typeof data !== 'object' || Array.isArray(data)) {
      throw invalid([parsed.issue([], `expected a mapping of settings (key: value), got ${describeValue(data)}`)]);
    }
    const r = ConfigFileSchema.safeParse(data);
    if (!r.success) issues.push(...issuesFromZod(r.error.issues, parsed, ConfigFileSchema, data, { label: dottedPath }));
    else file = r.data;
    // checks across keys, on the raw data so they are reported along with any type problems
    issues.push(...(await symlinkEscapes(root, data as Record<string, unknown>)).map((e) => parsed.issue(e.path, `${dottedPath(e.path)}: ${e.message}`)));
    issues.push(...rateOrder(data as Record<string, unknown>, parsed));
    issues.push(...duplicateServices(data as Record<string, unknown>, parsed));
    if (issues.length) throw invalid(issues);
    await writeCached(root, text, file, data);
  } else if (existsSync(join(root, 'rb.config.yml'))) {
    throw new UsageError(`found rb.config.yml, but rb reads ${CONFIG_FILE}`, {
      next: `rename rb.config.yml to ${CONFIG_FILE}`,
    });
  }

  const defaults = staticDefaults();
  const sources: Record<string, ConfigSource> = {};
  const detected = await detectDefaults(root);

  const pick = <T>(key: string, fromFile: T | undefined, fallback: T, fallbackSource: ConfigSource = 'default'): T => {
    if (fromFile !== undefined) {
      sources[key] = 'rb.config.yaml';
      return fromFile;
    }
    sources[key] = fallbackSource;
    return fallback;
  };

  const config: Config = {
    baseline: pick('baseline', file.baseline, defaults.baseline),
    remote: pick('remote', file.remote, defaults.remote),
    rollbacksDir: pick('rollbacksDir', file.rollbacksDir, defaults.rollbacksDir),
    test: pick<Command | null>('test', file.test, detected.test, detected.test === null ? 'default' : 'package.json'),
    coverage: pick('coverage', file.coverage, defaults.coverage),
    performance: pick('performance', file.performance, defaults.performance),
    build: pick('build', file.build, defaults.build),
    verify: pick('verify', file.verify, defaults.verify),
    install: pick<InstallConfig[]>('install', file.install?.map((i) => ({
      command: i.command, cwd: i.cwd ?? '.', lockfiles: i.lockfiles ?? [], dir: i.dir ?? null,
    })), detected.install),
    services: pick<ServiceConfig[]>('services', file.services?.map((s) => ({
      name: s.name, start: s.start, stop: s.stop ?? null, ready: s.ready ?? null, cwd: s.cwd ?? '.',
    })), defaults.services),
    keep: pick('keep', file.keep, defaults.keep),
    skipUnwritable: pick('skipUnwritable', file.skipUnwritable, defaults.skipUnwritable),
    testMap: pick('testMap', file.testMap, defaults.testMap),
    undo: { windowHours: pick('undo.windowHours', file.undo?.windowHours, defaults.undo.windowHours) },
    snapshots: {
      keepDays: pick('snapshots.keepDays', file.snapshots?.keepDays, defaults.snapshots.keepDays),
      maxIgnoredBytes: pick('snapshots.maxIgnoredBytes', file.snapshots?.maxIgnoredBytes, defaults.snapshots.maxIgnoredBytes),
      skipIgnored: pick('snapshots.skipIgnored', file.snapshots?.skipIgnored, defaults.snapshots.skipIgnored),
    },
    check: {
      maxDiskPercent: pick('check.maxDiskPercent', file.check?.maxDiskPercent, defaults.check.maxDiskPercent),
      baselineTests: pick('check.baselineTests', file.check?.baselineTests, defaults.check.baselineTests),
      tag: pick('check.tag', file.check?.tag, defaults.check.tag),
      worktree: pick('check.worktree', file.check?.worktree, defaults.check.worktree),
    },
    metrics: {
      healthyRate: pick('metrics.healthyRate', file.metrics?.healthyRate, defaults.metrics.healthyRate),
      reviewRate: pick('metrics.reviewRate', file.metrics?.reviewRate, defaults.metrics.reviewRate),
      countNamedCheckpoints: pick('metrics.countNamedCheckpoints', file.metrics?.countNamedCheckpoints, defaults.metrics.countNamedCheckpoints),
    },
    notify: { webhook: pick('notify.webhook', file.notify?.webhook, defaults.notify.webhook) },
    records: {
      share: pick('records.share', file.records?.share, defaults.records.share),
      timeoutSeconds: pick('records.timeoutSeconds', file.records?.timeoutSeconds, defaults.records.timeoutSeconds),
    },
  };

  const envHook = env[WEBHOOK_ENV];
  if (envHook !== undefined && envHook !== '') {
    if (!/^https?:\/\/[^\s/]+/i.test(envHook) || !URL.canParse(envHook)) {
      throw new UsageError(`${WEBHOOK_ENV} is not an http(s) URL`, {
        details: [`${WEBHOOK_ENV}=${JSON.stringify(envHook.length > 60 ? `${envHook.slice(0, 57)}...` : envHook)}`],
        next: `set ${WEBHOOK_ENV} to an http:// or https:// URL, or unset it`,
      });
    }
    config.notify.webhook = envHook;
    sources['notify.webhook'] = 'environment';
  }

  return { config, sources, file: present ? path : null };
}

/** The dotted leaf keys of a Config, in order (`baseline`, …, `undo.windowHours`, …). */
export function configLeafKeys(config: Config = staticDefaults()): string[] {
  const nested = new Set<string>(NESTED_CONFIG_KEYS);
  return Object.entries(config).flatMap(([k, v]) =>
    nested.has(k) ? Object.keys(v as object).map((n) => `${k}.${n}`) : [k]);
}

/** What the repository implies for `test` and `install`. */
export async function detectDefaults(root: string): Promise<{ test: Command | null; install: InstallConfig[] }> {
  let pkg: { scripts?: { test?: unknown }; packageManager?: unknown } | null = null;
  try {
    pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
  } catch {
    pkg = null; // no package.json, or one npm itself could not read: nothing to detect
  }
  const script = pkg?.scripts?.test;
  const test = typeof script === 'string' && script.trim() !== '' && script.trim() !== NPM_PLACEHOLDER_TEST ? 'npm test' : null;

  const managers = [
    { name: 'npm', lockfile: 'package-lock.json', command: 'npm ci' },
    { name: 'npm', lockfile: 'npm-shrinkwrap.json', command: 'npm ci' },
    { name: 'pnpm', lockfile: 'pnpm-lock.yaml', command: 'pnpm install --frozen-lockfile' },
    { name: 'yarn', lockfile: 'yarn.lock', command: 'yarn install --frozen-lockfile' },
  ].filter((m) => existsSync(join(root, m.lockfile)));
  // several lockfiles: package.json's "packageManager" (e.g. "pnpm@9.1.0") decides, else the order above
  const declared = typeof pkg?.packageManager === 'string' ? pkg.packageManager.split('@')[0] : undefined;
  const chosen = managers.find((m) => m.name === declared) ?? managers[0];
  const install: InstallConfig[] = chosen
    ? [{ command: chosen.command, cwd: '.', lockfiles: [chosen.lockfile], dir: 'node_modules' }]
    : [];
  return { test, install };
}

/** Service names must be unique (they name log files and `services.stop` targets). */
function duplicateServices(data: Record<string, unknown>, parsed: ParsedYaml): ValidationIssue[] {
  if (!Array.isArray(data.services)) return [];
  const seen = new Map<string, number>();
  const out: ValidationIssue[] = [];
  data.services.forEach((s, i) => {
    const name = s && typeof s === 'object' ? (s as Record<string, unknown>).name : undefined;
    if (typeof name !== 'string') return;
    const first = seen.get(name);
    if (first === undefined) seen.set(name, i);
    else out.push(parsed.issue(['services', i, 'name'], `services[${i}].name: duplicate service name "${name}" (also services[${first}])`));
  });
  return out;
}

/** metrics.healthyRate must not exceed metrics.reviewRate (either may come from the defaults). */
function rateOrder(data: Record<string, unknown>, parsed: ParsedYaml): ValidationIssue[] {
  const m = data.metrics;
  if (!m || typeof m !== 'object') return [];
  const { healthyRate: h, reviewRate: r } = m as Record<string, unknown>;
  const d = staticDefaults().metrics;
  const healthy = h === undefined ? d.healthyRate : h;
  const review = r === undefined ? d.reviewRate : r;
  if (typeof healthy !== 'number' || typeof review !== 'number' || healthy <= review) return [];
  const at = h !== undefined ? ['metrics', 'healthyRate'] : ['metrics', 'reviewRate'];
  return [parsed.issue(at, `metrics: healthyRate (${healthy}) must not be greater than reviewRate (${review})`)];
}

// ---- the validated file, cached ------------------------------------------------------------------
// Reading rb.config.yaml costs the YAML parser and zod (~60 ms of a command's start). A file
// that validated once is kept, as validated, in <git dir>/rb/config-cache.json under the hash of
// its text and of the schema rb runs with; the checks that depend on the file system (paths
// leading out through symlinks) run every time. Any problem with the cache: read the file.

/** Where the cache lives: the repository's own .git directory (none for linked worktrees or a .git file). */
function cachePath(root: string): string | null {
  try {
    return statSync(join(root, '.git')).isDirectory() ? join(root, '.git', 'rb', 'config-cache.json') : null;
  } catch {
    return null;
  }
}

/**
 * The key of a file's text: the text and the code that judges it (this module, the schema, the
 * path rules and the YAML reader, byte for byte; rb's, zod's and yaml's versions), so another
 * rb never trusts a verdict of an older one. (.ts when the sources run directly, as in the tests.)
 */
function cacheKey(text: string): string {
  const h = createHash('sha256').update('rb-config-cache 3\0');
  for (const mod of ['./load', './schema', './defaults', '../playbook/parse']) {
    const body = [`${mod}.js`, `${mod}.ts`].map((f) => {
      try {
        return readFileSync(new URL(f, import.meta.url));
      } catch {
        return null;
      }
    }).find((b) => b !== null);
    if (!body) throw new Error(`rb: ${mod} not found`);
    h.update(body).update('\0');
  }
  h.update(packageVersion(new URL('../../package.json', import.meta.url))).update('\0');
  for (const dep of ['zod', 'yaml']) h.update(`${dep}@${dependencyVersion(dep)}\0`);
  return h.update(text).digest('hex');
}

function packageVersion(file: URL | string): string {
  try {
    return String((JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown }).version);
  } catch {
    return '?';
  }
}

/** The version of the installed package `name`, wherever npm put it: the package.json above its entry point. */
function dependencyVersion(name: string): string {
  try {
    let dir = dirname(fileURLToPath(import.meta.resolve(name)));
    for (let i = 0; i < 8; i++, dir = dirname(dir)) {
      const f = join(dir, 'package.json');
      if (existsSync(f) && (JSON.parse(readFileSync(f, 'utf8')) as { name?: unknown }).name === name) return packageVersion(f);
    }
  } catch { /* not resolvable: no version */ }
  return '?';
}

async function readCached(root: string, path: string): Promise<ConfigFile | null> {
  const cp = cachePath(root);
  if (!cp) return null;
  try {
    // only a regular file of a sane size (a FIFO would block; the full read reports both)
    const st = statSync(path);
    if (!st.isFile() || st.size > 1024 * 1024) return null;
    const [text, raw] = await Promise.all([readFile(path, 'utf8'), readFile(cp, 'utf8')]);
    const c = JSON.parse(raw) as { key?: unknown; file?: unknown; data?: unknown };
    if (c.key !== cacheKey(text) || !c.file || typeof c.file !== 'object' || !c.data || typeof c.data !== 'object') return null;
    // the file system may have changed since: a path that now leads outside is reported by the full read
    if ((await symlinkEscapes(root, c.data as Record<string, unknown>)).length) return null;
    return c.file as ConfigFile;
  } catch {
    return null;
  }
}

async function writeCached(root: string, text: string, file: ConfigFile, data: unknown): Promise<void> {
  const cp = cachePath(root);
  if (!cp) return;
  try {
    await mkdir(join(cp, '..'), { recursive: true });
    const tmp = `${cp}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify({ key: cacheKey(text), file, data }));
    await rename(tmp, cp);
  } catch {
    // a read-only .git, a full disk: the next command reads the file again
  }
}

/** Configured paths that exist and are (or go through) symbolic links leading outside the repository. */
async function symlinkEscapes(root: string, data: Record<string, unknown>): Promise<{ path: (string | number)[]; message: string }[]> {
  const checks: { path: (string | number)[]; value: string }[] = [];
  const add = (path: (string | number)[], v: unknown) => {
    if (typeof v === 'string' && v !== '' && !repoPathProblem(v, { allowRoot: true })) checks.push({ path, value: v });
  };
  add(['rollbacksDir'], data.rollbacksDir);
  for (const key of ['install', 'services'] as const) {
    const list = data[key];
    if (Array.isArray(list)) list.forEach((e, i) => { if (e && typeof e === 'object') add([key, i, 'cwd'], (e as Record<string, unknown>).cwd); });
  }
  if (!checks.length) return [];
  let realRoot: string;
  try { realRoot = await realpath(root); } catch { return []; }
  const out: { path: (string | number)[]; message: string }[] = [];
  for (const c of checks) {
    let real: string;
    try { real = await realpath(join(root, c.value)); } catch { continue; } // does not exist (yet): fine
    const rel = relative(realRoot, real);
    if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
      out.push({ path: c.path, message: `must stay inside the repository, but ${JSON.stringify(c.value)} leads through a symbolic link to ${real}` });
    }
  }
  return out;
}
