// /Bulk creates of users run in batches (one transaction for consecutive creates, UserService.createMany):
// each operation keeps its own result, bulkId references into a batch resolve, failOnErrors stops exactly
// where one operation at a time would have stopped (RFC 7644 §3.7, §3.7.3), and a lifecycle that fails
// after its user was stored leaves only that user out.
import { expect } from "chai";
import pg from "pg";
import { startTestBroker, type TestBroker } from "../helpers/broker.ts";
import { scimClient, userBody, ENTERPRISE_SCHEMA, GROUP_SCHEMA } from "../helpers/scim.ts";
import { badRequest } from "../../src/shared/errors.ts";

const BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const create = (bulkId: string, data: unknown) => ({ method: "POST", path: "/Users", bulkId, data });

describe("Bulk: batched user creates", function () {
  this.timeout(60_000);
  let t: TestBroker;
  let c: ReturnType<typeof scimClient>;
  let sql: pg.Client;
  before(async () => {
    t = await startTestBroker({
      hooks: {
        // A lifecycle step that refuses one user after it was stored (the batch must leave only that one out).
        async afterUserWrite(_tx, change) {
          if (change.after?.userName.startsWith("refused-after-insert")) throw badRequest("invalidValue", "refused by the test's hook");
          return { membershipsChanged: false };
        },
      },
    });
    c = scimClient(t.base, t.token);
    sql = new pg.Client({ connectionString: t.databaseUrl });
    await sql.connect();
  });
  after(async () => { await sql?.end(); await t?.stop(); });

  const exists = async (userName: string) => (await sql.query(`SELECT 1 FROM scim_user WHERE user_name = $1`, [userName])).rowCount === 1;

  it("when a Bulk mixes valid creates, a repeated userName, a taken one and an invalid body, then each has its own result in order and only the valid ones exist", async () => {
    const taken = userBody();
    expect((await c.post("/Users", taken)).status).to.equal(201);
    const a = userBody(), b = userBody(), d = userBody();
    const res = await c.post("/Bulk", { schemas: [BULK], Operations: [
      create("a", a), create("a2", { ...userBody(), userName: a.userName.toUpperCase() }), create("t", taken),
      create("bad", { ...userBody(), active: "sometimes" }), create("b", b), create("d", d),
    ] });
    expect(res.status).to.equal(200);
    expect(res.body.Operations.map((o: any) => [o.bulkId, o.status])).to.deep.equal([["a", "201"], ["a2", "409"], ["t", "409"], ["bad", "400"], ["b", "201"], ["d", "201"]]);
    expect(res.body.Operations[1].response.scimType).to.equal("uniqueness");
    for (const u of [a, b, d]) expect(await exists(u.userName)).to.equal(true);
    const ok = res.body.Operations.filter((o: any) => o.status === "201");
    for (const o of ok) {
      expect(o.version).to.equal('W/"1"');
      expect((await c.get(`/Users/${o.location.split("/").pop()}`)).status).to.equal(200);
    }
    // one change record per created user, in operation order
    const changes = await sql.query(`SELECT u.user_name FROM change_record cr JOIN scim_user u ON u.id = cr.resource_id
      WHERE cr.operation = 'create' AND u.user_name = ANY($1) ORDER BY cr.id`, [[a.userName, b.userName, d.userName]]);
    expect(changes.rows.map((r) => r.user_name)).to.deep.equal([a.userName, b.userName, d.userName]);
  });

  it("when a create references the bulkId of a create before it, then that reference resolves to the stored user", async () => {
    const boss = userBody(), report = userBody();
    const res = await c.post("/Bulk", { schemas: [BULK], Operations: [
      create("boss", boss),
      create("report", { ...report, schemas: [...report.schemas, ENTERPRISE_SCHEMA], [ENTERPRISE_SCHEMA]: { manager: { value: "bulkId:boss" } } }),
      { method: "POST", path: "/Groups", bulkId: "g", data: { schemas: [GROUP_SCHEMA], displayName: `batch-${Date.now()}`, members: [{ value: "bulkId:boss" }, { value: "bulkId:report" }] } },
    ] });
    expect(res.body.Operations.map((o: any) => o.status)).to.deep.equal(["201", "201", "201"]);
    const [bossId, reportId, groupId] = res.body.Operations.map((o: any) => o.location.split("/").pop());
    expect((await c.get(`/Users/${reportId}`)).body[ENTERPRISE_SCHEMA].manager.value).to.equal(bossId);
    expect((await c.get(`/Groups/${groupId}`)).body.members.map((m: any) => m.value).sort()).to.deep.equal([bossId, reportId].sort());
  });

  it("when failOnErrors is reached inside a run of creates, then the creates after it are not run", async () => {
    const taken = userBody();
    expect((await c.post("/Users", taken)).status).to.equal(201);
    const first = userBody(), after1 = userBody(), after2 = userBody();
    const res = await c.post("/Bulk", { schemas: [BULK], failOnErrors: 2, Operations: [
      create("first", first), create("bad", { ...userBody(), active: "sometimes" }), create("t", taken), create("after1", after1), create("after2", after2),
    ] });
    expect(res.body.Operations.map((o: any) => [o.bulkId, o.status])).to.deep.equal([["first", "201"], ["bad", "400"], ["t", "409"]]);
    expect(await exists(first.userName)).to.equal(true);
    expect(await exists(after1.userName)).to.equal(false);
    expect(await exists(after2.userName)).to.equal(false);
  });

  it("when one user's lifecycle fails after it was stored, then only that user is missing and the others are created", async () => {
    const before = userBody(), refused = userBody({ userName: `refused-after-insert-${Date.now()}@example.com` }), later = userBody();
    const res = await c.post("/Bulk", { schemas: [BULK], Operations: [create("before", before), create("refused", refused), create("later", later)] });
    expect(res.body.Operations.map((o: any) => [o.bulkId, o.status])).to.deep.equal([["before", "201"], ["refused", "400"], ["later", "201"]]);
    expect(res.body.Operations[1].response.detail).to.match(/refused by the test's hook/);
    expect(await exists(before.userName)).to.equal(true);
    expect(await exists(refused.userName)).to.equal(false);
    expect(await exists(later.userName)).to.equal(true);
  });
});
