/**
 * What kind of output stream rb writes to, decided in one place: an interactive terminal (the
 * updating listr2 task tree, tables, colour) or a log (one line per event). Light: std-env only
 * (4 kB, no dependencies), whose list of CI services (CI, GITHUB_ACTIONS, GITLAB_CI, BUILDKITE,
 * JENKINS_URL, TF_BUILD … ) rb follows rather than keeping its own.
 */
import { isCI } from 'std-env';

export interface StreamFacts {
  isTTY: boolean;
  /** what the terminal reports; 0 or undefined when it does not know its size */
  columns: number | undefined;
  /** a CI service runs us (std-env) */
  ci: boolean;
  term: string | undefined;
}

export function streamFacts(stream: NodeJS.WriteStream = process.stdout, env: NodeJS.ProcessEnv = process.env): StreamFacts {
  return { isTTY: Boolean(stream.isTTY), columns: stream.columns, ci: isCI, term: env.TERM };
}

/**
 * An interactive terminal: a TTY that reports its width, not in CI, TERM not "dumb". A terminal
 * of 0 columns (script(1), `docker run -t` without a size) is not one: a renderer that wraps at
 * the width would print one character per line there.
 */
export function isInteractive(f: StreamFacts = streamFacts()): boolean {
  return f.isTTY && (f.columns ?? 0) > 0 && !f.ci && f.term !== 'dumb';
}

export type RendererChoice = 'default' | 'simple' | 'silent';

/** listr2's renderer for a run: silent (--json, internal runs), the task tree, or plain lines. */
export function chooseRenderer(silent: boolean, f: StreamFacts = streamFacts()): RendererChoice {
  if (silent) return 'silent';
  return isInteractive(f) ? 'default' : 'simple';
}

/** The renderer options the engine hands to listr2 (src/engine/execute.ts). */
export function listrRendererOptions(silent: boolean, f: StreamFacts = streamFacts()) {
  const choice = chooseRenderer(silent, f);
  return {
    renderer: 'default',
    fallbackRenderer: 'simple',
    silentRendererCondition: choice === 'silent',
    fallbackRendererCondition: choice === 'simple',
    rendererOptions: { collapseSubtasks: false, showErrorMessage: true },
    fallbackRendererOptions: { timestamp: undefined },
  } as const;
}
