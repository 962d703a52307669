import { expect } from "chai";
import fc from "fast-check";
import { classifyChange, userStatus } from "../../../src/domain/classify.ts";
import {
  DEFAULT_DATA_QUALITY, concernedGroups, detectSignals, hasRehireSignal, inconsistency, needsIdentityFacts, planShield, withoutRuleGrants,
  type DqSnapshot, type ExistingHold, type Signal, type SignalInput,
} from "../../../src/lifecycle/data-quality.ts";
import type { DataQualityConfig } from "../../../src/rules/data-quality-config.ts";

const NOW = new Date("2026-03-02T09:00:00Z");
const HOUR = 3_600_000;
const at = (days: number) => new Date(NOW.getTime() + days * 86_400_000);
const config: DataQualityConfig = { ...DEFAULT_DATA_QUALITY, known: { department: ["Finance", "Engineering"], location: ["London"] } };

const base: DqSnapshot = {
  id: "u1", active: true, userType: "Employee", title: "Analyst", department: "Finance", costCenter: "4100", division: null,
  organization: null, managerId: null, sponsorId: null, location: "London", employmentStatus: "active", startDate: at(-400),
  endDate: null, employeeNumber: "E1",
};
const snap = (p: Partial<DqSnapshot> = {}): DqSnapshot => ({ ...base, ...p });
const leaver = snap({ active: false, employmentStatus: "terminated", endDate: at(-1) });

function signals(before: DqSnapshot | null, after: DqSnapshot | null, extra: Partial<SignalInput> = {}): Signal[] {
  return detectSignals({
    config, before, after, baseline: before, events: classifyChange(before, after, NOW), heldMemberships: false,
    wasLeaver: !!before && userStatus(before, NOW) === "leaver", lastLeftAt: null, identity: null, source: "workday", now: NOW, ...extra,
  });
}
const names = (s: Signal[]) => s.map((x) => x.name);

