import { expect } from "chai";
import { startTestBroker, type TestBroker } from "../helpers/broker.ts";
import { scimClient, USER_SCHEMA, ENTERPRISE_SCHEMA, HR_SCHEMA, GROUP_SCHEMA } from "../helpers/scim.ts";

describe("Listing, filtering, sorting and paging in PostgreSQL", () => {
  let t: TestBroker;
  let c: ReturnType<typeof scimClient>;
  const depts = ["Finance", "Engineering", "Sales"];
  before(async () => {
    t = await startTestBroker({ env: { BROKER_MAX_PAGE_SIZE: "50", BROKER_DEFAULT_PAGE_SIZE: "10" } });
    c = scimClient(t.base, t.token);
    for (let i = 1; i <= 30; i++) {
      const res = await c.post("/Users", {
        schemas: [USER_SCHEMA, ENTERPRISE_SCHEMA, HR_SCHEMA], userName: `list${String(i).padStart(2, "0")}@Example.com`,
        title: i % 2 ? "Engineer" : undefined, active: i % 5 !== 0, userType: i % 3 ? "Employee" : "Contractor",
        emails: [{ value: `list${i}@example.com`, type: i % 2 ? "work" : "home" }],
        [ENTERPRISE_SCHEMA]: { department: depts[i % 3] },
        [HR_SCHEMA]: { startDate: new Date(Date.UTC(2026, 0, i)).toISOString() },
      });
      expect(res.status).to.equal(201);
    }
  });
  after(async () => { await t.stop(); });

  const names = (res: any) => res.body.Resources.map((r: any) => r.userName);

  it("when filters use every operator, logic and extension attributes, then the right users match", async () => {
    const total = async (filter: string) => (await c.get("/Users", { filter, count: 0 })).body.totalResults;
    expect(await total('userName sw "LIST0"')).to.equal(9);
    expect(await total('userName ew "@example.COM"')).to.equal(30);
    expect(await total('userName co "st1"')).to.equal(10);
    expect(await total('department eq "Finance"')).to.equal(10); // short name resolves to the enterprise extension
    expect(await total(`${ENTERPRISE_SCHEMA}:department eq "finance"`)).to.equal(10);
    expect(await total('title pr')).to.equal(15);
    expect(await total('not (title pr)')).to.equal(15);
    expect(await total('title ne "Engineer"')).to.equal(15);
    expect(await total('active eq false')).to.equal(6);
    expect(await total('userType eq "Contractor" and active eq true')).to.equal(8);
    expect(await total('userType eq "Contractor" or department eq "Sales"')).to.equal(20);
    expect(await total(`${HR_SCHEMA}:startDate gt "2026-01-20T00:00:00Z"`)).to.equal(10);
    expect(await total(`${HR_SCHEMA}:startDate le "2026-01-05T00:00:00Z"`)).to.equal(5);
    expect(await total('emails[type eq "work" and value co "list1"]')).to.equal(6);
    expect(await total('emails.value eq "LIST7@example.com"')).to.equal(1);
    expect(await total('meta.created gt "2000-01-01T00:00:00Z"')).to.equal(30);
  });

  it("when paging with startIndex and count, then pages are stable and totalResults is the full count", async () => {
    const p1 = await c.get("/Users", { startIndex: 1, count: 12, sortBy: "userName" });
    expect(p1.body).to.include({ totalResults: 30, startIndex: 1, itemsPerPage: 12 });
    const p3 = await c.get("/Users", { startIndex: 25, count: 12, sortBy: "userName" });
    expect(p3.body).to.include({ totalResults: 30, startIndex: 25, itemsPerPage: 6 });
    expect(names(p3)[0]).to.equal("list25@Example.com");
    const capped = await c.get("/Users", { count: 500 });
    expect(capped.body.itemsPerPage).to.equal(30 > 50 ? 50 : 30);
    expect((await c.get("/Users")).body.itemsPerPage).to.equal(10); // default page size
  });

  it("when sorting descending by an attribute, then results come in that order", async () => {
    const res = await c.get("/Users", { sortBy: "userName", sortOrder: "descending", count: 3 });
    expect(names(res)).to.deep.equal(["list30@Example.com", "list29@Example.com", "list28@Example.com"]);
  });

  it("when paging with RFC 9865 cursors, then every user is seen once and a bad cursor is refused", async () => {
    const seen: string[] = [];
    let cursor = "";
    for (let i = 0; i < 10; i++) {
      const res = await c.get("/Users", { cursor, count: 7, filter: 'userName sw "list"' });
      expect(res.status).to.equal(200);
      expect(res.body.totalResults).to.equal(30);
      seen.push(...names(res));
      if (!res.body.nextCursor) break;
      cursor = res.body.nextCursor;
    }
    expect(seen).to.have.length(30);
    expect(new Set(seen).size).to.equal(30);
    const bad = await c.get("/Users", { cursor: "garbage", count: 7 });
    expect(bad.status).to.equal(400);
    expect(bad.body.scimType).to.equal("invalidCursor");
    const spc = await c.get("/ServiceProviderConfig");
    expect(spc.body.pagination).to.include({ cursor: true, index: true });
  });

  it("when attributes or excludedAttributes are given, then only those come back (id always)", async () => {
    const res = await c.get("/Users", { filter: 'userName eq "list01@example.com"', attributes: "userName,emails.value" });
    expect(Object.keys(res.body.Resources[0]).sort()).to.deep.equal(["emails", "id", "schemas", "userName"]);
    expect(res.body.Resources[0].emails[0]).to.deep.equal({ value: "list1@example.com" });
    const ex = await c.get("/Users", { filter: 'userName eq "list01@example.com"', excludedAttributes: `emails,groups,${ENTERPRISE_SCHEMA}` });
    expect(ex.body.Resources[0]).to.not.have.any.keys("emails", "groups", ENTERPRISE_SCHEMA);
    expect(ex.body.Resources[0]).to.have.property("userName");
  });

  it("when searching with POST /.search on a resource and at the root, then the same filters and paging apply", async () => {
    const s = await c.post("/Users/.search", { schemas: ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], filter: 'userName sw "list" and not (userName eq "list01@example.com")', startIndex: 5, count: 3, attributes: ["userName"], sortBy: "userName" });
    expect(s.body).to.include({ totalResults: 29, startIndex: 5, itemsPerPage: 3 });
    expect(names(s)).to.deep.equal(["list06@Example.com", "list07@Example.com", "list08@Example.com"]);
    await c.post("/Groups", { schemas: [GROUP_SCHEMA], displayName: "list-group" });
    const root = await c.post("/.search", { schemas: ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], filter: 'meta.created gt "2000-01-01T00:00:00Z"', count: 100 });
    expect(root.body.totalResults).to.equal(31);
    expect(root.body.Resources.filter((r: any) => r.meta.resourceType === "Group")).to.have.length(1);
  });
});
