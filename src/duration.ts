/**
 * Durations: one grammar and one meaning for every duration rb reads — a playbook step's
 * `timeout:` and a playbook's `target:`, `git.fetch`'s `timeout`, `rb snapshots prune
 * --older-than` and the ages `rb metrics --since/--until` accept.
 *
 * A duration is a number and one unit, with no space needed: `500ms`, `30s`, `15m`, `1.5h`,
 * `30d`, `4w`. `m` is always minutes. There is no month or year unit (their length varies):
 * write `26w`, or a date where one is accepted. A bare number is not a duration.
 *
 * Light on purpose (no imports): `rb metrics` and `rb snapshots` read it at start-up.
 */
export const DURATION_UNITS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
export type DurationUnit = keyof typeof DURATION_UNITS;

/** The grammar, for validators and the JSON Schema (`pattern`). */
export const DURATION_PATTERN = /^\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)$/;

/** For messages: what a duration looks like. */
export const DURATION_HELP = 'a number and a unit: ms, s, m (minutes), h, d or w — e.g. 30s, 15m, 12h, 30d, 4w';

/** Milliseconds, or null when `text` is not a duration. */
export function parseDuration(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/.exec(text.trim());
  if (!m) return null;
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2] as DurationUnit]);
}