describe("lifecycle/data-quality (pure)", () => {
  describe("signals", () => {
    it("when a mover's department is not a known value, then unknown-value holds its memberships, with the value as evidence", () => {
      const s = signals(snap(), snap({ department: "Fiance" }));
      expect(s).to.have.length(1);
      expect(s[0]).to.deep.include({ name: "unknown-value", holds: "memberships" });
      expect(s[0]!.evidence).to.include({ attribute: "department", value: "Fiance", blank: false });
    });

    it("when a mover's department becomes blank, then unknown-value says so; a known value in another case is fine", () => {
      expect(signals(snap(), snap({ department: null }))[0]!.evidence).to.include({ attribute: "department", blank: true });
      expect(signals(snap(), snap({ department: "engineering " }))).to.deep.equal([]);
    });

    it("when the unknown attribute did not change, or has no known-values list, or the user is a joiner, then nothing fires", () => {
      expect(signals(snap({ location: "Paris" }), snap({ location: "Paris", title: "Lead" }))).to.deep.equal([]);
      expect(signals(snap(), snap({ costCenter: "9999" }))).to.deep.equal([]);
      expect(signals(null, snap({ department: "Fiance" }))).to.deep.equal([]);
    });

    it("when memberships are held, then a later change is checked against what the rules last saw", () => {
      const held = { heldMemberships: true, baseline: snap() };
      expect(names(signals(snap({ department: "Fiance" }), snap({ department: "Fiance", title: "Lead" }), held))).to.deep.equal(["unknown-value"]);
      expect(signals(snap({ department: "Fiance" }), snap({ department: "Finance" }), held)).to.deep.equal([]);
      expect(signals(snap({ department: "Fiance" }), snap({ department: "Engineering" }), held)).to.deep.equal([]);
    });

    it("when a leaver is re-activated within flapping.within of leaving, then flapping holds the re-activation", () => {
      const back = snap({ startDate: at(0) });
      const s = signals(leaver, back, { lastLeftAt: new Date(NOW.getTime() - 20 * 60_000) });
      expect(names(s)).to.deep.equal(["flapping"]);
      expect(s[0]!.holds).to.equal("reactivation");
      expect(signals(leaver, back, { lastLeftAt: new Date(NOW.getTime() - 2 * HOUR) })).to.deep.equal([]);
    });

    it("when a leaver is re-activated without a new startDate after its endDate, then reactivation-without-rehire holds it", () => {
      expect(names(signals(leaver, snap()))).to.deep.equal(["reactivation-without-rehire"]);
      expect(names(signals(leaver, snap({ startDate: at(-2) })))).to.deep.equal(["reactivation-without-rehire"]); // before the endDate
      expect(signals(leaver, snap({ startDate: at(0) }))).to.deep.equal([]);
    });

    it("when active is turned on for a terminated user, or the status set to active while disabled, then inconsistent-record flags a leaver and holds nothing", () => {
      const terminated = snap({ employmentStatus: "terminated", active: false });
      const t = signals(terminated, snap({ employmentStatus: "terminated", active: true }));
      expect(t).to.deep.equal([{ name: "inconsistent-record", holds: null, evidence: { kind: "terminated-but-active", employmentStatus: "terminated", active: true, treatedAs: "leaver" } }]);
      expect(names(signals(null, snap({ employmentStatus: "terminated", active: true })))).to.deep.equal(["inconsistent-record"]);
      expect(names(signals(snap({ employmentStatus: "leave", active: false }), snap({ active: false })))).to.deep.equal(["inconsistent-record"]);
      expect(userStatus(snap({ employmentStatus: "terminated", active: true }), NOW)).to.equal("leaver");
      // a plain termination (PATCH employmentStatus) or deactivation leaves the other attribute stale: not flagged
      expect(signals(snap(), snap({ employmentStatus: "terminated", active: true }))).to.deep.equal([]);
      expect(signals(snap(), snap({ active: false }))).to.deep.equal([]);
      // the same inconsistency on the next write is not news
      expect(signals(snap({ active: false }), snap({ active: false, title: "x" }))).to.deep.equal([]);
    });

    it("when a termination is dated more than 30 days ahead, then future-termination flags it; within 30 days it is only scheduled", () => {
      const far = signals(snap(), snap({ employmentStatus: "terminated", endDate: at(45) }));
      expect(far).to.have.length(1);
      expect(far[0]).to.deep.include({ name: "future-termination", holds: null });
      expect(far[0]!.evidence).to.include({ daysAhead: 45, scheduledFor: at(45).toISOString() });
      expect(signals(snap(), snap({ employmentStatus: "terminated", endDate: at(20) }))).to.deep.equal([]);
      expect(signals(snap({ employmentStatus: "terminated", endDate: at(45) }), snap({ employmentStatus: "terminated", endDate: at(45), title: "x" }))).to.deep.equal([]);
    });

    it("when another user of the source has the employeeNumber, or the manager is unknown or left, then identity-clash holds grants", () => {
      const s = signals(null, snap(), { identity: { sameEmployeeNumber: ["ann@example.com"], manager: { value: "m9", problem: "left" } } });
      expect(s.map((x) => [x.name, x.holds, x.evidence.attribute])).to.deep.equal([["identity-clash", "grants", "employeeNumber"], ["identity-clash", "grants", "manager"]]);
      expect(s[0]!.evidence).to.include({ source: "workday" });
    });

    it("when the change makes a leaver, then no signal holds anything (a leaver is never held)", () => {
      fc.assert(fc.property(
        fc.record({ department: fc.constantFrom("Finance", "Fiance", null), employmentStatus: fc.constantFrom("active", "terminated", "leave", null), active: fc.boolean(), end: fc.option(fc.integer({ min: -40, max: 40 }), { nil: null }) }),
        fc.boolean(),
        (p, wasLeaver) => {
          const after = snap({ department: p.department, employmentStatus: p.employmentStatus, active: p.active, endDate: p.end === null ? null : at(p.end) });
          if (userStatus(after, NOW) !== "leaver") return;
          const s = signals(snap(), after, { wasLeaver, identity: { sameEmployeeNumber: ["x"], manager: null }, lastLeftAt: NOW });
          expect(s.every((x) => x.holds === null)).to.equal(true);
          expect(planShield({ config, signals: s, existing: { holds: ["memberships"], state: "held" }, after, hrChange: true, now: NOW }).holds).to.deep.equal([]);
        }));
    });
  });

  describe("identity look-ups", () => {
    it("when the employeeNumber or manager is new or changed, or grants are held, then it is looked up; a leaver is not", () => {
      expect(needsIdentityFacts(null, snap({ managerId: "m1" }), NOW, false)).to.deep.equal({ employeeNumber: true, manager: true });
      expect(needsIdentityFacts(snap(), snap({ title: "x" }), NOW, false)).to.deep.equal({ employeeNumber: false, manager: false });
      expect(needsIdentityFacts(snap(), snap({ title: "x" }), NOW, true)).to.deep.equal({ employeeNumber: true, manager: false });
      expect(needsIdentityFacts(snap(), leaver, NOW, true)).to.deep.equal({ employeeNumber: false, manager: false });
    });
  });

  describe("helpers", () => {
    it("when a rehire signal is judged, then only a new startDate after the end (or leaving) counts", () => {
      expect(hasRehireSignal(leaver, snap({ startDate: at(0) }), null)).to.equal(true);
      expect(hasRehireSignal(leaver, snap({ startDate: at(-400) }), null)).to.equal(false);
      expect(hasRehireSignal(snap({ endDate: null, active: false }), snap({ startDate: at(-1) }), at(-2))).to.equal(true);
      expect(hasRehireSignal(snap({ endDate: null, active: false }), snap({ startDate: at(-3) }), at(-2))).to.equal(false);
    });
    it("when a termination is dated ahead, then it is not inconsistent with active=true", () => {
      expect(inconsistency(snap({ employmentStatus: "terminated", endDate: at(5) }), NOW)).to.equal(null);
    });
  });

  describe("plan", () => {
    const unknown: Signal = { name: "unknown-value", holds: "memberships", evidence: {} };
    const flap: Signal = { name: "flapping", holds: "reactivation", evidence: {} };
    const flag: Signal = { name: "inconsistent-record", holds: null, evidence: {} };
    const plan = (signals: Signal[], existing: ExistingHold | null, after: DqSnapshot | null = snap(), hrChange = true, c = config) =>
      planShield({ config: c, signals, existing, after, hrChange, now: NOW });

    it("when signals hold, then the holds are set and ONE review is raised", () => {
      expect(plan([unknown, flap], null)).to.deep.equal({ holds: ["reactivation", "memberships"], review: true, release: false, keepLeaver: true });
    });
    it("when a flag-only signal fires, then a review records it and nothing is held", () => {
      expect(plan([flag], null, leaver)).to.deep.equal({ holds: [], review: true, release: false, keepLeaver: false });
    });
    it("when action is flag, then nothing is held nor reviewed, and an earlier hold ends", () => {
      expect(plan([unknown], { holds: ["memberships"], state: "held" }, snap(), true, { ...config, action: "flag" }))
        .to.deep.equal({ holds: [], review: false, release: true, keepLeaver: false });
    });
    it("when HR sends data that raises no signal, then a memberships hold ends; a held re-activation stays until decided", () => {
      expect(plan([], { holds: ["memberships"], state: "held" })).to.include({ release: true, review: false });
      expect(plan([], { holds: ["reactivation"], state: "held" }, snap({ active: false }))).to.deep.equal({ holds: ["reactivation"], review: false, release: false, keepLeaver: true });
    });
    it("when the held user leaves, then the hold ends (the leaver is applied)", () => {
      expect(plan([], { holds: ["reactivation"], state: "held" }, leaver)).to.deep.include({ holds: [], release: true, keepLeaver: false });
      expect(plan([], { holds: ["grants"], state: "kept" }, null)).to.deep.include({ holds: [], release: true });
    });
    it("when the trigger is not HR (schedule, exception, policy), then holds stay as they are", () => {
      expect(plan([], { holds: ["grants"], state: "kept" }, snap(), false)).to.deep.equal({ holds: ["grants"], review: false, release: false, keepLeaver: false });
    });
  });

  describe("owners and grants", () => {
    const group = (name: string, dept: string) => ({ name, condition: { matches: (u: Record<string, unknown>) => (u as any).department === dept } });
    const groups = [group("finance", "Finance"), group("eng", "Engineering")];
    it("when memberships are held, then the concerned groups are those whose verdict would change; for grants, those HR's data grants", () => {
      expect(concernedGroups(groups, ["memberships"], { department: "Finance" }, { department: "Fiance" })).to.deep.equal(["finance"]);
      expect(concernedGroups(groups, ["grants"], null, { department: "Engineering" })).to.deep.equal(["eng"]);
    });
    it("when grants are withheld, then rule adds and privileged reviews go, removals and exception rows stay", () => {
      const d = withoutRuleGrants({
        add: [{ group: "a", source: "rule", cause: { rule: "a", policyVersion: "v" } }, { group: "b", source: "exception", cause: { exceptionId: "e", kind: "grant" } }],
        remove: [{ group: "c", source: "rule" }], relabel: [],
        pendingReview: [{ group: "p", reason: "privileged", cause: { rule: "p", policyVersion: "v" } }, { group: "m", reason: "mover", cause: { rule: "m", policyVersion: "v" } }],
      });
      expect(d.add.map((a) => a.group)).to.deep.equal(["b"]);
      expect(d.remove).to.have.length(1);
      expect(d.pendingReview.map((r) => r.group)).to.deep.equal(["m"]);
    });
  });
});
