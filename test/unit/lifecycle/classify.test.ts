import { expect } from "chai";
import fc from "fast-check";
import {
  classifyChange, effectiveDates, userStatus, type LifecycleEvent, type UserSnapshot,
} from "../../../src/domain/classify.ts";

const NOW = new Date("2026-03-02T09:00:00Z");
const at = (days: number) => new Date(NOW.getTime() + days * 86_400_000);

const base: UserSnapshot = {
  id: "u1", active: true, userType: "Employee", title: "Analyst", department: "Finance", costCenter: "4100",
  division: null, organization: null, managerId: "m1", sponsorId: null, location: "London",
  employmentStatus: "active", startDate: at(-100), endDate: null,
};
const snap = (patch: Partial<UserSnapshot> = {}): UserSnapshot => ({ ...base, ...patch });
const kinds = (events: LifecycleEvent[]) => events.map((e) => e.kind);
const classify = (before: UserSnapshot | null, after: UserSnapshot | null) => classifyChange(before, after, NOW);

describe("lifecycle/classify", () => {
  describe("userStatus", () => {
    it("when employmentStatus is terminated, then the user is a leaver even before the start date", () => {
      expect(userStatus(snap({ employmentStatus: "terminated", startDate: at(10) }), NOW)).to.equal("leaver");
    });
    it("when a started user is terminated with an endDate ahead, then it stays until endDate and is a leaver from then (termination lookahead)", () => {
      const t = snap({ employmentStatus: "terminated", endDate: at(45) });
      expect(userStatus(t, NOW)).to.equal("active");
      expect(effectiveDates(t, NOW)).to.deep.equal({ startAt: null, endAt: at(45) });
      expect(classifyChange(t, t, at(45), new Date(at(45).getTime() - 1))).to.deep.include({ kind: "leaver", reason: "terminated" });
      expect(userStatus(snap({ employmentStatus: "terminated", endDate: at(45), active: false }), NOW), "an explicit active=false still wins").to.equal("leaver");
      expect(userStatus(snap({ employmentStatus: "terminated", endDate: at(-1) }), NOW)).to.equal("leaver");
    });
    it("when the end date is reached, then the user is a leaver (endDate is the instant access ends)", () => {
      expect(userStatus(snap({ endDate: NOW }), NOW)).to.equal("leaver");
      expect(userStatus(snap({ endDate: at(1) }), NOW)).to.equal("active");
    });
    it("when on leave and deactivated by HR, then the status is leave, not leaver", () => {
      expect(userStatus(snap({ employmentStatus: "leave", active: false }), NOW)).to.equal("leave");
    });
    it("when a pre-hire is created inactive with a future start, then the status is prehire", () => {
      expect(userStatus(snap({ employmentStatus: "pre-hire", active: false, startDate: at(7) }), NOW)).to.equal("prehire");
    });
    it("when a pre-hire's start date has passed but HR has not flipped the status, then the user is active", () => {
      expect(userStatus(snap({ employmentStatus: "pre-hire", startDate: at(-1) }), NOW)).to.equal("active");
    });
    it("when active is false with no other signal, then the user is a leaver", () => {
      expect(userStatus(snap({ active: false }), NOW)).to.equal("leaver");
    });
  });

  describe("joiner and pre-hire", () => {
    it("when an active user is created, then it is a joiner", () => {
      expect(kinds(classify(null, snap()))).to.deep.equal(["joiner"]);
    });
    it("when a user is created with a future start date, then it is a prehire carrying the start instant", () => {
      expect(classify(null, snap({ employmentStatus: "pre-hire", startDate: at(7) }))).to.deep.equal([
        { kind: "prehire", startAt: at(7), rehire: false },
      ]);
    });
    it("when the scheduled start fires for the unchanged row, then it is a joiner (beforeAt just before the start)", () => {
      const row = snap({ employmentStatus: "pre-hire", startDate: at(7) });
      const start = at(7);
      expect(kinds(classifyChange(row, row, start, new Date(start.getTime() - 1)))).to.deep.equal(["joiner"]);
      expect(classifyChange(row, row, start)).to.deep.equal([]);
    });
    it("when a pre-hire's start date is moved, then a new prehire event reschedules it", () => {
      const before = snap({ employmentStatus: "pre-hire", startDate: at(7) });
      expect(kinds(classify(before, { ...before, startDate: at(14) }))).to.deep.equal(["prehire"]);
      expect(classify(before, { ...before, title: "Senior" })).to.deep.equal([]);
    });
  });

  describe("mover and conversion", () => {
    it("when department and manager change, then it is a mover naming both", () => {
      const events = classify(snap(), snap({ department: "Sales", managerId: "m2" }));
      expect(events[0]).to.deep.equal({ kind: "mover", changed: ["department", "managerId"] });
    });
    it("when a mover happens, then service accounts the user owns are flagged for review", () => {
      const events = classify(snap(), snap({ title: "Lead" }));
      expect(events).to.deep.include({ kind: "review", flag: { kind: "owned-service-accounts", because: "owner-moved" } });
    });
    it("when only non-mover attributes change, then there is no event", () => {
      expect(classify(snap(), snap({ division: "EMEA", organization: "Acme" }))).to.deep.equal([]);
    });
    it("when a contractor becomes an employee, then it is a conversion and userType is not also a mover", () => {
      const events = classify(snap({ userType: "Contractor", endDate: at(30) }), snap({ userType: "Employee" }));
      expect(events).to.deep.equal([{ kind: "conversion", from: "Contractor", to: "Employee" }]);
    });
    it("when an employee becomes a contractor and changes department, then conversion and mover are both reported", () => {
      const events = classify(snap(), snap({ userType: "contractor", department: "Ops", endDate: at(90) }));
      expect(kinds(events)).to.deep.equal(["conversion", "mover", "review"]);
      expect(events[1]).to.deep.equal({ kind: "mover", changed: ["department"] });
    });
    it("when userType changes between other types, then it is a mover on userType", () => {
      expect(classify(snap(), snap({ userType: "Intern" }))[0]).to.deep.equal({ kind: "mover", changed: ["userType"] });
    });
  });

  describe("leaver", () => {
    it("when termination and a department change arrive in one request, then it is a leaver only", () => {
      const events = classify(snap(), snap({ employmentStatus: "terminated", department: "Sales", active: false }));
      expect(events[0]).to.deep.equal({ kind: "leaver", reason: "terminated" });
      expect(kinds(events)).to.not.include("mover");
    });
    it("when a user is deactivated, deleted, or reaches the end date, then the reason says which", () => {
      expect(classify(snap(), snap({ active: false }))[0]).to.deep.equal({ kind: "leaver", reason: "deactivated" });
      expect(classify(snap(), null)[0]).to.deep.equal({ kind: "leaver", reason: "deleted" });
      const row = snap({ endDate: at(5) });
      expect(classifyChange(row, row, at(5), new Date(at(5).getTime() - 1))[0]).to.deep.equal({ kind: "leaver", reason: "end-date" });
    });
    it("when an already deactivated user is deleted or changed again, then nothing new happens", () => {
      const gone = snap({ active: false });
      expect(classify(gone, null)).to.deep.equal([]);
      expect(classify(gone, { ...gone, department: "Sales" })).to.deep.equal([]);
    });
    it("when a leaver is a person, then service accounts it owns are flagged", () => {
      expect(classify(snap(), snap({ active: false }))).to.deep.include({ kind: "review", flag: { kind: "owned-service-accounts", because: "owner-left" } });
    });
  });

  describe("leave, return, rehire", () => {
    it("when a user goes on leave, then it is a leave event (not a leaver) even if HR deactivates", () => {
      expect(kinds(classify(snap(), snap({ employmentStatus: "leave", active: false })))).to.deep.equal(["leave"]);
    });
    it("when a user comes back from leave with a new department, then return and mover are both reported", () => {
      const events = classify(snap({ employmentStatus: "leave", active: false }), snap({ department: "Ops" }));
      expect(kinds(events)).to.deep.equal(["return", "mover", "review"]);
    });
    it("when a leaver becomes active again, then it is a rehire, not a joiner or a mover", () => {
      expect(kinds(classify(snap({ employmentStatus: "terminated", active: false }), snap({ department: "Ops" })))).to.deep.equal(["rehire"]);
    });
    it("when a leaver is re-hired with a future start, then it is a prehire flagged as rehire", () => {
      const events = classify(snap({ active: false }), snap({ employmentStatus: "pre-hire", startDate: at(10) }));
      expect(events[0]).to.deep.equal({ kind: "prehire", startAt: at(10), rehire: true });
    });
  });

  describe("review flags", () => {
    it("when a contractor without end date is created, then a review is raised once, not on later changes", () => {
      const c = snap({ userType: "Contractor", endDate: null });
      expect(classify(null, c)).to.deep.include({ kind: "review", flag: { kind: "contractor-without-end-date" } });
      expect(classify(c, { ...c, title: "Lead" }).filter((e) => e.kind === "review" && e.flag.kind === "contractor-without-end-date")).to.deep.equal([]);
    });
    it("when a contractor's end date is removed, then the review is raised", () => {
      const c = snap({ userType: "Contractor", endDate: at(30) });
      expect(classify(c, { ...c, endDate: null })).to.deep.include({ kind: "review", flag: { kind: "contractor-without-end-date" } });
    });
    it("when a service account has neither sponsor nor manager, then a review is raised", () => {
      const svc = snap({ userType: "Service", managerId: null, sponsorId: null });
      expect(classify(null, svc)).to.deep.include({ kind: "review", flag: { kind: "service-account-without-owner" } });
      expect(classify(null, { ...svc, sponsorId: "u9" }).some((e) => e.kind === "review")).to.equal(false);
    });
  });

  describe("effectiveDates", () => {
    it("when start and end are in the future, then both are scheduled", () => {
      expect(effectiveDates(snap({ startDate: at(3), endDate: at(90) }), NOW)).to.deep.equal({ startAt: at(3), endAt: at(90) });
    });
    it("when the dates are past, or the user is a leaver, then nothing is scheduled", () => {
      expect(effectiveDates(snap({ startDate: at(-3), endDate: null }), NOW)).to.deep.equal({ startAt: null, endAt: null });
      expect(effectiveDates(snap({ employmentStatus: "terminated", startDate: at(3), endDate: at(9) }), NOW)).to.deep.equal({ startAt: null, endAt: null });
    });
    it("when the end precedes the start, then only the start is scheduled", () => {
      expect(effectiveDates(snap({ startDate: at(9), endDate: at(3) }), NOW)).to.deep.equal({ startAt: at(9), endAt: null });
    });
  });

  describe("properties", () => {
    const text = fc.option(fc.constantFrom("Finance", "Sales", "Ops"), { nil: null });
    const date = fc.option(fc.integer({ min: -30, max: 30 }).map(at), { nil: null });
    const snapshot = fc.record({
      id: fc.constant("u1"), active: fc.boolean(), userType: fc.option(fc.constantFrom("Employee", "Contractor", "Service", "Intern"), { nil: null }),
      title: text, department: text, costCenter: text, division: text, organization: text, managerId: fc.option(fc.constantFrom("m1", "m2"), { nil: null }),
      sponsorId: fc.option(fc.constantFrom("s1"), { nil: null }), location: text,
      employmentStatus: fc.option(fc.constantFrom("pre-hire", "active", "leave", "terminated"), { nil: null }), startDate: date, endDate: date,
    });

    it("when a change makes a leaver, then no mover, conversion or joiner is reported with it", () => {
      fc.assert(fc.property(snapshot, snapshot, (a, b) => {
        const events = classify(a, b);
        if (events.some((e) => e.kind === "leaver")) expect(kinds(events).filter((k) => k !== "review")).to.deep.equal(["leaver"]);
      }));
    });

    it("when a snapshot is compared with itself at the same instant, then there is no lifecycle event", () => {
      fc.assert(fc.property(snapshot, (a) => {
        expect(classify(a, { ...a })).to.deep.equal([]);
      }));
    });
  });
});
