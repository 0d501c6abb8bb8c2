/** `capture`: run a read-only command and save its output under rollbacks/ (never fails the run on a non-zero exit, records it). */
import { z } from '#zod';
import { writeFileAtomic } from '../io/fs.js';
import { runCommand, tail } from '../io/exec.js';
import { git } from '../io/git.js';
import type { PlanContext, StepKind } from './types.js';
import { commandSchema, displayCommand, recordPath, repoPath, repoRelative } from './common.js';

const schema = z
  .object({
    command: commandSchema,
    to: z.string().min(1),
    cwd: z.string().optional(),
    /** fail the step when the command exits non-zero (default: record it and go on) */
    strict: z.boolean().optional(),
  })
  .strict();
type With = z.infer<typeof schema>;

/** The command and where its output goes, in the plan and the journal alike. */
function captureLine(w: With, ctx: PlanContext): string {
  return `${w.cwd && w.cwd !== '.' ? `(cd ${w.cwd}) ` : ''}${displayCommand(w.command)}  > ${ctx.config.rollbacksDir}/${w.to}`;
}

export const capture: StepKind<With> = {
  kind: 'capture',
  summary: 'run a command and save its output to a file under rollbacks/',
  with: schema,
  destructive: false,
  describe: (w, ctx) => [captureLine(w, ctx)],
  async run(w, ctx) {
    const out = recordPath(ctx, w.to);
    let text: string;
    let code: number;
    // git commands go through the hardened runner (no pager, no hooks, LC_ALL=C)
    if (Array.isArray(w.command) && w.command[0] === 'git') {
      const r = await git(w.command.slice(1), { cwd: repoPath(ctx, w.cwd), allowFail: true, readOnly: true, timeoutMs: ctx.timeoutMs });
      text = r.stdout + (r.code !== 0 ? r.stderr : '');
      code = r.code;
    } else {
      const r = await runCommand(w.command, { cwd: repoPath(ctx, w.cwd), timeoutMs: ctx.timeoutMs, signal: ctx.signal });
      text = r.all;
      code = r.exitCode;
    }
    writeFileAtomic(out, text);
    ctx.reporter.output(`saved ${repoRelative(ctx, out)} (${text.split('\n').filter(Boolean).length} lines)`);
    const result = { commands: [captureLine(w, ctx)], exitCode: code, outputTail: tail(text, 5), file: repoRelative(ctx, out), lines: text.split('\n').filter(Boolean).length, lastLine: text.trim().split('\n').pop() ?? '' };
    if (code !== 0 && w.strict) throw Object.assign(new Error(`${displayCommand(w.command)} exited ${code}`), { result });
    return result;
  },
};
