// The outbound SCIM client against real loopback HTTP servers: a strict RFC 7644 app (scimmy) and a quirky
// one. No database, no outside network.
import { expect } from "chai";
import { parseAppConfig, type AppConfigInput } from "../../src/domain/app-config.ts";
import { ManualClock } from "../../src/domain/clock.ts";
import { RateLimiter, type Scheduler } from "../../src/fanout/client/rate-limiter.ts";
import { AppHttpError, createScimClient, type ScimClient, type ScimClientOptions } from "../../src/fanout/client/scim-client.ts";
import { linkOrCreateUser, pushUserUpdate } from "../../src/fanout/client/user-provisioning.ts";
import { FakeOAuthServer } from "../helpers/fake-apps/oauth-server.ts";
import { startQuirkyApp, type QuirkyScimApp } from "../helpers/fake-apps/quirky-app.ts";
import { startStrictApp, type StrictScimApp } from "../helpers/fake-apps/strict-app.ts";

const CORE = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

const brokerUser = (n = 1) => ({
  schemas: [CORE, ENTERPRISE],
  id: `broker-${n}`,
  userName: `user${n}@example.com`,
  name: { givenName: "User", familyName: String(n) },
  displayName: `User ${n}`,
  active: true,
  emails: [{ value: `user${n}@example.com`, type: "work", primary: true }],
  [ENTERPRISE]: { department: "Finance", employeeNumber: String(1000 + n) },
});

/** Resolves to the error a promise rejects with (fails the test if it resolves). */
async function failure(promise: Promise<unknown>): Promise<AppHttpError> {
  try {
    await promise;
  } catch (e) {
    expect(e).to.be.instanceOf(AppHttpError);
    return e as AppHttpError;
  }
  throw new Error("expected an AppHttpError");
}

