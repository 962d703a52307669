import { expect } from "chai";
import fc from "fast-check";
import { userStatus } from "../../../src/domain/classify.ts";
import {
  applyDiff, classificationOf, diffMemberships, type CurrentMembership, type DiffClassification, type MembershipDiff,
} from "../../../src/rules/diff.ts";
import { desiredMemberships, snapshotOfResource, type MembershipException } from "../../../src/rules/evaluate.ts";
import { NOW, days, policyOf, user, type UserAttrs } from "./fixtures.ts";

const policy = policyOf([
  { name: "finance", when: 'department eq "Finance"' },
  { name: "sales", when: 'department eq "Sales"' },
  { name: "london", when: 'location eq "London"', portable: true },
  { name: "prod-admin", when: 'title sw "SRE"', privileged: true, owner: "sec@example.com" },
]);
const V = policy.version;
const ruleRow = (group: string, retained = false): CurrentMembership =>
  ({ group, source: "rule", cause: { rule: group, policyVersion: "old", ...(retained ? { retained: "portable" as const } : {}) } });
const excRow = (group: string, exceptionId: string, kind: "grant" | "keep" = "grant"): CurrentMembership =>
  ({ group, source: "exception", cause: { exceptionId, kind } });
const manual = (group: string): CurrentMembership => ({ group, source: "manual" });
const exc = (id: string, group: string, kind: MembershipException["kind"], expiresAt?: Date): MembershipException =>
  ({ id, userId: "u1", group, kind, ...(expiresAt ? { expiresAt } : {}) });

const ACTIVE: DiffClassification = { status: "active", transfer: false };
const MOVER: DiffClassification = { status: "active", transfer: true };
function run(attrs: UserAttrs, current: CurrentMembership[], c: DiffClassification = ACTIVE, exceptions: MembershipException[] = []): MembershipDiff {
  return diffMemberships(current, desiredMemberships(user("u1", attrs), policy, exceptions, NOW), policy, c);
}

