// The data-quality shield through HTTP on real PostgreSQL, time driven by the manual clock: every signal is a
// `data-quality` lifecycle event with its evidence, counted in broker_data_quality_signals_total, and — with
// action: hold — ONE data-quality review per user (GET /admin/v1/reviews?kind=data-quality&user=…, CLI
// `review list`). The asymmetry: a leaver is never held; giving access (grants, re-activation) is, and for
// a mover with an unknown value the removals too.
import { expect } from "chai";
import { Command } from "commander";
import request from "supertest";
import { startLifecycleBroker, personBody, replace, ENT, HR, HOUR, DAY, type LifecycleBroker, type Person } from "./lifecycle-harness.ts";
import { scimClient } from "../helpers/scim.ts";
import { registerLifecycleCommands } from "../../src/admin/cli-lifecycle.ts";

const POLICY = `
groups:
  - name: finance
    when: department eq "Finance" and active eq true
    owner: controller@example.com
  - name: engineering
    when: department eq "Engineering" and active eq true
    owner: cto@example.com
  - name: london
    when: location eq "London"
sources:
  - name: workday
    owner: hr-ops@example.com
dataQuality:
  departments: [Finance, Engineering, Legal, Sales]
  locations: [London, Paris]
  flapping: { within: 1h }
  action: hold
guards:
  massDeprovision: { maxUsers: 1000, maxPercent: 100, window: 1h }
`;

