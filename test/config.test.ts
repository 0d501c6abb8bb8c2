import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.js';
import { configLeafKeys, loadConfig } from '../src/config/load.js';
import { MAX_YAML_BYTES } from '../src/playbook/parse.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A temp "repository" folder with the given files. */
function repo(files: Record<string, string> = {}): string {
  const d = mkdtempSync(join(tmpdir(), 'rb-config-'));
  dirs.push(d);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(d, name, '..'), { recursive: true });
    writeFileSync(join(d, name), text);
  }
  return d;
}

const noEnv = {};

/** The UsageError thrown by loadConfig. */
async function failure(files: Record<string, string>, env: NodeJS.ProcessEnv = noEnv): Promise<UsageError> {
  try {
    await loadConfig(repo(files), env);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return e as UsageError;
  }
  throw new Error('expected loadConfig to fail');
}

describe('loadConfig: defaults', () => {
  it('fills every key of architecture §3 when there is no rb.config.yaml', async () => {
    const loaded = await loadConfig(repo(), noEnv);
    expect(loaded.file).toBeNull();
    expect(loaded.config).toEqual({
      baseline: 'baseline',
      remote: 'origin',
      rollbacksDir: 'rollbacks',
      test: null,
      coverage: null,
      performance: null,
      build: null,
      verify: null,
      install: [],
      services: [],
      keep: ['.env', '.env.*'],
      skipUnwritable: false,
      testMap: [],
      undo: { windowHours: 24 },
      snapshots: { keepDays: 30, maxIgnoredBytes: 52428800, skipIgnored: ['node_modules'] },
      check: { maxDiskPercent: 90, baselineTests: true, tag: true, worktree: null },
      metrics: { healthyRate: 0.05, reviewRate: 0.1, countNamedCheckpoints: false },
      notify: { webhook: null },
      records: { share: false, timeoutSeconds: 10 },
    });
    expect(Object.keys(loaded.sources)).toEqual(configLeafKeys());
    expect(new Set(Object.values(loaded.sources))).toEqual(new Set(['default']));
  });

  it('treats an empty file (or only comments) as all defaults', async () => {
    const loaded = await loadConfig(repo({ 'rb.config.yaml': '# nothing yet\n' }), noEnv);
    expect(loaded.config.baseline).toBe('baseline');
    expect(loaded.file).toMatch(/rb\.config\.yaml$/);
  });

  it('merges the file over the defaults, per leaf, and records the sources', async () => {
    const loaded = await loadConfig(repo({
      'rb.config.yaml': `baseline: release/1.0
remote: ""
test: [npx, vitest, run]
install:
  - command: [pnpm, install, --frozen-lockfile]
    cwd: web
services:
  - { name: web, start: npm run dev, ready: "http://localhost:3000" }
undo: { windowHours: 48 }
snapshots: { keepDays: 7 }
notify: { webhook: null }
`,
    }), noEnv);
    expect(loaded.config).toMatchObject({
      baseline: 'release/1.0',
      remote: '',
      test: ['npx', 'vitest', 'run'],
      install: [{ command: ['pnpm', 'install', '--frozen-lockfile'], cwd: 'web', lockfiles: [], dir: null }],
      services: [{ name: 'web', start: 'npm run dev', stop: null, ready: 'http://localhost:3000', cwd: '.' }],
      undo: { windowHours: 48 },
      snapshots: { keepDays: 7, maxIgnoredBytes: 52428800, skipIgnored: ['node_modules'] },
    });
    expect(loaded.sources).toMatchObject({
      baseline: 'rb.config.yaml',
      remote: 'rb.config.yaml',
      rollbacksDir: 'default',
      test: 'rb.config.yaml',
      'undo.windowHours': 'rb.config.yaml',
      'snapshots.keepDays': 'rb.config.yaml',
      'snapshots.maxIgnoredBytes': 'default',
      'notify.webhook': 'rb.config.yaml',
    });
  });

  it('takes notify.webhook from RB_WEBHOOK_URL over the file', async () => {
    const root = repo({ 'rb.config.yaml': 'notify: { webhook: "https://file.example/hook" }\n' });
    const loaded = await loadConfig(root, { RB_WEBHOOK_URL: 'https://env.example/hook' });
    expect(loaded.config.notify.webhook).toBe('https://env.example/hook');
    expect(loaded.sources['notify.webhook']).toBe('environment');
    expect((await loadConfig(root, { RB_WEBHOOK_URL: '' })).config.notify.webhook).toBe('https://file.example/hook');
    await expect(loadConfig(root, { RB_WEBHOOK_URL: 'not a url' })).rejects.toThrow('RB_WEBHOOK_URL is not an http(s) URL');
  });
});

