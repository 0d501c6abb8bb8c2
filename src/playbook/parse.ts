/**
 * Safe YAML reading shared by rb.config.yaml and playbooks.
 *
 * - YAML 1.2 core schema only: `on`, `no`, `yes` stay strings, `0777` is the decimal number 777,
 *   there are no `<<` merge keys and no custom tags (an unknown tag is a problem, not a warning).
 * - Duplicate keys, several documents in one file, and malformed YAML are problems.
 * - A file larger than {@link MAX_YAML_BYTES} is refused before it is parsed, and alias expansion
 *   is capped at {@link MAX_YAML_ALIASES}, so a "billion laughs" file fails fast.
 * - Every problem is a {@link ValidationIssue} with a 1-based line and column;
 *   {@link ParsedYaml.positionOf} finds the position of any key or value by its path.
 * - {@link issuesFromZod} turns zod issues into the same `file:line:column: message` problems,
 *   with messages written for people (what was expected, what was found, and why YAML read it so).
 *
 * Nothing here prints or exits: problems are returned, or thrown as UsageError by the callers.
 */
import { stat, readFile } from 'node:fs/promises';
import {
  isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit,
  type Document, type Node as YamlNode,
} from 'yaml';
import type { ZodType } from '#zod';
import { UsageError } from '../errors.js';
import type { ValidationIssue } from '../types.js';

/** Largest YAML file rb reads (bytes). Playbooks and configs are a few KiB. */
export const MAX_YAML_BYTES = 256 * 1024;
/** Most alias expansions a file may contain (the `yaml` library's resource-exhaustion guard). */
export const MAX_YAML_ALIASES = 100;

/** A path into parsed YAML: mapping keys and sequence indexes. */
export type YamlPath = readonly PropertyKey[];

export interface Position {
  /** 1-based */
  line: number;
  /** 1-based */
  column: number;
}

/** The message for data nested deeper than the parser (or validation) can follow. */
export const DEEP = 'the data nests too deeply for rb to read';

/** Plain scalars that YAML 1.1 read as booleans and YAML 1.2 (what rb uses) reads as text. */
const YAML11_BOOLEANS = new Set([
  'y', 'Y', 'yes', 'Yes', 'YES', 'n', 'N', 'no', 'No', 'NO', 'on', 'On', 'ON', 'off', 'Off', 'OFF',
]);

/** A successfully parsed YAML file: its plain data plus what is needed to point at its lines. */
export class ParsedYaml {
  constructor(
    /** the name used in messages (e.g. "rb.config.yaml" or a playbook path) */
    readonly file: string,
    readonly text: string,
    readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
    /** the document as plain JSON-like data (null for an empty file) */
    readonly data: unknown,
  ) {}

  /**
   * Position of the value at `path` (or of its key with `{ key: true }`). When the path does not
   * exist (a missing key), the position of the deepest part that does exist. An empty value
   * (`key:` with nothing after it) points at its key.
   */
  positionOf(path: YamlPath, opts: { key?: boolean } = {}): Position {
    const found = this.find(path);
    let offset: number | undefined;
    if (found.complete) {
      const value = found.node;
      const valueEmpty = !value || !value.range || (isScalar(value) && value.range[0] === value.range[1]);
      if ((opts.key || valueEmpty) && found.keyNode?.range) offset = found.keyNode.range[0];
      else offset = value?.range?.[0];
    } else {
      offset = found.node?.range?.[0] ?? found.keyNode?.range?.[0];
    }
    return this.pos(offset ?? 0);
  }

  /** The source text of the scalar at `path` (e.g. "0777" for the number 777), if it is one. */
  sourceOf(path: YamlPath): string | undefined {
    const found = this.find(path);
    const node = found.complete ? found.node : undefined;
    if (!node || !isScalar(node) || !node.range) return undefined;
    return this.text.slice(node.range[0], node.range[1]);
  }

  /** A ValidationIssue at `path`. */
  issue(path: YamlPath, message: string, opts: { key?: boolean } = {}): ValidationIssue {
    return { file: this.file, ...this.positionOf(path, opts), message };
  }

  private pos(offset: number): Position {
    const p = this.lines.linePos(offset);
    return { line: p.line, column: p.col };
  }

