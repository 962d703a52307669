import { expect } from "chai";
import { driftingAttributes, isActive } from "../../../src/fanout/reconcile/reconcile-diff.ts";

describe("fanout/reconcile-diff", () => {
  it("when the app holds what we send (plus its own attributes), then there is no drift", () => {
    const desired = { schemas: ["x"], userName: "Ann@example.com", active: true, name: { givenName: "Ann" }, emails: [{ value: "a@x", type: "work" }] };
    const actual = { id: "1", meta: {}, userName: "ann@EXAMPLE.com", active: "True", name: { givenName: "Ann", familyName: "B" }, emails: [{ value: "p@x", type: "home" }, { value: "a@x", type: "work", primary: true }], groups: [] };
    expect(driftingAttributes(desired, actual)).to.deep.equal([]);
  });

  it("when values differ or are missing, then those attributes are reported, sorted", () => {
    expect(driftingAttributes({ displayName: "Ann", title: "CFO", name: { givenName: "Ann" } }, { displayName: "ann", name: { givenName: "Anne" } }))
      .to.deep.equal(["displayName", "name", "title"]);
  });

  it("when `active` is absent, \"False\" or false, then activity follows RFC 7643 (absent means active)", () => {
    expect(isActive({})).to.equal(true);
    expect(isActive({ active: "False" })).to.equal(false);
    expect(isActive({ Active: false })).to.equal(false);
  });
});
