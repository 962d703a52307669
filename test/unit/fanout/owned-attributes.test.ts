import { expect } from "chai";
import { attributePaths, clearedButHeld, ownedPrefixes, removedPaths } from "../../../src/fanout/client/owned-attributes.ts";
import { compileUserMapping, ENTERPRISE_USER_SCHEMA as E } from "../../../src/domain/app-mapping.ts";

describe("fanout/owned-attributes", () => {
  const full = { schemas: ["x"], id: "1", externalId: "e", active: true, userName: "ann", title: "Boss", name: { givenName: "A", familyName: "B" },
    emails: [{ value: "a@x" }], [E]: { department: "Fin", costCenter: "42", manager: { value: "m" } } };

  it("when a resource is flattened, then top-level, complex sub-attributes and extension attributes are paths; identity and active are not", () => {
    expect(attributePaths(full)).to.deep.equal(["emails", "name.familyName", "name.givenName", "title", `${E}:costCenter`, `${E}:department`, `${E}:manager`, "userName"].sort());
    expect(attributePaths({ title: null, emails: [], name: {} })).to.deep.equal([]);
  });

  it("when HR cleared attributes since the last delivery, then exactly those are removed; an unknown history removes nothing", () => {
    const before = attributePaths(full);
    const after = { ...full, title: undefined, [E]: { department: "Fin" }, name: { familyName: "B" } };
    expect(removedPaths(before, after)).to.deep.equal(["name.givenName", "title", `${E}:costCenter`, `${E}:manager`].sort());
    expect(removedPaths(null, after)).to.deep.equal([]);
  });

  it("when the app holds owned attributes HR has no value for, then they are cleared drift; the app's own attributes are not", () => {
    const owned = ownedPrefixes(compileUserMapping(undefined, { stringBooleans: false }).targets);
    const desired = { userName: "ann", [E]: { department: "Fin" } };
    const actual = { userName: "ANN", title: "Stale", nickName: "own attribute", [E]: { department: "Fin", costCenter: "old" }, meta: { x: 1 } };
    expect(clearedButHeld(desired, actual, owned)).to.deep.equal(["title", `${E}:costCenter`]);
  });

  it("when a mapping overrides targets, then ownership follows: filtered targets own the attribute, a dropped default is not owned", () => {
    const targets = compileUserMapping({ title: null, 'emails[type eq "work"].value': "userName", "urn:acme:2.0:User:costCenter": "title" }, { stringBooleans: false }).targets;
    const owned = ownedPrefixes(targets);
    expect(owned).to.include.members(["emails", "urn:acme:2.0:user:costcenter", E.toLowerCase()]).and.not.include("title");
    expect(clearedButHeld({}, { title: "kept", "urn:acme:2.0:User": { costCenter: "x", other: "y" } }, owned)).to.deep.equal(["urn:acme:2.0:User:costCenter"]);
  });
});
