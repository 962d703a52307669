// Identity look-alikes (issue 14 defect 3): one normalisation for identifiers (docs/identifiers.md) decides
// uniqueness and eq, invisible and control characters and mixed-script confusables are refused.
import { expect } from "chai";
import pg from "pg";
import { startTestBroker, type TestBroker } from "../helpers/broker.ts";
import { scimClient, userBody, GROUP_SCHEMA } from "../helpers/scim.ts";
import { rekeyIdentifiers } from "../../src/store/identifier-rekey.ts";

describe("SCIM identifiers: look-alikes, invisible characters, confusables", function () {
  this.timeout(60_000);
  let t: TestBroker;
  let c: ReturnType<typeof scimClient>;
  let db: pg.Pool;
  before(async () => {
    t = await startTestBroker();
    c = scimClient(t.base, t.token);
    db = new pg.Pool({ connectionString: t.databaseUrl, max: 2 });
  });
  after(async () => { await db.end(); await t.stop(); });

  const create = (userName: string, over: Record<string, unknown> = {}) => c.post("/Users", userBody({ userName, emails: [], ...over }));
  const users = async (filter: string) => {
    const r = await c.get("/Users", { filter });
    expect(r.status, JSON.stringify(r.body)).to.equal(200);
    return r.body.Resources.map((u: any) => u.userName as string);
  };

  // [first, look-alike]: the look-alike is the same identifier → 409, and eq on either finds the first.
  const SAME: Array<[string, string]> = [
    ["İnga.k@example.com", "inga.k@example.com"],
    ["ΟΔΥΣΣΕΥΣ", "οδυσσευσ"],
    ["ann", "ａｎｎ"],
    ["\u00e5sa", "a\u030asa"],                 // composed å, decomposed a + ring
    ["ff.l", "\ufb00.l"],                       // ligature ﬀ
    ["STRASSE", "straße"],
    ["džemo", "\u01c5emo"],                    // ǅ titlecase digraph
  ];
  for (const [first, lookalike] of SAME) {
    it(`when ${JSON.stringify(first)} exists, then ${JSON.stringify(lookalike)} is the same identifier: 409, and eq finds only the first`, async () => {
      expect((await create(first)).status).to.equal(201);
      const dup = await create(lookalike);
      expect(dup.status, JSON.stringify(dup.body)).to.equal(409);
      expect(dup.body.scimType).to.equal("uniqueness");
      expect(await users(`userName eq "${lookalike}"`)).to.deep.equal([first]);
      expect(await users(`userName eq "${first}"`)).to.deep.equal([first]);
    });
  }

  const INVISIBLE: Array<[string, string]> = [
    ["zero-width space", "ze\u200bro@example.com"], ["leading space", " lead@example.com"], ["trailing space", "trail@example.com "],
    ["tab", "ta\tb@example.com"], ["RTL override", "\u202emoc.elpmaxe@evil"], ["soft hyphen", "so\u00adft@example.com"],
    ["mixed-script confusable (Cyrillic а)", "p\u0430ypal@example.com"],
  ];
  for (const [what, value] of INVISIBLE) {
    it(`when a userName contains a ${what}, then 400 invalidValue names userName and nothing is written`, async () => {
      const before = (await db.query("SELECT count(*)::int n FROM scim_user")).rows[0].n;
      const r = await create(value);
      expect(r.status, JSON.stringify(r.body)).to.equal(400);
      expect(r.body.scimType).to.equal("invalidValue");
      expect(r.body.detail).to.include("userName");
      expect((await db.query("SELECT count(*)::int n FROM scim_user")).rows[0].n).to.equal(before);
    });
  }

  it("when externalId or an e-mail carries an invisible character or a confusable, then 400 names it", async () => {
    const ext = await create("ext.ok@example.com", { externalId: "W\u200b123" });
    expect(ext.status).to.equal(400);
    expect(ext.body.detail).to.include("externalId");
    const mail = await create("mail.ok@example.com", { emails: [{ value: "p\u0430ypal@example.com", type: "work" }] });
    expect(mail.status).to.equal(400);
    expect(mail.body.detail).to.include("emails[0].value");
  });

  it("when an e-mail is filtered by a look-alike spelling, then eq compares identifier keys on both sides", async () => {
    expect((await create("greek.mail@example.com", { emails: [{ value: "ΟΔΥΣΣΕΥΣ@ΠΑΡΑΔΕΙΓΜΑ.ΕΛ", type: "work" }] })).status).to.equal(201);
    expect(await users('emails[type eq "work"].value eq "οδυσσευσ@παραδειγμα.ελ"')).to.deep.equal(["greek.mail@example.com"]);
    expect(await users('emails.value sw "ΟΔΥΣΣΕΥΣ@"')).to.deep.equal(["greek.mail@example.com"]);
    // A Latin look-alike spelling is another identifier (and, mixed with Greek, refused on write).
    expect(await users('emails.value eq "odysseus@paradeigma.el"')).to.deep.equal([]);
  });

  it("when names in other scripts are used alone, then they are accepted (whole-script names are legitimate)", async () => {
    for (const name of ["Ελένη", "山田太郎", "Ωmega.x", "jose.müller@example.de"]) expect((await create(name)).status, name).to.equal(201);
  });

  it("when Groups look like the managed 'finance' (fullwidth, trailing space), then 409 or 400, never a second group", async () => {
    const g = await c.post("/Groups", { schemas: [GROUP_SCHEMA], displayName: "finance" });
    expect(g.status).to.equal(201);
    await db.query("UPDATE scim_group SET managed = true WHERE id = $1", [g.body.id]);
    const wide = await c.post("/Groups", { schemas: [GROUP_SCHEMA], displayName: "ｆｉｎａｎｃｅ" });
    expect(wide.status, JSON.stringify(wide.body)).to.equal(409);
    const spaced = await c.post("/Groups", { schemas: [GROUP_SCHEMA], displayName: "finance " });
    expect(spaced.status).to.equal(400);
    expect(spaced.body.detail).to.include("displayName");
    const r = await c.get("/Groups", { filter: 'displayName eq "ＦＩＮＡＮＣＥ"' });
    expect(r.body.Resources.map((x: any) => x.id)).to.deep.equal([g.body.id]);
    expect((await db.query("SELECT count(*)::int n FROM scim_group WHERE display_name_key = 'finance'")).rows[0].n).to.equal(1);
  });

  it("when rows were keyed with lower() before the migration, then its data step re-keys them and reports look-alike pairs", async () => {
    const client = await db.connect();
    try {
      await client.query("BEGIN");
      // Pre-migration keys: lower(user_name), emails without keys; two rows that are now one identifier.
      const ins = (name: string, key: string) => client.query(
        `INSERT INTO scim_user (user_name, user_name_key, active, data) VALUES ($1, $2, true, $3) RETURNING id`,
        [name, key, { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: name, emails: [{ value: `${name}@Example.com` }] }]);
      const a = (await ins("Migr.STRASSE", "migr.strasse")).rows[0].id;
      const b = (await ins("Migr.Straße", "migr.straße")).rows[0].id;
      const d = (await ins("Migr.ＺＥＤ", "migr.ｚｅｄ")).rows[0].id;
      const results = await rekeyIdentifiers(client);
      const keys = Object.fromEntries((await client.query(`SELECT id, user_name_key, email_keys FROM scim_user WHERE id = ANY($1::uuid[])`, [[a, b, d]])).rows.map((r) => [r.id, r]));
      expect(keys[a].user_name_key).to.equal("migr.strasse");
      expect(keys[b].user_name_key).to.equal("migr.straße");      // kept: its key is held by the older row
      expect(keys[d].user_name_key).to.equal("migr.zed");
      expect(keys[d].email_keys).to.deep.equal(["migr.zed@example.com"]);
      expect(results[0]!.unresolved.map((u) => u.id)).to.deep.equal([b]);
    } finally {
      await client.query("ROLLBACK");
      client.release();
    }
  });
});
