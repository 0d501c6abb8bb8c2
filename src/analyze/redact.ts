/**
 * Keeping secrets out of analysis bundles (issue 5, `rb analyze`). Pure: no I/O.
 *
 * What rb does, and documents in every bundle's analysis.md:
 * - `.env` and `.env.*` files are never read by rb (no collector opens them; the run's files
 *   rb copies are refused when their name starts with `.env`).
 * - Every text written into the bundle (each collector's output, the copied journal and
 *   report, analysis.md itself, and the `--json` answer) first goes through {@link redact}:
 *   - the value of every environment variable of the rb process whose NAME looks secret
 *     ({@link SECRET_NAME}: TOKEN, SECRET, PASSWORD, PASSWD, KEY, CREDENTIAL, PRIVATE, AUTH,
 *     SESSION, COOKIE, any case) and whose value has at least {@link MIN_SECRET_LENGTH}
 *     characters is replaced by `[REDACTED:<NAME>]` wherever it appears;
 *   - extra values the caller names (rb adds the notification webhook URL, whose path is a
 *     token) are replaced the same way;
 *   - credentials written into URLs (`https://user:password@host`) become
 *     `https://[REDACTED]@host`;
 *   - PEM private key blocks (`-----BEGIN … PRIVATE KEY-----` … `-----END … PRIVATE KEY-----`)
 *     become `[REDACTED:private key]`.
 * Values shorter than four characters are left alone: replacing "1" or "yes" everywhere would
 * destroy the bundle without protecting anything.
 */

/** Names of environment variables whose values are treated as secrets. */
export const SECRET_NAME = /TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|PRIVATE|AUTH|SESSION|COOKIE/i;

/** Values shorter than this are not redacted (see the module comment). */
export const MIN_SECRET_LENGTH = 4;

/** A value to hide and the label that replaces it. */
export interface Secret {
  name: string;
  value: string;
}

/**
 * The secrets of an environment: values of variables whose names look secret, longest first
 * (so a value containing another is replaced whole).
 * @param extra further named values to hide (e.g. `{ name: 'notify.webhook', value: url }`)
 */
export function secretsOf(env: NodeJS.ProcessEnv = process.env, extra: Secret[] = []): Secret[] {
  const out: Secret[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) continue;
    if (SECRET_NAME.test(name)) out.push({ name, value });
  }
  for (const s of extra) if (s.value && s.value.length >= MIN_SECRET_LENGTH) out.push(s);
  // a value that is also a line ending in "\r" or surrounded by whitespace is still found:
  // matching is on the exact value, anywhere in the text
  return out.sort((a, b) => b.value.length - a.value.length || a.name.localeCompare(b.name));
}

/** `scheme://user:password@` in URLs. */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+:[^\s/@]+@/gi;

/** A PEM private key block, whole (RSA, EC, OPENSSH, ENCRYPTED, plain PKCS#8 …). */
const PRIVATE_KEY_BLOCK = /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/g;

/** The first line of one (a key cut short is still a key). */
const PRIVATE_KEY_HEADER = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/** Replace every occurrence of every secret (and URL credentials, private key blocks) in `text`. */
export function redact(text: string, secrets: readonly Secret[]): string {
  let out = text;
  for (const s of secrets) {
    if (!out.includes(s.value)) continue;
    out = out.split(s.value).join(`[REDACTED:${s.name}]`);
  }
  return out.replace(PRIVATE_KEY_BLOCK, '[REDACTED:private key]').replace(URL_CREDENTIALS, '$1[REDACTED]@');
}

/**
 * Shortest value of a secret-named variable that {@link secretsIn} looks for in a file: a file
 * holding "user" (XDG_SESSION_CLASS) or "1" is not a leak; a token or password is longer.
 */
export const MIN_SECRET_IN_FILE_LENGTH = 8;

/**
 * What {@link redact} would hide in `text`, named (not the values): "the value of GITHUB_TOKEN",
 * "a URL with a password", "a private key". Used to keep a file that holds a secret out of a
 * commit (`rb sprint`'s WIP commit). Values of secret-named variables count from
 * {@link MIN_SECRET_IN_FILE_LENGTH} characters. Empty when nothing was found.
 */
export function secretsIn(text: string, secrets: readonly Secret[]): string[] {
  const found: string[] = [];
  if (PRIVATE_KEY_HEADER.test(text)) found.push('a private key');
  if (new RegExp(URL_CREDENTIALS.source, 'i').test(text)) found.push('a URL with a password');
  for (const s of secrets) {
    if (s.value.length >= MIN_SECRET_IN_FILE_LENGTH && text.includes(s.value)) found.push(`the value of ${s.name}`);
  }
  return found;
}

/** A redactor bound to a set of secrets. */
export type Redactor = (text: string) => string;

export function redactor(secrets: readonly Secret[]): Redactor {
  return (text) => redact(text, secrets);
}

/**
 * Redact every string inside a JSON-like value (before it is serialised: JSON escaping could
 * otherwise hide a value that contains quotes or backslashes from the text-level pass).
 */
export function redactDeep<T>(value: T, clean: Redactor): T {
  if (typeof value === 'string') return clean(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, clean)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [clean(k), redactDeep(v, clean)])) as T;
  }
  return value;
}