describe('loadConfig: what the repository implies', () => {
  it('uses `npm test` when package.json has a real test script', async () => {
    const loaded = await loadConfig(repo({ 'package.json': JSON.stringify({ scripts: { test: 'vitest run' } }) }), noEnv);
    expect(loaded.config.test).toBe('npm test');
    expect(loaded.sources.test).toBe('package.json');
  });

  it("ignores npm's placeholder script, a missing script, and an unreadable package.json", async () => {
    const placeholder = JSON.stringify({ scripts: { test: 'echo "Error: no test specified" && exit 1' } });
    for (const pkg of [placeholder, JSON.stringify({ scripts: {} }), '{ not json']) {
      const loaded = await loadConfig(repo({ 'package.json': pkg }), noEnv);
      expect(loaded.config.test).toBeNull();
      expect(loaded.sources.test).toBe('default');
    }
  });

  it('lets the file override the detected test command, including with null', async () => {
    const loaded = await loadConfig(repo({
      'package.json': JSON.stringify({ scripts: { test: 'vitest run' } }),
      'rb.config.yaml': 'test: null\n',
    }), noEnv);
    expect(loaded.config.test).toBeNull();
    expect(loaded.sources.test).toBe('rb.config.yaml');
  });

  it('detects the install command from the lockfile', async () => {
    const cases: [string, string][] = [
      ['package-lock.json', 'npm ci'],
      ['pnpm-lock.yaml', 'pnpm install --frozen-lockfile'],
      ['yarn.lock', 'yarn install --frozen-lockfile'],
    ];
    for (const [lockfile, command] of cases) {
      const loaded = await loadConfig(repo({ [lockfile]: '' }), noEnv);
      expect(loaded.config.install).toEqual([{ command, cwd: '.', lockfiles: [lockfile], dir: 'node_modules' }]);
      expect(loaded.sources.install).toBe('default');
    }
    expect((await loadConfig(repo(), noEnv)).config.install).toEqual([]);
  });

  it('with several lockfiles, follows package.json "packageManager"', async () => {
    const loaded = await loadConfig(repo({
      'package-lock.json': '', 'yarn.lock': '',
      'package.json': JSON.stringify({ packageManager: 'yarn@1.22.22' }),
    }), noEnv);
    expect(loaded.config.install).toEqual([{ command: 'yarn install --frozen-lockfile', cwd: '.', lockfiles: ['yarn.lock'], dir: 'node_modules' }]);
  });
});

