// Concurrency: HR writes racing a policy apply neither deadlock nor leave anyone converged to the old policy,
// and leavers of one source arriving at once are counted one after the other by the guard.
import { expect } from "chai";
import { startLifecycleBroker, replace, HR, ENT, type LifecycleBroker } from "./lifecycle-harness.ts";
import { scimClient } from "../helpers/scim.ts";

const policy = (finance: string, guard = "{ maxUsers: 1000, maxPercent: 100, window: 1h }") => `
groups:
  - name: finance
    when: ${finance}
guards:
  massDeprovision: ${guard}
`;
const DEPTS = ["Finance", "Treasury", "Sales"];

describe("lifecycle: concurrency", function () {
  this.timeout(60_000);

  describe("HR writes during a policy apply", () => {
    let b: LifecycleBroker;
    before(async () => { b = await startLifecycleBroker(policy('department eq "Finance"'), { env: { BROKER_DB_POOL_SIZE: "12" } }); });
    after(async () => { await b.stop(); });

    it("when departments change while a wider rule is applied, then every write succeeds and everyone ends where the new rule says", async () => {
      const users = await Promise.all(Array.from({ length: 45 }, (_, i) => b.create({ department: DEPTS[i % 3] })));
      const next = policy('department eq "Finance" or department eq "Treasury"');
      const writes = users.flatMap((u, i) => [1, 2].map((k) => async () => {
        const res = await b.scim.patch(`/Users/${u.id}`, [replace(`${ENT}:department`, DEPTS[(i + k) % 3])]);
        expect(res.status, JSON.stringify(res.body)).to.equal(200);
      }));
      const apply = b.admin.post("/policy/apply", { yaml: next }).then((r) => { expect(r.status, JSON.stringify(r.body)).to.equal(200); });
      // 8 writers in parallel with the apply
      let i = 0;
      await Promise.all([apply, ...Array.from({ length: 8 }, async () => { while (i < writes.length) await writes[i++]!(); })]);
      for (const u of users) {
        const dept = (await b.scim.get(`/Users/${u.id}`)).body[ENT].department;
        expect(await b.groupsOf(u.id), `${u.userName} in ${dept}`).to.deep.equal(dept === "Sales" ? [] : ["finance"]);
      }
    });
  });

  describe("leavers of one source at once", () => {
    let b: LifecycleBroker;
    before(async () => { b = await startLifecycleBroker(policy('department eq "Finance"', "{ maxUsers: 3, maxPercent: 100, window: 1h }"), { env: { BROKER_DB_POOL_SIZE: "12" } }); });
    after(async () => { await b.stop(); });

    it("when ten terminations of one source arrive concurrently, then exactly maxUsers go through and the rest are held", async () => {
      const { token } = await b.t.broker.tokens.create({ name: "bamboo", scopes: ["scim:write"], source: "bamboohr" });
      const hr = scimClient(b.t.base, token);
      const users = await Promise.all(Array.from({ length: 20 }, () => b.create({ department: "Finance" }, hr)));
      const results = await Promise.all(users.slice(0, 10).map((u) => hr.patch(`/Users/${u.id}`, [replace(`${HR}:employmentStatus`, "terminated")])));
      expect(results.map((r) => r.status)).to.deep.equal(Array(10).fill(200));
      const groups = await Promise.all(users.slice(0, 10).map((u) => b.groupsOf(u.id)));
      expect(groups.filter((g) => g.length === 0)).to.have.length(3);
      const [hold] = (await b.admin.get("/reviews", { kind: "mass-deprovision", status: "pending" })).body.items;
      expect(hold.held).to.have.length(7);
    });
  });
});