describe("rules/diff", () => {
  describe("mover", () => {
    const moved = run({ department: "Sales", location: "London", title: "SRE I" }, [ruleRow("finance"), ruleRow("london")], MOVER);

    it("when a user moves, then role-bound memberships go and new standard ones come immediately", () => {
      expect(moved.remove).to.deep.equal([{ group: "finance", source: "rule" }]);
      expect(moved.add).to.deep.equal([{ group: "sales", source: "rule", cause: { rule: "sales", policyVersion: V } }]);
    });

    it("when a mover gains a privileged group, then it waits for the owner's review instead of being added", () => {
      expect(moved.pendingReview).to.deep.equal([
        { group: "prod-admin", reason: "privileged", owner: "sec@example.com", cause: { rule: "prod-admin", policyVersion: V } },
      ]);
    });

    it("when a portable group's rule stops matching on a move, then the membership stays, is marked retained and reviewed", () => {
      const d = run({ department: "Sales", location: "Paris" }, [ruleRow("london")], MOVER);
      expect(d.remove).to.deep.equal([]);
      expect(d.relabel).to.deep.equal([{ group: "london", source: "rule", cause: { rule: "london", policyVersion: "old", retained: "portable" } }]);
      expect(d.pendingReview.map((r) => r.reason)).to.deep.equal(["mover"]);
    });

    it("when a retained portable membership meets a later reconciliation, then it is kept", () => {
      expect(run({ department: "Ops", location: "Paris" }, [ruleRow("london", true)])).to.deep.equal({ add: [], remove: [], relabel: [], pendingReview: [] });
    });

    it("when the rule of a retained membership matches again, then the marker is cleared", () => {
      expect(run({ location: "London" }, [ruleRow("london", true)]).relabel).to.deep.equal([{ group: "london", source: "rule", cause: { rule: "london", policyVersion: V } }]);
    });

    it("when a portable group's rule stops matching outside a move, then the membership goes", () => {
      expect(run({ location: "Paris" }, [ruleRow("london")]).remove).to.deep.equal([{ group: "london", source: "rule" }]);
    });

    it("when the lifecycle events contain mover, conversion or return, then the change is a transfer", () => {
      expect(classificationOf("active", [{ kind: "mover", changed: ["title"] }]).transfer).to.equal(true);
      expect(classificationOf("active", [{ kind: "return" }]).transfer).to.equal(true);
      expect(classificationOf("active", [{ kind: "joiner" }]).transfer).to.equal(false);
    });
  });

  describe("privileged groups", () => {
    it("when the user is already a member manually, then the rule row is recorded without review", () => {
      const d = run({ title: "SRE II" }, [manual("prod-admin")]);
      expect(d.add).to.deep.equal([{ group: "prod-admin", source: "rule", cause: { rule: "prod-admin", policyVersion: V } }]);
      expect(d.pendingReview).to.deep.equal([]);
    });

    it("when a grant exception names a privileged group, then it is added without review (the exception was approved)", () => {
      const d = run({}, [], ACTIVE, [exc("e1", "prod-admin", "grant")]);
      expect(d.add).to.deep.equal([{ group: "prod-admin", source: "exception", cause: { exceptionId: "e1", kind: "grant" } }]);
      expect(d.pendingReview).to.deep.equal([]);
    });
  });

  describe("exceptions", () => {
    it("when a keep holds a membership whose rule stopped matching, then the source becomes the exception", () => {
      const d = run({ department: "Sales" }, [ruleRow("finance")], ACTIVE, [exc("k1", "finance", "keep")]);
      expect(d.add).to.deep.include({ group: "finance", source: "exception", cause: { exceptionId: "k1", kind: "keep" } });
      expect(d.remove).to.deep.equal([{ group: "finance", source: "rule" }]);
    });

    it("when a keep exists but the user is not a member, then nothing is added", () => {
      expect(run({ department: "Sales" }, [], ACTIVE, [exc("k1", "finance", "keep")]).add.map((a) => a.group)).to.deep.equal(["sales"]);
    });

    it("when the keep expires, then the rule outcome applies again and the membership goes", () => {
      const d = run({ department: "Sales" }, [excRow("finance", "k1", "keep")], ACTIVE, [exc("k1", "finance", "keep", days(-1))]);
      expect(d.remove).to.deep.equal([{ group: "finance", source: "exception" }]);
    });

    it("when a block is in force, then rule and exception rows go but a manual membership stays", () => {
      const d = run({ department: "Finance" }, [ruleRow("finance"), excRow("finance", "g1"), manual("finance")], ACTIVE, [exc("b1", "finance", "block")]);
      expect(d.remove).to.deep.equal([{ group: "finance", source: "rule" }, { group: "finance", source: "exception" }]);
    });

    it("when a block applies during a move, then a portable membership is not retained", () => {
      expect(run({ location: "Paris" }, [ruleRow("london")], MOVER, [exc("b1", "london", "block")]).remove).to.deep.equal([{ group: "london", source: "rule" }]);
    });

    it("when a different exception now holds the group, then the row is relabelled, not removed and re-added", () => {
      const d = run({}, [excRow("prod-admin", "old-grant")], ACTIVE, [exc("new-grant", "prod-admin", "grant")]);
      expect(d).to.deep.equal({ add: [], remove: [], pendingReview: [], relabel: [{ group: "prod-admin", source: "exception", cause: { exceptionId: "new-grant", kind: "grant" } }] });
    });
  });

  describe("status", () => {
    it("when the user is a leaver, then every rule and exception row goes and manual rows stay", () => {
      const d = diffMemberships([ruleRow("finance"), excRow("prod-admin", "e1"), manual("sales")], new Map(), policy, { status: "leaver", transfer: false });
      expect(d.remove).to.deep.equal([{ group: "finance", source: "rule" }, { group: "prod-admin", source: "exception" }]);
      expect(d.add).to.deep.equal([]);
    });

    it("when the user is on leave, then memberships are frozen", () => {
      const d = run({ employmentStatus: "leave", active: false }, [ruleRow("finance"), excRow("prod-admin", "e1")], { status: "leave", transfer: false });
      expect(d).to.deep.equal({ add: [], remove: [], relabel: [], pendingReview: [] });
    });

    it("when a group leaves the policy, then its broker rows go and manual ones stay", () => {
      const d = run({}, [ruleRow("retired"), excRow("retired", "e1"), manual("retired")]);
      expect(d.remove).to.deep.equal([{ group: "retired", source: "rule" }, { group: "retired", source: "exception" }]);
    });
  });

  describe("properties", () => {
    const groups = fc.constantFrom("finance", "sales", "london", "prod-admin", "retired");
    const row: fc.Arbitrary<CurrentMembership> = fc.oneof(
      fc.tuple(groups, fc.boolean()).map(([g, r]) => ruleRow(g, r)),
      fc.tuple(groups, fc.constantFrom("e1", "e2", "e3"), fc.constantFrom("grant" as const, "keep" as const)).map(([g, id, k]) => excRow(g, id, k)),
      groups.map(manual),
    );
    // One row per (group, source), as the table's primary key guarantees.
    const rows = fc.array(row, { maxLength: 8 }).map((rs) => [...new Map(rs.map((r) => [`${r.group}/${r.source}`, r])).values()]);
    const attrs = fc.record({
      department: fc.constantFrom("Finance", "Sales", "Ops"), location: fc.constantFrom("London", "Paris"),
      title: fc.constantFrom("SRE II", "Analyst"), active: fc.boolean(),
      employmentStatus: fc.constantFrom("active", "leave", "terminated"),
    });
    const exceptions = fc.array(fc.record({
      id: fc.constantFrom("e1", "e2", "e3"), userId: fc.constant("u1"), group: groups,
      kind: fc.constantFrom("grant", "keep", "block") as fc.Arbitrary<MembershipException["kind"]>,
    }), { maxLength: 3 });
    const scenario = fc.record({ current: rows, attrs, exceptions, transfer: fc.boolean(), laterTransfer: fc.boolean() });

    const setup = (s: { current: CurrentMembership[]; attrs: UserAttrs; exceptions: MembershipException[] }) => {
      const u = user("u1", s.attrs);
      const status = userStatus(snapshotOfResource(u), NOW);
      return { status, desired: desiredMemberships(u, policy, s.exceptions, NOW) };
    };

    it("when a diff is applied and the user diffed again, then nothing is left to add, remove or relabel (idempotence)", () => {
      fc.assert(fc.property(scenario, (s) => {
        const { status, desired } = setup(s);
        const first = diffMemberships(s.current, desired, policy, { status, transfer: s.transfer });
        const second = diffMemberships(applyDiff(s.current, first), desired, policy, { status, transfer: s.laterTransfer });
        expect({ add: second.add, remove: second.remove, relabel: second.relabel }).to.deep.equal({ add: [], remove: [], relabel: [] });
        // Privileged grants keep waiting for approval: the same requests, nothing new.
        expect(second.pendingReview).to.deep.equal(first.pendingReview.filter((r) => r.reason === "privileged"));
      }));
    });

    it("when any diff is applied, then manual memberships are exactly as before", () => {
      fc.assert(fc.property(scenario, (s) => {
        const { status, desired } = setup(s);
        const after = applyDiff(s.current, diffMemberships(s.current, desired, policy, { status, transfer: s.transfer }));
        const manuals = (ms: CurrentMembership[]) => ms.filter((m) => m.source === "manual").map((m) => m.group).sort();
        expect(manuals(after)).to.deep.equal(manuals(s.current));
      }));
    });

    it("when the user is a leaver, then no rule or exception membership survives the diff", () => {
      fc.assert(fc.property(scenario, (s) => {
        const after = applyDiff(s.current, diffMemberships(s.current, new Map(), policy, { status: "leaver", transfer: s.transfer }));
        expect(after.filter((m) => m.source !== "manual")).to.deep.equal([]);
      }));
    });

    it("when a privileged group is not yet visible, then the diff never adds its rule row without review", () => {
      fc.assert(fc.property(scenario, (s) => {
        const { status, desired } = setup(s);
        const visible = new Set(s.current.map((m) => m.group));
        const d = diffMemberships(s.current, desired, policy, { status, transfer: s.transfer });
        expect(d.add.filter((a) => a.group === "prod-admin" && a.source === "rule" && !visible.has("prod-admin"))).to.deep.equal([]);
      }));
    });
  });
});
