// An app that refuses the broker's credentials (issue 13, defect 2): a 401/403 is the app's condition, not
// the leaver's. The leaver waits in the queue — never in the dead-letter list — the app shows
// `auth-failing` (API, metric, one error log per episode), and the leaver goes out the moment the app
// authenticates the broker again. Time is the manual clock's; the probe is called, never waited for.
import { expect } from "chai";
import { FakeOAuthServer } from "../helpers/fake-apps/oauth-server.ts";
import { startStrictApp, type StrictScimApp } from "../helpers/fake-apps/strict-app.ts";
import { ManualClock } from "../../src/domain/clock.ts";
import { accountIn, capturingLogger, eventually, isActiveIn, startFanoutBroker, type FanoutBroker } from "./fanout-harness.ts";

describe("fan-out: apps that refuse the broker's credentials", function () {
  this.timeout(60_000);
  let hr: StrictScimApp, crm: StrictScimApp, nocred: StrictScimApp, oauth: FakeOAuthServer, b: FanoutBroker;
  const clock = new ManualClock(new Date());
  const capture = capturingLogger("info");
  const logged = (code: string, app: string) => capture.lines.filter((l) => l.code === code && l.app === app).length;
  const app = async (name: string) => (await b.admin.get(`/apps/${name}`).expect(200)).body;
  /** Moves the manual clock to the app's next probe and probes (the probe job may take it first: same effect). */
  const probeWhenDue = async (name: string) => {
    const next = (await app(name)).nextProbeAt;
    if (next) clock.set(new Date(Math.max(clock.now().getTime(), Date.parse(next))));
    return b.t.broker.fanout.health.probe(name);
  };

  before(async () => {
    hr = await startStrictApp({ token: "hr-token-accepted" });
    crm = await startStrictApp({ token: "none-yet" });
    nocred = await startStrictApp({ token: "never-sent" });
    oauth = await new FakeOAuthServer({ clientId: "broker", clientSecret: "crm-client-secret", onIssue: (t) => (crm.auth.bearer = t) }).start();
    b = await startFanoutBroker([
      { name: "hr-app", app: hr },
      { name: "crm", app: crm, auth: `{ type: oauth2, tokenUrl: "${oauth.tokenUrl}", clientId: broker, clientSecret: "\${CRM_SECRET}" }` },
      // its variable is set nowhere: said at start, and the app is auth-failing (only users titled "nocred")
      { name: "nocred", app: nocred, auth: '{ type: bearer, token: "${NOT_SET_ANYWHERE}" }', extra: ["assign: 'title eq \"nocred\"'"] },
    ], { clock, log: capture.log, env: { CRM_SECRET: "crm-client-secret", BROKER_FANOUT_PROBE_INTERVAL: "30s" } });
  });
  after(async () => {
    await b?.stop();
    await oauth?.stop();
    await Promise.all([hr?.stop(), crm?.stop(), nocred?.stop()]);
  });

  it("when an app answers 401 until its token is fixed, then the leaver waits (no dead letter), the app is auth-failing, and the leaver goes out once auth works", async () => {
    const user = await b.create("leo@example.com");
    await eventually(() => expect(isActiveIn(accountIn(hr, "leo@example.com"))).to.equal(true));

    hr.auth.bearer = "rotated-by-the-app"; // the broker's token is refused from now on
    await b.scim.patch(`/Users/${user.id}`, [{ op: "replace", path: "active", value: false }]).expect(200);
    const failing = await eventually(async () => {
      const shown = await app("hr-app");
      expect(shown.status).to.equal("auth-failing");
      return shown;
    });
    expect(failing.lastError).to.include({ code: "FANOUT_UNAUTHORIZED", status: 401 });
    expect((await b.admin.get("/apps")).body.items.find((a: any) => a.name === "hr-app").status).to.equal("auth-failing");
    expect((await b.admin.get("/apps/hr-app/dead-letters")).body.items).to.deep.equal([]);
    const waiting = (await b.admin.get(`/users/${user.id}/apps`)).body.apps.find((a: any) => a.app === "hr-app");
    expect(waiting.status).to.equal("quarantined");
    expect(waiting.lastError.code).to.equal("FANOUT_UNAUTHORIZED");
    expect(await (await fetch(`${b.t.url}/metrics`)).text()).to.include('broker_app_auth_failing{app="hr-app"} 1').and.include('broker_app_auth_failing{app="crm"} 0');

    // Probes while the token is still refused: backing off, still auth-failing, still no dead letter, one error log.
    for (let i = 0; i < 3; i++) await probeWhenDue("hr-app");
    const still = await app("hr-app");
    expect(still.status).to.equal("auth-failing");
    expect(Date.parse(still.nextProbeAt) - clock.now().getTime(), "backoff doubles from ~1 s").to.be.within(4_000, 8_000);
    expect(isActiveIn(accountIn(hr, "leo@example.com")), "not yet").to.equal(true);
    expect(logged("FANOUT_APP_AUTH_FAILING", "hr-app")).to.equal(1);

    hr.auth.bearer = "hr-token-accepted"; // fixed on the app's side
    await probeWhenDue("hr-app");
    await eventually(() => expect(accountIn(hr, "leo@example.com")!.active).to.equal(false));
    await eventually(async () => expect((await app("hr-app")).status).to.equal("ok"));
    expect((await b.admin.get("/apps/hr-app/dead-letters")).body.items).to.deep.equal([]);
    const sla = (await b.admin.get(`/users/${user.id}/apps`)).body.leaverSla[0];
    expect(sla.completedAt).to.be.a("string");
    expect(logged("FANOUT_APP_AUTH_FAILING", "hr-app")).to.equal(1);
    expect(logged("FANOUT_APP_RECOVERED", "hr-app")).to.equal(1);
  });

  it("when an app's credential variable is not set on the server, then the start says so and its deliveries wait as auth-failing", async () => {
    expect(capture.lines.find((l) => l.code === "FANOUT_CREDENTIAL_MISSING" && l.app === "nocred")).to.deep.include({ variables: ["NOT_SET_ANYWHERE"] });
    await b.create("nia@example.com", { title: "nocred" });
    const shown = await eventually(async () => {
      const r = await app("nocred");
      expect(r.status).to.equal("auth-failing");
      return r;
    });
    expect(shown.lastError.code).to.equal("FANOUT_CREDENTIAL_MISSING");
    expect(nocred.requests).to.have.length(0);
    expect((await b.admin.get("/apps/nocred/dead-letters")).body.items).to.deep.equal([]);
  });

  it("when an OAuth2 app revokes its token, then a fresh one is fetched; when the token endpoint refuses the client, the app is auth-failing until a test succeeds", async () => {
    const user = await b.create("ola@example.com");
    await eventually(() => expect(isActiveIn(accountIn(crm, "ola@example.com"))).to.equal(true));
    const issued = oauth.issued.length;

    crm.auth.bearer = "revoked"; // the app revokes the token: one refresh, and on
    await b.scim.patch(`/Users/${user.id}`, [{ op: "replace", path: "displayName", value: "Ola Renamed" }]).expect(200);
    await eventually(() => expect(accountIn(crm, "ola@example.com")!.displayName).to.equal("Ola Renamed"));
    expect(oauth.issued.length).to.equal(issued + 1);
    expect((await app("crm")).status).to.equal("ok");

    crm.auth.bearer = "revoked-again";
    oauth.failWith = 401; // and the client's credentials are refused at the token endpoint
    await b.scim.patch(`/Users/${user.id}`, [{ op: "replace", path: "active", value: false }]).expect(200);
    await eventually(async () => expect((await app("crm")).status).to.equal("auth-failing"));
    expect((await app("crm")).lastError.code).to.equal("FANOUT_AUTH_TOKEN");
    expect((await b.admin.get("/apps/crm/dead-letters")).body.items).to.deep.equal([]);

    oauth.failWith = null;
    const tested = await b.admin.post("/apps/crm/test").expect(200);
    expect(tested.body.ok).to.equal(true);
    await eventually(() => expect(accountIn(crm, "ola@example.com")!.active).to.equal(false));
    expect((await app("crm")).status).to.equal("ok");
    expect(logged("FANOUT_APP_AUTH_FAILING", "crm")).to.equal(1);
  });
});
