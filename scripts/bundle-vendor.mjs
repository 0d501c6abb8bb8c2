// Part of `npm run build` (after tsc, before build-playbooks): bundles zod into one file,
// dist/vendor/zod.js, which src/ imports as '#zod' (package.json "imports"). Issue 18: zod as
// published is 95 module files, 62 of them locales rb never uses; node resolves, reads, compiles
// and links each one, about 60 ms on every run that validates a playbook or a config. The bundle
// keeps zod's own code and its English messages (the default), leaves the other locales out
// (`z.locales` holds only `en`), and is one file. Types still come from the zod package.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'dist', 'vendor', 'zod.js');
const zodDir = dirname(createRequire(join(ROOT, 'package.json')).resolve('zod/package.json'));
const { version } = createRequire(import.meta.url)(join(zodDir, 'package.json'));

await build({
  stdin: { contents: "export * from 'zod';", resolveDir: ROOT, sourcefile: 'zod-entry.js' },
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
process.stdout.write(`bundled zod ${version} -> ${OUT}\n`);
