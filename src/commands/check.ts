/**
 * `rb check [--json] [--no-tests] [--no-tag] [--max-disk <pct>] [--fetch]`: the pre-sprint safety
 * gate for CI and humans. Thin: options -> runCheck (src/check/run-check.ts) -> emitReport
 * (src/check/output.ts). Exit 0 when no check failed, 3 when one did; a failing check is reported,
 * not thrown.
 */
import { ExitCode } from '../errors.js';
import { emitReport } from '../check/output.js';
import { runCheck } from '../check/run-check.js';

export { runCheck, parseMaxDisk, type CheckOptions } from '../check/run-check.js';
export { emitReport, formatJson, formatPlain, formatTable, githubAnnotations, githubSummary } from '../check/output.js';
export type { CheckReport, CheckResult, CheckStatus } from '../check/types.js';

/** The options commander gives the command (see the registration in src/cli.ts). */
export interface CheckCommandOptions {
  json?: boolean;
  /** false with --no-tests */
  tests?: boolean;
  /** false with --no-tag */
  tag?: boolean;
  maxDisk?: string;
  fetch?: boolean;
}

export async function checkCommand(opts: CheckCommandOptions, cmd: any): Promise<number> {
  const global = (cmd?.parent?.opts?.() ?? {}) as { cwd?: string; color?: boolean };
  const tty = Boolean(process.stdout.isTTY);
  const human = !opts.json;
  const report = await runCheck({
    cwd: global.cwd,
    tests: opts.tests,
    tag: opts.tag,
    maxDisk: opts.maxDisk,
    fetch: opts.fetch,
    // progress on stderr (also in CI logs, where the tests may run for minutes); none with --json
    onProgress: human ? (line) => void process.stderr.write(`… ${line}\n`) : undefined,
  });
  emitReport(report, {
    json: opts.json,
    tty,
    color: tty && global.color !== false && !process.env.NO_COLOR && process.env.TERM !== 'dumb',
    env: process.env,
  });
  return report.ok ? ExitCode.ok : ExitCode.precondition;
}
