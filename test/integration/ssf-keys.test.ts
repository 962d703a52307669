// Signing keys and streams declared in broker.yaml: the private key is sealed at rest, rotation keeps the
// old public key in the JWKS, and a declared push stream gets a leaver's SETs with its ${VAR} header.
import { expect } from "chai";
import request from "supertest";
import pg from "pg";
import { decodeProtectedHeader } from "jose";
import { startTestBroker, type TestBroker } from "../helpers/broker.ts";
import { eventually, person, writePolicy } from "./fanout-harness.ts";
import { eventTypeOf, startReceiver, verifySet, type FakeReceiver } from "./ssf-harness.ts";

describe("SSF signing keys and broker.yaml streams", function () {
  this.timeout(60_000);
  let t: TestBroker, rcv: FakeReceiver, db: pg.Pool, policy: Awaited<ReturnType<typeof writePolicy>>;
  const auth = () => ({ Authorization: `Bearer ${t.token}` });

  before(async () => {
    rcv = await startReceiver();
    policy = await writePolicy([
      "groups: []", "guards:", "  massDeprovision: { maxUsers: 100000, maxPercent: 100 }", "apps: []",
      "ssf:", "  streams:", "    - name: mdm",
      `      delivery: { method: push, url: "${rcv.url}", authorization: "Bearer \${MDM_SSF_TOKEN}" }`,
      "      events: [session-revoked, account-disabled]", "",
    ].join("\n"));
    t = await startTestBroker({ env: { BROKER_CONFIG: policy.file, MDM_SSF_TOKEN: "mdm-secret", BROKER_PUBLIC_URL: "https://broker.example.com" } });
    db = new pg.Pool({ connectionString: t.databaseUrl, max: 2 });
  });
  after(async () => { await db?.end(); await t?.stop(); await rcv?.close(); await policy?.cleanup(); });

  it("when the broker first starts, then one signing key exists, its private half sealed (never a clear JWK)", async () => {
    const { rows } = await db.query(`SELECT kid, private_sealed, public_jwk FROM ssf_key`);
    expect(rows).to.have.length(1);
    expect(rows[0].private_sealed).to.match(/^v1\.[0-9a-f]{8}\./);
    expect(rows[0].private_sealed).to.not.include('"d"');
    expect(rows[0].public_jwk).to.not.have.property("d");
  });

  it("when broker.yaml declares a stream, then an admin token sees it and its header is sealed", async () => {
    const list = (await request(t.url).get("/ssf/stream").set(auth()).expect(200)).body;
    expect(list).to.have.length(1);
    expect(list[0].iss).to.equal("https://broker.example.com");
    expect(list[0].events_delivered).to.have.length(2);
    const { rows } = await db.query(`SELECT auth_sealed FROM ssf_stream WHERE name = 'mdm'`);
    expect(rows[0].auth_sealed).to.match(/^v1\./).and.not.include("mdm-secret");
  });

  it("when the key is rotated, then the JWKS publishes both, and new SETs carry the new kid", async () => {
    const oldKid = (await t.broker.ssf.keys.jwks()).keys[0]!.kid;
    const newKid = await t.broker.ssf.rotateKeys();
    const jwks = (await request(t.url).get("/ssf/jwks.json").expect(200)).body;
    expect(jwks.keys.map((k: any) => k.kid)).to.deep.equal([newKid, oldKid]);
    const created = (await request(t.url).post("/scim/v2/Users").set(auth()).set("Content-Type", "application/scim+json").send(person(`rotated.${Date.now()}@example.com`))).body;
    await request(t.url).patch(`/scim/v2/Users/${created.id}`).set(auth()).set("Content-Type", "application/scim+json")
      .send({ schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "replace", path: "active", value: false }] }).expect(200);
    await eventually(() => { if (rcv.received.length < 2) throw new Error("not yet"); });
    expect(rcv.received.map((j) => decodeProtectedHeader(j))).to.deep.equal([
      { alg: "ES256", kid: newKid, typ: "secevent+jwt" }, { alg: "ES256", kid: newKid, typ: "secevent+jwt" }]);
    // The issuer is the public URL (not this loopback address): fetch the JWKS from where the test can reach it.
    const payloads = await Promise.all(rcv.received.map((j) => verifySet(j, { issuer: "https://broker.example.com", jwks_uri: `${t.url}/ssf/jwks.json` })));
    expect(payloads.map(eventTypeOf)).to.have.members([
      "https://schemas.openid.net/secevent/caep/event-type/session-revoked", "https://schemas.openid.net/secevent/risc/event-type/account-disabled"]);
    expect(rcv.authorization).to.deep.equal(["Bearer mdm-secret", "Bearer mdm-secret"]);
    // Leavers first: both SETs carry the leaver priority.
    const { rows } = await db.query(`SELECT DISTINCT priority FROM ssf_set WHERE user_id = $1`, [created.id]);
    expect(rows).to.deep.equal([{ priority: -10 }]);
  });
});
