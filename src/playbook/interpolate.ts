/**
 * `{{ … }}` templates in playbooks (architecture §4).
 *
 * Grammar: `{{ path }}`, whitespace allowed inside the braces, where `path` is dot-separated
 * names (`params.sprint`, `steps.log.exitCode`) or list indexes (`params.paths.0`). There are no
 * operators, filters or defaults, and nothing is ever evaluated: a template only *reads* values
 * from the scope it is given.
 *
 * Values are data:
 * - {@link interpolate}: strings as they are; numbers and booleans as text; null and a missing
 *   optional value as ''; lists and mappings as JSON.
 * - {@link interpolateArgv}: one argv element stays one element, whatever the value contains.
 * - {@link interpolateShell}: each value is quoted for POSIX `sh` so it is one literal word —
 *   `$(touch pwned)` stays text. Placeholders may sit unquoted, inside '…' or inside "…"; rb
 *   adapts the quoting to where the placeholder is. Where a value cannot be placed safely
 *   (inside backticks, `${…}`, `$((…))`, a comment, after a heredoc `<<`, …) it throws instead.
 *
 * Unknown references throw a {@link TemplateError} naming the expression and what is available.
 */

/** A template problem: bad syntax, an unknown reference, or an unsafe shell position. */
export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

export type TemplatePart =
  | { kind: 'text'; text: string }
  | { kind: 'expr'; /** the source between the braces, trimmed */ expr: string; path: string[] };

const SEGMENT = /^(?:[A-Za-z_][A-Za-z0-9_-]*|\d+)$/;

/**
 * Splits a template into literal text and `{{ path }}` expressions.
 * @throws TemplateError for an unclosed `{{`, an empty `{{ }}` or anything that is not a path
 */
