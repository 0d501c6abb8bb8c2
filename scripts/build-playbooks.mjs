// Part of `npm run build` (after tsc): validates the built-in playbooks (playbooks/*.yaml) with
// the compiled validator and step kinds, and writes dist/builtin-playbooks.json, which runs read
// instead of parsing and validating the YAML (see src/playbook/builtins.ts). An invalid
// built-in playbook fails the build with the same file:line:column messages a run would print.
import { writeFileSync } from 'node:fs';

const { compileBuiltins, COMPILED_FILE } = await import('../dist/playbook/builtins.js');
try {
  const compiled = await compileBuiltins();
  writeFileSync(COMPILED_FILE, JSON.stringify(compiled) + '\n');
  process.stdout.write(`validated ${Object.keys(compiled.playbooks).length} built-in playbooks -> ${COMPILED_FILE}\n`);
} catch (e) {
  process.stderr.write(`build-playbooks: ${e.message}\n${(e.details ?? []).map((d) => `  ${d}\n`).join('')}`);
  process.exitCode = 1;
}
