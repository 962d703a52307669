// Pure pieces of the lifecycle layer around the rules engine: the leaver's manual rows, the policy delta
// that picks candidates for a converge, hook composition, review de-duplication keys, and the pre-hire
// that was created inactive.
import { expect } from "chai";
import { withLeaverManualRemovals } from "../../../src/lifecycle/user-lifecycle.ts";
import { policyDelta } from "../../../src/lifecycle/convergence.ts";
import { combineHooks } from "../../../src/lifecycle/lifecycle-hooks.ts";
import { dedupeKey } from "../../../src/lifecycle/review-store.ts";
import { userStatus, classifyChange, type UserSnapshot } from "../../../src/domain/classify.ts";
import { emptyDiff, type CurrentMembership } from "../../../src/rules/diff.ts";
import { policyOf, NOW, days } from "../rules/fixtures.ts";

const policy = policyOf([{ name: "finance", when: 'department eq "Finance"' }, { name: "london", when: 'location eq "London"', portable: true }]);

describe("lifecycle layer (pure parts)", () => {
  describe("withLeaverManualRemovals", () => {
    const current: CurrentMembership[] = [
      { group: "finance", source: "manual" }, { group: "finance", source: "rule" }, { group: "book-club", source: "manual" },
    ];
    it("when the user is a leaver, then its manual rows in managed groups go too, and those in unmanaged groups stay", () => {
      const d = withLeaverManualRemovals({ ...emptyDiff(), remove: [{ group: "finance", source: "rule" }] }, current, policy, "leaver");
      expect(d.remove).to.deep.equal([{ group: "finance", source: "rule" }, { group: "finance", source: "manual" }]);
    });
    it("when the user is not a leaver, then manual rows are never touched", () => {
      for (const status of ["active", "leave", "prehire"] as const) expect(withLeaverManualRemovals(emptyDiff(), current, policy, status).remove).to.deep.equal([]);
    });
  });

  describe("policyDelta", () => {
    it("when groups are added, removed or changed, then each is named with the settings that changed", () => {
      const next = policyOf([{ name: "finance", when: 'department eq "Finance" or department eq "Treasury"' }, { name: "london", when: 'location eq "London"', owner: "fm@example.com" }, { name: "new", when: "active eq true" }]);
      expect(policyDelta(policy, next)).to.deep.equal({
        added: ["new"], removed: [], changed: [{ name: "finance", changed: ["when"] }, { name: "london", changed: ["portable", "owner"] }],
      });
      expect(policyDelta(policy, policy)).to.deep.equal({ added: [], removed: [], changed: [] });
    });
  });

  describe("combineHooks", () => {
    it("when several hook sets are combined, then each runs in order and absent ones are skipped", async () => {
      const calls: string[] = [];
      const h = combineHooks({ async afterUserWrite() { calls.push("a"); } }, undefined, { async afterUserWrite() { calls.push("b"); }, async afterGroupWrite() { calls.push("g"); } });
      await h.afterUserWrite!({} as never, {} as never);
      await h.afterGroupWrite!({} as never, {} as never);
      expect(calls).to.deep.equal(["a", "b", "g"]);
      expect(combineHooks(undefined)).to.deep.equal({});
    });
  });

  describe("dedupeKey", () => {
    it("when reviews are keyed, then a mass-deprovision item is one per source and others one per kind, user and group", () => {
      expect(dedupeKey({ kind: "mass-deprovision", source: "workday", userId: "u1" })).to.equal("mass-deprovision:workday");
      expect(dedupeKey({ kind: "privileged-grant", userId: "u1", group: "prod" })).to.equal("privileged-grant:u1:prod");
      expect(dedupeKey({ kind: "owner-left", userId: "svc" })).to.equal("owner-left:svc:");
    });
  });

  describe("a pre-hire created inactive", () => {
    const row: UserSnapshot = {
      id: "p", active: false, userType: "Employee", title: null, department: "Finance", costCenter: null, division: null,
      organization: null, managerId: null, sponsorId: null, location: null, employmentStatus: "pre-hire", startDate: days(3), endDate: null,
    };
    it("when its start date comes and HR has not activated it, then it is a joiner, not a leaver", () => {
      expect(userStatus(row, NOW)).to.equal("prehire");
      expect(userStatus(row, days(3))).to.equal("active");
      expect(classifyChange(row, row, days(3), new Date(days(3).getTime() - 1)).map((e) => e.kind)).to.deep.equal(["joiner"]);
    });
    it("when it is an inactive user without pre-hire status, then it is still a leaver", () => {
      expect(userStatus({ ...row, employmentStatus: "active", startDate: null }, NOW)).to.equal("leaver");
    });
  });
});
