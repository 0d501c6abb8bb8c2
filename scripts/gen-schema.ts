/**
 * Writes playbooks/schema.json from the playbook zod schema (src/playbook/validate.ts).
 * Run after changing that schema:  npx tsx scripts/gen-schema.ts
 * (test/schema-json.test.ts fails while the committed file is out of date).
 *
 * The step kinds' own `with` schemas are not included yet (`with` is any mapping); to include
 * them, pass `await kindCatalog()` from src/steps/index.ts here and in the test.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderPlaybookJsonSchema } from '../src/playbook/schema-json.js';

const out = fileURLToPath(new URL('../playbooks/schema.json', import.meta.url));
writeFileSync(out, renderPlaybookJsonSchema());
process.stdout.write(`wrote ${out}\n`);