describe("fanout/scim-client over loopback", function () {
  const stoppers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await Promise.all(stoppers.splice(0).map((stop) => stop()));
  });

  async function strict(options: Parameters<typeof startStrictApp>[0] = {}): Promise<StrictScimApp> {
    const app = await startStrictApp(options);
    stoppers.push(() => app.stop());
    return app;
  }
  async function quirky(options: Parameters<typeof startQuirkyApp>[0] = {}): Promise<QuirkyScimApp> {
    const app = await startQuirkyApp(options);
    stoppers.push(() => app.stop());
    return app;
  }
  function client(app: { url: string; auth: { bearer?: string } }, config: Partial<AppConfigInput> = {}, options: ScimClientOptions = {}): ScimClient {
    const c = createScimClient(
      parseAppConfig({ name: "test-app", url: app.url, auth: { type: "bearer", token: app.auth.bearer ?? "" }, ...config }),
      options,
    );
    stoppers.push(() => c.close());
    return c;
  }

  describe("strict RFC 7644 app", () => {
    it("when a user is created, then the app's id comes back and the app stores our mapped resource", async () => {
      const app = await strict();
      const c = client(app);
      const created = await c.createUser(c.mapUser(brokerUser(1)));
      const stored = app.users.get(created.id)!;
      expect(stored).to.include({ userName: "user1@example.com", externalId: "broker-1", active: true });
      expect(stored[ENTERPRISE]).to.deep.equal({ department: "Finance", employeeNumber: "1001" });
      expect(app.requests[0]!.headers["content-type"]).to.equal("application/scim+json");
    });

    it("when the app already has the account, then linkOrCreateUser matches by userName (case-insensitive) and never POSTs", async () => {
      const app = await strict();
      const existing = app.seedUser({ schemas: [CORE], userName: "USER1@example.com" });
      const c = client(app);
      const result = await linkOrCreateUser(c, c.mapUser(brokerUser(1)), "userName");
      expect(result).to.deep.include({ id: existing.id, outcome: "matched" });
      expect(app.requestsTo("POST")).to.have.length(0);
      expect(app.requests[0]!.query.filter).to.equal('userName eq "user1@example.com"');
    });

    it("when create answers 409, then the account is looked up and linked", async () => {
      const app = await strict();
      const existing = app.seedUser({ schemas: [CORE], userName: "user1@example.com", externalId: "made-by-hand" });
      const c = client(app);
      const conflict = await failure(c.createUser(c.mapUser(brokerUser(1))));
      expect(conflict).to.include({ status: 409, code: "FANOUT_CONFLICT", scimType: "uniqueness", retryable: false });
      // Matching on externalId misses (hand-made account), the POST conflicts on userName, the retry links.
      const result = await linkOrCreateUser(c, c.mapUser(brokerUser(1)), "externalId");
      expect(result).to.deep.include({ id: existing.id, outcome: "linked-after-conflict" });
    });

    it("when a user is disabled, then one PATCH replace active=false is sent in the app's op casing", async () => {
      const app = await strict();
      const c = client(app, { dialect: { opCasing: "Capital" } });
      const { id } = await c.createUser(c.mapUser(brokerUser(1)));
      await c.disableUser(id);
      expect(app.users.get(id)!.active).to.equal(false);
      const patch = app.requestsTo("PATCH")[0]!;
      expect(patch.body).to.deep.equal({ schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "Replace", path: "active", value: false }] });
    });

    it("when a user is deleted, then it is gone, a second delete reports 'absent' and getUser is null", async () => {
      const app = await strict();
      const c = client(app);
      const { id } = await c.createUser(c.mapUser(brokerUser(1)));
      expect(await c.deleteUser(id)).to.equal("deleted");
      expect(await c.deleteUser(id)).to.equal("absent");
      expect(await c.getUser(id)).to.equal(null);
      expect(app.users.size).to.equal(0);
    });

    it("when an update hits 404, then onMissing decides: recreate (new id) or report (notFound error)", async () => {
      const app = await strict();
      const c = client(app);
      const mapped = c.mapUser(brokerUser(1));
      const recreated = await pushUserUpdate(c, "gone-id", mapped, { onMissing: "recreate", matchAttribute: "userName" });
      expect(recreated.recreated).to.equal(true);
      expect(app.users.has(recreated.id)).to.equal(true);
      const reported = await failure(pushUserUpdate(c, "gone-id", mapped, { onMissing: "report", matchAttribute: "userName" }));
      expect(reported).to.include({ notFound: true, status: 404, retryable: false });
      // A normal update: PATCH replace without path (RFC 7644 §3.5.2.3) carrying the mapped attributes.
      await pushUserUpdate(c, recreated.id, { ...mapped, title: "Lead" }, { onMissing: "report", matchAttribute: "userName" });
      expect(app.users.get(recreated.id)!.title).to.equal("Lead");
    });

    it("when a group is pushed, then it is created with members and later deltas add/remove in chunks", async () => {
      const app = await strict();
      const users = Array.from({ length: 6 }, (_, i) => app.seedUser({ schemas: [CORE], userName: `m${i}` }).id);
      const c = client(app, {}, { memberChunkSize: 2 });
      const group = await c.createGroup({ displayName: "finance", externalId: "broker-g1", members: [{ value: users[0] }, { value: users[1] }] });
      expect(app.memberIds(group.id)).to.deep.equal([users[0], users[1]].sort());
      await c.patchGroupMembers(group.id, [users[2]!, users[3]!, users[4]!], [users[0]!]);
      expect(app.memberIds(group.id)).to.deep.equal([users[1], users[2], users[3], users[4]].sort());
      expect(app.requestsTo("PATCH", "/Groups")).to.have.length(3); // 2 + 1 adds, 1 remove
      expect(await c.findGroupBy("displayName", "FINANCE")).to.have.property("id", group.id);
    });

    it("when reading 250 users through a 100-per-page app, then every user is seen once across 3 pages", async () => {
      const app = await strict({ maxResults: 100 });
      for (let i = 0; i < 250; i++) app.seedUser({ schemas: [CORE], userName: `bulk${i}` });
      const c = client(app);
      const seen: string[] = [];
      for await (const user of c.iterateUsers({ pageSize: 200 })) seen.push(user.id);
      expect(new Set(seen).size).to.equal(250);
      expect(app.requestsTo("GET", "/Users").map((r) => r.query.startIndex)).to.deep.equal(["1", "101", "201"]);
      const caps = await c.discover();
      expect(caps).to.include({ patch: true, maxResults: 100 });
      expect(c.dialect.patch).to.equal(true);
    });

    it("when many requests go to one app, then keep-alive reuses connections instead of opening one each", async () => {
      const app = await strict();
      const c = client(app);
      for (let i = 0; i < 20; i++) await c.getUser(`nope-${i}`);
      // undici marks a socket free a tick after the body ends, so back-to-back requests may open a second.
      expect(app.connections).to.be.at.most(2);
    });

    it("when a leaver is disabled in 20 apps at once, then all succeed quickly over warm connections", async () => {
      const apps = await Promise.all(Array.from({ length: 20 }, () => strict()));
      const clients = apps.map((a) => client(a));
      const ids = apps.map((a) => a.seedUser({ schemas: [CORE], userName: "leaver", active: true }).id);
      await Promise.all(clients.map((c) => c.discover())); // warm the pools, as a running broker would be
      await Promise.all(clients.map((c, i) => c.disableUser(ids[i]!)));
      expect(apps.every((a, i) => a.users.get(ids[i]!)!.active === false)).to.equal(true);
      // Latency is measured by scripts/bench (no test asserts a wall-clock time).
    });
  });

  describe("quirky app", () => {
    it("when discovery says PATCH is unsupported, then disable is GET + PUT on the non-UUID id", async () => {
      const app = await quirky();
      const c = client(app);
      const { id } = await c.createUser(c.mapUser(brokerUser(1)));
      expect(id).to.match(/^usr_\d+@x$/);
      expect(await c.discover()).to.include({ patch: false });
      await c.disableUser(id);
      expect(app.users.get(id)!.active).to.equal(false);
      expect(app.requests.map((r) => r.method)).to.deep.equal(["POST", "GET", "GET", "PUT"]);
      expect(app.requests.at(-1)!.path).to.equal(`/Users/${encodeURIComponent(id)}`);
    });

    it("when PATCH is sent to a PUT-only app anyway, then 405/501 fail permanently as FANOUT_NOT_IMPLEMENTED", async () => {
      for (const patch of ["reject-405", "reject-501"] as const) {
        const app = await quirky({ patch });
        const c = client(app);
        const { id } = await c.createUser(c.mapUser(brokerUser(1)));
        const e = await failure(c.disableUser(id));
        expect(e).to.include({ code: "FANOUT_NOT_IMPLEMENTED", retryable: false });
      }
    });

    it("when PATCH is answered 204 No Content, then it counts as success", async () => {
      const app = await quirky({ patch: "no-content" });
      const c = client(app);
      const { id } = await c.createUser(c.mapUser(brokerUser(1)));
      expect(await c.patchUser(id, [{ op: "replace", path: "displayName", value: "Renamed" }])).to.equal(null);
      await c.disableUser(id);
      expect(app.users.get(id)).to.include({ active: false, displayName: "Renamed" });
    });

    it("when the dialect is PUT-only, then group member deltas become read-modify-PUT", async () => {
      const app = await quirky();
      const [a, b, d] = ["a", "b", "d"].map((u) => app.seedUser({ userName: u }).id);
      const c = client(app, { dialect: { patch: false } });
      const group = await c.createGroup({ displayName: "engineering", members: [{ value: a }, { value: b }] });
      await c.patchGroupMembers(group.id, [d!, b!], [a!]);
      expect(app.memberIds(group.id)).to.deep.equal([b, d].sort());
      expect(app.requestsTo("PATCH")).to.have.length(0);
    });

    it("when the app answers 500 for an unknown id, then the error is a retryable FANOUT_UNAVAILABLE", async () => {
      const app = await quirky();
      const e = await failure(client(app).getUser("usr_999@x"));
      expect(e).to.include({ status: 500, code: "FANOUT_UNAVAILABLE", retryable: true });
      expect(e.body).to.contain("object reference");
    });

    it("when the app answers 429 with Retry-After, then the error carries it (seconds or HTTP-date) and the limiter pauses", async () => {
      const app = await quirky();
      const limiter = new RateLimiter({ perSecond: 100, concurrency: 4 });
      const c = client(app, {}, { limiter });
      app.throttle(1, 7);
      const seconds = await failure(c.listUsers());
      expect(seconds).to.include({ status: 429, code: "FANOUT_RATE_LIMITED", retryable: true, retryAfterMs: 7_000 });
      expect(limiter.tryAcquire()).to.deep.include({ ok: false, reason: "paused" });
      // An HTTP-date is read against the client's clock (RFC 9110 §10.2.3): a manual one makes the wait exact.
      const clock = new ManualClock(new Date("2030-01-01T00:00:00Z"));
      const c2 = client(app, {}, { limiter: null, clock });
      app.throttle(1, new Date(clock.now().getTime() + 30_000).toUTCString());
      const date = await failure(c2.listUsers());
      expect(date.retryAfterMs).to.equal(30_000);
      expect((await c2.listUsers()).totalResults).to.equal(0);
    });

    it("when a client without a configured rate gets 429 Retry-After: 1, then its next request waits it out", async () => {
      const app = await quirky();
      // The limiter such a client builds (no rate, Retry-After pauses only), on a manual clock whose
      // scheduler records each wait and moves the clock instead of sleeping.
      const clock = new ManualClock();
      const waits: number[] = [];
      const scheduler: Scheduler = { sleep: async (ms) => { waits.push(ms); clock.advance(ms); } };
      const c = client(app, {}, { clock, limiter: new RateLimiter({ perSecond: Number.POSITIVE_INFINITY, concurrency: 1024 }, clock, scheduler) });
      app.throttle(1, 1);
      await failure(c.listUsers());
      expect(waits, "no wait before the refusal").to.deep.equal([]);
      const refusals = app.requests.length;
      expect((await c.listUsers()).totalResults).to.equal(0);
      expect(waits, "the next request waited out Retry-After: 1").to.deep.equal([1000]);
      expect(app.requests.length, "then went out once").to.equal(refusals + 1);
    });

    it("when the app is down or fails periodically, then 503s are retryable and it recovers when flipped back", async () => {
      const app = await quirky();
      const c = client(app, {}, { limiter: null }); // no Retry-After pause: this test is about classification
      app.faults.unavailable = true;
      app.faults.retryAfter = "2";
      expect(await failure(c.listUsers())).to.include({ status: 503, retryable: true, retryAfterMs: 2_000 });
      app.faults.unavailable = false;
      app.faults.failEvery = 3;
      const outcomes = await Promise.allSettled(Array.from({ length: 9 }, () => c.listUsers()));
      expect(outcomes.filter((o) => o.status === "rejected")).to.have.length(3);
    });

    it("when the app is slower than timeoutMs, then the request fails fast as a retryable FANOUT_TIMEOUT", async () => {
      const app = await quirky();
      app.delayMs = 500;
      const e = await failure(client(app, { timeoutMs: 100 }).listUsers());
      expect(e).to.include({ code: "FANOUT_TIMEOUT", retryable: true, status: undefined });
    });

    it("when nothing listens, then the error is a retryable FANOUT_NETWORK", async () => {
      const app = await quirky();
      const url = app.url;
      await app.stop();
      const e = await failure(client({ url, auth: { bearer: "x" } }).getUser("u"));
      expect(e).to.include({ code: "FANOUT_NETWORK", retryable: true });
    });

    it("when the app ignores a filter and returns everyone, then findUserBy still returns only the match", async () => {
      const app = await quirky();
      for (const n of [1, 2, 3]) app.seedUser({ userName: `u${n}`, emails: [{ value: `u${n}@x.test`, primary: true }] });
      const found = await client(app).findUserBy("emails.value", "u2@x.test");
      expect(found).to.include({ userName: "u2" });
    });

    it("when pages are capped at 50 and lack startIndex/itemsPerPage, then iteration still reads all 120", async () => {
      const app = await quirky({ pageSize: 50 });
      for (let i = 0; i < 120; i++) app.seedUser({ userName: `q${i}` });
      const ids: string[] = [];
      for await (const u of client(app).iterateUsers()) ids.push(u.id);
      expect(new Set(ids).size).to.equal(120);
    });
  });

  describe("authentication", () => {
    it("when the app uses basic auth, then requests pass and a wrong password is FANOUT_UNAUTHORIZED without leaking it", async () => {
      const app = await strict({ auth: { basic: { username: "svc", password: "correct-horse" } } });
      const ok = createScimClient(parseAppConfig({ name: "b", url: app.url, auth: { type: "basic", username: "svc", password: "correct-horse" } }));
      const bad = createScimClient(parseAppConfig({ name: "b", url: app.url, auth: { type: "basic", username: "svc", password: "wrong-password" } }));
      stoppers.push(() => ok.close(), () => bad.close());
      expect((await ok.listUsers()).totalResults).to.equal(0);
      const e = await failure(bad.listUsers());
      expect(e).to.include({ status: 401, code: "FANOUT_UNAUTHORIZED", retryable: false });
      expect(JSON.stringify(e.toJSON()) + e.message).to.not.contain("wrong-password");
    });

    it("when OAuth2 client credentials are used, then one token serves concurrent requests and a 401 refreshes it once", async () => {
      const app = await strict({ token: "not-yet" });
      const oauth = await new FakeOAuthServer({ clientId: "broker", clientSecret: "oauth-secret", onIssue: (t) => (app.auth.bearer = t) }).start();
      stoppers.push(() => oauth.stop());
      const c = createScimClient(
        parseAppConfig({ name: "o", url: app.url, auth: { type: "oauth2", tokenUrl: oauth.tokenUrl, clientId: "broker", clientSecret: "oauth-secret", scope: "scim" } }),
      );
      stoppers.push(() => c.close());
      await Promise.all(Array.from({ length: 10 }, () => c.listUsers()));
      expect(oauth.issued).to.have.length(1);
      expect(oauth.requests[0]).to.deep.equal({ grant_type: "client_credentials", scope: "scim" });
      app.auth.bearer = "revoked-elsewhere";
      await c.listUsers();
      expect(oauth.issued).to.have.length(2);
      expect(app.requests.filter((r) => r.status === 401)).to.have.length(1);
      app.auth.bearer = "revoked-again";
      oauth.failWith = 503;
      const e = await failure(c.listUsers());
      expect(e).to.include({ code: "FANOUT_AUTH_TOKEN", status: 503, retryable: true });
      expect(JSON.stringify(e.toJSON())).to.not.contain("oauth-secret");
    });
  });
});
