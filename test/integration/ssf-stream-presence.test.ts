// Whether any SSF stream is live is known in memory (src/ssf/stream-presence.ts): a broker without streams
// does not read them in its HR transactions, and a stream created anywhere — this process, another broker
// process on the same database — is seen by the next HR write once PostgreSQL's notification arrives.
import { expect } from "chai";
import { startTestBroker, type TestBroker } from "../helpers/broker.ts";
import { scimClient } from "../helpers/scim.ts";
import { FAST_ENV, person, policyYaml, writePolicy } from "./fanout-harness.ts";
import { ssfClient } from "./ssf-harness.ts";

const CAEP = "https://schemas.openid.net/secevent/caep/event-type/";

describe("SSF: whether a stream is live, known without a read", function () {
  this.timeout(60_000);
  let a: TestBroker, b: TestBroker;
  let policy: Awaited<ReturnType<typeof writePolicy>>;
  before(async () => {
    policy = await writePolicy(policyYaml([]).yaml); // managed groups, no apps: lifecycle classifies HR changes
    const env = { BROKER_CONFIG: policy.file, ...FAST_ENV };
    a = await startTestBroker({ env });
    b = await startTestBroker({ env, databaseUrl: a.databaseUrl }); // a second broker process on the same database
  });
  after(async () => { await b?.stop(); await a?.stop(); await policy?.cleanup(); });

  const presence = (t: TestBroker) => t.broker.ssf.presence;
  /** Resolves at the next invalidation of `t`'s answer (a notification, or its own stream change). */
  const changed = (t: TestBroker) => new Promise<void>((resolve) => { const off = presence(t).onChange(() => { off(); resolve(); }); });
  /** HR writes on `t` until it knows that no stream is live (its LISTEN must be in effect first). */
  const settleNone = async (t: TestBroker, tag: string) => {
    const scim = scimClient(t.base, t.token);
    for (let i = 0; presence(t).mayHaveStreams(); i++) expect((await scim.post("/Users", person(`${tag}${i}@example.com`))).status).to.equal(201);
  };
  const setsOfUser = async (t: TestBroker, userId: string) => (await t.broker.db.pool.query(
    `SELECT stream_id FROM ssf_set WHERE user_id = $1`, [userId])).rows;

  it("when no stream is live, then after one HR write a broker knows it and its HR writes issue nothing", async () => {
    await settleNone(a, "none");
    const user = await scimClient(a.base, a.token).post("/Users", person("quiet@example.com"));
    expect(user.status).to.equal(201);
    expect(presence(a).mayHaveStreams()).to.equal(false);
    expect(await setsOfUser(a, user.body.id)).to.deep.equal([]);
  });

  it("when another broker process creates a stream, then this one reads streams again after the notification and the next HR change reaches the stream", async () => {
    await settleNone(a, "before");
    const heard = changed(a);
    const rx = ssfClient(b.url, (await b.broker.tokens.create({ name: "presence-receiver", scopes: ["ssf"] })).token);
    const created = await rx.post("/ssf/stream", { delivery: { method: "urn:ietf:rfc:8936" }, events_requested: [`${CAEP}session-revoked`] });
    expect(created.status).to.equal(201);
    expect(presence(b).mayHaveStreams(), "the creating process at once").to.equal(true);
    await heard; // the other process: PostgreSQL's notification, no timer
    expect(presence(a).mayHaveStreams()).to.equal(true);
    const scim = scimClient(a.base, a.token);
    const user = (await scim.post("/Users", person("seen@example.com"))).body;
    expect((await scim.patch(`/Users/${user.id}`, [{ op: "replace", path: "active", value: false }])).status).to.equal(200);
    expect((await setsOfUser(a, user.id)).map((r) => r.stream_id)).to.include(created.body.stream_id);
  });
});
