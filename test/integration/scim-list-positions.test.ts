// Unfiltered pages by position (RFC 7644 §3.4.2.4 startIndex) start at the row the trigger-kept block counts
// locate (migration 20261212100000_list_positions): here checked against PostgreSQL's own OFFSET over seq
// order, with rows spread over several blocks of 4096 seq values, gaps, and deletes from other connections.
import { expect } from "chai";
import pg from "pg";
import { startTestBroker, type TestBroker } from "../helpers/broker.ts";
import { scimClient, userBody, GROUP_SCHEMA } from "../helpers/scim.ts";

describe("Unfiltered pages by startIndex over the block counts", () => {
  let t: TestBroker;
  let c: ReturnType<typeof scimClient>;
  let db: pg.Client;
  // seq values chosen to fill several blocks unevenly: the first, a block edge (4095 | 4096), an empty
  // stretch, and a far block
  const seqs = [...Array.from({ length: 12 }, (_, i) => i + 1), 4094, 4095, 4096, 4097, 8191, ...Array.from({ length: 9 }, (_, i) => 13_000 + i * 3), 40_000];

  before(async () => {
    t = await startTestBroker();
    c = scimClient(t.base, t.token);
    db = new pg.Client({ connectionString: t.databaseUrl });
    await db.connect();
    await db.query(`INSERT INTO scim_user (seq, user_name, user_name_key, data)
      SELECT s, 'pos' || s || '@example.com', 'pos' || s || '@example.com',
        jsonb_build_object('schemas', jsonb_build_array('urn:ietf:params:scim:schemas:core:2.0:User'), 'userName', 'pos' || s || '@example.com')
      FROM unnest($1::bigint[]) s`, [seqs]);
    await db.query("SELECT setval(pg_get_serial_sequence('scim_user', 'seq'), 20000)");
    // SCIM creates take the next seq values (a block of their own); SCIM deletes run on the
    // broker's pooled connections, so the counts they lower are other shard rows than the inserts raised.
    for (let i = 0; i < 6; i++) expect((await c.post("/Users", userBody())).status).to.equal(201);
    for (const s of [3, 4096, 13_006]) {
      const { rows } = await db.query("SELECT id FROM scim_user WHERE seq = $1", [s]);
      expect((await c.del(`/Users/${rows[0].id}`)).status).to.equal(204);
    }
  });
  after(async () => { await db.end(); await t.stop(); });

  const expected = async (offset: number, count: number) =>
    (await db.query("SELECT id FROM scim_user ORDER BY seq OFFSET $1 LIMIT $2", [offset, count])).rows.map((r) => r.id);

  it("when paging by startIndex without filter or sort, then every page holds exactly the rows OFFSET finds and totalResults is exact", async () => {
    const total = (await db.query("SELECT count(*)::int AS n FROM scim_user")).rows[0].n;
    for (let startIndex = 1; startIndex <= total + 2; startIndex++) {
      const res = await c.get("/Users", { startIndex, count: 4 });
      expect(res.status).to.equal(200);
      expect(res.body, `startIndex ${startIndex}`).to.include({ totalResults: total, startIndex, itemsPerPage: Math.max(0, Math.min(4, total - startIndex + 1)) });
      expect(res.body.Resources.map((r: { id: string }) => r.id), `startIndex ${startIndex}`).to.deep.equal(await expected(startIndex - 1, 4));
    }
  });

  it("when rows are inserted and deleted, then the block counts stay equal to the rows of each block", async () => {
    const group = await c.post("/Groups", { schemas: [GROUP_SCHEMA], displayName: "positions" });
    expect(group.status).to.equal(201);
    const { rows } = await db.query(`
      SELECT t.resource_type, t.block_start, t.n::int AS counted, coalesce(r.n, 0)::int AS actual
      FROM (SELECT resource_type, block_start, sum(n) AS n FROM resource_block_count GROUP BY 1, 2) t
      FULL JOIN (SELECT 'User' AS resource_type, seq - seq % 4096 AS block_start, count(*) AS n FROM scim_user GROUP BY 2
                 UNION ALL SELECT 'Group', seq - seq % 4096, count(*) FROM scim_group GROUP BY 2) r
        USING (resource_type, block_start)
      WHERE t.n IS DISTINCT FROM r.n AND NOT (t.n = 0 AND r.n IS NULL)`);
    expect(rows).to.deep.equal([]);
    expect((await c.get("/Groups", { startIndex: 1, count: 5 })).body).to.include({ totalResults: 1, itemsPerPage: 1 });
    expect((await c.get("/Groups", { startIndex: 2, count: 5 })).body).to.include({ totalResults: 1, itemsPerPage: 0 });
  });

  it("when a filter matches some users, then every page of it — by startIndex, by cursor, past the end — counts all its matches", async () => {
    const filter = 'userName sw "pos1"';
    const matches = (await db.query("SELECT count(*)::int AS n FROM scim_user WHERE user_name_key LIKE 'pos1%'")).rows[0].n;
    expect(matches).to.be.greaterThan(3);
    for (const startIndex of [1, 3, matches, matches + 1, 1000])
      expect((await c.get("/Users", { filter, startIndex, count: 2 })).body, `startIndex ${startIndex}`).to.include({ totalResults: matches });
    let cursor = "";
    for (let page = 0; page < matches; page++) {
      const res = await c.get("/Users", { filter, cursor, count: 2 });
      expect(res.body.totalResults).to.equal(matches);
      if (!res.body.nextCursor) break;
      cursor = res.body.nextCursor;
    }
  });

  it("when the page is far beyond the last row or asks for no rows, then it is empty and still counts every row", async () => {
    const total = (await db.query("SELECT count(*)::int AS n FROM scim_user")).rows[0].n;
    expect((await c.get("/Users", { startIndex: 1_000_000, count: 10 })).body).to.include({ totalResults: total, itemsPerPage: 0 });
    expect((await c.get("/Users", { startIndex: 5, count: 0 })).body).to.include({ totalResults: total, itemsPerPage: 0 });
  });
});