  /** Walks the node tree along `path`, following aliases. */
  private find(path: YamlPath): { node: YamlNode | undefined; keyNode: YamlNode | undefined; complete: boolean } {
    let node = this.doc.contents as YamlNode | null | undefined;
    let keyNode: YamlNode | undefined;
    for (const seg of path) {
      if (node && isAlias(node)) node = node.resolve(this.doc) as YamlNode | undefined;
      let next: YamlNode | undefined;
      let nextKey: YamlNode | undefined;
      if (node && isMap(node)) {
        for (const pair of node.items) {
          if (!isPair(pair)) continue;
          const k = pair.key as YamlNode | null;
          const kv = k && isScalar(k) ? k.value : undefined;
          if (k && kv !== undefined && kv !== null && String(kv) === String(seg)) {
            nextKey = k;
            next = (pair.value ?? undefined) as YamlNode | undefined;
            // an explicit key with no value: point at the key
            if (!next) return { node: undefined, keyNode: k, complete: true };
            break;
          }
        }
        if (!nextKey) return { node, keyNode, complete: false };
      } else if (node && isSeq(node) && /^\d+$/.test(String(seg))) {
        next = node.items[Number(seg)] as YamlNode | undefined;
        if (!next) return { node, keyNode, complete: false };
      } else {
        return { node: node ?? undefined, keyNode, complete: false };
      }
      node = next;
      keyNode = nextKey;
    }
    if (node && isAlias(node)) node = (node.resolve(this.doc) as YamlNode | undefined) ?? node;
    return { node: node ?? undefined, keyNode, complete: true };
  }
}

/** Result of {@link parseYaml}: either the parsed file, or every problem found in it. */
export type ParseResult = { ok: true; parsed: ParsedYaml } | { ok: false; issues: ValidationIssue[] };

function kib(bytes: number): string {
  return `${Math.ceil(bytes / 1024)} KiB`;
}

/** The message for a file over {@link MAX_YAML_BYTES}. */
export function tooLargeMessage(bytes: number): string {
  return `the file is ${kib(bytes)}; rb reads YAML files of at most ${kib(MAX_YAML_BYTES)}`;
}

/**
 * Parses YAML text safely (see the module comment). Never throws for bad input: all syntax
 * problems come back as issues.
 */
export function parseYaml(text: string, file: string): ParseResult {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_YAML_BYTES) {
    return { ok: false, issues: [{ file, line: 1, column: 1, message: tooLargeMessage(bytes) }] };
  }
  const lineCounter = new LineCounter();
  const tooDeep = (): ParseResult => ({ ok: false, issues: [{ file, line: 1, column: 1, message: `invalid YAML: ${DEEP}` }] });
  let doc: Document.Parsed;
  const issues: ValidationIssue[] = [];
  try {
    doc = parseDocument(text, {
      version: '1.2',
      schema: 'core',
      merge: false,
      uniqueKeys: true,
      prettyErrors: true,
      strict: true,
      resolveKnownTags: false, // !!binary, !!set, !!omap, !!timestamp… are YAML 1.1 extras: unresolved here
      lineCounter,
    });
    for (const e of [...doc.errors, ...doc.warnings]) {
      const at = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
      const message = /Maximum call stack/.test(e.message) ? `invalid YAML: ${DEEP}` : yamlMessage(e.message, e.code);
      issues.push({ file, line: at.line, column: at.col, message });
    }
    // keys must be plain scalars (a list or mapping as a key would be stringified, with a warning)
    visit(doc, {
      Pair(_, pair) {
        const key = pair.key as YamlNode | null;
        if (key && !isScalar(key)) {
          const at = lineCounter.linePos(key.range?.[0] ?? 0);
          issues.push({ file, line: at.line, column: at.col, message: 'invalid YAML: a key must be plain text, not a list, mapping or alias' });
        }
      },
    });
  } catch (e) {
    if (e instanceof RangeError) return tooDeep();
    throw e;
  }
  if (issues.length) return { ok: false, issues: sortIssues(issues) };

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (e) {
    // toJS throws for alias expansion beyond maxAliasCount (and similar resource guards)
    if (e instanceof RangeError) return tooDeep();
    let offset = 0;
    const firstAlias = (n: unknown): boolean => {
      if (!n || typeof n !== 'object') return false;
      if (isAlias(n)) { offset = n.range?.[0] ?? 0; return true; }
      if (isMap(n) || isSeq(n)) return n.items.some((it) => firstAlias(it));
      if (isPair(n)) return firstAlias(n.key) || firstAlias(n.value);
      return false;
    };
    firstAlias(doc.contents);
    const at = lineCounter.linePos(offset);
    const why = (e as Error).message;
    issues.push({
      file, line: at.line, column: at.col,
      message: /alias/i.test(why)
        ? `aliases expand to too much data (more than ${MAX_YAML_ALIASES} alias expansions); ` +
          'this looks like a "billion laughs" file — write the values out instead of nesting aliases'
        : `cannot read the YAML: ${why}`,
    });
    return { ok: false, issues };
  }
  return { ok: true, parsed: new ParsedYaml(file, text, doc, lineCounter, data) };
}

