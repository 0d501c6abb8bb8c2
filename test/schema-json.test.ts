import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { playbookJsonSchema, renderPlaybookJsonSchema } from '../src/playbook/schema-json.js';

describe('playbooks/schema.json', () => {
  it('is the schema generated from the validator (run `npx tsx scripts/gen-schema.ts` after changing it)', () => {
    const committed = readFileSync(new URL('../playbooks/schema.json', import.meta.url), 'utf8');
    expect(committed).toBe(renderPlaybookJsonSchema());
  });

  it('is draft 2020-12 with a named, recursive step definition', () => {
    const s = playbookJsonSchema() as {
      $schema: string; required: string[]; additionalProperties: boolean;
      properties: Record<string, { items?: { $ref: string } }>;
      $defs: { step: { properties: Record<string, { items?: { $ref: string } }>; oneOf: unknown[]; dependentRequired: unknown } };
    };
    expect(s.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(s.required).toEqual(['name', 'steps']);
    expect(s.additionalProperties).toBe(false);
    expect(s.properties.steps!.items!.$ref).toBe('#/$defs/step');
    expect(s.$defs.step.properties.steps!.items!.$ref).toBe('#/$defs/step');
    expect(s.$defs.step.oneOf).toHaveLength(3);
    expect(s.$defs.step.dependentRequired).toEqual({ shell: ['run'], concurrent: ['steps'] });
  });

  it('lists the kinds and their `with` schemas when given a catalog', () => {
    const s = playbookJsonSchema({
      'git.reset-hard': { with: z.strictObject({ ref: z.string().min(1) }), destructive: true },
      snapshot: { with: z.strictObject({ message: z.string().optional() }), destructive: false },
    }) as { $defs: { step: { properties: { uses: { enum: string[] } }; allOf: unknown[] } } };
    expect(s.$defs.step.properties.uses.enum).toEqual(['git.reset-hard', 'snapshot']);
    expect(s.$defs.step.allOf[0]).toMatchInlineSnapshot(`
      {
        "if": {
          "properties": {
            "uses": {
              "const": "git.reset-hard",
            },
          },
          "required": [
            "uses",
          ],
        },
        "then": {
          "properties": {
            "with": {
              "additionalProperties": false,
              "properties": {
                "ref": {
                  "minLength": 1,
                  "type": "string",
                },
              },
              "required": [
                "ref",
              ],
              "type": "object",
            },
          },
        },
      }
    `);
  });
});
