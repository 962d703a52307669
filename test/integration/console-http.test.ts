// The console's HTTP side and the admin endpoints it reads, without a browser: security headers on every
// console response, nothing inline for the CSP to allow, the root redirect; people search and the
// provisioning log (also of a deleted user), through HTTP on PostgreSQL.
import { expect } from "chai";
import request from "supertest";
import { startLifecycleBroker, type LifecycleBroker } from "./lifecycle-harness.ts";

const POLICY = `
groups:
  - name: finance
    when: department eq "Finance" and active eq true
guards:
  massDeprovision: { maxUsers: 100, maxPercent: 100, window: 1h }
`;

describe("console: HTTP, people search and the provisioning log", function () {
  this.timeout(60_000);
  let b: LifecycleBroker;
  const get = (path: string, query: Record<string, string> = {}) => request(`${b.t.url}/admin/v1`).get(path).query(query).set("Authorization", `Bearer ${b.t.token}`);
  before(async () => { b = await startLifecycleBroker(POLICY); });
  after(async () => { await b?.stop(); });

  it("when console files are served, then each has a strict CSP with frame-ancestors 'none', nosniff and nothing inline", async () => {
    const root = await request(b.t.url).get("/");
    expect(root.status).to.equal(302);
    expect(root.headers.location).to.equal("/console/");
    expect((await request(b.t.url).get("/console")).headers.location).to.equal("/console/");
    for (const path of ["/console/", "/console/js/app.js", "/console/console.css", "/console/js/pages/person.js", "/console/nope.js"]) {
      const res = await request(b.t.url).get(path);
      expect(res.status, path).to.equal(path.endsWith("nope.js") ? 404 : 200);
      const csp = res.headers["content-security-policy"];
      expect(csp, path).to.include("default-src 'none'").and.include("script-src 'self'").and.include("frame-ancestors 'none'");
      expect(csp).to.not.match(/unsafe-inline|unsafe-eval/);
      expect(res.headers["x-content-type-options"], path).to.equal("nosniff");
    }
    const html = (await request(b.t.url).get("/console/")).text;
    expect(html).to.not.match(/<script(?![^>]*\bsrc=)[^>]*>/i); // every script is a file
    expect(html).to.not.match(/\sstyle=|<style/i);
    expect(html).to.not.match(/\son[a-z]+=/i); // no inline handlers
    expect(html).to.match(/<input id="token" name="token" type="password"/);
    expect((await request(b.t.url).get("/console/js/app.js")).headers["content-type"]).to.match(/^(text|application)\/javascript/);
  });

  it("when people are searched by userName, email or employee number, then the matches come back paged", async () => {
    const ann = await b.create({ userName: "ann.archer@example.com", department: "Finance" });
    await b.scim.patch(`/Users/${ann.id}`, [
      { op: "replace", path: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", value: "E-1001" },
      { op: "replace", path: "emails", value: [{ value: "aa@corp.example", type: "work", primary: true }] },
    ]).expect(200);
    for (let i = 0; i < 3; i++) await b.create({ userName: `bob${i}@example.com` });
    const byName = await get("/people", { q: "ANN.AR" }).expect(200);
    expect(byName.body.items.map((p: any) => p.userName)).to.deep.equal(["ann.archer@example.com"]);
    expect(byName.body.items[0]).to.include({ employeeNumber: "E-1001", email: "aa@corp.example", department: "Finance", active: true });
    expect((await get("/people", { q: "aa@corp" }).expect(200)).body.items.map((p: any) => p.id)).to.deep.equal([ann.id]);
    expect((await get("/people", { q: "E-1001" }).expect(200)).body.items.map((p: any) => p.id)).to.deep.equal([ann.id]);
    expect((await get("/people", { q: "%" }).expect(200)).body.items).to.deep.equal([]); // LIKE wildcards are literal
    const page = await get("/people", { q: "bob", limit: "2", offset: "2" }).expect(200);
    expect(page.body).to.include({ total: 3, offset: 2, limit: 2 });
    expect(page.body.items.map((p: any) => p.userName)).to.deep.equal(["bob2@example.com"]);
    expect((await get("/people", { ids: ann.id }).expect(200)).body.items).to.have.length(1);
    expect((await get("/people", { limit: "0" })).status).to.equal(400);
    expect((await get("/people", { ids: "not-an-id" })).status).to.equal(400);
  });

  it("when people are searched or opened by a spelling of their name that only the identifier key equates (ß, fullwidth), then they are found", async () => {
    const u = await b.create({ userName: "straße@example.com" });
    await b.scim.patch(`/Users/${u.id}`, [{ op: "replace", path: "emails", value: [{ value: "Grüße@Corp.example", type: "work" }] }]).expect(200);
    expect((await get("/people", { q: "STRASSE" }).expect(200)).body.items.map((p: any) => p.id)).to.deep.equal([u.id]);
    expect((await get("/people", { q: "ＳＴＲＡßE@" }).expect(200)).body.items.map((p: any) => p.id)).to.deep.equal([u.id]);
    expect((await get("/people", { q: "GRÜSSE@corp" }).expect(200)).body.items.map((p: any) => p.id)).to.deep.equal([u.id]);
    expect((await get(`/people/${encodeURIComponent("STRASSE@example.com")}/log`).expect(200)).body.person.id).to.equal(u.id);
  });

  it("when a person's log is read, then HR changes, lifecycle events and entitlement changes come in time order with their causes — also after deletion", async () => {
    const u = await b.create({ userName: "mover@example.com", department: "Sales" });
    b.clock.advance(60_000);
    await b.patch(u.id, [{ op: "replace", path: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", value: "Finance" }]);
    const log = (await get(`/people/${encodeURIComponent("MOVER@example.com")}/log`).expect(200)).body;
    expect(log).to.include({ id: u.id, deleted: false });
    expect(log.person).to.include({ userName: "mover@example.com", department: "Finance" });
    expect(log.groups.map((g: any) => g.group)).to.deep.equal(["finance"]);
    const kinds = log.entries.map((e: any) => e.kind);
    expect(kinds.indexOf("hr.create")).to.be.lessThan(kinds.indexOf("hr.update"));
    const update = log.entries.find((e: any) => e.kind === "hr.update");
    expect(update.title).to.match(/department Sales → Finance/);
    const added = log.entries.find((e: any) => e.kind === "membership.added");
    expect(added).to.deep.include({ group: "finance", category: "entitlement" });
    expect(added.cause).to.include({ changeId: update.cause.changeId, rule: "finance" });
    expect(log.entries.some((e: any) => e.kind === "lifecycle.mover")).to.equal(true);
    expect(Date.parse(log.entries.at(-1).at)).to.be.at.least(Date.parse(log.entries[0].at));

    await b.scim.del(`/Users/${u.id}`).expect(204);
    expect((await get("/people/mover@example.com/log")).status).to.equal(404); // the name is gone with the user…
    const gone = (await get(`/people/${u.id}/log`).expect(200)).body; // …its id still opens what was recorded
    expect(gone).to.include({ deleted: true, person: null });
    expect(gone.entries.map((e: any) => e.kind)).to.include("hr.delete");
    expect((await get("/people/00000000-0000-4000-8000-000000000000/log")).status).to.equal(404);
  });

  it("when the Events page filters by kind, then the events API answers only those kinds, newest first; an unknown kind is a 400 naming it", async () => {
    const u = await b.create({ userName: "kinds@example.com", department: "Finance" });
    await b.patch(u.id, [{ op: "replace", path: "active", value: false }]);
    const leavers = (await get("/events", { kind: "leaver", user: u.id }).expect(200)).body.items;
    expect(leavers.map((e: any) => e.kind)).to.deep.equal(["leaver"]);
    const both = (await get("/events", { kind: "joiner,leaver", user: u.id }).expect(200)).body.items;
    expect(both.map((e: any) => e.kind)).to.deep.equal(["leaver", "joiner"]);
    const all = (await get("/events", { kind: "leaver" }).expect(200)).body.items;
    expect(all.every((e: any) => e.kind === "leaver")).to.equal(true);
    const bad = await get("/events", { kind: "promotion" }).expect(400);
    expect(bad.body.error.message).to.match(/^kind names an unknown event kind 'promotion'/);
  });

  it("when the Events page is served, then it offers the kind filter and sends it to the API", async () => {
    const js = await request(b.t.url).get("/console/js/pages/events.js").expect(200);
    expect(js.text).to.include('id: "events-kind"').and.include("query: { user, kind, limit: PAGE, before }");
  });

  it("when the apps overview is asked without apps, then it answers an empty list; a bad window is a 400", async () => {
    expect((await get("/apps-overview").expect(200)).body.items).to.deep.equal([]);
    expect((await get("/apps-overview", { sinceHours: "0" })).status).to.equal(400);
  });
});