export function parseTemplate(template: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{{', i);
    if (open < 0) {
      parts.push({ kind: 'text', text: template.slice(i) });
      break;
    }
    if (open > i) parts.push({ kind: 'text', text: template.slice(i, open) });
    const close = template.indexOf('}}', open + 2);
    if (close < 0) {
      throw new TemplateError(`unclosed "{{" in ${JSON.stringify(template)}: every "{{" needs a matching "}}"`);
    }
    const expr = template.slice(open + 2, close).trim();
    if (!expr) throw new TemplateError(`empty "{{ }}" in ${JSON.stringify(template)}`);
    const path = expr.split('.');
    if (!path.every((s) => SEGMENT.test(s))) {
      throw new TemplateError(
        `unsupported expression "{{ ${expr} }}": a template only reads a value by its path, like {{ params.sprint }}`,
      );
    }
    parts.push({ kind: 'expr', expr, path });
    i = close + 2;
  }
  return parts;
}

/** The expressions a template reads, in order (e.g. `[{expr: 'params.sprint', path: ['params','sprint']}]`). */
export function templateReferences(template: string): { expr: string; path: string[] }[] {
  return parseTemplate(template).flatMap((p) => (p.kind === 'expr' ? [{ expr: p.expr, path: p.path }] : []));
}

function names(v: unknown): string {
  if (v === null || typeof v !== 'object') return '(none)';
  const keys = Array.isArray(v) ? v.map((_, i) => String(i)) : Object.keys(v);
  return keys.length ? [...keys].sort().join(', ') : '(none)';
}

/** The value a path reads; own properties only (never `__proto__`, `constructor`…). */
export function resolvePath(path: readonly string[], scope: Record<string, unknown>, expr = path.join('.')): unknown {
  let cur: unknown = scope;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    const ok = cur !== null && typeof cur === 'object' && Object.prototype.hasOwnProperty.call(cur, seg)
      && (!Array.isArray(cur) || /^\d+$/.test(seg));
    if (!ok) {
      const top = `available names: ${names(scope)}`;
      if (i === 0) throw new TemplateError(`unknown reference "{{ ${expr} }}": there is no "${seg}" (${top})`);
      const parent = path.slice(0, i).join('.');
      const has = cur !== null && typeof cur === 'object' ? `it has: ${names(cur)}` : `it is ${cur === null || cur === undefined ? 'empty' : `the ${typeof cur} ${JSON.stringify(cur)}`}`;
      throw new TemplateError(`unknown reference "{{ ${expr} }}": "${parent}" has no "${seg}" (${has}; ${top})`);
    }
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

/** How a value becomes text: see the module comment. */
export function stringifyValue(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v instanceof Date) return v.toISOString();
  return JSON.stringify(v);
}

/** Replaces every `{{ path }}` in `template` with its value as text. */
export function interpolate(template: string, scope: Record<string, unknown>): string {
  return parseTemplate(template)
    .map((p) => (p.kind === 'text' ? p.text : stringifyValue(resolvePath(p.path, scope, p.expr))))
    .join('');
}

/** {@link interpolate} over every string inside lists and mappings (keys are left as they are). */
export function interpolateDeep<T>(value: T, scope: Record<string, unknown>): T {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return interpolate(v, scope);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(value) as T;
}

/** Each argv element interpolated on its own: one element in, one element out, never split. */
export function interpolateArgv(argv: readonly string[], scope: Record<string, unknown>): string[] {
  return argv.map((a) => interpolate(a, scope));
}

/** POSIX single-quoting (always quoted, so a value is exactly one literal word wherever it lands). */
export { singleQuote as shellQuote } from '../io/git.js';
import { singleQuote as shellQuote } from '../io/git.js';

// ---------------------------------------------------------------------------------------------
// Shell placement

type Ctx = 'top' | 'cmd' | 'sq' | 'dq' | 'bq' | 'comment';
interface Frame { ctx: Ctx; depth: number }

const DELIMS = new Set(['', ' ', '\t', '\n', ';', '&', '|', '(', ')', '<', '>']);

/**
 * A conservative lexer for the literal parts of a shell template. It tracks just enough of
 * `sh` to know the quoting context at each placeholder, and marks the rest of the command
 * `unsafe` at any construct whose quoting it does not model, so no placeholder after it can be
 * mis-quoted.
 */
class ShellLexer {
  private stack: Frame[] = [{ ctx: 'top', depth: 0 }];
  /** why placeholders from here on cannot be placed safely */
  unsafe: string | null = null;
  /** the last literal ended with an unescaped backslash or `$` */
  dangling: '\\' | '$' | null = null;
  /** previous character in an unquoted context ('w' = part of a word) */
  private prev = '';

  get ctx(): Ctx {
    return this.stack[this.stack.length - 1]!.ctx;
  }

  private push(ctx: Ctx): void { this.stack.push({ ctx, depth: 0 }); }
  private pop(): void { this.stack.pop(); this.prev = 'w'; }

  feed(text: string): void {
    this.dangling = null;
    for (let i = 0; i < text.length && !this.unsafe; i++) {
      const ch = text[i]!;
      const next = text[i + 1];
      const frame = this.stack[this.stack.length - 1]!;
      switch (frame.ctx) {
        case 'comment':
          if (ch === '\n') { this.stack.pop(); this.prev = '\n'; }
          break;
        case 'sq':
          if (ch === "'") this.pop();
          break;
        case 'bq':
          this.unsafe = 'inside backticks (use $( ) instead)';
          break;
        case 'dq':
          if (ch === '\\') { if (next === undefined) this.dangling = '\\'; i++; }
          else if (ch === '"') this.pop();
          else if (ch === '`') { this.push('bq'); this.unsafe = 'inside backticks (use $( ) instead)'; }
          else if (ch === '$') i = this.dollar(text, i, true);
          break;
        case 'top':
        case 'cmd': {
          const wordStart = DELIMS.has(this.prev);
          if (ch === '\\') {
            if (next === undefined) this.dangling = '\\';
            i++;
            this.prev = 'w';
            break;
          }
          if (ch === "'") { this.push('sq'); break; }
          if (ch === '"') { this.push('dq'); break; }
          if (ch === '`') { this.push('bq'); this.unsafe = 'inside backticks (use $( ) instead)'; break; }
          if (ch === '$') { i = this.dollar(text, i, false); this.prev = 'w'; break; }
          if (ch === '#' && wordStart) { this.push('comment'); break; }
          if (ch === '<' && next === '<') { this.unsafe = 'after a heredoc or here-string (<<)'; break; }
          if (frame.ctx === 'cmd') {
            if (wordStart && /^case(?=[\s;&|()<>]|$)/.test(text.slice(i))) {
              this.unsafe = 'after a "case" inside $( )';
              break;
            }
            if (ch === '(') frame.depth++;
            else if (ch === ')') {
              if (frame.depth === 0) { this.pop(); break; }
              frame.depth--;
            }
          }
          this.prev = /[\s;&|()<>]/.test(ch) ? ch : 'w';
          break;
        }
      }
    }
  }

  /** Handles `$` at text[i]; returns the index of the last character consumed. */
  private dollar(text: string, i: number, inDq: boolean): number {
    const next = text[i + 1];
    if (next === undefined) { this.dangling = '$'; return i; }
    if (next === '(') {
      if (text[i + 2] === '(') { this.unsafe = 'after an arithmetic expansion $(( ))'; return i; }
      this.push('cmd');
      this.prev = '(';
      return i + 1;
    }
    if (next === '{') {
      const end = text.indexOf('}', i + 2);
      const inner = end < 0 ? null : text.slice(i + 2, end);
      if (inner === null || !/^[A-Za-z0-9_#@*?!:+=%/.,~-]*$/.test(inner)) {
        this.unsafe = 'inside or after a ${ } expansion with quotes or nesting';
        return i;
      }
      return end;
    }
    if (next === "'" && !inDq) { this.unsafe = "after $'…' (its quoting differs between shells)"; return i; }
    return i;
  }
}

/**
 * Interpolates a command that will be run by `sh -c`, quoting every value so the shell reads it
 * as one literal word (see the module comment).
 * @throws TemplateError for unknown references, and for a placeholder where quoting cannot be
 *   guaranteed (backticks, `${…}` with quotes, `$((…))`, comments, after `<<`, after `$'…'`,
 *   after a `case` inside `$( )`, directly after a backslash or a `$`)
 */
export function interpolateShell(cmd: string, scope: Record<string, unknown>): string {
  return placeInShell(cmd, (p) => stringifyValue(resolvePath(p.path, scope, p.expr)));
}

/**
 * Why the placeholders of a shell command cannot all be placed safely, or null when they can.
 * Values do not matter for this, so playbook validation calls it before anything runs.
 */
export function shellTemplateProblem(cmd: string): string | null {
  try {
    placeInShell(cmd, () => 'x');
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

function placeInShell(cmd: string, valueOf: (p: { expr: string; path: string[] }) => string): string {
  const parts = parseTemplate(cmd);
  const lexer = new ShellLexer();
  let out = '';
  for (const p of parts) {
    if (p.kind === 'text') {
      lexer.feed(p.text);
      out += p.text;
      continue;
    }
    const refuse = (why: string): TemplateError =>
      new TemplateError(`cannot place {{ ${p.expr} }} safely in the shell command ${JSON.stringify(cmd)}: it is ${why}`);
    if (lexer.unsafe) throw refuse(lexer.unsafe);
    if (lexer.dangling === '\\') throw refuse('right after a backslash');
    if (lexer.dangling === '$') throw refuse('right after a "$"');
    const q = shellQuote(valueOf(p));
    switch (lexer.ctx) {
      case 'top':
      case 'cmd': out += q; break;
      case 'sq': out += `'${q}'`; break; // close the author's '…', add the value, reopen it
      case 'dq': out += `"${q}"`; break; // close the author's "…", add the value, reopen it
      case 'comment': throw refuse('inside a comment');
      default: throw refuse('inside backticks (use $( ) instead)');
    }
    lexer.feed('x'); // the value is part of a word
  }
  return out;
}

/**
 * Whether a template (or any string inside a list or mapping) reads `steps.…`, i.e. results
 * that exist only once earlier steps ran; such values are resolved at run time, not in a plan.
 */
export function hasDeferred(value: unknown): boolean {
  if (typeof value === 'string') return templateReferences(value).some((r) => r.path[0] === 'steps');
  if (Array.isArray(value)) return value.some(hasDeferred);
  if (value !== null && typeof value === 'object') return Object.values(value).some(hasDeferred);
  return false;
}

/** Results of a `when` that count as false (compared after trimming, case-insensitively). */
export const FALSY_WHEN = ['', 'false', '0', 'null', 'undefined'] as const;

/**
 * Evaluates a step's `when`: the string is interpolated, trimmed and lower-cased; the step runs
 * unless the result is '', 'false', '0', 'null' or 'undefined'. There are no operators: write
 * `when: "{{ params.force }}"`, not `when: "params.force == true"` (which is always true).
 */
export function evaluateWhen(expr: string, scope: Record<string, unknown>): boolean {
  const v = interpolate(expr, scope).trim().toLowerCase();
  return !(FALSY_WHEN as readonly string[]).includes(v);
}
