// The job keys built in TypeScript and the same keys built by SQL statements (outbox, orphan sweep, crash
// recovery) must be spelled alike, or a statement would miss (or duplicate) the job of its key. PostgreSQL
// evaluates the SQL forms here (the test run's server, no tables read).
import { expect } from "chai";
import fc from "fast-check";
import pg from "pg";
import { batchJobKey, batchJobKeySql, bucketOf, groupJobKey, groupJobKeySql, userJobKey, userJobKeySql } from "../../../src/jobs/fanout-jobs.ts";

describe("jobs/fanout-jobs job keys: TypeScript and SQL forms", () => {
  let client: pg.Client;
  before(async () => {
    client = new pg.Client({ connectionString: process.env.BROKER_TEST_ADMIN_URL });
    await client.connect();
  });
  after(async () => { await client.end(); });

  const inSql = async (app: string, id: string, bucket: number) => (await client.query(
    `SELECT ${userJobKeySql("$1::text", "$2::uuid::text")} AS user_key, ${groupJobKeySql("$1::text", "$2::uuid::text")} AS group_key,
            ${batchJobKeySql("$1::text", "$3::int")} AS batch_key`, [app, id, bucket])).rows[0];

  it("when a user, group or batch key is built in SQL, then it equals the TypeScript key", async () => {
    const app = "hr-app-1";
    const id = "0c9f3a52-7d1e-4b6a-9f00-1234567890ab";
    const row = await inSql(app, id, bucketOf(id));
    expect(row).to.deep.equal({ user_key: userJobKey(app, id), group_key: groupJobKey(app, id), batch_key: batchJobKey(app, bucketOf(id)) });
    expect(row.user_key).to.equal(`deliver:${app}:${id}`);
  });

  it("when app names and ids vary, then the forms still agree (uuids as PostgreSQL prints them)", async () => {
    await fc.assert(fc.asyncProperty(fc.stringMatching(/^[a-z0-9-]{1,20}$/), fc.uuid(), async (app, id) => {
      const row = await inSql(app, id, bucketOf(id));
      expect(row).to.deep.equal({ user_key: userJobKey(app, id), group_key: groupJobKey(app, id), batch_key: batchJobKey(app, bucketOf(id)) });
    }), { numRuns: 50 });
  });
});
