/**
 * Leaving at once on a second Ctrl-C. Only src/cli.ts calls process.exit; here the signal is
 * raised again with its default action, so the process ends as killed by it (a shell reports
 * exit 130 for SIGINT), after the caller has journaled and cleaned up what it could.
 */
export function dieBySignal(signal: NodeJS.Signals): void {
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
}
