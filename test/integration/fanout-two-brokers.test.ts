// Two broker processes on one database: HR writes land on either, workers of both deliver, and the apps end
// up with every account exactly once and every change applied — graphile-worker runs a job once at a time,
// the (app, user) lease serialises deliveries of one key across processes, and lookup-before-create plus the
// unique id map make a create idempotent.
import { expect } from "chai";
import { createTestDatabase } from "../helpers/db.ts";
import { startQuirkyApp, type QuirkyScimApp } from "../helpers/fake-apps/quirky-app.ts";
import { startStrictApp, type StrictScimApp } from "../helpers/fake-apps/strict-app.ts";
import { accountIn, eventually, FAST_ENV, inParallel, person, policyYaml, spawnBroker, writePolicy, type BrokerProcess } from "./fanout-harness.ts";

const USERS = 150;
const TOKEN = "two-brokers-bootstrap-token-0123456789";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

describe("fan-out: two broker processes on one database", function () {
  this.timeout(180_000);
  let apps: Array<StrictScimApp | QuirkyScimApp> = [];
  let db: { url: string; drop(): Promise<void> };
  let policy: Awaited<ReturnType<typeof writePolicy>>;
  const brokers: BrokerProcess[] = [];

  before(async () => {
    apps = [await startStrictApp(), await startQuirkyApp(), await startStrictApp()];
    const p = policyYaml(apps.map((app, i) => ({ name: `app${i}`, app })));
    policy = await writePolicy(p.yaml);
    db = await createTestDatabase();
    const env = { ...FAST_ENV, ...p.env, DATABASE_URL: db.url, BROKER_CONFIG: policy.file, BROKER_BOOTSTRAP_TOKEN: TOKEN };
    brokers.push(await spawnBroker(env));
    brokers.push(await spawnBroker(env));
  });
  after(async () => {
    await Promise.all(brokers.map((b) => b.stop()));
    await Promise.all(apps.map((a) => a.stop()));
    await db?.drop();
    await policy?.cleanup();
  });

  it("when HR writes go to both, then every app holds each account once, with the latest state", async () => {
    const headers = { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/scim+json" };
    const ids: string[] = [];
    await inParallel(12, USERS, async (i) => {
      const res = await fetch(`${brokers[i % 2]!.url}/scim/v2/Users`, { method: "POST", headers, body: JSON.stringify(person(`two${i}@example.com`)) });
      expect(res.status).to.equal(201);
      ids[i] = ((await res.json()) as { id: string }).id;
    });
    // A burst of updates through the other broker, then every third user leaves: the apps must show the
    // last update of each, and the leavers disabled.
    await inParallel(12, USERS * 2, async (k) => {
      const i = k % USERS;
      const body = { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "displayName", value: `Two ${i} v${k < USERS ? 1 : 2}` }] };
      const res = await fetch(`${brokers[(i + 1) % 2]!.url}/scim/v2/Users/${ids[i]}`, { method: "PATCH", headers, body: JSON.stringify(body) });
      expect(res.status).to.equal(200);
    });
    await inParallel(8, USERS / 3, async (k) => {
      const body = { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "active", value: false }] };
      const res = await fetch(`${brokers[k % 2]!.url}/scim/v2/Users/${ids[k * 3]}`, { method: "PATCH", headers, body: JSON.stringify(body) });
      expect(res.status).to.equal(200);
    });
    await eventually(() => {
      for (const app of apps) {
        for (let i = 0; i < USERS; i++) {
          const account = accountIn(app, `two${i}@example.com`);
          expect(account, `two${i} in ${app.url}`).to.not.equal(undefined);
          expect(account!.displayName).to.equal(`Two ${i} v2`);
          expect(account!.active, `two${i} active`).to.equal(i % 3 !== 0);
        }
      }
    }, 90_000, 200);
    for (const app of apps) {
      expect(app.users.size).to.equal(USERS);
      expect(app.requestsTo("POST", "/Users").filter((r) => r.status === 201), "no double creates").to.have.length(USERS);
    }
    // Both processes took part.
    const res = await fetch(`${brokers[0]!.url}/metrics`);
    const res2 = await fetch(`${brokers[1]!.url}/metrics`);
    const delivered = (text: string) => [...text.matchAll(/broker_fanout_deliveries_total\{app="app0",outcome="(?:created|updated|disabled)"\} (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    expect(delivered(await res.text())).to.be.greaterThan(0);
    expect(delivered(await res2.text())).to.be.greaterThan(0);
  });
});
