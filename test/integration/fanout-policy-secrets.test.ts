// `${VAR}` and the server's environment: a policy sent over the admin API never resolves a reference to a
// server value in any answer or log line (issue 14, defect 4); only app credentials are references, resolved
// by the fan-out when it authenticates. Policy endpoints read the request body only, never a host file
// (issue 8, defect 9). The CLI works from the recorded policy and the server's state, never from secrets
// in the operator's shell (issue 13, defect 5).
import { expect } from "chai";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import request from "supertest";
import { startStrictApp, type StrictScimApp } from "../helpers/fake-apps/strict-app.ts";
import { accountIn, capturingLogger, eventually, isActiveIn, startFanoutBroker, type FanoutBroker } from "./fanout-harness.ts";

const run = promisify(execFile);
const BOOTSTRAP = "bootstrap-admin-token-0123456789abcdef";
const PASSWORD = "app-password-value-7f3a9c";

describe("fan-out: ${VAR} references and the server's environment", function () {
  this.timeout(120_000);
  let gw: StrictScimApp, basic: StrictScimApp, b: FanoutBroker;
  const capture = capturingLogger("debug");
  const yamlPost = (path: string, text: string) =>
    request(b.t.url).post(`/admin/v1${path}`).set({ Authorization: `Bearer ${b.t.token}` }).set("Content-Type", "application/yaml").send(text);
  const leaks = (text: string) => text.includes(BOOTSTRAP) || text.includes(PASSWORD);

  before(async () => {
    gw = await startStrictApp({ token: "gw-token-value" });
    basic = await startStrictApp({ auth: { basic: { username: "svc", password: PASSWORD } } });
    b = await startFanoutBroker([{ name: "gw", app: gw }], { log: capture.log, env: { BROKER_BOOTSTRAP_TOKEN: BOOTSTRAP, APP_PASSWORD: PASSWORD } });
  });
  after(async () => {
    await b?.stop();
    await Promise.all([gw?.stop(), basic?.stop()]);
  });

  const policyWith = (extra: { group?: string[]; app?: string[] }) => [
    "groups:",
    "  - name: finance",
    '    when: department eq "Finance"',
    ...(extra.group ?? []),
    "guards:",
    "  massDeprovision: { maxUsers: 100000, maxPercent: 100 }",
    "apps:",
    "  - name: gw",
    `    url: ${gw.url}`,
    '    auth: { type: bearer, token: "${TOKEN_GW}" }',
    "  - name: bx",
    `    url: ${basic.url}`,
    '    auth: { type: basic, username: svc, password: "${APP_PASSWORD}" }',
    ...(extra.app ?? []),
  ].join("\n") + "\n";

  it("when a policy over the admin API references server variables outside app credentials, then it is refused and no answer or log carries a value", async () => {
    const hostile = [
      policyWith({ group: ['    description: "${BROKER_BOOTSTRAP_TOKEN}"'] }),
      policyWith({ group: ["    owner: ${APP_PASSWORD}"] }),
      policyWith({ app: ["    assign: userName eq ${BROKER_BOOTSTRAP_TOKEN}"] }),
      policyWith({ app: ['    mapping: { title: "${APP_PASSWORD}" }'] }),
      policyWith({}).replace(`url: ${basic.url}`, `url: "${basic.url}/\${BROKER_BOOTSTRAP_TOKEN}"`),
    ];
    for (const text of hostile) {
      for (const path of ["/policy/validate", "/policy/plan", "/policy/apply"]) {
        const res = await yamlPost(path, text);
        expect(leaks(res.text), `${path} answered ${res.text}`).to.equal(false);
        expect(res.status, `${path}: ${res.text}`).to.equal(400);
        expect(res.body.error.code).to.equal("POLICY_INVALID");
        expect(res.body.error.message).to.match(/only allowed in app credentials/);
      }
    }
    const policy = await b.admin.get("/policy").expect(200);
    expect(leaks(policy.text)).to.equal(false);
    expect(leaks(capture.text()), "log lines").to.equal(false);
  });

  it("when an app password is a reference, then plan, apply, the policy and the app views show the reference and the fan-out authenticates with the server's value", async () => {
    const text = policyWith({});
    for (const path of ["/policy/validate", "/policy/plan", "/policy/apply"]) {
      const res = await yamlPost(path, text);
      expect(res.status, `${path}: ${res.text}`).to.equal(200);
      expect(leaks(res.text), path).to.equal(false);
    }
    const shown = await b.admin.get("/apps/bx").expect(200);
    expect(shown.body.config.auth).to.deep.equal({ type: "basic", username: "svc", password: "${APP_PASSWORD}" });
    for (const view of [await b.admin.get("/apps"), await b.admin.get("/policy"), shown]) expect(leaks(view.text)).to.equal(false);

    await b.create("rex@example.com");
    await eventually(() => expect(isActiveIn(accountIn(basic, "rex@example.com"))).to.equal(true));
    expect(leaks(capture.text()), "log lines").to.equal(false);
    const { rows } = await b.db.query(`SELECT yaml FROM policy_version`);
    expect(leaks(JSON.stringify(rows)), "stored policy").to.equal(false);
  });

  it("when a policy endpoint is given {path}, then 400 and nothing about the file comes back", async () => {
    for (const path of ["/policy/validate", "/policy/plan", "/policy/apply"]) {
      const res = await b.admin.post(path, { path: "/etc/passwd" });
      expect(res.status, path).to.equal(400);
      expect(res.body.error.code).to.equal("BAD_REQUEST");
      expect(res.text).to.not.match(/root:|x:0:0|passwd|ENOENT|EACCES|line \d/);
    }
    const asJson = await b.admin.post("/policy/validate", { groups: [{ name: "json-policy", when: 'department eq "X"' }] });
    expect(asJson.status, asJson.text).to.equal(200);
  });

  it("when the CLI runs without the app's secret in the shell, or with another value, then apps show and test work from the server's policy", async () => {
    const { DATABASE_URL: _d, BROKER_CONFIG: _c, ...rest } = process.env;
    const cli = async (env: Record<string, string>, ...args: string[]) =>
      run(process.execPath, ["bin/scim-broker.mjs", ...args], { env: { ...rest, DATABASE_URL: b.t.databaseUrl, BROKER_LOG_LEVEL: "warn", ...env } });
    const shown = JSON.parse((await cli({}, "apps", "show", "gw", "--json")).stdout);
    expect(shown.config.auth).to.deep.equal({ type: "bearer", token: "${TOKEN_GW}" });
    expect(shown.config.url).to.equal(gw.url);
    // A different value in the shell changes nothing: the server runs the test with its own credentials.
    const tested = await cli({ TOKEN_GW: "a-different-value", APP_PASSWORD: "another-password" }, "apps", "test", "bx");
    expect(tested.stdout).to.match(/^bx: ok in \d+ ms$/m);
  });
});
