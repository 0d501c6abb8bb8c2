/**
 * Writes playbooks/schema.json from the playbook zod schema (src/playbook/validate.ts) and every
 * step kind's `with` schema (src/steps/). Run after changing either:  npm run gen-schema
 * (test/schema-json.test.ts fails while the committed file is out of date).
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderPlaybookJsonSchema } from '../src/playbook/schema-json.js';
import { kindCatalog } from '../src/steps/index.js';

const out = fileURLToPath(new URL('../playbooks/schema.json', import.meta.url));
writeFileSync(out, renderPlaybookJsonSchema(await kindCatalog()));
process.stdout.write(`wrote ${out}\n`);
