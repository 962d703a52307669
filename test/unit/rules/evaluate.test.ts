import { expect } from "chai";
import fc from "fast-check";
import { desiredMemberships, grantedGroups, type MembershipException } from "../../../src/rules/evaluate.ts";
import { NOW, days, policyOf, user } from "./fixtures.ts";

const policy = policyOf([
  { name: "finance", when: 'department eq "Finance" and active eq true' },
  { name: "london", when: 'location eq "London"', portable: true },
  { name: "prod-admin", when: 'title sw "SRE"', privileged: true },
]);
const exc = (id: string, group: string, kind: MembershipException["kind"], expiresAt?: Date | null): MembershipException =>
  ({ id, userId: "u1", group, kind, ...(expiresAt !== undefined ? { expiresAt } : {}) });
const desired = (u = user("u1", { department: "Finance", location: "London" }), e: MembershipException[] = []) =>
  Object.fromEntries(desiredMemberships(u, policy, e, NOW));

describe("rules/evaluate", () => {
  it("when rules match, then each matched group is desired with the rule and policy version as reason", () => {
    expect(desired()).to.deep.equal({
      finance: { reason: "rule", rule: "finance", policyVersion: policy.version },
      london: { reason: "rule", rule: "london", policyVersion: policy.version },
    });
  });

  it("when a block exception is in force, then it beats the rule", () => {
    expect(desired(undefined, [exc("e1", "finance", "block")]).finance).to.deep.equal({ reason: "exception", kind: "block", exceptionId: "e1" });
  });

  it("when a grant exists for a group the rule does not give, then the group is desired by exception", () => {
    expect(desired(undefined, [exc("e1", "prod-admin", "grant", days(5))])["prod-admin"]).to.deep.equal({ reason: "exception", kind: "grant", exceptionId: "e1" });
  });

  it("when the rule matches and a grant exists too, then the rule is the reason (it outlives the exception)", () => {
    expect(desired(undefined, [exc("e1", "finance", "grant")]).finance!.reason).to.equal("rule");
  });

  it("when an exception has expired, then it is ignored and the rule outcome applies", () => {
    expect(desired(undefined, [exc("e1", "finance", "block", NOW)]).finance!.reason).to.equal("rule");
    expect(desired(undefined, [exc("e2", "prod-admin", "grant", days(-1))])).to.not.have.property("prod-admin");
  });

  it("when a keep exists and the rule no longer matches, then the verdict is a conditional keep", () => {
    const u = user("u1", { department: "Sales", location: "London" });
    expect(desired(u, [exc("k1", "finance", "keep")]).finance).to.deep.equal({ reason: "exception", kind: "keep", exceptionId: "k1" });
    expect(grantedGroups(desiredMemberships(u, policy, [exc("k1", "finance", "keep")], NOW))).to.deep.equal(["london"]);
  });

  it("when two exceptions of a kind overlap, then the longest-lived one is chosen, whatever their order", () => {
    const a = exc("a", "prod-admin", "grant", days(3));
    const b = exc("b", "prod-admin", "grant", null);
    expect(desired(undefined, [a, b])["prod-admin"]).to.include({ exceptionId: "b" });
    expect(desired(undefined, [b, a])["prod-admin"]).to.include({ exceptionId: "b" });
  });

  it("when exceptions belong to another user or an undeclared group, then they are ignored", () => {
    const other = { ...exc("x", "prod-admin", "grant"), userId: "u2" };
    expect(desired(undefined, [other, exc("y", "no-such-group", "grant")])).to.have.keys("finance", "london");
  });

  it("when the user is a leaver, then nothing is desired, exceptions included", () => {
    const e = [exc("g", "prod-admin", "grant"), exc("k", "finance", "keep")];
    expect(desired(user("u1", { department: "Finance", location: "London", active: false }), e)).to.deep.equal({});
    expect(desired(user("u1", { department: "Finance", employmentStatus: "terminated" }), e)).to.deep.equal({});
    expect(desired(user("u1", { department: "Finance", endDate: days(-1).toISOString() }), e)).to.deep.equal({});
  });

  it("when the user is a pre-hire, then nothing is desired until the start date", () => {
    const u = user("u1", { department: "Finance", startDate: days(3).toISOString(), employmentStatus: "pre-hire" });
    expect(desired(u)).to.deep.equal({});
    expect(Object.keys(Object.fromEntries(desiredMemberships(u, policy, [], days(3))))).to.deep.equal(["finance"]);
  });

  it("when the user is on leave, then the rules are evaluated as usual (the diff freezes memberships)", () => {
    expect(desired(user("u1", { location: "London", employmentStatus: "leave", active: false }))).to.have.keys("london");
  });

  it("when a user is evaluated twice, then the result is the same (deterministic)", () => {
    const arb = fc.record({
      department: fc.constantFrom("Finance", "Sales"), location: fc.constantFrom("London", "Paris"),
      title: fc.constantFrom("SRE II", "Analyst"), active: fc.boolean(),
      employmentStatus: fc.constantFrom("active", "leave", "terminated", "pre-hire"),
    });
    const exceptions = fc.array(fc.record({
      id: fc.constantFrom("e1", "e2", "e3"), userId: fc.constant("u1"), group: fc.constantFrom("finance", "london", "prod-admin"),
      kind: fc.constantFrom("grant", "keep", "block") as fc.Arbitrary<MembershipException["kind"]>,
      expiresAt: fc.option(fc.integer({ min: -3, max: 3 }).map(days), { nil: null }),
    }), { maxLength: 4 });
    fc.assert(fc.property(arb, exceptions, (attrs, e) => {
      const u = user("u1", attrs);
      expect([...desiredMemberships(u, policy, e, NOW)]).to.deep.equal([...desiredMemberships(u, policy, [...e].reverse(), NOW)]);
    }));
  });
});
