/**
 * The pure pieces of issue 17: which names and contents look like secrets, keep patterns as git
 * pathspecs (checked against git itself), a `when` in words, the list of files clean removed.
 */
import { describe, expect, it } from 'vitest';
import { secretNamePattern } from '../src/steps/wip-left-out.js';
import { secretsIn, secretsOf, redact } from '../src/analyze/redact.js';
import { keepPathspecs } from '../src/steps/git-common.js';
import { whenText } from '../src/playbook/plan.js';
import { removedList } from '../src/steps/git-clean.js';
import { tmpRepos } from './helpers/repo.js';

const repos = tmpRepos();

describe('secrets by name and by content', () => {
  it('names: .env*, *.pem, *.key, id_rsa*, *.p12, at any depth; nothing else', () => {
    for (const [p, g] of [['.env', '.env*'], ['deploy/.env.production', '.env*'], ['certs/server.pem', '*.pem'], ['app.key', '*.key'], ['home/id_rsa', 'id_rsa*'], ['id_rsa.pub', 'id_rsa*'], ['ops/client.p12', '*.p12']]) {
      expect(secretNamePattern(p!), p).toBe(g);
    }
    for (const p of ['env.ts', 'src/keys.ts', 'docs/pem.md', 'keyboard.key.md', 'my.envrc']) expect(secretNamePattern(p), p).toBeNull();
  });

  it('content: what redact() hides — a private key, URL credentials, the value of a secret-named variable (8+ characters)', () => {
    const secrets = secretsOf({ GITHUB_TOKEN: 'ghp_0123456789abcdef', XDG_SESSION_CLASS: 'user', PATH: '/usr/bin' });
    expect(secretsIn('-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n', secrets)).toEqual(['a private key']);
    expect(secretsIn('db: postgres://app:s3cret@db:5432/app\n', secrets)).toEqual(['a URL with a password']);
    expect(secretsIn('token = "ghp_0123456789abcdef"\n', secrets)).toEqual(['the value of GITHUB_TOKEN']);
    // "user" is the value of a secret-looking name, but far too common to mean a leak in a file
    expect(secretsIn('the user logs in at https://example.com/login\n', secrets)).toEqual([]);
    // the bundle redaction hides a private key block too
    expect(redact('a\n-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\nb', [])).toBe('a\n[REDACTED:private key]\nb');
  });
});

describe('keep patterns as pathspecs', () => {
  it('match what the same patterns match in .gitignore (asked of git itself)', () => {
    const r = repos.make();
    const paths = ['.env', '.env.local', 'backend/.env', 'backend/.env.test', 'config/local/settings.yml', 'other/config/local/x', 'env.ts', 'a/.envrc', 'secrets/x/y.txt', 'src/secrets/z'];
    for (const p of paths) r.write(p, 'x\n');
    const patterns = ['.env', '.env.*', 'config/local/', '/secrets'];
    const viaPathspec = r.git('ls-files', '-o', '-z', '--', ...keepPathspecs(patterns)).split('\0').filter(Boolean).sort();
    r.write('.git/info/exclude', patterns.join('\n') + '\n');
    const viaIgnore = r.git('ls-files', '-o', '-i', '--exclude-standard', '-z').split('\0').filter(Boolean).sort();
    expect(viaPathspec).toEqual(viaIgnore);
    expect(viaPathspec).toEqual(['.env', '.env.local', 'backend/.env', 'backend/.env.test', 'config/local/settings.yml', 'secrets/x/y.txt']);
  });
});

describe('words', () => {
  it('a when reads as words, with its value; never as a template', () => {
    const scope = { params: { tests: false, services: true }, steps: {} };
    expect(whenText('{{params.tests}}', scope, false)).toBe('parameter tests is false');
    expect(whenText('{{ params.services }}', scope, true)).toBe('runs: parameter services is true');
    expect(whenText('{{params.tests}}', scope, true)).toBe('skipped: parameter tests is false');
    expect(whenText('{{steps.tests.failed}}', scope, true)).toBe('runs if steps.tests.failed is true (decided when it runs)');
    expect(whenText('{{params.tests}}', scope, false)).not.toContain('{{');
  });

  it('files removed by clean: named, up to 20, then how many more', () => {
    expect(removedList([], 'r1')).toBe('none');
    expect(removedList(['a', 'b/'], 'r1')).toBe('- a\n- b/');
    const many = Array.from({ length: 23 }, (_, i) => `f${i}`);
    const text = removedList(many, 'r1');
    expect(text.split('\n')).toHaveLength(21);
    expect(text).toContain('- f19\n- … and 3 more (listed in `rb show r1 --json`; the snapshot holds them all)');
  });
});
