/**
 * A closed stdout or stderr never stops a run (issue 15, point 6). `rb emergency --yes | head -1`
 * closes rb's stdout after one line; the next write fails with EPIPE, which Node reports as an
 * 'error' event on the stream. Unhandled, that event kills rb in the middle of its steps, and the
 * old handler here exited 0 on purpose: both leave a half-run repository behind a success code.
 *
 * Instead the error is swallowed: Node has already destroyed the stream, so every later write
 * to it is dropped (its callback gets ERR_STREAM_DESTROYED and no second 'error' is emitted), and
 * the run goes on to its end, journals its outcome and exits with its real code. Any other write error (EIO after a terminal went away) is treated the same way:
 * there is nowhere left to print it, and a destructive run must not stop half-way because of its
 * output. Loaded eagerly by cli.ts: it imports nothing.
 */

/** Install the handlers on process.stdout and process.stderr (once, before anything is written). */
export function tolerateClosedOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    // the stream is destroyed by now: later writes to it are dropped
    stream.on('error', () => undefined);
  }
}
