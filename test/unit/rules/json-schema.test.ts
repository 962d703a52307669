import { readFileSync } from "node:fs";
import { expect } from "chai";
import { JSON_SCHEMA_FILE, policyJsonSchema, policyJsonSchemaText } from "../../../src/rules/json-schema.ts";

describe("rules/json-schema", () => {
  it("when the committed schemas/broker.schema.json is compared with the zod schema, then they are identical (regenerate: npx tsx src/rules/json-schema.ts)", () => {
    expect(readFileSync(JSON_SCHEMA_FILE, "utf8")).to.equal(policyJsonSchemaText());
  });

  it("when an editor reads the schema, then it documents defaults and rejects unknown keys", () => {
    const schema = policyJsonSchema() as any;
    expect(schema.additionalProperties).to.equal(false);
    expect(schema.properties.groups.items.required).to.deep.equal(["name", "when"]);
    expect(schema.properties.guards.properties.massDeprovision.properties.window.default).to.equal("1h");
    expect(schema.properties.guards.properties.massDeprovision.properties.maxUsers.default).to.equal(50);
    expect(schema.properties.dataQuality.properties.action.default).to.equal("hold");
    expect(schema.properties.dataQuality.properties.flapping.properties.within.default).to.equal("1h");
    expect(schema.properties.sources.items.required).to.deep.equal(["name"]);
  });
});