/** First line of a `yaml` error message, without its "at line X, column Y" suffix, plus advice. */
function yamlMessage(message: string, code: string): string {
  let m = message.split('\n')[0]!.replace(/ at line \d+, column \d+:?\s*$/, '').trim();
  if (code === 'DUPLICATE_KEY') m = 'duplicate key: this key already appears earlier in the same mapping';
  else if (code === 'MULTIPLE_DOCS') m = 'the file contains several YAML documents ("---"); rb expects exactly one';
  else if (code === 'TAG_RESOLVE_FAILED' || /^Unresolved tag/.test(m)) m = `${m} — rb reads plain YAML 1.2 without custom tags`;
  else if (code === 'TAB_AS_INDENT') m = `${m} — indent with spaces, not tabs`;
  return `invalid YAML: ${m}`;
}

/**
 * Reads a YAML file, refusing one over {@link MAX_YAML_BYTES} before reading it.
 * @param displayName the name used in messages
 * @throws UsageError when the path is not a file or the file is too large
 */
export async function readYamlFile(path: string, displayName: string): Promise<string> {
  const st = await stat(path);
  if (!st.isFile()) {
    throw new UsageError(`${displayName} is not a file`, { next: `replace ${displayName} with a YAML file, or remove it` });
  }
  if (st.size > MAX_YAML_BYTES) {
    throw new UsageError(`${displayName} is not valid`, {
      details: [`${displayName}:1:1: ${tooLargeMessage(st.size)}`],
      next: `shrink ${displayName}; nothing was changed`,
    });
  }
  return readFile(path, 'utf8');
}

/** `file:line:column: message` */
export function formatIssue(i: ValidationIssue): string {
  return `${i.file}:${i.line}:${i.column}: ${i.message}`;
}

/** Sorted by line, then column; exact duplicates removed. */
export function sortIssues(issues: ValidationIssue[]): ValidationIssue[] {
  const seen = new Set<string>();
  return [...issues]
    .sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column || a.message.localeCompare(b.message))
    .filter((i) => {
      const k = formatIssue(i);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
}

// ---------------------------------------------------------------------------------------------
// Suggestions

/** Levenshtein distance with adjacent transpositions (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate closest to `word` by edit distance (case-insensitive first), or undefined when
 * none is close enough to be a plausible typo (distance at most max(1, a third of the length)).
 */
export function closestMatch(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  const exactCase = candidates.find((c) => c.toLowerCase() === lower);
  if (exactCase) return exactCase;
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dist = editDistance(lower, c.toLowerCase());
    if (dist < bestD || (dist === bestD && best !== undefined && c < best)) { best = c; bestD = dist; }
  }
  const limit = Math.max(1, Math.floor(word.length / 3));
  return best !== undefined && bestD <= limit ? best : undefined;
}

/** `unknown key "x" (did you mean "y"?)`, or listing the valid keys when none is close. */
export function unknownKeyMessage(key: string, valid: readonly string[], where?: string): string {
  const at = where ? ` in ${where}` : '';
  const guess = closestMatch(key, valid);
  if (guess) return `unknown key "${key}"${at} (did you mean "${guess}"?)`;
  return `unknown key "${key}"${at} (valid keys: ${[...valid].sort().join(', ')})`;
}

// ---------------------------------------------------------------------------------------------
// Describing values

/** How a value reads in a message: `the string "no"`, `the number 777`, `a list`… */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'an empty value (null)';
  if (typeof v === 'string') {
    const s = v.length > 60 ? `${v.slice(0, 57)}...` : v;
    return `the string ${JSON.stringify(s)}`;
  }
  if (typeof v === 'number') return `the number ${v}`;
  if (typeof v === 'boolean') return `the boolean ${v}`;
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `a ${typeof v}`;
}

