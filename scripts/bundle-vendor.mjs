// Part of `npm run build` (after tsc, before build-playbooks): bundles zod into one file,
// dist/vendor/zod.js, which src/ imports as '#zod' (package.json "imports"), and commander into
// dist/vendor/commander.js ('#commander', below). Issue 18: zod as
// published is 95 module files, 62 of them locales rb never uses; node resolves, reads, compiles
// and links each one, about 60 ms on every run that validates a playbook or a config. The bundle
// keeps zod's own code and its English messages (the default), leaves the other locales out
// (`z.locales` holds only `en`), and is one file. Types still come from the zod package.
import { build } from 'esbuild';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'dist', 'vendor', 'zod.js');
const zodDir = dirname(createRequire(join(ROOT, 'package.json')).resolve('zod/package.json'));
const { version } = createRequire(import.meta.url)(join(zodDir, 'package.json'));

// `z` holds only the members src/ uses (`z.string`, `z.strictObject`, …: found by scanning src/),
// so esbuild leaves the rest of zod out: half the bundle, ~13 ms less to compile on every run that
// plans a playbook (issue 18). `z.core` (zod's internals) is only named in types, which still
// come from the zod package; test/dependencies.test.ts checks that every member the sources name
// is in the bundle. jitless: rb parses each schema a few times per run, so zod's eval-compiled
// fast path (a `new Function` per object schema on its first parse) costs more than it saves.
const zodExports = new Set(Object.keys(await import(createRequire(join(ROOT, 'package.json')).resolve('zod'))));
const TYPES_ONLY = new Set(['core']);
const zodMembers = [...new Set(sourceFiles(join(ROOT, 'src')).flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/\bz\.([A-Za-z_$][\w$]*)/g)].map((m) => m[1])))]
  .filter((name) => zodExports.has(name) && !TYPES_ONLY.has(name))
  .sort();
zodMembers.push('locales'); // English only (below); tests read it
const zodEntry = [
  `import { config, ${zodMembers.map((m, i) => `${m} as m${i}`).join(', ')} } from 'zod';`,
  'config({ jitless: true });',
  `export const z = { ${zodMembers.map((m, i) => `${JSON.stringify(m)}: m${i}`).join(', ')} };`,
].join('\n');

function sourceFiles(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sourceFiles(p) : n.endsWith('.ts') ? [p] : [];
  });
}

await build({
  stdin: { contents: zodEntry, resolveDir: ROOT, sourcefile: 'zod-entry.js' },
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outfile: OUT,
  legalComments: 'inline',
  banner: { js: `// zod ${version} (MIT, https://github.com/colinhacks/zod), bundled by scripts/bundle-vendor.mjs: English messages only` },
  logLevel: 'warning',
  plugins: [
    {
      name: 'english-locale-only',
      setup(b) {
        b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, () => ({
          contents: "export { default as en } from './en.js';",
          resolveDir: join(zodDir, 'v4', 'locales'),
        }));
      },
    },
  ],
});
process.stdout.write(`bundled zod ${version} (z.${zodMembers.join(', z.')}) -> ${OUT}\n`);

// commander is CommonJS (an ESM wrapper over 7 files): every start of rb, `rb --version` included,
// had node's CommonJS loader read and compile them and build the ESM facade, ~15 ms; as one ES
// module, ~8 ms, most of it the node built-ins it needs anyway (issue 18). The CommonJS code
// keeps its `require` of node built-ins through createRequire.
const COMMANDER_OUT = join(ROOT, 'dist', 'vendor', 'commander.js');
// commander's "exports" do not list its package.json: find it from its main file
const commanderDir = dirname(createRequire(join(ROOT, 'package.json')).resolve('commander'));
const commanderVersion = createRequire(import.meta.url)(join(commanderDir, 'package.json')).version;
await build({
  stdin: { contents: "export * from 'commander';", resolveDir: ROOT, sourcefile: 'commander-entry.js' },
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outfile: COMMANDER_OUT,
  legalComments: 'inline',
  banner: {
    js: `// commander ${commanderVersion} (MIT, https://github.com/tj/commander.js), bundled by scripts/bundle-vendor.mjs\n` +
      "import { createRequire as __rbCreateRequire } from 'node:module';\nconst require = __rbCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
process.stdout.write(`bundled commander ${commanderVersion} -> ${COMMANDER_OUT}\n`);
