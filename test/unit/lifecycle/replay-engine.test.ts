import { expect } from "chai";
import fc from "fast-check";
import { loadPolicy } from "../../../src/rules/policy-loader.ts";
import { PolicyReplay, type RecordedSnapshot, type ReplayRecord } from "../../../src/lifecycle/replay-engine.ts";

const T0 = new Date("2026-01-05T09:00:00Z");
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);

const OLD = loadPolicy(`
groups:
  - name: finance
    when: department eq "Finance" and active eq true
`);
const NEW = loadPolicy(`
groups:
  - name: finance
    when: department eq "Finance" and active eq true
  - name: sales
    when: department eq "Sales" and active eq true
  - name: treasury
    when: department eq "Finance" and title sw "Treasur"
    privileged: true
dataQuality:
  departments: [Finance, Sales]
  flapping: { within: 1h }
`);

const person = (id: string, p: Partial<RecordedSnapshot> = {}): RecordedSnapshot => ({
  id, userName: `${id}@example.com`, active: true, userType: "Employee", title: "Analyst", department: "Finance", costCenter: null,
  division: null, organization: null, managerId: null, sponsorId: null, location: null, employmentStatus: "active",
  startDate: "2025-01-01T00:00:00.000Z", endDate: null, ...p,
});
const change = (minutes: number, before: RecordedSnapshot | null, after: RecordedSnapshot | null): ReplayRecord =>
  ({ userId: (after ?? before)!.id, at: at(minutes), before, after, source: "workday" });

describe("lifecycle/replay-engine (pure)", () => {
  it("when the proposed policy grants a group the recorded one did not, then the user's difference says gained", () => {
    const r = new PolicyReplay(NEW, () => OLD);
    r.apply(change(0, person("u1"), person("u1", { department: "Sales" })));
    const out = r.result();
    expect(out.differences).to.deep.equal([{ userId: "u1", userName: "u1@example.com", gained: ["sales"], lost: [], held: [], reviews: [] }]);
    expect(out.summary).to.deep.equal({ users: 1, usersReplayed: 1, changes: 1, gained: 1, lost: 0, held: 0, reviews: 0 });
  });

  it("when a policy is replayed against itself, then nothing differs", () => {
    const r = new PolicyReplay(NEW, () => NEW);
    r.apply(change(0, null, person("u1")));
    r.apply(change(5, person("u1"), person("u1", { department: "Sales" })));
    r.apply(change(9, person("u1", { department: "Sales" }), person("u1", { department: "Sales", active: false })));
    expect(r.result().differences).to.deep.equal([]);
    expect(r.result().summary.changes).to.equal(3);
  });

  it("when any history is replayed under the policy that was active, then nothing differs (the engine is deterministic)", () => {
    const step = fc.record({
      user: fc.constantFrom("a", "b", "c"), department: fc.constantFrom("Finance", "Sales", "Fiance", null),
      active: fc.boolean(), title: fc.constantFrom("Analyst", "Treasurer"), status: fc.constantFrom("active", "terminated", "leave", null),
    });
    fc.assert(fc.property(fc.array(step, { maxLength: 30 }), (steps) => {
      const r = new PolicyReplay(NEW, () => NEW);
      const last = new Map<string, RecordedSnapshot>();
      steps.forEach((x, i) => {
        const after = person(x.user, { department: x.department, active: x.active, title: x.title, employmentStatus: x.status });
        r.apply(change(i * 7, last.get(x.user) ?? null, after));
        last.set(x.user, after);
      });
      expect(r.result().differences).to.deep.equal([]);
    }), { numRuns: 200 });
  });

  it("when the recorded policy changed during the window, then each record is judged under the version active at its time", () => {
    const timeline = (t: Date) => (t.getTime() < at(10).getTime() ? OLD : NEW);
    const r = new PolicyReplay(NEW, timeline);
    r.apply(change(0, person("early"), person("early", { department: "Sales" })));
    r.apply(change(20, person("late"), person("late", { department: "Sales" })));
    expect(r.result().differences.map((d) => [d.userId, d.gained])).to.deep.equal([["early", ["sales"]]]);
  });

  it("when the proposed shield would have held a flapping re-activation, then the user shows held, a review, and the access it would not have had", () => {
    const r = new PolicyReplay(NEW, () => OLD);
    const u = person("u2");
    r.apply(change(0, u, { ...u, active: false }));
    r.apply(change(15, { ...u, active: false }, { ...u, active: true, startDate: at(15).toISOString() }));
    const [d] = r.result().differences;
    expect(d).to.deep.include({ userId: "u2", gained: [], lost: ["finance"], held: ["flapping"], reviews: ["data-quality"] });
  });

  it("when the proposed policy makes a grant privileged, then it is a review and not a membership", () => {
    const r = new PolicyReplay(NEW, () => OLD);
    r.apply(change(0, null, person("u3", { title: "Treasurer" })));
    expect(r.result().differences[0]).to.deep.include({ gained: [], reviews: ["privileged-grant:treasury"] });
  });

  it("when an exception was in force for part of the window, then only records inside its lifetime see it", () => {
    // a grant of "sales" (declared only by the proposed policy) open from minute 10 to 20, for u4 and u5
    const exc = ["u4", "u5"].map((u) => ({ id: `e-${u}`, userId: u, group: "sales", kind: "grant" as const, expiresAt: null, createdAt: at(10), closedAt: at(20) }));
    const r = new PolicyReplay(NEW, () => OLD, exc);
    r.apply(change(15, person("u4"), person("u4", { title: "Lead" })));
    r.apply(change(0, person("u5"), person("u5", { title: "Lead" })));
    r.apply(change(25, person("u5", { title: "Lead" }), person("u5", { title: "Head" })));
    expect(r.result().differences.map((d) => [d.userId, d.gained])).to.deep.equal([["u4", ["sales"]]]);
  });

  it("when more users differ than the limit, then the list is cut and the summary still counts them all", () => {
    const r = new PolicyReplay(NEW, () => OLD);
    for (let i = 0; i < 5; i++) r.apply(change(i, person(`u${i}`), person(`u${i}`, { department: "Sales" })));
    const out = r.result(2);
    expect(out.differences.map((d) => d.userId)).to.deep.equal(["u0", "u1"]);
    expect(out).to.deep.include({ truncated: true });
    expect(out.summary.users).to.equal(5);
  });
});