describe('loadConfig: problems', () => {
  it('reports an unknown key with line:column and the closest key', async () => {
    const e = await failure({ 'rb.config.yaml': 'remote: origin\nbaselin: main\nundo:\n  windowHour: 3\nfoo: 1\n' });
    expect(e.message).toBe('rb.config.yaml is not valid');
    expect(e.exitCode).toBe(2);
    expect(e.details).toMatchInlineSnapshot(`
      [
        "rb.config.yaml:2:1: unknown key "baselin" (did you mean "baseline"?)",
        "rb.config.yaml:4:3: undo: unknown key "windowHour" (did you mean "windowHours"?)",
        "rb.config.yaml:5:1: unknown key "foo" (valid keys: baseline, build, check, coverage, install, keep, metrics, notify, performance, records, remote, rollbacksDir, services, skipUnwritable, snapshots, test, testMap, undo, verify)",
      ]
    `);
    expect(e.next).toBe('fix the lines above in rb.config.yaml and run the command again (nothing was changed)');
  });

  it('reports wrong types, including YAML 1.1 words and octal-looking numbers', async () => {
    const e = await failure({
      'rb.config.yaml': `baseline: 2024
test: 42
keep: .env
install: npm ci
undo: { windowHours: "24h" }
snapshots: { keepDays: 0, maxIgnoredBytes: 1.5 }
check: { baselineTests: no, tag: on, maxDiskPercent: 0777 }
metrics: { healthyRate: 2 }
notify: { webhook: "ftp://example.com" }
`,
    });
    expect(e.details).toMatchInlineSnapshot(`
      [
        "rb.config.yaml:1:11: baseline: expected a branch or tag name, got the number 2024 — write "2024" in quotes to make it text",
        "rb.config.yaml:2:7: test: expected a command: a non-empty string (run by the shell) or a list of strings (an argv), got the number 42",
        "rb.config.yaml:3:7: keep: expected a list of paths or patterns, got the string ".env"",
        "rb.config.yaml:4:10: install: expected a list of install entries ({ command, cwd, lockfiles, dir }), got the string "npm ci"",
        "rb.config.yaml:5:22: undo.windowHours: expected a number, got the string "24h"",
        "rb.config.yaml:6:24: snapshots.keepDays: must be at least 1, got the number 0",
        "rb.config.yaml:6:44: snapshots.maxIgnoredBytes: expected an integer, got the number 1.5",
        "rb.config.yaml:7:25: check.baselineTests: expected a boolean (true/false), got the string "no" — YAML 1.2 reads it as text",
        "rb.config.yaml:7:34: check.tag: expected a boolean (true/false), got the string "on" — YAML 1.2 reads it as text",
        "rb.config.yaml:7:54: check.maxDiskPercent: must be at most 100, got the number 777 — YAML 1.2 reads 0777 as the decimal number 777 (octal is written 0o…)",
        "rb.config.yaml:8:25: metrics: healthyRate (2) must not be greater than reviewRate (0.1)",
        "rb.config.yaml:8:25: metrics.healthyRate: must be at most 1, got the number 2",
        "rb.config.yaml:9:20: notify.webhook: expected an http(s) URL or null, got the string "ftp://example.com"",
      ]
    `);
  });

  it('check.worktree: an absolute path or ~/…, outside the repository', async () => {
    const e = await failure({ 'rb.config.yaml': 'check: { worktree: .baseline }\n' });
    expect(e.details).toEqual(['rb.config.yaml:1:20: check.worktree: expected an absolute path or one starting with ~/ (outside the repository), or null for the default in the cache dir, got the string ".baseline"']);
  });

  it('checks install and service entries, and unsafe names', async () => {
    const e = await failure({
      'rb.config.yaml': `baseline: --upload-pack=evil
remote: "origin main"
install:
  - comand: npm ci
  - { command: [npm, ci], lockfiles: [../../other/package-lock.json], dir: /tmp/x }
services:
  - { name: web, start: npm run dev }
  - { name: web, start: [node, server.js] }
  - { name: ../x, start: x }
  - { start: x }
`,
    });
    expect(e.details).toMatchInlineSnapshot(`
      [
        "rb.config.yaml:1:11: baseline: "--upload-pack=evil" must not start with "-"",
        "rb.config.yaml:2:9: remote: "origin main" must not contain spaces or any of ~ ^ : ? * [ \\",
        "rb.config.yaml:4:5: install[0]: missing required key "command" (a command: a non-empty string (run by the shell) or a list of strings (an argv))",
        "rb.config.yaml:4:5: install[0]: unknown key "comand" (did you mean "command"?)",
        "rb.config.yaml:5:39: install[1].lockfiles[0]: a lockfile path must stay inside the repository, but "../../other/package-lock.json" leads outside it",
        "rb.config.yaml:5:76: install[1].dir: the dependency folder must be relative to cwd",
        "rb.config.yaml:8:13: services[1].name: duplicate service name "web" (also services[0])",
        "rb.config.yaml:9:13: services[2].name: expected a service name of letters, digits, ".", "_" or "-", starting with a letter or digit, got the string "../x"",
        "rb.config.yaml:10:5: services[3]: missing required key "name" (a service name)",
      ]
    `);
  });

  it('keeps paths inside the repository: no "..", no absolute paths, no symlinks out', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'rb-outside-'));
    dirs.push(outside);
    const root = repo({
      'rb.config.yaml': `rollbacksDir: linked
install:
  - { command: npm ci, cwd: ../sibling }
  - { command: npm ci, cwd: /usr/src }
  - { command: npm ci, cwd: "packages/../.." }
services:
  - { name: api, start: x, cwd: C:\\\\work }
`,
    });
    symlinkSync(outside, join(root, 'linked'));
    let e: UsageError | undefined;
    try { await loadConfig(root, noEnv); } catch (err) { e = err as UsageError; }
    expect(e?.details?.map((d) => d.replace(outside, '<outside>'))).toMatchInlineSnapshot(`
      [
        "rb.config.yaml:1:15: rollbacksDir: must stay inside the repository, but "linked" leads through a symbolic link to <outside>",
        "rb.config.yaml:3:29: install[0].cwd: must stay inside the repository, but "../sibling" leads outside it",
        "rb.config.yaml:4:29: install[1].cwd: must be a path relative to the repository root, got the absolute path "/usr/src"",
        "rb.config.yaml:5:29: install[2].cwd: must stay inside the repository, but "packages/../.." leads outside it",
        "rb.config.yaml:7:33: services[0].cwd: must be a path relative to the repository root, got the absolute path "C:\\\\\\\\work"",
      ]
    `);
    const e2 = await failure({ 'rb.config.yaml': 'rollbacksDir: .\n' });
    expect(e2.details).toEqual(['rb.config.yaml:1:15: rollbacksDir: must be a folder inside the repository, not its root']);
    const e3 = await failure({ 'rb.config.yaml': 'rollbacksDir: .git/rb\n' });
    expect(e3.details).toEqual(['rb.config.yaml:1:15: rollbacksDir: must not be inside .git']);
  });

  it('reports malformed YAML and duplicate keys with their position', async () => {
    expect((await failure({ 'rb.config.yaml': 'baseline: main\nremote: [origin\n' })).details).toMatchInlineSnapshot(`
      [
        "rb.config.yaml:3:1: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]",
      ]
    `);
    expect((await failure({ 'rb.config.yaml': 'baseline: a\nremote: o\nbaseline: b\n' })).details).toEqual([
      'rb.config.yaml:3:1: invalid YAML: duplicate key: this key already appears earlier in the same mapping',
    ]);
    expect((await failure({ 'rb.config.yaml': '- baseline\n' })).details).toEqual([
      'rb.config.yaml:1:1: expected a mapping of settings (key: value), got a list',
    ]);
  });

  it('refuses an alias bomb and a huge file', async () => {
    const lines = ['a: &a [x,x,x,x,x,x,x,x,x,x]'];
    for (const [p, c] of ['ab', 'bc', 'cd', 'de', 'ef', 'fg']) lines.push(`${c}: &${c} [${Array(10).fill(`*${p}`).join(',')}]`);
    const bomb = await failure({ 'rb.config.yaml': `${lines.join('\n')}\n` });
    expect(bomb.details?.[0]).toMatch(/^rb\.config\.yaml:2:\d+: aliases expand to too much data/);

    const huge = await failure({ 'rb.config.yaml': `# ${'x'.repeat(MAX_YAML_BYTES)}\n` });
    expect(huge.details).toEqual(['rb.config.yaml:1:1: the file is 257 KiB; rb reads YAML files of at most 256 KiB']);
  });

  it('says so when the file is named rb.config.yml', async () => {
    const e = await failure({ 'rb.config.yml': 'baseline: main\n' });
    expect(e.message).toBe('found rb.config.yml, but rb reads rb.config.yaml');
    expect(e.next).toBe('rename rb.config.yml to rb.config.yaml');
  });
});

