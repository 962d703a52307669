import { expect } from "chai";
import fc from "fast-check";
import { applyDiff, diffMemberships, type CurrentMembership } from "../../../src/rules/diff.ts";
import { userStatus } from "../../../src/domain/classify.ts";
import { desiredMemberships, snapshotOfResource } from "../../../src/rules/evaluate.ts";
import { isEmptyPlan, planPolicyChange } from "../../../src/rules/plan.ts";
import type { Policy } from "../../../src/rules/policy-loader.ts";
import { NOW, policyOf, user } from "./fixtures.ts";

const before = policyOf([
  { name: "finance", when: 'department eq "Finance"' },
  { name: "london", when: 'location eq "London"', portable: true },
  { name: "legacy", when: 'title eq "Clerk"' },
]);
const after = policyOf([
  { name: "finance", when: 'department eq "Finance" or department eq "Treasury"' },
  { name: "london", when: 'location eq "London"', portable: true },
  { name: "prod-admin", when: 'title sw "SRE"', privileged: true },
]);
const users = [
  user("a", { department: "Finance", location: "London" }),
  user("b", { department: "Treasury", title: "SRE I" }),
  user("c", { department: "Ops", title: "Clerk" }),
];
/** The store as it is after `policy` was applied to everyone. */
function appliedState(policy: Policy, us = users, seed = new Map<string, CurrentMembership[]>()): Map<string, CurrentMembership[]> {
  return new Map(us.map((u) => {
    const current = seed.get(u.id) ?? [];
    const status = userStatus(snapshotOfResource(u), NOW);
    const d = diffMemberships(current, desiredMemberships(u, policy, [], NOW), policy, { status, transfer: false });
    return [u.id, applyDiff(current, d)];
  }));
}

describe("rules/plan", () => {
  const plan = planPolicyChange(before, after, users, appliedState(before), { now: NOW });

  it("when a condition widens, then the newly matched users are gains of that group", () => {
    expect(plan.groups.finance).to.deep.equal({ gains: ["b"], losses: [], reviews: [] });
  });

  it("when a group is removed from the policy, then its members are losses", () => {
    expect(plan.groups.legacy).to.deep.equal({ gains: [], losses: ["c"], reviews: [] });
    expect(plan.removedGroups).to.deep.equal(["legacy"]);
  });

  it("when a privileged group is added, then matching users appear as reviews, not gains", () => {
    expect(plan.groups["prod-admin"]).to.deep.equal({ gains: [], losses: [], reviews: ["b"] });
    expect(plan.addedGroups).to.deep.equal(["prod-admin"]);
  });

  it("when a group is unchanged, then it is absent from the plan", () => {
    expect(plan.groups).to.not.have.property("london");
    expect(plan.changedGroups).to.deep.equal([{ name: "finance", changed: ["when"] }]);
    expect(plan).to.include({ from: before.version, to: after.version });
  });

  it("when a manual member loses the rule, then the group is not a loss (the user stays visible)", () => {
    const state = appliedState(before);
    state.set("c", [...state.get("c")!, { group: "legacy", source: "manual" }]);
    expect(planPolicyChange(before, after, users, state, { now: NOW }).groups).to.not.have.property("legacy");
  });

  describe("properties", () => {
    const groupSpec = fc.record({
      name: fc.constantFrom("finance", "london", "admins"),
      when: fc.constantFrom('department eq "Finance"', 'location eq "London"', 'title sw "SRE"', "active eq true"),
      privileged: fc.boolean(), portable: fc.boolean(),
    });
    const policyArb = fc.uniqueArray(groupSpec, { selector: (g) => g.name, maxLength: 3 }).map((gs) => policyOf(gs));
    const userArb = fc.record({
      department: fc.constantFrom("Finance", "Ops"), location: fc.constantFrom("London", "Paris"),
      title: fc.constantFrom("SRE I", "Clerk"), active: fc.boolean(),
      employmentStatus: fc.constantFrom("active", "leave", "terminated"),
    });
    const population = fc.array(userArb, { maxLength: 5 }).map((as) => as.map((a, i) => user(`u${i}`, a)));
    const drift = fc.array(fc.record({
      user: fc.nat(4), group: fc.constantFrom("finance", "london", "admins", "gone"),
      source: fc.constantFrom("rule", "exception", "manual") as fc.Arbitrary<CurrentMembership["source"]>,
    }), { maxLength: 6 });
    const stateOf = (rows: { user: number; group: string; source: CurrentMembership["source"] }[]) => {
      const m = new Map<string, CurrentMembership[]>();
      for (const r of rows) {
        const list = m.get(`u${r.user}`) ?? [];
        if (!list.some((x) => x.group === r.group && x.source === r.source)) list.push({ group: r.group, source: r.source });
        m.set(`u${r.user}`, list);
      }
      return m;
    };

    it("when a policy is planned against itself, then the plan is empty whatever the store holds", () => {
      fc.assert(fc.property(policyArb, population, drift, (p, us, rows) => {
        expect(isEmptyPlan(planPolicyChange(p, p, us, stateOf(rows), { now: NOW }))).to.equal(true);
      }));
    });

    it("when a change is planned both ways, then the gains of one are the losses of the other", () => {
      fc.assert(fc.property(policyArb, policyArb, population, drift, (a, b, us, rows) => {
        const state = stateOf(rows);
        const ab = planPolicyChange(a, b, us, state, { now: NOW });
        const ba = planPolicyChange(b, a, us, state, { now: NOW });
        const view = (p: typeof ab, k: "gains" | "losses") =>
          Object.fromEntries(Object.entries(p.groups).filter(([, g]) => g[k].length > 0).map(([n, g]) => [n, g[k]]));
        expect(view(ab, "gains")).to.deep.equal(view(ba, "losses"));
      }));
    });

    it("when the store is in the old policy's applied state, then the plan's gains and losses are what applying the new policy changes", () => {
      fc.assert(fc.property(policyArb, policyArb, population, (a, b, us) => {
        const state = appliedState(a, us);
        const plan = planPolicyChange(a, b, us, state, { now: NOW });
        const next = appliedState(b, us, state);
        for (const u of us) {
          const was = new Set(state.get(u.id)!.map((m) => m.group));
          const now = new Set(next.get(u.id)!.map((m) => m.group));
          for (const g of now) if (!was.has(g)) expect(plan.groups[g]?.gains ?? []).to.include(u.id);
          for (const g of was) if (!now.has(g)) expect(plan.groups[g]?.losses ?? []).to.include(u.id);
        }
      }));
    });
  });
});
