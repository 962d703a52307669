// The SSF receiver end to end: a real "IdP" on loopback signs SETs with its own key pair and serves its JWKS;
// the broker trusts it in broker.yaml (`ssf.receive.issuers`) and turns a RISC account-disabled into a leaver
// or a review as the policy says; bad signatures, unknown issuers, wrong audiences and missing tokens are
// refused with RFC 8935 §2.4 codes; a replayed jti is accepted and not applied twice.
import { expect } from "chai";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import request from "supertest";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { startFanoutBroker, policyYaml, writePolicy, type FanoutBroker } from "./fanout-harness.ts";

const RISC_DISABLED = "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
const CAEP_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const ISS_LEAVER = "https://idp-leaver.example";
const ISS_REVIEW = "https://idp-review.example";
const AUD = "https://broker.example";
const ISS_DOWN = "https://idp-down.example";

interface Idp { url: string; server: Server; keys: Record<string, { priv: CryptoKey; jwk: JWK }> }

/** A loopback IdP: one key pair per issuer, each issuer's JWKS at /<name>/jwks. */
async function startIdp(names: string[]): Promise<Idp> {
  const keys: Idp["keys"] = {};
  for (const n of names) {
    const { privateKey, publicKey } = await generateKeyPair("ES256");
    keys[n] = { priv: privateKey, jwk: { ...(await exportJWK(publicKey)), kid: `${n}-1`, alg: "ES256", use: "sig" } };
  }
  const server = createServer((req, res) => {
    const name = req.url?.split("/")[1] ?? "";
    if (!keys[name] || !req.url?.endsWith("/jwks")) { res.writeHead(404).end(); return; }
    res.writeHead(200, { "content-type": "application/jwk-set+json" }).end(JSON.stringify({ keys: [keys[name].jwk] }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, keys };
}

async function sign(key: { priv: CryptoKey; jwk: JWK }, claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: key.jwk.kid!, typ: "secevent+jwt" }).setIssuedAt().sign(key.priv);
}

const disabled = (iss: string, subId: unknown, over: Record<string, unknown> = {}) => ({
  iss, aud: AUD, jti: randomUUID(), sub_id: subId, events: { [RISC_DISABLED]: { reason: "hijacking" } }, ...over,
});

describe("SSF receiver: SETs pushed by a trusted IdP become lifecycle input", function () {
  this.timeout(60_000);
  let idp: Idp, b: FanoutBroker, idpToken: string;
  let policy: Awaited<ReturnType<typeof writePolicy>>;

  before(async () => {
    idp = await startIdp(["leaver", "review", "rogue"]);
    const ssf = [
      "ssf:", "  receive:", "    issuers:",
      `      - { issuer: "${ISS_LEAVER}", jwksUri: "${idp.url}/leaver/jwks", audience: "${AUD}", actions: { accountDisabled: leaver } }`,
      `      - { issuer: "${ISS_REVIEW}", jwksUri: "${idp.url}/review/jwks", audience: "${AUD}" }`,
      `      - { issuer: "${ISS_DOWN}", jwksUri: "${idp.url}/nowhere/jwks", audience: "${AUD}" }`,
    ];
    policy = await writePolicy(policyYaml([]).yaml + ssf.join("\n") + "\n");
    b = await startFanoutBroker([], { env: { BROKER_CONFIG: policy.file } });
    idpToken = (await b.t.broker.tokens.create({ name: "okta-ssf", scopes: ["ssf"] })).token;
  });
  after(async () => { await b?.stop(); await policy?.cleanup(); await new Promise((r) => idp?.server.close(r)); });

  const push = (jws: string, token = idpToken, type = "application/secevent+jwt") =>
    request(b.t.url).post("/ssf/receive").set("Authorization", `Bearer ${token}`).set("Content-Type", type).send(jws);
  const user = async (id: string) => (await b.scim.get(`/Users/${id}`)).body;
  const received = async (jti: string) => (await b.db.query(`SELECT action, user_id, event_type FROM ssf_received_set WHERE jti = $1`, [jti])).rows;

  it("when the leaver issuer disables an account by email, then 202 and the user goes down the leaver path with a change record of source ssf", async () => {
    const u = await b.create("rx.leaver@example.com");
    const claims = disabled(ISS_LEAVER, { format: "email", email: "RX.Leaver@example.com" });
    await push(await sign(idp.keys.leaver!, claims)).expect(202);
    expect((await user(u.id)).active).to.equal(false);
    expect(await received(claims.jti)).to.deep.equal([{ action: "leaver", user_id: u.id, event_type: RISC_DISABLED }]);
    const change = (await b.db.query(`SELECT id, source FROM change_record WHERE resource_id = $1 ORDER BY id DESC LIMIT 1`, [u.id])).rows[0];
    expect(change.source).to.equal("ssf");
    const events = (await b.db.query(`SELECT kind, change_id FROM lifecycle_event WHERE user_id = $1`, [u.id])).rows;
    expect(events.map((e) => [e.kind, String(e.change_id)])).to.deep.include(["leaver", String(change.id)]);
    const audit = (await b.db.query(`SELECT details, cause FROM audit_event WHERE kind = 'ssf.set.received' AND user_id = $1`, [u.id])).rows;
    expect(audit).to.have.length(1);
    expect(audit[0].details).to.include({ iss: ISS_LEAVER, jti: claims.jti, action: "leaver" });
    expect(Number(audit[0].cause.changeId)).to.equal(Number(change.id));
  });

  it("when the same jti is pushed again after the user was re-enabled, then 202 and nothing is applied twice", async () => {
    const u = await b.create("rx.replay@example.com");
    const jws = await sign(idp.keys.leaver!, disabled(ISS_LEAVER, { format: "email", email: "rx.replay@example.com" }));
    await push(jws).expect(202);
    expect((await user(u.id)).active).to.equal(false);
    await b.scim.patch(`/Users/${u.id}`, [{ op: "replace", path: "active", value: true }]).expect(200);
    await push(jws).expect(202);
    expect((await user(u.id)).active).to.equal(true);
    expect((await b.db.query(`SELECT count(*)::int AS n FROM ssf_received_set WHERE user_id = $1`, [u.id])).rows[0].n).to.equal(1);
  });

  it("when an issuer without a leaver policy disables an account by iss_sub, then 202 and a data-quality review waits for an owner", async () => {
    const u = await b.create("rx.review@example.com", { externalId: "00u-okta-42" });
    const claims = disabled(ISS_REVIEW, { format: "iss_sub", iss: ISS_REVIEW, sub: "00u-okta-42" });
    await push(await sign(idp.keys.review!, claims)).expect(202);
    expect((await user(u.id)).active).to.equal(true);
    const reviews = (await b.db.query(`SELECT kind, status, source, payload FROM review WHERE user_id = $1`, [u.id])).rows;
    expect(reviews).to.have.length(1);
    expect(reviews[0]).to.include({ kind: "data-quality", status: "pending", source: "ssf" });
    expect(reviews[0].payload.signals[0]).to.include({ name: "ssf", iss: ISS_REVIEW, jti: claims.jti, eventType: RISC_DISABLED });
    expect((await received(claims.jti))[0].action).to.equal("review");
    const listed = (await b.admin.get("/reviews", { kind: "data-quality" }).expect(200)).body;
    expect(JSON.stringify(listed)).to.include(u.id);
  });

  it("when a session-revoked arrives for an unknown subject, then 202 and it is only recorded", async () => {
    const claims = { iss: ISS_REVIEW, aud: AUD, jti: randomUUID(), sub_id: { format: "opaque", id: "nobody-here" }, events: { [CAEP_REVOKED]: { event_timestamp: 1 } } };
    await push(await sign(idp.keys.review!, claims)).expect(202);
    expect(await received(claims.jti)).to.deep.equal([{ action: "unknown-subject", user_id: null, event_type: CAEP_REVOKED }]);
  });

  it("when the signature is not the issuer's, then 400 invalid_key and nothing is recorded", async () => {
    const u = await b.create("rx.forged@example.com");
    const claims = disabled(ISS_LEAVER, { format: "email", email: "rx.forged@example.com" });
    // signed by another key under the leaver issuer's kid
    const forged = await sign({ priv: idp.keys.rogue!.priv, jwk: idp.keys.leaver!.jwk }, claims);
    const res = await push(forged).expect(400);
    expect(res.body.err).to.equal("invalid_key");
    expect(res.body.description).to.be.a("string");
    expect((await user(u.id)).active).to.equal(true);
    expect(await received(claims.jti)).to.deep.equal([]);
  });

  it("when the issuer is not on the trust list, then 400 invalid_issuer", async () => {
    const claims = disabled("https://rogue.example", { format: "email", email: "rx.leaver@example.com" });
    expect((await push(await sign(idp.keys.rogue!, claims)).expect(400)).body.err).to.equal("invalid_issuer");
  });

  it("when the audience is another recipient, then 400 invalid_audience", async () => {
    const claims = disabled(ISS_LEAVER, { format: "email", email: "rx.leaver@example.com" }, { aud: "https://someone-else.example" });
    expect((await push(await sign(idp.keys.leaver!, claims)).expect(400)).body.err).to.equal("invalid_audience");
  });

  it("when the body is not a SET or not sent as secevent+jwt, then 400 invalid_request", async () => {
    expect((await push("not-a-jws").expect(400)).body.err).to.equal("invalid_request");
    const jws = await sign(idp.keys.leaver!, disabled(ISS_LEAVER, { format: "email", email: "x@example.com" }));
    expect((await push(jws, idpToken, "text/plain").expect(400)).body.err).to.equal("invalid_request");
  });

  it("when the issuer's JWKS cannot be read, then 503 with Retry-After so that the transmitter retries", async () => {
    const res = await push(await sign(idp.keys.rogue!, disabled(ISS_DOWN, { format: "email", email: "x@example.com" }))).expect(503);
    expect(res.headers["retry-after"]).to.equal("30");
    expect(res.body.err).to.equal("temporarily_unavailable");
  });

  it("when the pusher has no valid token or lacks the ssf scope, then 401 authentication_failed or 403 access_denied", async () => {
    const jws = await sign(idp.keys.leaver!, disabled(ISS_LEAVER, { format: "email", email: "x@example.com" }));
    const res = await push(jws, "nope").expect(401);
    expect(res.body.err).to.equal("authentication_failed");
    expect(res.headers["www-authenticate"]).to.match(/^Bearer/);
    expect((await push(jws, b.t.readToken).expect(403)).body.err).to.equal("access_denied");
  });
});

describe("SSF receiver: a leaver policy meets source authority", function () {
  this.timeout(60_000);
  let idp: Idp, b: FanoutBroker, idpToken: string;
  let policy: Awaited<ReturnType<typeof writePolicy>>;

  before(async () => {
    idp = await startIdp(["leaver"]);
    const extra = [
      "sources:", "  - { name: workday, owns: [active] }",
      "ssf:", "  receive:", "    issuers:",
      `      - { issuer: "${ISS_LEAVER}", jwksUri: "${idp.url}/leaver/jwks", audience: [other, "${AUD}"], actions: { accountDisabled: leaver } }`,
    ];
    policy = await writePolicy(policyYaml([]).yaml + extra.join("\n") + "\n");
    b = await startFanoutBroker([], { env: { BROKER_CONFIG: policy.file } });
    idpToken = (await b.t.broker.tokens.create({ name: "okta-ssf", scopes: ["ssf"] })).token;
  });
  after(async () => { await b?.stop(); await policy?.cleanup(); await new Promise((r) => idp?.server.close(r)); });

  it("when HR's source owns active, then the SET's deactivation is refused and it opens a review instead", async () => {
    const u = await b.create("rx.owned@example.com");
    const claims = disabled(ISS_LEAVER, { format: "opaque", id: "rx.owned@example.com" });
    const jws = await sign(idp.keys.leaver!, claims);
    await request(b.t.url).post("/ssf/receive").set("Authorization", `Bearer ${idpToken}`).set("Content-Type", "application/secevent+jwt").send(jws).expect(202);
    expect((await b.scim.get(`/Users/${u.id}`)).body.active).to.equal(true);
    const rows = (await b.db.query(`SELECT action FROM ssf_received_set WHERE jti = $1`, [claims.jti])).rows;
    expect(rows).to.deep.equal([{ action: "review" }]);
    const review = (await b.db.query(`SELECT kind, status, payload FROM review WHERE user_id = $1`, [u.id])).rows[0];
    expect(review).to.include({ kind: "data-quality", status: "pending" });
    expect(review.payload.note).to.match(/^deactivation refused: .*workday/);
  });
});
