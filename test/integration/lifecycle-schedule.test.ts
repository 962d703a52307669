// Scheduled dates with an injectable clock (no sleeps): a pre-hire becomes a joiner at its start date, a
// contract ends at its end date, a moved start date reschedules, and the schedule lives in rows — a second
// broker on the same database fires what the first one recorded.
import { expect } from "chai";
import { startLifecycleBroker, replace, HR, DAY, T0, type LifecycleBroker } from "./lifecycle-harness.ts";
import { createBroker } from "../../src/broker.ts";
import { loadConfig } from "../../src/config/config.ts";
import { createLogger } from "../../src/shared/logger.ts";
import { ManualClock } from "../../src/domain/clock.ts";

const POLICY = `
groups:
  - name: finance
    when: department eq "Finance" and active eq true
guards:
  massDeprovision: { maxUsers: 1000, maxPercent: 100, window: 1h }
`;
const at = (days: number) => new Date(T0.getTime() + days * DAY).toISOString();

describe("lifecycle: scheduled start and end dates", () => {
  let b: LifecycleBroker;
  before(async () => { b = await startLifecycleBroker(POLICY); });
  after(async () => { await b.stop(); });
  const kinds = async (id: string) => (await b.admin.get("/events", { user: id })).body.items.map((e: any) => `${e.kind}:${e.cause}`).reverse();

  it("when a pre-hire is created inactive with a future start date, then it has nothing until the sweep passes the start date", async () => {
    const u = await b.create({ department: "Finance", employmentStatus: "pre-hire", active: false, startDate: at(3) });
    expect(await b.groupsOf(u.id)).to.deep.equal([]);
    b.clock.set(new Date(T0.getTime() + 3 * DAY - 60_000));
    expect((await b.t.broker.lifecycle.sweep()).transitions).to.equal(0);
    b.clock.set(new Date(T0.getTime() + 3 * DAY + 30_000)); // the cron runs every minute
    expect((await b.t.broker.lifecycle.sweep()).transitions).to.equal(1);
    expect(await b.groupsOf(u.id)).to.deep.equal(["finance"]);
    expect((await b.scim.get(`/Users/${u.id}`)).body.active).to.equal(true);
    expect(await kinds(u.id)).to.deep.equal(["prehire:hr", "joiner:schedule"]);
    expect((await b.t.broker.lifecycle.sweep()).transitions).to.equal(0); // done once
  });

  it("when a contract's end date passes, then the sweep makes the contractor a leaver", async () => {
    const now = b.clock.now().getTime();
    const u = await b.create({ department: "Finance", userType: "Contractor", endDate: new Date(now + 10 * DAY).toISOString() });
    expect(await b.groupsOf(u.id)).to.deep.equal(["finance"]);
    b.clock.set(new Date(now + 10 * DAY + 1000));
    await b.t.broker.lifecycle.sweep();
    expect(await b.groupsOf(u.id)).to.deep.equal([]);
    expect((await b.scim.get(`/Users/${u.id}`)).body.active).to.equal(false);
    const evs = (await b.admin.get("/events", { user: u.id })).body.items;
    expect(evs[0]).to.deep.include({ kind: "leaver", cause: "schedule", details: { reason: "end-date" } });
  });

  it("when HR moves a start date, then the transition fires at the new date only", async () => {
    const now = b.clock.now().getTime();
    const u = await b.create({ department: "Finance", employmentStatus: "pre-hire", startDate: new Date(now + 2 * DAY).toISOString() });
    await b.patch(u.id, [replace(`${HR}:startDate`, new Date(now + 5 * DAY).toISOString())]);
    b.clock.set(new Date(now + 3 * DAY));
    await b.t.broker.lifecycle.sweep();
    expect(await b.groupsOf(u.id)).to.deep.equal([]);
    b.clock.set(new Date(now + 5 * DAY + 1));
    await b.t.broker.lifecycle.sweep();
    expect(await b.groupsOf(u.id)).to.deep.equal(["finance"]);
  });

  it("when another broker process opens the same database, then it fires the dates the first one scheduled", async () => {
    const now = b.clock.now().getTime();
    const u = await b.create({ department: "Finance", employmentStatus: "pre-hire", startDate: new Date(now + DAY).toISOString() });
    const clock = new ManualClock(new Date(now + DAY + 1000));
    const config = loadConfig({ PORT: "0", BROKER_WORKERS: "false", BROKER_DB_POOL_SIZE: "2", BROKER_CONFIG: b.file });
    const other = await createBroker(config, { databaseUrl: b.t.databaseUrl, clock, log: createLogger({ level: "silent" }) });
    try {
      expect((await other.lifecycle.sweep()).transitions).to.equal(1);
    } finally { await other.stop(); }
    expect(await b.groupsOf(u.id)).to.deep.equal(["finance"]);
  });

  it("when the broker is composed, then the sweep is a registered task on a one-minute cron", async () => {
    expect(b.t.broker.crontab).to.include("* * * * * lifecycle_sweep");
    expect(b.t.broker.tasks).to.have.property("lifecycle_sweep");
  });
});