/**
 * Why YAML 1.2 read a scalar differently from what its author probably meant, or ''.
 * @param expected what the schema wanted ('boolean', 'string', …)
 */
export function yamlHint(expected: string | undefined, actual: unknown, source: string | undefined): string {
  if (expected === 'boolean' && typeof actual === 'string' && YAML11_BOOLEANS.has(actual) && source === actual) {
    return ' — YAML 1.2 reads it as text';
  }
  if (typeof actual === 'number' && source && /^[-+]?0\d+$/.test(source)) {
    return ` — YAML 1.2 reads ${source} as the decimal number ${actual} (octal is written 0o…)`;
  }
  if (expected === 'string' && (typeof actual === 'number' || typeof actual === 'boolean') && source) {
    return ` — write "${source}" in quotes to make it text`;
  }
  return '';
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'a boolean (true/false)',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
  null: 'null',
};

// ---------------------------------------------------------------------------------------------
// zod issues -> ValidationIssues

/** The subset of zod's issue shape read here (zod 4). */
interface ZodIssueLike {
  code: string;
  path: PropertyKey[];
  message: string;
  expected?: string;
  keys?: string[];
  values?: unknown[];
  origin?: string;
  minimum?: number | bigint;
  maximum?: number | bigint;
  inclusive?: boolean;
  issues?: ZodIssueLike[];
}

/** Reads `value` at `path` in plain data. */
export function valueAt(data: unknown, path: YamlPath): unknown {
  let cur = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (!Object.prototype.hasOwnProperty.call(cur, seg as PropertyKey)) return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg as PropertyKey];
  }
  return cur;
}

interface ZodDefLike {
  type: string;
  shape?: Record<string, ZodType>;
  element?: ZodType;
  valueType?: ZodType;
  innerType?: ZodType;
  options?: ZodType[];
  in?: ZodType;
  getter?: () => ZodType;
}

function defOf(s: ZodType): ZodDefLike {
  return (s as unknown as { _zod: { def: ZodDefLike } })._zod.def;
}

/** Strips optional/nullable/default/pipe/lazy wrappers. */
function unwrapSchema(s: ZodType): ZodType {
  for (let i = 0; i < 20; i++) {
    const d = defOf(s);
    if (d.innerType) s = d.innerType;
    else if (d.type === 'pipe' && d.in) s = d.in;
    else if (d.type === 'lazy' && d.getter) s = d.getter();
    else break;
  }
  return s;
}

/** The object schema reached by following `path` (choosing union members by the data's shape). */
function objectSchemaAt(schema: ZodType, path: YamlPath, data: unknown): ZodType | undefined {
  let s: ZodType | undefined = schema;
  let v: unknown = data;
  const pickForValue = (cand: ZodType, value: unknown): ZodType => {
    const u = unwrapSchema(cand);
    const d = defOf(u);
    if (d.type !== 'union' || !d.options) return u;
    const want = Array.isArray(value) ? 'array' : value && typeof value === 'object' ? 'object' : '';
    for (const o of d.options) {
      const t = defOf(unwrapSchema(o)).type;
      if (t === want || (want === 'object' && t === 'record')) return unwrapSchema(o);
    }
    return u;
  };
  for (const seg of path) {
    if (!s) return undefined;
    const d = defOf(pickForValue(s, v));
    if (d.type === 'object' && d.shape) s = d.shape[String(seg)];
    else if (d.type === 'array') s = d.element;
    else if (d.type === 'record') s = d.valueType;
    else return undefined;
    v = valueAt(v, [seg]);
  }
  return s ? pickForValue(s, v) : undefined;
}

/** The keys an object schema accepts at `path`, for "did you mean" suggestions. */
export function keysAt(schema: ZodType, path: YamlPath, data: unknown): string[] {
  const s = objectSchemaAt(schema, path, data);
  const d = s ? defOf(s) : undefined;
  return d?.type === 'object' && d.shape ? Object.keys(d.shape) : [];
}

export interface ZodMappingOptions {
  /** prefix prepended to every zod path to reach the YAML node (e.g. ['steps', 0, 'with']) */
  base?: YamlPath;
  /** how a path reads in a message, e.g. `undo.windowHours` or `step "reset": with.ref` */
  label: (path: YamlPath) => string;
}