describe("lifecycle: the data-quality shield", () => {
  let b: LifecycleBroker;
  let workday: ReturnType<typeof scimClient>;
  before(async () => {
    b = await startLifecycleBroker(POLICY);
    workday = scimClient(b.t.base, (await b.t.broker.tokens.create({ name: "workday", scopes: ["scim:write", "scim:read"], source: "workday" })).token);
  });
  after(async () => { await b.stop(); });

  const hire = (p: Person = {}) => b.create({ department: "Finance", location: "London", employmentStatus: "active", startDate: "2025-01-06T09:00:00Z", ...p }, workday);
  const patch = async (id: string, ops: Array<{ op: string; path?: string; value?: unknown }>) => {
    const res = await workday.patch(`/Users/${id}`, ops);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    return res.body;
  };
  const reviews = async (id: string, status = "pending") => (await b.admin.get("/reviews", { kind: "data-quality", user: id, status })).body.items;
  const signals = async (id: string) => (await b.admin.get("/events", { user: id })).body.items.filter((e: any) => e.kind === "data-quality");
  const active = async (id: string) => (await b.scim.get(`/Users/${id}`)).body.active;

  describe("unknown or blank value on a mover", () => {
    it("when a mover's department is not a known value, then its memberships stay as they were and ONE review goes to the owners concerned", async () => {
      const u = await hire();
      expect(await b.groupsOf(u.id)).to.deep.equal(["finance", "london"]);
      await patch(u.id, [replace(`${ENT}:department`, "Fiance")]);
      expect(await b.groupsOf(u.id)).to.deep.equal(["finance", "london"]); // neither removed nor granted
      expect((await b.scim.get(`/Users/${u.id}`)).body[ENT].department).to.equal("Fiance"); // HR's data, stored as sent
      const [ev] = await signals(u.id);
      expect(ev).to.include({ held: true });
      expect(ev.details).to.include({ signal: "unknown-value", attribute: "department", value: "Fiance", holds: "memberships" });
      const [r] = await reviews(u.id);
      expect(r).to.include({ kind: "data-quality", owner: "controller@example.com", source: "workday" });
      // a second bad change joins the same review; the memberships still wait
      await patch(u.id, [replace(`${ENT}:department`, ""), replace("title", "Clerk")]);
      expect(await reviews(u.id)).to.have.length(1);
      expect((await reviews(u.id))[0].payload.signals[0].evidence).to.include({ attribute: "department", blank: true });
      expect(await b.groupsOf(u.id)).to.deep.equal(["finance", "london"]);
    });

    it("when HR then sends a known value, then the hold ends, the review is cancelled and the mover is applied", async () => {
      const u = await hire();
      await patch(u.id, [replace(`${ENT}:department`, "Fiance")]);
      const [r] = await reviews(u.id);
      await patch(u.id, [replace(`${ENT}:department`, "Engineering")]);
      expect(await b.groupsOf(u.id)).to.deep.equal(["engineering", "london"]);
      const closed = (await b.admin.get(`/reviews/${r.id}`)).body;
      expect(closed).to.include({ status: "cancelled", reason: "HR sent data that raises no signal" });
    });

    it("when a policy apply changes a held user's groups, then the held memberships do not move", async () => {
      const u = await hire();
      await patch(u.id, [replace(`${ENT}:department`, "Fiance")]);
      const res = await b.admin.yaml("/policy/apply", POLICY.replace('when: department eq "Finance" and active eq true', 'when: department eq "Finance" and active eq true and title ne "Nobody"'));
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(await b.groupsOf(u.id)).to.deep.equal(["finance", "london"]);
    });

    it("when the review is approved, then the change applies as HR sent it; when denied, the current state stays with the reason", async () => {
      const yes = await hire();
      await patch(yes.id, [replace(`${ENT}:department`, "Fiance")]);
      const approved = await b.admin.post(`/reviews/${(await reviews(yes.id))[0].id}/approve`, { reason: "new cost centre, HR confirmed" });
      expect(approved.status, JSON.stringify(approved.body)).to.equal(200);
      expect(approved.body.payload.effect).to.include({ applied: true });
      expect(await b.groupsOf(yes.id)).to.deep.equal(["london"]);

      const no = await hire();
      await patch(no.id, [replace(`${ENT}:department`, "Fiance")]);
      const denied = await b.admin.post(`/reviews/${(await reviews(no.id))[0].id}/deny`, { reason: "typo, ticket HR-77" });
      expect(denied.body).to.include({ status: "denied", reason: "typo, ticket HR-77" });
      expect(await b.groupsOf(no.id)).to.deep.equal(["finance", "london"]);
      await patch(no.id, [replace(`${ENT}:department`, "Finance")]);
      expect(await b.groupsOf(no.id)).to.deep.equal(["finance", "london"]);
      expect(await reviews(no.id)).to.have.length(0);
    });

    it("when a held user leaves, then the leaver is applied at once (a leaver is never held)", async () => {
      const u = await hire();
      await patch(u.id, [replace(`${ENT}:department`, "Fiance")]);
      await patch(u.id, [replace(`${HR}:employmentStatus`, "terminated")]);
      expect(await b.groupsOf(u.id)).to.deep.equal([]);
      expect(await active(u.id)).to.equal(false);
      expect((await reviews(u.id, "cancelled"))[0].reason).to.equal("the user left");
    });
  });

  describe("re-activation of a leaver", () => {
    it("when a leaver is re-activated within flapping.within, then the account stays disabled and without access until approved", async () => {
      const u = await hire();
      await patch(u.id, [replace("active", false)]);
      expect(await b.groupsOf(u.id)).to.deep.equal([]);
      b.clock.advance(20 * 60_000);
      await patch(u.id, [replace("active", true), replace(`${HR}:startDate`, b.clock.now().toISOString())]);
      expect(await active(u.id)).to.equal(false);
      expect(await b.groupsOf(u.id)).to.deep.equal([]);
      const evs = (await b.admin.get("/events", { user: u.id })).body.items;
      expect(evs.find((e: any) => e.kind === "rehire")).to.include({ held: true });
      const flap = evs.find((e: any) => e.kind === "data-quality");
      expect(flap.details).to.include({ signal: "flapping", holds: "reactivation", reactivatedAfterMs: 20 * 60_000 });
      const [r] = await reviews(u.id);
      expect(r.owner).to.equal("controller@example.com"); // the groups HR's data would grant
      // HR writes again while it waits: still held
      await patch(u.id, [replace("title", "Back again")]);
      expect(await active(u.id)).to.equal(false);
      const ok = await b.admin.post(`/reviews/${r.id}/approve`, { reason: "confirmed with the manager" });
      expect(ok.body.payload.effect).to.include({ applied: true, enabled: true });
      expect(await active(u.id)).to.equal(true);
      expect(await b.groupsOf(u.id)).to.deep.equal(["finance", "london"]);
    });

    it("when a leaver is made active again without a new startDate, then the re-activation waits; denial keeps the leaver, a real rehire later goes through", async () => {
      const u = await hire();
      await patch(u.id, [replace(`${HR}:employmentStatus`, "terminated")]);
      b.clock.advance(3 * HOUR);
      await patch(u.id, [replace(`${HR}:employmentStatus`, "active")]);
      expect(await active(u.id)).to.equal(false);
      expect(await b.groupsOf(u.id)).to.deep.equal([]);
      const [ev] = await signals(u.id);
      expect(ev.details).to.include({ signal: "reactivation-without-rehire" });
      const [r] = await reviews(u.id);
      const denied = await b.admin.post(`/reviews/${r.id}/deny`, { reason: "stale record from the old HR system" });
      expect(denied.body.status).to.equal("denied");
      expect(await active(u.id)).to.equal(false);
      b.clock.advance(DAY);
      await patch(u.id, [replace("active", true), replace(`${HR}:startDate`, b.clock.now().toISOString())]);
      expect(await active(u.id)).to.equal(true);
      expect(await b.groupsOf(u.id)).to.deep.equal(["finance", "london"]);
      expect(await reviews(u.id)).to.have.length(0);
    });
  });

  describe("flags that hold nothing", () => {
    it("when a terminated user is sent active=true, then it stays a leaver (fail closed) and the record is flagged", async () => {
      const u = await hire();
      await patch(u.id, [replace(`${HR}:employmentStatus`, "terminated")]);
      expect(await signals(u.id), "a plain termination is not inconsistent").to.have.length(0);
      await patch(u.id, [replace("active", true)]);
      expect(await b.groupsOf(u.id)).to.deep.equal([]);
      expect(await active(u.id)).to.equal(false);
      const [ev] = await signals(u.id);
      expect(ev).to.include({ held: false });
      expect(ev.details).to.include({ signal: "inconsistent-record", kind: "terminated-but-active", treatedAs: "leaver" });
      const [r] = await reviews(u.id);
      expect(r.owner).to.equal("hr-ops@example.com"); // no group concerned: the HR source's owner
      const ack = await b.admin.post(`/reviews/${r.id}/approve`, { reason: "HR fixed the flag" });
      expect(ack.body.payload.effect.note).to.match(/nothing was held/);
      expect(await b.groupsOf(u.id)).to.deep.equal([]);
    });

    it("when HR sets employmentStatus active while the account is disabled (the reverse), then it stays a leaver and is flagged", async () => {
      const u = await hire({ employmentStatus: "leave" });
      await patch(u.id, [replace("active", false)]);
      await patch(u.id, [replace(`${HR}:employmentStatus`, "active"), replace("active", false)]);
      expect(await active(u.id)).to.equal(false);
      expect(await b.groupsOf(u.id)).to.deep.equal([]);
      expect((await signals(u.id))[0].details).to.include({ signal: "inconsistent-record", kind: "active-but-disabled" });
    });

    it("when a termination is dated ahead, then the leaver is scheduled for endDate, and flagged when more than 30 days ahead", async () => {
      const near = await hire();
      const far = await hire();
      const nearEnd = new Date(b.clock.now().getTime() + 10 * DAY);
      const farEnd = new Date(b.clock.now().getTime() + 45 * DAY);
      await patch(near.id, [replace(`${HR}:employmentStatus`, "terminated"), replace(`${HR}:endDate`, nearEnd.toISOString())]);
      await patch(far.id, [replace(`${HR}:employmentStatus`, "terminated"), replace(`${HR}:endDate`, farEnd.toISOString())]);
      for (const u of [near, far]) expect(await b.groupsOf(u.id)).to.deep.equal(["finance", "london"]);
      expect(await signals(near.id)).to.have.length(0);
      const [ev] = await signals(far.id);
      expect(ev.details).to.include({ signal: "future-termination", daysAhead: 45, scheduledFor: farEnd.toISOString() });
      const { rows } = await b.db.query(`SELECT next_at FROM lifecycle_state WHERE user_id = $1`, [far.id]);
      expect(rows[0].next_at.toISOString()).to.equal(farEnd.toISOString());
      b.clock.set(new Date(nearEnd.getTime() + 60_000));
      await b.t.broker.lifecycle.sweep();
      expect(await b.groupsOf(near.id)).to.deep.equal([]);
      expect(await b.groupsOf(far.id)).to.deep.equal(["finance", "london"]);
      b.clock.set(new Date(farEnd.getTime() + 60_000));
      await b.t.broker.lifecycle.sweep();
      expect(await b.groupsOf(far.id)).to.deep.equal([]);
      expect(await active(far.id)).to.equal(false);
    });
  });

  describe("identity clash", () => {
    it("when a second user of the source has the same employeeNumber, then it gets no grants until reviewed", async () => {
      const first = await hire();
      await patch(first.id, [replace(`${ENT}:employeeNumber`, "E-4711")]);
      const body = personBody({ department: "Finance", location: "London", employmentStatus: "active" });
      const res = await workday.post("/Users", { ...body, [ENT]: { ...body[ENT], employeeNumber: "E-4711" } });
      expect(res.status).to.equal(201);
      const second = res.body.id;
      expect(await b.groupsOf(second)).to.deep.equal([]);
      const [ev] = await signals(second);
      expect(ev.details).to.include({ signal: "identity-clash", attribute: "employeeNumber", value: "E-4711", source: "workday" });
      expect(ev.details.users).to.deep.equal([first.userName]);
      const [r] = await reviews(second);
      await b.admin.post(`/reviews/${r.id}/approve`, { reason: "two contracts, same person: accepted" });
      expect(await b.groupsOf(second)).to.deep.equal(["finance", "london"]);
    });

    it("when the manager reference names nobody or a leaver, then grants wait; a valid manager from HR releases them", async () => {
      const boss = await hire();
      const gone = await hire();
      await patch(gone.id, [replace("active", false)]);
      const u = await hire({ manager: "no-such-person" });
      expect(await b.groupsOf(u.id)).to.deep.equal([]);
      expect((await signals(u.id))[0].details).to.include({ attribute: "manager", value: "no-such-person", problem: "unknown" });
      await patch(u.id, [replace(`${ENT}:manager`, { value: gone.id })]);
      expect((await signals(u.id))[0].details).to.include({ attribute: "manager", problem: "left" });
      expect(await b.groupsOf(u.id)).to.deep.equal([]);
      expect(await reviews(u.id)).to.have.length(1);
      await patch(u.id, [replace(`${ENT}:manager`, { value: boss.id })]);
      expect(await b.groupsOf(u.id)).to.deep.equal(["finance", "london"]);
      expect(await reviews(u.id)).to.have.length(0);
    });
  });

  describe("a /Bulk of creates (stored together, judged one after another)", () => {
    it("when a Bulk creates two users with the same employeeNumber and a report whose manager comes later in it, then each is judged as one create after another would be", async () => {
      const tag = Date.now().toString(36);
      const person = (extra: Record<string, unknown>, ent: Record<string, unknown> = {}) => {
        const body = personBody({ department: "Finance", location: "London", employmentStatus: "active" });
        return { ...body, ...extra, [ENT]: { ...body[ENT], ...ent } };
      };
      const first = person({}, { employeeNumber: `E-${tag}` });
      const second = person({}, { employeeNumber: `E-${tag}` });
      const report = person({}, { manager: { value: `boss-${tag}` } });
      const boss = person({ externalId: `boss-${tag}` });
      const res = await workday.post("/Bulk", { schemas: ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], Operations:
        [first, second, report, boss].map((data, i) => ({ method: "POST", path: "/Users", bulkId: `u${i}`, data })) });
      expect(res.body.Operations.map((o: any) => o.status)).to.deep.equal(["201", "201", "201", "201"]);
      const [firstId, secondId, reportId, bossId] = res.body.Operations.map((o: any) => o.location.split("/").pop());
      // the first had no twin yet; the second clashes with the first only
      expect(await signals(firstId)).to.deep.equal([]);
      expect(await b.groupsOf(firstId)).to.deep.equal(["finance", "london"]);
      const [clash] = await signals(secondId);
      expect(clash.details).to.include({ signal: "identity-clash", attribute: "employeeNumber" });
      expect(clash.details.users).to.deep.equal([first.userName]);
      expect(await b.groupsOf(secondId)).to.deep.equal([]);
      // the report's manager was not stored yet when the report was judged
      expect((await signals(reportId))[0].details).to.include({ attribute: "manager", value: `boss-${tag}`, problem: "unknown" });
      expect(await b.groupsOf(reportId)).to.deep.equal([]);
      // every user has its joiner event, its state and its audit row, recorded at the end of the batch
      for (const id of [firstId, secondId, reportId, bossId]) {
        const events = (await b.admin.get("/events", { user: id })).body.items.map((e: any) => e.kind);
        expect(events, id).to.include("joiner");
        const state = (await b.db.query(`SELECT status FROM lifecycle_state WHERE user_id = $1`, [id])).rows[0];
        expect(state, id).to.deep.equal({ status: "active" });
        const audited = (await b.db.query(`SELECT count(*)::int AS n FROM audit_event WHERE user_id = $1 AND kind = 'lifecycle.event'`, [id])).rows[0].n;
        expect(audited, id).to.be.greaterThan(0);
      }
      expect(await b.groupsOf(bossId)).to.deep.equal(["finance", "london"]);
      // the memberships written with the batch's are audited per user and group, with their rule
      const added = (await b.db.query(`SELECT group_name, cause->>'rule' AS rule FROM audit_event WHERE user_id = $1 AND kind = 'membership.added' ORDER BY group_name`, [bossId])).rows;
      expect(added).to.deep.equal([{ group_name: "finance", rule: "finance" }, { group_name: "london", rule: "london" }]);
    });
  });

  describe("visibility", () => {
    it("when signals were raised, then broker_data_quality_signals_total counts each, every signal reported from zero", async () => {
      const text = (await b.t.broker.metrics.registry.getSingleMetricAsString("broker_data_quality_signals_total"));
      const count = (s: string) => Number(new RegExp(`signal="${s}"} (\\d+)`).exec(text)?.[1]);
      expect(count("unknown-value")).to.be.at.least(5);
      expect(count("flapping")).to.equal(1);
      expect(count("reactivation-without-rehire")).to.be.at.least(1);
      expect(count("inconsistent-record")).to.be.at.least(1);
      expect(count("future-termination")).to.equal(1);
      expect(count("identity-clash")).to.be.at.least(3);
      const scraped = await request(b.t.url).get("/metrics");
      expect(scraped.text).to.include('broker_data_quality_signals_total{signal="flapping"} 1');
    });

    it("when the CLI lists data-quality reviews of a user, then it prints them with their signals and holds", async () => {
      const u = await hire();
      await patch(u.id, [replace(`${HR}:location`, "Lodnon")]);
      const out: string[] = [];
      const program = registerLifecycleCommands(new Command().exitOverride(), (fn) => fn(b.t.broker.lifecycle), { out: (l) => out.push(l), err: (l) => out.push(l), setExitCode: () => {} });
      await program.parseAsync(["node", "scim-broker", "review", "list", "--kind", "data-quality", "--user", u.userName]);
      expect(out).to.have.length(1);
      expect(out[0]).to.include("data-quality").and.include("unknown-value(location=Lodnon)").and.include("holds: memberships");
    });
  });
});
