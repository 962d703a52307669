// The mass-deprovision guard through HTTP: a Bulk that terminates 30% of one HR source's users is held
// beyond the limit as ONE review item; HR's data is stored as sent; approval releases every held leaver at
// once; rejection keeps the entitlements and records why; the window slides with the (manual) clock.
import { expect } from "chai";
import { startLifecycleBroker, personBody, replace, HR, HOUR, type LifecycleBroker } from "./lifecycle-harness.ts";
import { scimClient, PATCH_OP } from "../helpers/scim.ts";
import { BULK_REQUEST } from "../../src/scim/schemas.ts";

const POLICY = `
groups:
  - name: finance
    when: department eq "Finance" and active eq true
guards:
  massDeprovision: { maxUsers: 10, maxPercent: 5, window: 1h }
`;

describe("lifecycle: mass-deprovision guard", () => {
  let b: LifecycleBroker;
  let workday: ReturnType<typeof scimClient>;
  let ids: string[] = [];
  before(async () => {
    b = await startLifecycleBroker(POLICY);
    const { token } = await b.t.broker.tokens.create({ name: "workday", scopes: ["scim:write", "scim:read"], source: "workday" });
    workday = scimClient(b.t.base, token);
    const bulk = await workday.post("/Bulk", {
      schemas: [BULK_REQUEST],
      Operations: Array.from({ length: 40 }, (_, i) => ({ method: "POST", path: "/Users", bulkId: `u${i}`, data: personBody({ department: "Finance", userType: "Employee" }) })),
    });
    ids = bulk.body.Operations.map((o: any) => String(o.location).split("/").pop());
    expect(ids).to.have.length(40);
  });
  after(async () => { await b.stop(); });

  const terminate = (users: string[]) => workday.post("/Bulk", {
    schemas: [BULK_REQUEST],
    Operations: users.map((id) => ({ method: "PATCH", path: `/Users/${id}`, data: { schemas: [PATCH_OP], Operations: [replace(`${HR}:employmentStatus`, "terminated")] } })),
  });
  const pendingHolds = async () => (await b.admin.get("/reviews", { status: "pending", kind: "mass-deprovision" })).body.items;

  it("when 30% of a source is terminated in one Bulk, then the leavers beyond the limit are held as one review and keep their entitlements", async () => {
    const wave = ids.slice(0, 12);
    const res = await terminate(wave);
    expect(res.body.Operations.every((o: any) => o.status === "200")).to.equal(true);
    // 5% of 40 is 2: the first two go through, the ten after them are held
    for (const id of wave.slice(0, 2)) expect(await b.groupsOf(id), id).to.deep.equal([]);
    for (const id of wave.slice(2)) {
      expect(await b.groupsOf(id), id).to.deep.equal(["finance"]);
      const user = (await b.scim.get(`/Users/${id}`)).body;
      expect(user[HR].employmentStatus).to.equal("terminated"); // HR's data, stored as sent
      expect(user.active).to.equal(true);
    }
    const holds = await pendingHolds();
    expect(holds).to.have.length(1);
    expect(holds[0]).to.include({ kind: "mass-deprovision", source: "workday" });
    // the item carries the latest figures: by the 12th leaver maxUsers (10) is exceeded too
    expect(holds[0].payload).to.include({ count: 12, population: 40, limit: "maxUsers" });
    expect(holds[0].held.map((h: any) => h.userId).sort()).to.deep.equal(wave.slice(2).sort());
    const evs = (await b.admin.get("/events", { user: wave[5] })).body.items;
    expect(evs[0]).to.include({ kind: "leaver", held: true });
    const audit = (await b.admin.get("/audit", { user: wave[5], kind: "guard.held" })).body.items;
    expect(audit).to.have.length(1);
    expect(audit[0].cause.reviewId).to.equal(holds[0].id);
  });

  it("when HR changes a held leaver again, then its entitlements still wait", async () => {
    const id = ids[3]!;
    await b.patch(id, [replace("title", "Clerk")]);
    expect(await b.groupsOf(id)).to.deep.equal(["finance"]);
  });

  it("when the hold is approved, then every held leaver is released at once", async () => {
    const [hold] = await pendingHolds();
    const res = await b.admin.post(`/reviews/${hold.id}/approve`, { reason: "the reorganisation is real" });
    expect(res.status).to.equal(200);
    expect(res.body.status).to.equal("approved");
    expect(res.body.held.every((h: any) => h.outcome === "released")).to.equal(true);
    for (const id of ids.slice(2, 12)) {
      expect(await b.groupsOf(id), id).to.deep.equal([]);
      expect((await b.scim.get(`/Users/${id}`)).body.active).to.equal(false);
    }
    const audit = (await b.admin.get("/audit", { user: ids[4], kind: "guard.released" })).body.items;
    expect(audit).to.have.length(1);
    expect(await pendingHolds()).to.have.length(0);
  });

  it("when a further wave is held and the hold is denied, then the entitlements stay, the item records why and later HR data does not release them", async () => {
    const wave = ids.slice(12, 15); // still inside the window: 13 > maxUsers 10
    await terminate(wave);
    const [hold] = await pendingHolds();
    expect(hold.held.map((h: any) => h.userId).sort()).to.deep.equal([...wave].sort());
    expect(hold.payload.limit).to.equal("maxUsers");
    const res = await b.admin.post(`/reviews/${hold.id}/deny`, { reason: "HR export bug, ticket HR-1234" });
    expect(res.status).to.equal(200);
    expect(res.body).to.include({ status: "denied", reason: "HR export bug, ticket HR-1234" });
    expect(res.body.held.every((h: any) => h.outcome === "rejected")).to.equal(true);
    for (const id of wave) expect(await b.groupsOf(id), id).to.deep.equal(["finance"]);
    const decided = (await b.admin.get("/audit", { kind: "review.decided" })).body.items.find((e: any) => e.cause.reviewId === hold.id);
    expect(decided.details).to.include({ status: "denied", reason: "HR export bug, ticket HR-1234" });
    await b.patch(wave[0]!, [replace("title", "Still terminated in HR")]);
    expect(await b.groupsOf(wave[0]!)).to.deep.equal(["finance"]);
    // HR fixes its export: the user is active again and simply stays where the rules put them
    await b.patch(wave[1]!, [replace(`${HR}:employmentStatus`, "active")]);
    expect(await b.groupsOf(wave[1]!)).to.deep.equal(["finance"]);
  });

  it("when the window has slid past the wave, then a single leaver goes through again", async () => {
    b.clock.advance(2 * HOUR);
    await terminate([ids[20]!]);
    expect(await b.groupsOf(ids[20]!)).to.deep.equal([]);
    expect(await pendingHolds()).to.have.length(0);
  });

  it("when deletions are held, then the users are gone from SCIM as HR asked, and approval releases them to the apps", async () => {
    const gone = ids.slice(30, 33);
    for (const id of gone) expect((await workday.del(`/Users/${id}`)).status).to.equal(204);
    const [hold] = await pendingHolds();
    const held = hold.held.filter((h: any) => gone.includes(h.userId));
    expect(held.length).to.be.greaterThan(0);
    for (const h of held) expect((await b.scim.get(`/Users/${h.userId}`)).status).to.equal(404);
    const res = await b.admin.post(`/reviews/${hold.id}/approve`, { reason: "offboarding batch confirmed" });
    expect(res.body.held.filter((h: any) => gone.includes(h.userId)).map((h: any) => h.outcome)).to.deep.equal(held.map(() => "released"));
  });
});