/** `a.b[2].c` */
export function dottedPath(path: YamlPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number' || /^\d+$/.test(String(seg))) out += `[${String(seg)}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

function joinLabel(label: string, message: string): string {
  return label ? `${label}: ${message}` : message;
}

/**
 * Converts zod issues (from `schema.safeParse(data)`, where data sits at `opts.base` in the YAML)
 * into positioned, readable problems. Custom schema messages that start with "expected " get
 * ", got <value>" appended.
 */
export function issuesFromZod(
  zodIssues: readonly ZodIssueLike[],
  parsed: ParsedYaml,
  schema: ZodType,
  data: unknown,
  opts: ZodMappingOptions,
): ValidationIssue[] {
  const base = opts.base ?? [];
  const out: ValidationIssue[] = [];
  for (const iss of zodIssues) {
    const rel = iss.path;
    const full = [...base, ...rel];
    const actual = valueAt(data, rel);
    const label = opts.label(full);
    const got = (expectedType?: string): string =>
      `, got ${describeValue(actual)}${yamlHint(expectedType, actual, parsed.sourceOf(full))}`;

    if (actual === undefined && rel.length > 0 && iss.code !== 'unrecognized_keys' && iss.code !== 'invalid_key') {
      const key = String(rel[rel.length - 1]);
      const exp = iss.message.startsWith('expected ')
        ? iss.message.slice('expected '.length)
        : iss.code === 'invalid_type' ? (EXPECTED[iss.expected ?? ''] ?? String(iss.expected)) : '';
      const msg = `missing required key "${key}"${exp ? ` (${exp})` : ''}`;
      out.push(parsed.issue(full, joinLabel(opts.label(full.slice(0, -1)), msg)));
      continue;
    }
    switch (iss.code) {
      case 'unrecognized_keys': {
        const valid = keysAt(schema, rel, data);
        for (const key of iss.keys ?? []) {
          out.push(parsed.issue([...full, key], joinLabel(label, unknownKeyMessage(key, valid)), { key: true }));
        }
        break;
      }
      case 'invalid_type': {
        const exp = iss.message.startsWith('expected ') ? iss.message : `expected ${EXPECTED[iss.expected ?? ''] ?? iss.expected}`;
        out.push(parsed.issue(full, joinLabel(label, exp + got(iss.expected === 'int' ? 'number' : iss.expected))));
        break;
      }
      case 'invalid_value': {
        const values = (iss.values ?? []).map((v) => JSON.stringify(v));
        const list = values.length <= 1 ? (values[0] ?? '?') : `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`;
        let msg = `expected ${values.length > 1 ? 'one of ' : ''}${list}${got()}`;
        if (typeof actual === 'string') {
          const guess = closestMatch(actual, (iss.values ?? []).filter((v): v is string => typeof v === 'string'));
          if (guess) msg += ` (did you mean "${guess}"?)`;
        }
        out.push(parsed.issue(full, joinLabel(label, msg)));
        break;
      }
      case 'too_small':
      case 'too_big': {
        const small = iss.code === 'too_small';
        const n = Number(small ? iss.minimum : iss.maximum);
        let msg: string;
        if (iss.origin === 'array' || iss.origin === 'set') {
          msg = small ? (n <= 1 ? 'must not be empty' : `must have at least ${n} entries`) : `must have at most ${n} entries`;
        } else if (iss.origin === 'string') {
          msg = small ? (n <= 1 ? 'must not be empty' : `must be at least ${n} characters long`) : `must be at most ${n} characters long`;
        } else {
          const rel2 = small ? (iss.inclusive ? 'at least' : 'greater than') : (iss.inclusive ? 'at most' : 'less than');
          msg = `must be ${rel2} ${n}${got()}`;
        }
        out.push(parsed.issue(full, joinLabel(label, msg)));
        break;
      }
      case 'invalid_key': {
        const key = String(rel[rel.length - 1] ?? '');
        const inner = iss.issues?.[0]?.message ?? iss.message;
        const why = inner.startsWith('expected ') ? `: ${inner}` : '';
        out.push(parsed.issue(full, joinLabel(opts.label(full.slice(0, -1)), `invalid key "${key}"${why}`), { key: true }));
        break;
      }
      default: {
        const msg = iss.message.startsWith('expected ') ? iss.message + got() : iss.message;
        out.push(parsed.issue(full, joinLabel(label, msg)));
      }
    }
  }
  return out;
}
