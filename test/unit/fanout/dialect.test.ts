import { expect } from "chai";
import { encodeBooleans, parseServiceProviderConfig, patchBody, resolveDialect } from "../../../src/domain/app-dialect.ts";

describe("fanout/dialect", () => {
  it("when discovery says PATCH is unsupported and config is silent, then the client uses PUT", () => {
    const caps = parseServiceProviderConfig({ patch: { supported: false }, filter: { supported: true, maxResults: 50 } });
    expect(caps).to.include({ patch: false, filter: true, maxResults: 50, bulk: null });
    expect(resolveDialect({}, caps)).to.deep.equal({ patch: false, opCasing: "lower", stringBooleans: false });
  });

  it("when config sets patch explicitly, then it wins over discovery", () => {
    expect(resolveDialect({ patch: true }, parseServiceProviderConfig({ patch: { supported: false } })).patch).to.equal(true);
  });

  it("when the discovery document is odd (string booleans, other casing, junk), then it is read defensively", () => {
    expect(parseServiceProviderConfig({ Patch: { supported: "TRUE" }, filter: { maxResults: "x" } })).to.deep.equal({
      patch: true, bulk: null, filter: null, maxResults: null, etag: null, sort: null,
    });
    expect(parseServiceProviderConfig("nonsense").patch).to.equal(null);
    expect(resolveDialect(undefined, null)).to.deep.equal({ patch: true, opCasing: "lower", stringBooleans: false });
  });

  it("when the dialect asks for Capital ops and string booleans, then the PatchOp body follows it", () => {
    const body = patchBody([{ op: "replace", path: "active", value: false }, { op: "remove", path: 'members[value eq "x"]' }], {
      patch: true, opCasing: "Capital", stringBooleans: true,
    });
    expect(body).to.deep.equal({
      schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      Operations: [{ op: "Replace", path: "active", value: "False" }, { op: "Remove", path: 'members[value eq "x"]' }],
    });
    expect(encodeBooleans({ a: [true] }, { stringBooleans: false })).to.deep.equal({ a: [true] });
  });
});