describe('loadConfig: the validated file is cached in .git/rb/config-cache.json', () => {
  const cacheFile = (root: string) => join(root, '.git', 'rb', 'config-cache.json');

  it('a valid file is cached; the next load uses the cache (no YAML read), an edited file is read again', async () => {
    const root = repo({ 'rb.config.yaml': 'baseline: stable\nundo: { windowHours: 12 }\n', '.git/HEAD': 'ref: refs/heads/main\n' });
    expect((await loadConfig(root, noEnv)).config.baseline).toBe('stable');
    const c = JSON.parse(readFileSync(cacheFile(root), 'utf8'));
    expect(c.file).toEqual({ baseline: 'stable', undo: { windowHours: 12 } });
    // proof the cache is what the second load reads: a value only the cache holds
    writeFileSync(cacheFile(root), JSON.stringify({ ...c, file: { ...c.file, baseline: 'from-the-cache' } }));
    const second = await loadConfig(root, noEnv);
    expect(second.config.baseline).toBe('from-the-cache');
    expect(second.sources.baseline).toBe('rb.config.yaml');
    // an edit changes the key: the file is validated again, and its problems reported
    writeFileSync(join(root, 'rb.config.yaml'), 'baseline: stable\nundo: { windowHours: -1 }\n');
    await expect(loadConfig(root, noEnv)).rejects.toThrow(/rb.config.yaml is not valid/);
    writeFileSync(join(root, 'rb.config.yaml'), 'baseline: other\n');
    expect((await loadConfig(root, noEnv)).config.baseline).toBe('other');
  });

  it('an invalid file is never cached; a broken cache is ignored', async () => {
    const root = repo({ 'rb.config.yaml': 'baseline: [not, a, name]\n', '.git/HEAD': 'ref: refs/heads/main\n' });
    await expect(loadConfig(root, noEnv)).rejects.toThrow(/not valid/);
    expect(existsSync(cacheFile(root))).toBe(false);
    writeFileSync(join(root, 'rb.config.yaml'), 'baseline: good\n');
    mkdirSync(join(root, '.git', 'rb'), { recursive: true });
    writeFileSync(cacheFile(root), '{ not json');
    expect((await loadConfig(root, noEnv)).config.baseline).toBe('good');
    expect(JSON.parse(readFileSync(cacheFile(root), 'utf8')).file).toEqual({ baseline: 'good' });
  });

  it('an rb.config.yaml replaced by a FIFO after caching: "is not a file", no hang', async () => {
    const root = repo({ 'rb.config.yaml': 'baseline: stable\n', '.git/HEAD': 'ref: refs/heads/main\n' });
    await loadConfig(root, noEnv);
    expect(existsSync(cacheFile(root))).toBe(true);
    rmSync(join(root, 'rb.config.yaml'));
    execFileSync('mkfifo', [join(root, 'rb.config.yaml')]);
    await expect(loadConfig(root, noEnv)).rejects.toThrow(/rb.config.yaml is not a file/);
  });

  it('a path that leads outside through a symlink created after the file was cached is still reported', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'rb-outside-'));
    dirs.push(outside);
    const root = repo({ 'rb.config.yaml': 'rollbacksDir: linked\n', '.git/HEAD': 'ref: refs/heads/main\n' });
    expect((await loadConfig(root, noEnv)).config.rollbacksDir).toBe('linked');
    expect(existsSync(cacheFile(root))).toBe(true);
    symlinkSync(outside, join(root, 'linked'));
    await expect(loadConfig(root, noEnv)).rejects.toThrow(/not valid/);
  });
});
