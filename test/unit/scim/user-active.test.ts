import { expect } from "chai";
import fc from "fast-check";
import { resolveActive } from "../../../src/scim/user-active.ts";
import { assignsActive } from "../../../src/scim/user-patch.ts";

describe("active after a write (RFC 7644 §3.5.1, §3.5.2.2)", () => {
  it("when active is unassigned on create, then it is true; on update, then the stored value stays", () => {
    expect(resolveActive(null, undefined, undefined)).to.equal(true);
    expect(resolveActive(null, false, "active")).to.equal(false);
    expect(resolveActive({ active: false, employmentStatus: null }, undefined, null)).to.equal(false);
    expect(resolveActive({ active: true, employmentStatus: "leave" }, undefined, "leave")).to.equal(true);
  });

  it("when employmentStatus becomes active in the same write, then that re-activates; restating it does not", () => {
    expect(resolveActive({ active: false, employmentStatus: "terminated" }, undefined, "Active")).to.equal(true);
    expect(resolveActive({ active: false, employmentStatus: "pre-hire" }, undefined, "active")).to.equal(true);
    expect(resolveActive({ active: false, employmentStatus: "active" }, undefined, "active")).to.equal(false);
    expect(resolveActive({ active: false, employmentStatus: "terminated" }, false, "active")).to.equal(false);
  });

  it("when anything else changes, then an unassigned active never turns a disabled user on", () => {
    fc.assert(fc.property(fc.option(fc.string()), fc.option(fc.string()), (was, now) => {
      const becomesActive = now?.trim().toLowerCase() === "active" && was?.trim().toLowerCase() !== "active";
      expect(resolveActive({ active: false, employmentStatus: was }, undefined, now)).to.equal(becomesActive);
    }));
  });

  it("when PATCH operations are read, then only add/replace of active (by path or path-less key) assign it", () => {
    expect(assignsActive([{ op: "replace", path: "active", value: false }])).to.equal(true);
    expect(assignsActive([{ op: "replace", path: "urn:ietf:params:scim:schemas:core:2.0:User:active", value: true }])).to.equal(true);
    expect(assignsActive([{ op: "replace", value: { Active: false } }])).to.equal(true);
    expect(assignsActive([{ op: "remove", path: "active" }])).to.equal(false);
    expect(assignsActive([{ op: "replace", path: "title", value: "x" }, { op: "add", value: { title: "y" } }])).to.equal(false);
  });
});
