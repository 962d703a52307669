// Fan-out end to end through the HR door: SCIM writes to the broker → lifecycle → outbox → workers → two
// real SCIM apps on loopback (strict RFC 7644 on scimmy; quirky: ids with "@", PUT-only, 500 for unknown
// ids). Assertions are on the apps' final state.
import { expect } from "chai";
import { startQuirkyApp, type QuirkyScimApp } from "../helpers/fake-apps/quirky-app.ts";
import { startStrictApp, type StrictScimApp } from "../helpers/fake-apps/strict-app.ts";
import { accountIn, eventually, isActiveIn, person, startFanoutBroker, USER_SCHEMA, type FanoutBroker } from "./fanout-harness.ts";

describe("fan-out: provisioning and deprovisioning every subscribed app", function () {
  this.timeout(60_000);
  let strict: StrictScimApp, quirky: QuirkyScimApp, bad: StrictScimApp;
  let b: FanoutBroker;

  before(async () => {
    strict = await startStrictApp();
    quirky = await startQuirkyApp();
    bad = await startStrictApp({ token: "bad-token" });
    b = await startFanoutBroker([
      { name: "strict", app: strict, groups: ["finance", "engineering"] },
      { name: "quirky", app: quirky, groups: ["finance", "engineering"] },
      // title ← emails: the app answers 400 invalidValue, a permanent error
      { name: "bad", app: bad, extra: ["assign: 'title eq \"dead-letter-me\"'", "mapping: { title: emails }"] },
    ]);
  });
  after(async () => {
    await b?.stop();
    await Promise.all([strict?.stop(), quirky?.stop(), bad?.stop()]);
  });

  it("when a joiner already has an account in the app, then it is matched and linked, not created twice", async () => {
    const existing = strict.seedUser({ schemas: [USER_SCHEMA], userName: "ANNA@example.com", active: false });
    const user = await b.create("anna@example.com");
    await eventually(() => {
      expect(strict.users.size).to.equal(1);
      const a = strict.users.get(existing.id)!;
      expect(a).to.include({ active: true, externalId: user.id, displayName: "anna" });
      expect(isActiveIn(accountIn(quirky, "anna@example.com"))).to.equal(true);
    });
    expect(strict.requestsTo("POST", "/Users")).to.have.length(0);
    expect(quirky.requestsTo("POST", "/Users")).to.have.length(1);
    const byApp = await eventually(async () => {
      const status = await b.admin.get(`/users/${user.id}/apps`).expect(200);
      const apps = Object.fromEntries(status.body.apps.map((a: any) => [a.app, a]));
      expect(apps.strict).to.include({ status: "delivered", remoteId: existing.id });
      expect(apps.quirky.remoteId).to.match(/@x$/); // (recorded just after the app answered)
      return apps;
    });
    expect(byApp.quirky.deliveredAt).to.be.a("string");
    expect(byApp.bad).to.equal(undefined); // not assigned: costs that app nothing
  });

  it("when a leaver is deactivated by HR, then every app shows the account disabled and the SLA is recorded", async () => {
    const user = await b.create("leo@example.com", { department: "Finance" });
    await eventually(() => {
      expect(isActiveIn(accountIn(strict, "leo@example.com"))).to.equal(true);
      expect(isActiveIn(accountIn(quirky, "leo@example.com"))).to.equal(true);
    });
    const requested = Date.now();
    await b.scim.patch(`/Users/${user.id}`, [{ op: "replace", path: "active", value: false }]).expect(200);
    await eventually(() => {
      expect(accountIn(strict, "leo@example.com")!.active).to.equal(false);
      expect(accountIn(quirky, "leo@example.com")!.active).to.equal(false); // PUT-only app: full PUT
    });
    const status = await eventually(async () => {
      const r = await b.admin.get(`/users/${user.id}/apps`).expect(200);
      expect(r.body.leaverSla[0].completedAt).to.be.a("string");
      return r.body;
    });
    const seen = Date.now();
    expect(status.apps.map((a: any) => a.status)).to.deep.equal(["deprovisioned", "deprovisioned"]);
    expect(status.leaverSla[0]).to.include({ appsTotal: 2 });
    // The SLA runs from this HR request to the last app's confirmation: inside the test's own readings
    // taken before the PATCH and after seeing it complete (an order of instants, not a time budget).
    const sla = status.leaverSla[0];
    expect(sla.durationMs).to.be.a("number").and.to.equal(Date.parse(sla.completedAt) - Date.parse(sla.requestedAt));
    expect(Date.parse(sla.requestedAt), "requested at the PATCH").to.be.at.least(requested);
    expect(Date.parse(sla.completedAt), "completed before we saw it").to.be.at.most(seen);
    const metrics = await b.admin.get("/leavers").expect(200);
    expect(metrics.body.summary.completed).to.be.greaterThan(0);
    const prom = await (await fetch(`${b.t.url}/metrics`)).text();
    expect(prom).to.match(/broker_leaver_sla_seconds_count \d+/);
    expect(prom).to.match(/broker_fanout_deliveries_total\{app="strict",outcome="disabled"\} 1/);
  });

  it("when a user is deleted in the broker, then its accounts are deprovisioned from the stored ids", async () => {
    const user = await b.create("dora@example.com");
    await eventually(() => expect(isActiveIn(accountIn(quirky, "dora@example.com"))).to.equal(true));
    await b.scim.del(`/Users/${user.id}`).expect(204);
    await eventually(() => {
      expect(accountIn(strict, "dora@example.com")!.active).to.equal(false);
      expect(accountIn(quirky, "dora@example.com")!.active).to.equal(false);
    });
  });

  it("when a mover changes department, then the managed groups change in every app", async () => {
    const user = await b.create("max@example.com", { department: "Finance" });
    const membersOf = (app: StrictScimApp | QuirkyScimApp, group: string) => {
      const g = [...app.groups.values()].find((x) => x.displayName === group);
      return g ? app.memberIds(g.id) : [];
    };
    await eventually(() => {
      expect(membersOf(strict, "finance")).to.include(accountIn(strict, "max@example.com")!.id);
      expect(membersOf(quirky, "finance")).to.include(accountIn(quirky, "max@example.com")!.id);
    });
    await b.scim.patch(`/Users/${user.id}`, [{ op: "replace", path: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", value: "Engineering" }]).expect(200);
    await eventually(() => {
      for (const app of [strict, quirky]) {
        const id = accountIn(app, "max@example.com")!.id as string;
        expect(membersOf(app, "finance")).to.not.include(id);
        expect(membersOf(app, "engineering")).to.include(id);
      }
    });
    expect([...strict.groups.values()].filter((g) => g.displayName === "finance")).to.have.length(1);
  });

  it("when a /Bulk creates a batch of joiners, then every one reaches every app, with its managed groups, from the batch's one outbox", async () => {
    const names = Array.from({ length: 12 }, (_, i) => `bulkjoiner${i}@example.com`);
    const res = await b.scim.post("/Bulk", { schemas: ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], Operations: names.map((n, i) =>
      ({ method: "POST", path: "/Users", bulkId: `j${i}`, data: person(n, { department: i % 2 ? "Finance" : "Engineering" }) })) }).expect(200);
    expect(res.body.Operations.map((o: any) => o.status)).to.deep.equal(names.map(() => "201"));
    const ids = res.body.Operations.map((o: any) => o.location.split("/").pop());
    // one account row per (app, user), pending with the HR change that created the user as its cause
    const { rows } = await b.db.query(`SELECT count(*)::int AS n, count(change_id)::int AS caused FROM app_account WHERE user_id = ANY($1::uuid[])`, [ids]);
    expect(rows[0].n).to.equal(names.length * 2);
    expect(rows[0].caused).to.equal(names.length * 2);
    const membersOf = (app: StrictScimApp | QuirkyScimApp, group: string) => {
      const g = [...app.groups.values()].find((x) => x.displayName === group);
      return g ? app.memberIds(g.id) : [];
    };
    await eventually(() => {
      for (const app of [strict, quirky]) for (const [i, n] of names.entries()) {
        const account = accountIn(app, n);
        expect(isActiveIn(account), `${n} in ${app.url}`).to.equal(true);
        expect(membersOf(app, i % 2 ? "finance" : "engineering"), `${n}'s group in ${app.url}`).to.include(account!.id);
      }
    });
  });

  it("when the app lost an account (404, or quirky's 500), then the next update re-creates it", async () => {
    const user = await b.create("rita@example.com");
    await eventually(() => {
      expect(accountIn(strict, "rita@example.com")).to.not.equal(undefined);
      expect(accountIn(quirky, "rita@example.com")).to.not.equal(undefined);
    });
    const oldStrict = accountIn(strict, "rita@example.com")!.id as string;
    strict.users.delete(oldStrict);
    quirky.users.delete(accountIn(quirky, "rita@example.com")!.id as string);
    await b.scim.patch(`/Users/${user.id}`, [{ op: "replace", path: "displayName", value: "Rita R" }]).expect(200);
    await eventually(() => {
      expect(accountIn(strict, "rita@example.com")).to.include({ displayName: "Rita R" });
      expect(accountIn(quirky, "rita@example.com")).to.include({ displayName: "Rita R" });
    });
    expect(accountIn(strict, "rita@example.com")!.id).to.not.equal(oldStrict);
  });

  it("when an app rejects a delivery (400), then it is dead-lettered with the app's response, and replay re-delivers", async () => {
    const user = await b.create("dl@example.com", { title: "dead-letter-me" });
    const letters = await eventually(async () => {
      const r = await b.admin.get("/apps/bad/dead-letters").expect(200);
      expect(r.body.items).to.have.length(1);
      return r.body.items;
    });
    expect(letters[0]).to.include({ kind: "user", key: user.id, code: "FANOUT_REJECTED", responseStatus: 400 });
    expect(letters[0].responseBody).to.include("invalidValue");
    expect(JSON.stringify(letters)).to.not.include("bad-token");
    const status = await b.admin.get(`/users/${user.id}/apps`).expect(200);
    expect(status.body.apps.find((a: any) => a.app === "bad")).to.include({ status: "failed" });
    const replay = await b.admin.post("/apps/bad/replay", { all: true }).expect(200);
    expect(replay.body).to.include({ replayed: 1, users: 1 });
    await eventually(async () => {
      const r = await b.admin.get("/apps/bad/dead-letters").expect(200);
      // failed again (the mapping is still wrong): the same letter, opened again — one per (app, account)
      expect(r.body.items).to.have.length(1);
      expect(r.body.items[0]).to.include({ id: letters[0].id, occurrences: 2, attempts: 2 });
    });
    const apps = await b.admin.get("/apps").expect(200);
    expect(apps.body.items.map((a: any) => a.name)).to.deep.equal(["strict", "quirky", "bad"]);
  });
});
