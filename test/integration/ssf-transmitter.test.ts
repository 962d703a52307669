// The SSF transmitter end to end: a real receiver on loopback discovers the broker, creates a stream,
// verifies it, and receives signed SETs for HR changes (leaver, mover), verified with the published JWKS;
// a 503 receiver catches up; a poll receiver acknowledges; receivers cannot see each other's streams.
import { expect } from "chai";
import { eventually, startFanoutBroker, type FanoutBroker } from "./fanout-harness.ts";
import { eventTypeOf, ssfClient, startReceiver, verifySet, type FakeReceiver } from "./ssf-harness.ts";

const CAEP = "https://schemas.openid.net/secevent/caep/event-type/";
const RISC = "https://schemas.openid.net/secevent/risc/event-type/";
const PUSH = "urn:ietf:rfc:8935";
const POLL = "urn:ietf:rfc:8936";

describe("SSF transmitter: discovery, streams, signed SETs for leavers and movers", function () {
  this.timeout(60_000);
  let b: FanoutBroker;
  let rcv: FakeReceiver;
  let a: ReturnType<typeof ssfClient>, other: ReturnType<typeof ssfClient>;
  let meta: { issuer: string; jwks_uri: string; [k: string]: unknown };
  let streamId: string;

  before(async () => {
    rcv = await startReceiver();
    b = await startFanoutBroker([]);
    a = ssfClient(b.t.url, (await b.t.broker.tokens.create({ name: "receiver-a", scopes: ["ssf"] })).token);
    other = ssfClient(b.t.url, (await b.t.broker.tokens.create({ name: "receiver-b", scopes: ["ssf"] })).token);
  });
  after(async () => { await b?.stop(); await rcv?.close(); });

  const setsAt = async (r: FakeReceiver) => Promise.all(r.received.map((j) => verifySet(j, meta)));
  const setsFor = async (r: FakeReceiver, userId: string) => (await setsAt(r)).filter((p) => JSON.stringify(p.sub_id).includes(userId));

  it("when a receiver reads /.well-known/ssf-configuration, then it finds every endpoint and a JWKS of public keys only", async () => {
    const res = await a.get("/.well-known/ssf-configuration").expect(200);
    meta = res.body;
    expect(meta.issuer).to.equal(b.t.url);
    expect(meta.delivery_methods_supported).to.have.members([PUSH, POLL]);
    for (const k of ["jwks_uri", "configuration_endpoint", "status_endpoint", "add_subject_endpoint", "remove_subject_endpoint", "verification_endpoint"])
      expect(meta[k], k).to.be.a("string").and.satisfy((u: string) => u.startsWith(b.t.url));
    expect(meta.authorization_schemes).to.deep.equal([{ spec_urn: "urn:ietf:rfc:6749" }]);
    expect(meta.default_subjects).to.equal("ALL");
    const jwks = (await a.get(new URL(meta.jwks_uri).pathname).expect(200)).body;
    expect(jwks.keys).to.have.length(1);
    expect(jwks.keys[0]).to.include({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" }).and.have.property("kid");
    expect(jwks.keys[0]).to.not.have.property("d");
  });

  it("when the token is missing or invalid, then stream management answers 401", async () => {
    await ssfClient(b.t.url, "nope").get("/ssf/stream").expect(401);
    await ssfClient(b.t.url, b.t.readToken).get("/ssf/stream").expect(403);
  });

  it("when a receiver creates a push stream, then 201 and events_delivered = requested ∩ supported", async () => {
    const res = await a.post("/ssf/stream", {
      delivery: { method: PUSH, endpoint_url: rcv.url, authorization_header: "Bearer receiver-secret" },
      events_requested: [`${CAEP}session-revoked`, `${RISC}account-disabled`, `${CAEP}token-claims-change`, "urn:example:unknown"],
    }).expect(201);
    streamId = res.body.stream_id;
    expect(res.body.iss).to.equal(meta.issuer);
    expect(res.body.delivery).to.deep.equal({ method: PUSH, endpoint_url: rcv.url });
    expect(res.body.events_delivered).to.deep.equal([`${CAEP}session-revoked`, `${RISC}account-disabled`, `${CAEP}token-claims-change`]);
    expect(res.body.events_supported).to.include(`${RISC}account-purged`);
    expect(JSON.stringify(res.body)).to.not.include("receiver-secret");
    const list = (await a.get("/ssf/stream").expect(200)).body;
    expect(list.map((s: any) => s.stream_id)).to.deep.equal([streamId]);
    expect((await a.get("/ssf/stream", { stream_id: streamId }).expect(200)).body.stream_id).to.equal(streamId);
  });

  it("when the receiver asks for verification, then 204 and a signed verification event with its state arrives", async () => {
    await a.post("/ssf/verify", { stream_id: streamId, state: "state-123" }).expect(204);
    const v = await eventually(async () => {
      const sets = await setsAt(rcv);
      const hit = sets.find((p) => eventTypeOf(p) === "https://schemas.openid.net/secevent/ssf/event-type/verification");
      if (!hit) throw new Error("no verification yet");
      return hit;
    });
    expect(v.events["https://schemas.openid.net/secevent/ssf/event-type/verification"]).to.deep.equal({ state: "state-123" });
    expect(v.sub_id).to.deep.equal({ format: "opaque", id: streamId });
    expect(rcv.authorization.at(-1)).to.equal("Bearer receiver-secret");
  });

  it("when HR makes a user a leaver, then session-revoked and account-disabled arrive, signed, with sub_id, txn, no sub nor exp", async () => {
    const user = await b.create(`leaver.${Date.now()}@example.com`, { department: "Finance" });
    await b.scim.patch(`/Users/${user.id}`, [{ op: "replace", path: "active", value: false }]).expect(200);
    const sets = await eventually(async () => {
      const s = (await setsFor(rcv, user.id)).filter((p) => eventTypeOf(p) !== `${CAEP}token-claims-change`);
      if (s.length < 2) throw new Error(`only ${s.length} SETs`);
      return s;
    });
    expect(sets.map(eventTypeOf)).to.have.members([`${CAEP}session-revoked`, `${RISC}account-disabled`]);
    const { rows } = await b.db.query(`SELECT id FROM change_record WHERE resource_id = $1 AND operation = 'update' ORDER BY id DESC LIMIT 1`, [user.id]);
    for (const p of sets) {
      expect(p).to.not.have.property("sub");
      expect(p).to.not.have.property("exp");
      expect(p.txn).to.equal(String(rows[0].id));
      expect(p.aud).to.equal(new URL(rcv.url).origin);
      expect(p.sub_id.format).to.equal("aliases");
      expect(p.sub_id.identifiers).to.deep.include({ format: "iss_sub", iss: meta.issuer, sub: user.id });
      expect(p.sub_id.identifiers).to.deep.include({ format: "email", email: user.userName });
    }
    const revoked = sets.find((p) => eventTypeOf(p) === `${CAEP}session-revoked`)!.events[`${CAEP}session-revoked`];
    expect(revoked.initiating_entity).to.equal("admin");
    expect(revoked.reason_admin.en).to.match(/leaver/i);
    expect(revoked.event_timestamp).to.be.a("number");
    const audit = await b.db.query(`SELECT count(*)::int AS n FROM audit_event WHERE kind = 'ssf.set.issued' AND user_id = $1`, [user.id]);
    expect(audit.rows[0].n).to.be.at.least(2);
  });

  it("when HR moves a user to another department, then one token-claims-change carries the new department and groups", async () => {
    const user = await b.create(`mover.${Date.now()}@example.com`, { department: "Finance" });
    await b.scim.patch(`/Users/${user.id}`, [{ op: "replace", path: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", value: "Engineering" }]).expect(200);
    const change = await eventually(async () => {
      const c = (await setsFor(rcv, user.id)).filter((p) => eventTypeOf(p) === `${CAEP}token-claims-change` && p.events[`${CAEP}token-claims-change`].claims.department);
      if (!c.length) throw new Error("no claims change yet");
      return c;
    });
    expect(change).to.have.length(1);
    expect(change[0]!.events[`${CAEP}token-claims-change`].claims).to.deep.equal({ department: "Engineering", groups: ["engineering"] });
  });

  it("when the receiver answers 503 with Retry-After, then the stream backs off and catches up when told to retry", async () => {
    rcv.failWith = { status: 503, retryAfter: "3600" };
    const before = rcv.received.length;
    const user = await b.create(`outage.${Date.now()}@example.com`, { department: "Sales" });
    await b.scim.patch(`/Users/${user.id}`, [{ op: "replace", path: "active", value: false }]).expect(200);
    const backoff = await eventually(async () => {
      const { rows } = await b.db.query(`SELECT failures, retry_at, last_error FROM ssf_stream WHERE id = $1`, [streamId]);
      if (!rows[0].failures) throw new Error("no failure yet");
      return rows[0];
    });
    expect(backoff.last_error).to.equal("HTTP 503");
    expect(new Date(backoff.retry_at).getTime() - Date.now()).to.be.greaterThan(3_000_000); // Retry-After honoured
    expect(rcv.received.length).to.equal(before);
    rcv.failWith = null;
    await b.t.broker.ssf.retryNow(streamId); // the explicit signal instead of waiting an hour
    const sets = await eventually(async () => {
      const s = await setsFor(rcv, user.id);
      if (s.length < 2) throw new Error("not caught up");
      return s;
    });
    expect(sets.map(eventTypeOf)).to.include.members([`${CAEP}session-revoked`, `${RISC}account-disabled`]);
    const { rows } = await b.db.query(`SELECT failures, retry_at FROM ssf_stream WHERE id = $1`, [streamId]);
    expect(rows[0]).to.deep.equal({ failures: 0, retry_at: null });
  });

  it("when another receiver asks for this stream, then it is not found, and its own list is empty", async () => {
    await other.get("/ssf/stream", { stream_id: streamId }).expect(404);
    await other.get("/ssf/status", { stream_id: streamId }).expect(404);
    await other.post("/ssf/verify", { stream_id: streamId }).expect(404);
    await other.del("/ssf/stream", { stream_id: streamId }).expect(404);
    expect((await other.get("/ssf/stream").expect(200)).body).to.deep.equal([]);
  });

  it("when a poll receiver polls, then it gets the SETs owed, keeps unacknowledged ones, and acks them away", async () => {
    const created = (await other.post("/ssf/stream", { delivery: { method: POLL }, events_requested: [`${RISC}account-disabled`] }).expect(201)).body;
    const pollPath = new URL(created.delivery.endpoint_url).pathname;
    expect(pollPath).to.equal(`/ssf/poll/${created.stream_id}`);
    const user = await b.create(`poller.${Date.now()}@example.com`, { department: "Sales" });
    await b.scim.patch(`/Users/${user.id}`, [{ op: "replace", path: "active", value: false }]).expect(200);
    const first = (await other.post(pollPath, { maxEvents: 10, returnImmediately: true }).expect(200)).body;
    const jtis = Object.keys(first.sets);
    expect(jtis).to.have.length(1);
    expect(first.moreAvailable).to.equal(false);
    const p = await verifySet(first.sets[jtis[0]!], meta);
    expect(eventTypeOf(p)).to.equal(`${RISC}account-disabled`);
    expect(p.jti).to.equal(jtis[0]);
    const again = (await other.post(pollPath, { maxEvents: 10 }).expect(200)).body; // not acknowledged: still owed
    expect(Object.keys(again.sets)).to.deep.equal(jtis);
    const acked = (await other.post(pollPath, { ack: jtis, maxEvents: 10 }).expect(200)).body;
    expect(acked.sets).to.deep.equal({});
    await a.post(pollPath, {}).expect(404); // not receiver a's stream
  });

  it("when a stream is paused, then its SETs are kept and go out once it is enabled again", async () => {
    await a.post("/ssf/status", { stream_id: streamId, status: "paused", reason: "maintenance" }).expect(200);
    expect((await a.get("/ssf/status", { stream_id: streamId }).expect(200)).body).to.deep.equal({ stream_id: streamId, status: "paused", reason: "maintenance" });
    const user = await b.create(`paused.${Date.now()}@example.com`, { department: "Sales" });
    await b.scim.patch(`/Users/${user.id}`, [{ op: "replace", path: "active", value: false }]).expect(200);
    const { rows } = await b.db.query(`SELECT count(*)::int AS n FROM ssf_set WHERE stream_id = $1 AND user_id = $2 AND state = 'pending'`, [streamId, user.id]);
    expect(rows[0].n).to.equal(2);
    await a.post("/ssf/status", { stream_id: streamId, status: "enabled" }).expect(200);
    await eventually(async () => { if ((await setsFor(rcv, user.id)).length < 2) throw new Error("not delivered"); });
  });

  it("when a subject is removed, then 204 and no SETs about it are written; added back, 200", async () => {
    const user = await b.create(`removed.${Date.now()}@example.com`, { department: "Sales" });
    await a.post("/ssf/subjects/remove", { stream_id: streamId, subject: { format: "email", email: user.userName } }).expect(204);
    await b.scim.patch(`/Users/${user.id}`, [{ op: "replace", path: "active", value: false }]).expect(200);
    const { rows } = await b.db.query(`SELECT count(*)::int AS n FROM ssf_set WHERE stream_id = $1 AND user_id = $2`, [streamId, user.id]);
    expect(rows[0].n).to.equal(0);
    await a.post("/ssf/subjects/add", { stream_id: streamId, subject: { format: "email", email: user.userName } }).expect(200);
    await a.post("/ssf/subjects/add", { stream_id: streamId, subject: { format: "nonsense" } }).expect(400);
  });

  it("when the receiver updates, replaces and deletes its stream, then 200, 200, 204 and then 404", async () => {
    const patched = (await a.patch("/ssf/stream", { stream_id: streamId, description: "HR leavers" }).expect(200)).body;
    expect(patched.description).to.equal("HR leavers");
    expect(patched.events_requested).to.have.length(4); // untouched by PATCH
    await a.patch("/ssf/stream", { stream_id: streamId, iss: "https://elsewhere.example" }).expect(400);
    const replaced = (await a.put("/ssf/stream", { stream_id: streamId, delivery: { method: PUSH, endpoint_url: rcv.url }, events_requested: [`${RISC}account-disabled`] }).expect(200)).body;
    expect(replaced.events_delivered).to.deep.equal([`${RISC}account-disabled`]);
    expect(replaced).to.not.have.property("description"); // missing from the PUT: removed
    await a.del("/ssf/stream", { stream_id: streamId }).expect(204);
    await a.get("/ssf/stream", { stream_id: streamId }).expect(404);
    const { rows } = await b.db.query(`SELECT count(*)::int AS n FROM ssf_set WHERE stream_id = $1`, [streamId]);
    expect(rows[0].n).to.equal(0);
  });
});
