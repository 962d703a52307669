// JSON Schema of broker.yaml, generated from the zod schema so editors (YAML language server: a
// `# yaml-language-server: $schema=…` comment) complete and check the file with exactly the rules the
// loader applies. The committed schemas/broker.schema.json is compared with this output by a unit test;
// regenerate with: npx tsx src/rules/json-schema.ts
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { policySchema } from "../domain/policy-schema.ts";

export const JSON_SCHEMA_FILE = fileURLToPath(new URL("../../schemas/broker.schema.json", import.meta.url));

/** The schema of what an author writes (zod "input": defaults optional, durations as strings). */
export function policyJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(policySchema, { io: "input", target: "draft-2020-12" }) as Record<string, unknown>;
  return {
    $schema: schema.$schema,
    $comment: "Generated from src/domain/policy-schema.ts by src/rules/json-schema.ts; do not edit by hand.",
    ...schema,
  };
}

/** The file's exact text: stable key order from zod, two-space indent, trailing newline. */
export const policyJsonSchemaText = () => `${JSON.stringify(policyJsonSchema(), null, 2)}\n`;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(JSON_SCHEMA_FILE, policyJsonSchemaText());
  console.log(`wrote ${JSON_SCHEMA_FILE}`);
}
