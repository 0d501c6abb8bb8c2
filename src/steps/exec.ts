/** `exec` (and `run:` steps): run a command; an argv never touches a shell. */
import { z } from '#zod';
import { writeFileAtomic } from '../io/fs.js';
import { runCommand, tail } from '../io/exec.js';
import type { PlanContext, StepKind } from './types.js';
import { commandSchema, displayCommand, recordPath, repoPath } from './common.js';

const schema = z
  .object({
    command: commandSchema,
    cwd: z.string().optional(),
    env: z.record(z.string(), z.string()).optional(),
    to: z.string().optional(),
    destructive: z.boolean().optional(),
  })
  .strict();
type With = z.infer<typeof schema>;

/** The command, where it runs and where its output goes, in the plan and the journal alike. */
function execLine(w: With, ctx: PlanContext): string {
  return `${w.cwd && w.cwd !== '.' ? `(cd ${w.cwd}) ` : ''}${displayCommand(w.command)}${w.to ? `  > ${ctx.config.rollbacksDir}/${w.to}` : ''}`;
}

export const exec: StepKind<With> = {
  kind: 'exec',
  summary: 'run a command (argv, or a string with shell: true); `to` saves its output under rollbacks/',
  with: schema,
  destructive: (w) => w.destructive === true,
  // a command declared destructive (a codemod, a migration, `rm -rf`) is not run twice on its own
  rerunnable: (w) => w.destructive !== true,
  describe: (w, ctx) => [execLine(w, ctx)],
  async run(w, ctx) {
    const r = await runCommand(w.command, {
      cwd: repoPath(ctx, w.cwd),
      env: w.env,
      timeoutMs: ctx.timeoutMs,
      signal: ctx.signal,
      onLine: (l) => ctx.reporter.output(l),
    });
    if (w.to) writeFileAtomic(recordPath(ctx, w.to), r.all);
    const result = { commands: [execLine(w, ctx)], exitCode: r.exitCode, outputTail: tail(r.all), durationMs: r.durationMs, output: r.all.length < 65536 ? r.all : tail(r.all, 500) };
    if (r.exitCode !== 0) {
      const why = r.failedToStart ?? (r.timedOut ? `timed out after ${ctx.timeoutMs} ms` : r.cancelled ? 'cancelled' : `exited ${r.exitCode}`);
      throw Object.assign(new Error(`${displayCommand(w.command)}: ${why}`), { result });
    }
    return result;
  },
};
