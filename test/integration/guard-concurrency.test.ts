// The mass-deprovision guard under concurrency, through HTTP: single PATCHes of one HR source arriving at
// once are counted one after the other, whatever order their clocks were read in.
import { expect } from "chai";
import { startLifecycleBroker, replace, type LifecycleBroker, T0 } from "./lifecycle-harness.ts";
import { scimClient } from "../helpers/scim.ts";
import { ManualClock } from "../../src/domain/clock.ts";

/** A manual clock that moves 1 ms at every reading: each request gets its own instant, as in production. */
class TickingClock extends ManualClock {
  override now(): Date { const d = super.now(); this.advance(1); return d; }
}

const POLICY = `
groups:
  - name: finance
    when: department eq "Finance" and active eq true
guards:
  massDeprovision: { maxUsers: 5, maxPercent: 100, window: 1h }
`;

describe("guard: concurrent leavers of one source", function () {
  this.timeout(120_000);
  let b: LifecycleBroker;
  before(async () => { b = await startLifecycleBroker(POLICY, { clock: new TickingClock(T0), env: { BROKER_DB_POOL_SIZE: "20" } }); });
  after(async () => { await b.stop(); });

  it("when 40 single PATCHes active=false of one source arrive at once, then exactly maxUsers (5) are applied and 35 are held", async () => {
    const { token } = await b.t.broker.tokens.create({ name: "workday", scopes: ["scim:write", "scim:read"], source: "workday" });
    const hr = scimClient(b.t.base, token);
    const users = await Promise.all(Array.from({ length: 40 }, () => b.create({ department: "Finance" }, hr)));
    const results = await Promise.all(users.map((u) => hr.patch(`/Users/${u.id}`, [replace("active", false)])));
    expect(results.map((r) => r.status)).to.deep.equal(Array(40).fill(200));
    const { rows } = await b.db.query(
      `SELECT count(*) FILTER (WHERE NOT held)::int AS applied, count(*) FILTER (WHERE held)::int AS held FROM lifecycle_event WHERE kind = 'leaver' AND source = 'workday'`);
    expect(rows[0]).to.deep.equal({ applied: 5, held: 35 });
    const groups = await Promise.all(users.map((u) => b.groupsOf(u.id)));
    expect(groups.filter((g) => g.length === 0), "users that lost their groups").to.have.length(5);
    const [hold] = (await b.admin.get("/reviews", { kind: "mass-deprovision", status: "pending" })).body.items;
    expect(hold.held).to.have.length(35);
  });
});
