// CSV import (src/import/csv-import.ts) through the admin API on real PostgreSQL: idempotent upserts by
// employeeNumber within the source, bad rows reported with their line in the file, the same lifecycle,
// rules and guard as SCIM writes, managers resolved within the source, mapping files, dry runs.
import { expect } from "chai";
import request from "supertest";
import { startLifecycleBroker, ENT, HR, type LifecycleBroker } from "./lifecycle-harness.ts";

const POLICY = `
groups:
  - name: finance
    when: department eq "Finance" and active eq true
  - name: engineering
    when: department eq "Engineering" and active eq true
guards:
  massDeprovision: { maxUsers: 2, maxPercent: 100, window: 1h }
`;
const HEADER = "employeeNumber,userName,givenName,familyName,email,department,title,userType,employmentStatus,startDate,endDate,manager,costCenter,location";

describe("CSV import: admin API", function () {
  this.timeout(60_000);
  let b: LifecycleBroker;
  before(async () => { b = await startLifecycleBroker(POLICY); });
  after(async () => { await b?.stop(); });

  const post = (csv: string, query: Record<string, string> = {}, type = "text/csv") =>
    request(`${b.t.url}/admin/v1`).post("/import").query({ source: "bamboo", ...query }).set("Authorization", `Bearer ${b.t.token}`).set("Content-Type", type).send(csv);
  const user = async (userName: string) => (await b.db.query(`SELECT * FROM scim_user WHERE user_name_key = lower($1)`, [userName])).rows[0];
  const changes = async () => Number((await b.db.query(`SELECT count(*) AS n FROM change_record`)).rows[0].n);

  it("when the same file is imported twice, then the second run reports every row unchanged and writes nothing", async () => {
    const csv = [HEADER,
      "E1,ann@example.com,Ann,Archer,ann@example.com,Finance,Controller,Employee,active,2025-01-06,,,CC1,London",
      "E2,bob@example.com,Bob,Baker,bob@example.com,Engineering,SRE,Employee,active,2025-02-03,,E1,CC2,Paris",
      "E3,cid@example.com,Cid,Cole,,Engineering,,Contractor,active,2025-03-03,2027-01-01,ann@example.com,,"].join("\n") + "\n";
    const first = await post(csv).expect(200);
    expect(first.body).to.deep.equal({ created: 3, updated: 0, unchanged: 0, rejected: 0, errors: [] });
    const ann = await user("ann@example.com");
    expect(ann).to.include({ source: "bamboo", employee_number: "E1", department: "Finance", active: true, employment_status: "active" });
    expect(ann.data.name).to.deep.equal({ givenName: "Ann", familyName: "Archer" });
    expect((await user("bob@example.com")).manager_id).to.equal(ann.id); // by employeeNumber
    expect((await user("cid@example.com")).manager_id).to.equal(ann.id); // by userName
    expect(await b.groupsOf(ann.id)).to.deep.equal(["finance"]); // rules ran in the write
    const cr = (id: string) => b.db.query(`SELECT source, operation FROM change_record WHERE resource_id = $1`, [id]).then((r) => r.rows);
    expect(await cr(ann.id)).to.deep.equal([{ source: "bamboo", operation: "create" }]);
    // a manager on an earlier row is waited for, so the report is created with it: one write, not two
    expect(await cr((await user("bob@example.com")).id)).to.deep.equal([{ source: "bamboo", operation: "create" }]);

    const before = await changes();
    const versions = (await b.db.query(`SELECT id, version FROM scim_user ORDER BY id`)).rows;
    const second = await post(csv).expect(200);
    expect(second.body).to.deep.equal({ created: 0, updated: 0, unchanged: 3, rejected: 0, errors: [] });
    expect(await changes()).to.equal(before);
    expect((await b.db.query(`SELECT id, version FROM scim_user ORDER BY id`)).rows).to.deep.equal(versions);
  });

  it("when rows are bad, then each is reported with its line in the file and skipped, and the others are imported", async () => {
    const csv = [HEADER, // line 1
      'B1,multi@example.com,Multi,"Line',  // lines 2-3: one record with a quoted line break
      'Name",,Sales,,Employee,active,,,,,', //
      "B2,bad-date@example.com,A,B,,Sales,,Employee,active,2025-02-30,,,,", // line 4
      "B3,bad-status@example.com,A,B,,Sales,,Employee,fired,,,,,",          // line 5
      "",                                                                  // line 6 (empty: skipped)
      "B4,,A,B,,Sales,,Employee,active,,,,,",                              // line 7
      "B1,dup@example.com,A,B,,Sales,,Employee,active,,,,,",               // line 8: employeeNumber again
      "B5,short@example.com,A",                                            // line 9: too few fields
      "B6,ok@example.com,Ok,Row,ok@example.com,Sales,,Employee,leave,,,,,", // line 10
      "B7,ann@example.com,A,B,,Sales,,Employee,active,,,,,",               // line 11: userName of E1 (409)
    ].join("\r\n");
    const res = await post(csv).expect(200);
    expect(res.body).to.include({ created: 2, updated: 0, unchanged: 0, rejected: 6 });
    const byLine = Object.fromEntries(res.body.errors.map((e: any) => [e.line, e.message]));
    expect(Object.keys(byLine).map(Number)).to.deep.equal([4, 5, 7, 8, 9, 11]);
    expect(byLine[4]).to.match(/startDate: '2025-02-30' is not a date/);
    expect(byLine[5]).to.match(/unknown employmentStatus 'fired'/);
    expect(byLine[7]).to.equal("no userName");
    expect(byLine[8]).to.match(/employeeNumber 'B1' already appears on line 2/);
    expect(byLine[9]).to.match(/has 3 fields, the header has 14/);
    expect(byLine[11]).to.match(/userName 'ann@example.com' is already taken/);
    expect((await user("multi@example.com")).data.name.familyName).to.equal("Line\r\nName");
    expect(await user("ok@example.com")).to.include({ employment_status: "leave" });
    for (const u of ["bad-date@example.com", "bad-status@example.com", "dup@example.com"]) expect(await user(u)).to.equal(undefined);
  });

  it("when a row moves a person and others terminate people, then lifecycle, rules and the mass-deprovision guard act as for SCIM writes", async () => {
    const csv = [HEADER,
      "E1,ann@example.com,Ann,Archer,ann@example.com,Engineering,Controller,Employee,active,2025-01-06,,,CC1,London", // mover
      "E2,bob@example.com,Bob,Baker,bob@example.com,Engineering,SRE,Employee,terminated,2025-02-03,,E1,CC2,Paris",     // leaver 1
      "E3,cid@example.com,Cid,Cole,,Engineering,,Contractor,terminated,2025-03-03,2025-12-31,ann@example.com,,",      // leaver 2 (left on its endDate)
      "B6,ok@example.com,Ok,Row,ok@example.com,Sales,,Employee,terminated,,,,,"].join("\n");                      // leaver 3
    const res = await post(csv).expect(200);
    expect(res.body).to.deep.equal({ created: 0, updated: 4, unchanged: 0, rejected: 0, errors: [] });
    const ann = await user("ann@example.com");
    expect(await b.groupsOf(ann.id)).to.deep.equal(["engineering"]);
    const kinds = (id: string) => b.db.query(`SELECT kind, held, source FROM lifecycle_event WHERE user_id = $1 ORDER BY id`, [id]).then((r) => r.rows);
    expect((await kinds(ann.id)).map((e) => e.kind)).to.include("mover");
    // maxUsers 2 within the window for source bamboo: one of the three leavers waits for a review. Rows are
    // written concurrently, so which one comes third is not fixed by the file order.
    const leavers = await Promise.all(["bob@example.com", "cid@example.com", "ok@example.com"].map(user));
    const last = await Promise.all(leavers.map(async (u) => ({ u, e: (await kinds(u.id)).at(-1) })));
    for (const { u, e } of last) expect(e, u.user_name + " " + JSON.stringify(await kinds(u.id))).to.include({ kind: "leaver", source: "bamboo" });
    const held = last.filter(({ e }) => e.held);
    expect(held, "exactly one leaver held").to.have.length(1);
    expect(held[0].u.active, "the held leaver keeps its access until the review").to.equal(true);
    for (const { u, e } of last) if (!e.held) expect(u.active).to.equal(false);
    const holds = (await b.admin.get("/reviews", { status: "pending", kind: "mass-deprovision" })).body.items;
    expect(holds).to.have.length(1);
    expect(holds[0].source).to.equal("bamboo");

    // the leaver stays disabled when the same file comes again (no implicit re-activation), and nothing is written
    const again = await post(csv).expect(200);
    expect(again.body).to.include({ updated: 0, unchanged: 4 });
    for (const { u } of last.filter(({ e }) => !e.held)) expect((await user(u.user_name)).active).to.equal(false);
  });

  it("when a manager is named by a row further down, then it is set once that row is in; an unknown one is reported and the row still imported", async () => {
    const csv = [HEADER,
      "M1,mia@example.com,Mia,Moss,,Sales,,Employee,active,,,M2,,",
      "M2,max@example.com,Max,Moss,,Sales,,Employee,active,,,,,",
      "M3,mo@example.com,Mo,Moss,,Sales,,Employee,active,,,nobody,,"].join("\n");
    const res = await post(csv).expect(200);
    expect(res.body).to.include({ created: 3, rejected: 0 });
    expect(res.body.errors).to.deep.equal([{ line: 4, message: "manager 'nobody' is not an employeeNumber or userName of source 'bamboo'; the row was imported without it" }]);
    expect((await user("mia@example.com")).manager_id).to.equal((await user("max@example.com")).id);
    expect((await user("mo@example.com")).manager_id).to.equal(null);
  });

  it("when a file brings new people, then each batch's new people are created in one transaction (as a /Bulk), reports of a manager on an earlier row after it, with it", async () => {
    const rows = Array.from({ length: 40 }, (_, i) => `BK${i},bulk${i}@example.com,Bea,Bulk${i},,${i % 2 ? "Finance" : "Engineering"},,Employee,active,,,${i === 7 ? "BK3" : ""},,`);
    rows.push("BK40,taken@example.com,Tia,Taken,,Sales,,Employee,active,,,,,", "BK41,TAKEN@example.com,Tom,Taken,,Sales,,Employee,active,,,,,");
    await b.db.query(`INSERT INTO scim_user (id, user_name, user_name_key, active, data, source, created_at, updated_at)
      VALUES (gen_random_uuid(), 'held@example.com', 'held@example.com', true, '{"userName":"held@example.com"}', 'okta', now(), now())`);
    rows.push("BK42,held@example.com,Hal,Held,,Sales,,Employee,active,,,,,");
    const res = await post([HEADER, ...rows].join("\n")).expect(200);
    expect(res.body).to.include({ created: 41, rejected: 2 });
    expect(res.body.errors.map((e: { line: number }) => e.line)).to.deep.equal([43, 44]); // a duplicate in the file; a userName another source holds
    expect(res.body.errors[1].message).to.equal("userName 'held@example.com' is already taken");
    const tx = await b.db.query(`SELECT xmin::text AS tx, count(*)::int AS n FROM scim_user WHERE employee_number LIKE 'BK%' GROUP BY 1 ORDER BY 2 DESC`);
    expect(tx.rows.map((r) => r.n)).to.deep.equal([40, 1]); // one transaction for 40 people; BK7 waited for its manager BK3
    const b7 = await user("bulk7@example.com");
    expect(b7.manager_id).to.equal((await user("bulk3@example.com")).id);
    expect(await b.groupsOf(b7.id)).to.deep.equal(["finance"]); // rules ran for the batch as for one create
    expect(await b.groupsOf((await user("bulk8@example.com")).id)).to.deep.equal(["engineering"]);
    expect(await b.groupsOf((await user("bulk9@example.com")).id)).to.deep.equal(["finance"]);
    expect(Number((await b.db.query(`SELECT count(*) AS n FROM lifecycle_event WHERE kind = 'joiner' AND user_id IN (SELECT id FROM scim_user WHERE employee_number LIKE 'BK%')`)).rows[0].n)).to.equal(41);
  });

  it("when userNames are spelled differently but share an identifier key (ß, fullwidth), then they are one person: a duplicate row, a manager reference", async () => {
    const byName = async (userName: string) => (await b.db.query(`SELECT id, manager_id FROM scim_user WHERE user_name = $1`, [userName])).rows[0];
    const first = await post([HEADER,
      "K1,straße@example.com,Kai,Straße,,Sales,,Employee,active,,,,,",
      "K2,ＳＴＲＡＳＳＥ@example.com,Kim,Strasse,,Sales,,Employee,active,,,,,"].join("\n")).expect(200);
    expect(first.body).to.include({ created: 1, rejected: 1 });
    expect(first.body.errors).to.deep.equal([{ line: 3, message: "userName 'ＳＴＲＡＳＳＥ@example.com' already appears on line 2" }]);
    const second = await post([HEADER, "K3,kit@example.com,Kit,Cole,,Sales,,Employee,active,,,STRASSE@example.com,,"].join("\n")).expect(200);
    expect(second.body).to.deep.equal({ created: 1, updated: 0, unchanged: 0, rejected: 0, errors: [] });
    expect((await byName("kit@example.com")).manager_id).to.equal((await byName("straße@example.com")).id);
  });

  it("when a mapping renames columns, adds attributes, translates statuses and reads day-first dates, then rows are read through it", async () => {
    const mapping = [
      "columns: { employeeNumber: Employee ID, userName: Work Email, employmentStatus: Status, startDate: Hire Date }",
      "attributes: { Nickname: nickName, Division: division }",
      "values: { employmentStatus: { Inactive: terminated, Current: active } }",
      "dateFormat: DD/MM/YYYY", "ignore: [Notes]", "delimiter: ';'"].join("\n");
    const csv = "Employee ID;Work Email;Status;Hire Date;Nickname;Division;Notes\nW1;wes@example.com;Current;31/01/2025;Wes;Retail;anything\n";
    const res = await post(csv, { mapping }).expect(200);
    expect(res.body).to.deep.equal({ created: 1, updated: 0, unchanged: 0, rejected: 0, errors: [] });
    const wes = await user("wes@example.com");
    expect(wes.data.nickName).to.equal("Wes");
    expect(wes.data[ENT]).to.include({ division: "Retail", employeeNumber: "W1" });
    expect(wes.data[HR]).to.include({ employmentStatus: "active", startDate: "2025-01-31T00:00:00.000Z" });
    const unknown = await post("Employee ID;Work Email;Shoe size\nW2;x@example.com;42\n", { mapping }).expect(400);
    expect(JSON.stringify(unknown.body)).to.match(/unknown column 'Shoe size'/);
    expect((await post(csv, { mapping: "attributes: { X: groups }" }).expect(400)).status).to.equal(400);
  });

  it("when a dry run is asked, then the counts are those of a real run and nothing is written", async () => {
    const before = await changes();
    const csv = [HEADER,
      "E1,ann@example.com,Ann,Archer,ann@example.com,Finance,Controller,Employee,active,2025-01-06,,,CC1,London",
      "N1,new@example.com,New,Person,,Sales,,Employee,active,,,E1,,",
      "N2,ann@example.com,Dup,Name,,Sales,,Employee,active,,,,,"].join("\n");
    const res = await post(csv, { dryRun: "true" }).expect(200);
    expect(res.body).to.include({ created: 1, updated: 1, unchanged: 0, rejected: 1 });
    expect(res.body.errors).to.deep.equal([{ line: 4, message: "userName 'ann@example.com' already appears on line 2" }]);
    expect(await changes()).to.equal(before);
    expect(await user("new@example.com")).to.equal(undefined);
  });

  it("when the request is not a CSV import an admin may make, then it is refused before anything is read", async () => {
    expect((await post(`${HEADER}\n`, { source: "" }).expect(400)).status).to.equal(400);
    expect((await post(`${HEADER}\n`, { dryRun: "maybe" })).status).to.equal(400);
    expect((await post('{"a":1}', {}, "application/json")).status).to.equal(400);
    expect((await post("givenName\nAnn\n")).status).to.equal(400); // no employeeNumber / userName columns
    expect((await post("")).status).to.equal(400);
    const reader = await request(`${b.t.url}/admin/v1`).post("/import?source=x").set("Authorization", `Bearer ${b.t.readToken}`).set("Content-Type", "text/csv").send(`${HEADER}\n`);
    expect(reader.status).to.equal(403);
  });
});
