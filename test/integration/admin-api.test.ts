import { expect } from "chai";
import request from "supertest";
import { startTestBroker, type TestBroker } from "../helpers/broker.ts";

describe("admin API mounting", () => {
  let t: TestBroker;
  before(async () => { t = await startTestBroker(); });
  after(async () => { await t.stop(); });

  it("when the audit log is read with an admin token, then it answers; without the admin scope, then 403; without a token, 401", async () => {
    const ok = await request(t.url).get("/admin/v1/audit").set("Authorization", `Bearer ${t.token}`);
    expect(ok.status).to.equal(200);
    expect(ok.body).to.have.property("items");
    expect((await request(t.url).get("/admin/v1/audit").set("Authorization", `Bearer ${t.readToken}`)).status).to.equal(403);
    expect((await request(t.url).get("/admin/v1/audit")).status).to.equal(401);
    const v = await request(t.url).post("/admin/v1/audit/verify").set("Authorization", `Bearer ${t.token}`).send({});
    expect(v.status).to.equal(200);
    expect(v.body.ok).to.equal(true);
  });
});
