/**
 * The schema of rb.config.yaml (architecture §3) and its static defaults.
 *
 * Every key is optional in the file; {@link ConfigFileSchema} checks what is written (types,
 * unknown keys, paths that must stay inside the repository) and src/config/load.ts fills in
 * the rest from {@link staticDefaults} and from what it detects in the repository
 * (package.json's test script, lockfiles).
 */
import { posix } from 'node:path';
import { z } from '#zod';
import type { Config } from '../types.js';
import { CONFIG_FILE, repoPathProblem, refNameProblem } from './defaults.js';

export * from './defaults.js';




/** A zod string that must be a path inside the repository (see {@link repoPathProblem}). */
function repoPath(opts: { allowRoot?: boolean } = {}) {
  return z.string().superRefine((p, ctx) => {
    const why = repoPathProblem(p, opts);
    if (why) ctx.addIssue({ code: 'custom', message: why });
  });
}


const refName = (what: string, opts: { allowEmpty?: boolean } = {}) =>
  z.string({ error: `expected ${what}` }).superRefine((v, ctx) => {
    if (v === '' && opts.allowEmpty) return;
    const why = v === '' ? 'must not be empty' : refNameProblem(v);
    if (why) ctx.addIssue({ code: 'custom', message: v === '' ? why : `${JSON.stringify(v)} ${why}` });
  });

/** A command: a string is run by the shell, a list is an argv. */
export const CommandSchema = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], {
  error: 'expected a command: a non-empty string (run by the shell) or a list of strings (an argv)',
});

const stringList = (what: string) => z.array(z.string().min(1), { error: `expected a list of ${what}` });

export const InstallSchema = z
  .strictObject({
    command: CommandSchema,
    cwd: repoPath({ allowRoot: true }).optional(),
    lockfiles: stringList('lockfile paths (relative to cwd)').optional(),
    dir: z.string({ error: 'expected a folder path (relative to cwd) or null' }).min(1).nullable().optional(),
  }, { error: 'expected an install entry: { command, cwd, lockfiles, dir }' })
  .superRefine((v, ctx) => {
    const cwd = (v.cwd ?? '.').replace(/\\/g, '/');
    if (repoPathProblem(cwd, { allowRoot: true })) return; // reported on cwd itself
    /** a path relative to cwd that must stay inside the repository */
    const problem = (p: string): string | null =>
      /^([\\/~]|[A-Za-z]:)/.test(p) ? 'must be relative to cwd' : repoPathProblem(posix.join(cwd, p.replace(/\\/g, '/')));
    (v.lockfiles ?? []).forEach((f, i) => {
      const why = problem(f);
      if (why) ctx.addIssue({ code: 'custom', path: ['lockfiles', i], message: `a lockfile path ${why}` });
    });
    if (v.dir) {
      const why = problem(v.dir);
      if (why) ctx.addIssue({ code: 'custom', path: ['dir'], message: `the dependency folder ${why}` });
    }
  });

/** Service names become file names (rollbacks/logs/<name>.log). */
const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export const ServiceSchema = z.strictObject({
  name: z.string({ error: 'expected a service name' }).regex(SERVICE_NAME, {
    error: 'expected a service name of letters, digits, ".", "_" or "-", starting with a letter or digit',
  }),
  start: CommandSchema,
  stop: CommandSchema.nullable().optional(),
  ready: CommandSchema.nullable().optional(),
  cwd: repoPath({ allowRoot: true }).optional(),
}, { error: 'expected a service: { name, start, stop, ready, cwd }' });

export const TestMapSchema = z.strictObject({
  match: z.string().min(1),
  tests: z.array(z.string().min(1)).min(1),
}, { error: 'expected a test map entry: { match, tests }' });

const rate = z.number().min(0).max(1);

/** What rb.config.yaml may contain. Every key is optional; defaults are filled in by loadConfig. */
export const ConfigFileSchema = z.strictObject({
  baseline: refName('a branch or tag name').optional(),
  remote: refName('a remote name, or "" to never fetch', { allowEmpty: true }).optional(),
  rollbacksDir: repoPath().optional(),
  test: CommandSchema.nullable().optional(),
  coverage: CommandSchema.nullable().optional(),
  performance: CommandSchema.nullable().optional(),
  build: CommandSchema.nullable().optional(),
  verify: CommandSchema.nullable().optional(),
  install: z.array(InstallSchema, { error: 'expected a list of install entries ({ command, cwd, lockfiles, dir })' }).optional(),
  // (unique service names are checked by loadConfig, so they are reported along with other problems)
  services: z.array(ServiceSchema, { error: 'expected a list of services ({ name, start, stop, ready, cwd })' }).optional(),
  keep: stringList('paths or patterns').optional(),
  skipUnwritable: z.boolean().optional(),
  testMap: z.array(TestMapSchema, { error: 'expected a list of { match, tests } entries' }).optional(),
  undo: z.strictObject({ windowHours: z.number().positive().optional() }).optional(),
  snapshots: z.strictObject({
    keepDays: z.number().int().min(1).optional(),
    maxIgnoredBytes: z.number().int().min(0).optional(),
    skipIgnored: stringList('paths or patterns').optional(),
  }).optional(),
  check: z.strictObject({
    maxDiskPercent: z.number().positive().max(100).optional(),
    baselineTests: z.boolean().optional(),
    tag: z.boolean().optional(),
    worktree: z.string().superRefine((v, ctx) => {
      if (!v.startsWith('/') && !v.startsWith('~/')) ctx.addIssue({ code: 'custom', message: 'expected an absolute path or one starting with ~/ (outside the repository), or null for the default in the cache dir' });
    }).nullable().optional(),
  }).optional(),
  metrics: z.strictObject({ healthyRate: rate.optional(), reviewRate: rate.optional(), countNamedCheckpoints: z.boolean().optional() }).optional(),
  notify: z.strictObject({
    webhook: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL or null' }).nullable().optional(),
  }).optional(),
  records: z.strictObject({
    share: z.boolean().optional(),
    timeoutSeconds: z.number().positive().max(600).optional(),
  }).optional(),
});

export type ConfigFile = z.infer<typeof ConfigFileSchema>;




