import { expect } from "chai";
import SCIMMY from "scimmy";
import { forClients, fromScimmy } from "../../../src/scim/scimmy-errors.ts";

describe("scimmy errors as client messages (RFC 7644 §3.12)", () => {
  it("when scimmy reports a schema violation, then its message is kept", () => {
    const m = "Attribute 'active' expected value type 'boolean' but found type 'number' for 'replace' op of operation 1 in PatchOp request body";
    expect(forClients(m)).to.equal(m);
  });

  it("when the message is an engine internal, then it is replaced by one naming the operation", () => {
    const m = forClients("'set' on proxy: trap returned falsish for property 'value' for 'remove' op of operation 2 in PatchOp request body", (n) => (n === 2 ? "'remove' of 'emails.value'" : undefined));
    expect(m).to.equal("operation 2 ('remove' of 'emails.value') cannot be applied to this resource: the path or the value does not fit the attribute's definition (see /Schemas)");
    expect(forClients("Cannot convert undefined or null to object")).to.match(/^the request does not fit the resource's schema/);
  });

  it("when a TypeError or a SCIMMY error is converted, then it is a 400 with a scimType and no engine text", () => {
    const e = fromScimmy(new TypeError("Cannot read properties of undefined (reading 'x')"));
    expect(e).to.include({ status: 400, scimType: "invalidValue" });
    expect(e.message).not.to.match(/Cannot read|undefined/);
    const s = fromScimmy(new SCIMMY.Types.Error(400, "invalidPath", "Invalid path 'x' for 'add' op of operation 1 in PatchOp request body"));
    expect(s).to.include({ status: 400, scimType: "invalidPath" });
  });
});
