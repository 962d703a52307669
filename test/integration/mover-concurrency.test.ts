// Movers in opposite directions at once: each HR write bumps the versions of the groups it changes; those
// rows are locked in one order (by id) by every transaction, so crossing movers never deadlock (found by the
// soak benchmark: "deadlock detected" → 500 on PATCH).
import { expect } from "chai";
import { startLifecycleBroker, replace, ENT, type LifecycleBroker } from "./lifecycle-harness.ts";

const POLICY = `
groups:
  - name: finance
    when: department eq "Finance" and active eq true
  - name: sales
    when: department eq "Sales" and active eq true
  - name: engineering
    when: department eq "Engineering" and active eq true
`;
const DEPTS = ["Finance", "Sales", "Engineering"];

describe("lifecycle: crossing movers", function () {
  this.timeout(120_000);
  let b: LifecycleBroker;
  before(async () => { b = await startLifecycleBroker(POLICY, { env: { BROKER_DB_POOL_SIZE: "24" } }); });
  after(async () => { await b.stop(); });

  it("when movers between the same groups in opposite directions arrive at once, then every PATCH succeeds and everyone ends in the new group", async () => {
    const users = await Promise.all(Array.from({ length: 30 }, (_, i) => b.create({ department: DEPTS[i % 3] })));
    for (let round = 1; round <= 3; round++) {
      const results = await Promise.all(users.map((u, i) => b.scim.patch(`/Users/${u.id}`, [replace(`${ENT}:department`, DEPTS[(i + round) % 3])])));
      const failed = results.filter((r) => r.status !== 200).map((r) => `${r.status} ${JSON.stringify(r.body)}`);
      expect(failed, failed[0]).to.deep.equal([]);
    }
    for (const [i, u] of users.entries()) expect(await b.groupsOf(u.id)).to.deep.equal([DEPTS[i % 3]!.toLowerCase()]);
  });
});
