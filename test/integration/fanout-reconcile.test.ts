// Reconciliation and the operator surface: drift made behind the broker's back in a real app is reported by
// the admin API, and `scim-broker reconcile APP --fix` (the CLI, as an operator runs it, against the running
// broker's database) corrects what the broker owns — leavers re-disabled, missing accounts created, drifted
// attributes and memberships re-pushed — while an unknown account is only reported. `apps list|test|
// disable|enable` through the CLI too.
import { expect } from "chai";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { startQuirkyApp, type QuirkyScimApp } from "../helpers/fake-apps/quirky-app.ts";
import { startStrictApp, type StrictScimApp } from "../helpers/fake-apps/strict-app.ts";
import { DISABLED_RECHECK_MS } from "../../src/fanout/delivery/delivery-gate.ts";
import { accountIn, eventually, isActiveIn, metric, queuedJobs, startFanoutBroker, USER_SCHEMA, type FanoutBroker } from "./fanout-harness.ts";

const run = promisify(execFile);

describe("fan-out: reconciliation, CLI and admin API", function () {
  this.timeout(120_000);
  let strict: StrictScimApp, quirky: QuirkyScimApp;
  let b: FanoutBroker;
  let cliEnv: NodeJS.ProcessEnv;
  /** The CLI as a child process; exit code 2 (drift found) is an answer, not a failure. */
  const cli = async (...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> => {
    try {
      return { ...(await run(process.execPath, ["bin/scim-broker.mjs", ...args], { env: cliEnv })), code: 0 };
    } catch (e: any) {
      if (e.code !== 2) throw e;
      return { stdout: e.stdout, stderr: e.stderr, code: 2 };
    }
  };

  before(async () => {
    strict = await startStrictApp();
    quirky = await startQuirkyApp();
    b = await startFanoutBroker([{ name: "strict", app: strict, groups: ["finance"] }, { name: "quirky", app: quirky }]);
    const { DATABASE_URL: _d, ...rest } = process.env;
    // No app secrets in the operator's shell: the server runs whatever talks to an app.
    cliEnv = { ...rest, DATABASE_URL: b.t.databaseUrl, BROKER_LOG_LEVEL: "warn" };
  });
  after(async () => {
    await b?.stop();
    await Promise.all([strict?.stop(), quirky?.stop()]);
  });

  it("when accounts drift in the app, then reconcile reports each kind, and --fix corrects what the broker owns", async () => {
    const users = await Promise.all(["ann", "bob", "cyd", "dee"].map((n) => b.create(`${n}@example.com`, { department: "Finance" })));
    const [, bob] = users;
    await b.scim.patch(`/Users/${bob.id}`, [{ op: "replace", path: "active", value: false }]).expect(200);
    const financeIn = () => [...strict.groups.values()].find((g) => g.displayName === "finance");
    await eventually(() => {
      expect(accountIn(strict, "bob@example.com")!.active).to.equal(false);
      for (const n of ["ann", "cyd", "dee"]) expect(strict.memberIds(financeIn()!.id)).to.include(accountIn(strict, `${n}@example.com`)!.id);
    });
    // Drift, made in the app directly: a leaver re-enabled, an attribute changed, an account deleted, a member
    // removed, and a stranger's account (in our managed group too).
    accountIn(strict, "bob@example.com")!.active = true;
    accountIn(strict, "cyd@example.com")!.displayName = "Changed By Hand";
    await fetch(`${strict.url}/Users/${encodeURIComponent(accountIn(strict, "dee@example.com")!.id as string)}`, { method: "DELETE", headers: { authorization: "Bearer strict-token" } });
    const stranger = strict.seedUser({ schemas: [USER_SCHEMA], userName: "stranger@example.com" });
    const finance = financeIn()!;
    finance.members = [...(finance.members as Array<{ value: string }>).filter((m) => m.value !== accountIn(strict, "ann@example.com")!.id), { value: stranger.id }];

    const started = await b.admin.post("/apps/strict/reconcile", { fix: false }).expect(202);
    const run1 = await eventually(async () => {
      const r = await b.admin.get(`/apps/strict/reconcile/${started.body.runId}`).expect(200);
      expect(r.body.finishedAt).to.be.a("string");
      return r.body;
    });
    expect(run1.report.counts).to.deep.include({ leaverActive: 1, missing: 1, unknown: 1, membershipDrift: 1 });
    expect(run1.report.attributeDrift.map((d: any) => [d.userName, d.attributes])).to.deep.equal([["cyd@example.com", ["displayName"]]]);
    expect(run1.report.fixed).to.equal(null);
    expect(accountIn(strict, "bob@example.com")!.active, "report only").to.equal(true);

    const { stdout, code } = await cli("reconcile", "strict", "--fix");
    expect(code, "drift found: exit 2").to.equal(2);
    expect(stdout).to.match(/active accounts of leavers 1, missing 1/).and.to.match(/unknown account: stranger@example.com \(reported only\)/);
    await eventually(() => {
      expect(accountIn(strict, "bob@example.com")!.active).to.equal(false);
      expect(accountIn(strict, "cyd@example.com")!.displayName).to.equal("cyd");
      expect(isActiveIn(accountIn(strict, "dee@example.com"))).to.equal(true);
      const members = strict.memberIds(finance.id);
      expect(members).to.include(accountIn(strict, "ann@example.com")!.id).and.to.include(accountIn(strict, "dee@example.com")!.id);
      expect(members).to.not.include(stranger.id);
    });
    expect(strict.users.has(stranger.id), "unknown accounts are never touched").to.equal(true);
    const { stdout: again, code: againCode } = await cli("reconcile", "strict", "--json");
    expect(againCode, "the unknown account is still drift").to.equal(2);
    expect(JSON.parse(again).counts).to.deep.equal({ leaverActive: 0, missing: 0, unlinked: 0, attributeDrift: 0, unknown: 1, membershipDrift: 0 });
  });

  it("when an operator disables an app, then deliveries wait as pending, and enabling delivers the backlog", async () => {
    const list = JSON.parse((await cli("apps", "list", "--json")).stdout);
    expect(list.map((a: any) => [a.name, a.status])).to.deep.equal([["strict", "ok"], ["quirky", "ok"]]);
    expect((await cli("apps", "test", "quirky")).stdout).to.match(/quirky: ok in \d+ ms/);
    // Output is the command's alone: the broker's log lines (this one is a warning) go to stderr.
    const disabled = await cli("apps", "disable", "quirky", "--reason", "maintenance window");
    expect(disabled.stdout).to.equal("quirky: disabled\n");
    expect(disabled.stderr).to.include("app disabled by an operator");
    const deferred = () => metric(b.t.url, "broker_fanout_deliveries_total", { app: "quirky", outcome: "deferred" });
    const deferredBefore = await deferred();
    const requestsBefore = quirky.requests.length;
    const user = await b.create("eve@example.com");
    await eventually(() => expect(accountIn(strict, "eve@example.com")).to.not.equal(undefined));
    // The signal that quirky's delivery ran: it met the disabled gate and went back to the queue for the
    // slow recheck, without a request to the app.
    await eventually(async () => {
      expect(await deferred(), "quirky's delivery ran and was deferred").to.be.at.least(deferredBefore + 1);
      const [job, ...more] = await queuedJobs(b.db, "deliver:quirky:", user.id);
      expect(more, "one job for eve").to.deep.equal([]);
      expect(job, "eve's quirky delivery waits in the queue").to.include({ locked: false });
      expect(job!.delayMs, "parked for the disabled app's recheck").to.be.within(DISABLED_RECHECK_MS - 60_000, DISABLED_RECHECK_MS);
    });
    expect(accountIn(quirky, "eve@example.com")).to.equal(undefined);
    expect(quirky.requests.slice(requestsBefore), "no request reached the disabled app").to.deep.equal([]);
    const shown = await b.admin.get("/apps/quirky").expect(200);
    expect(shown.body).to.include({ status: "disabled", disabledReason: "maintenance window" });
    expect(shown.body.config.auth.token).to.equal("${TOKEN_QUIRKY}"); // the reference, never its value
    expect((await b.admin.get(`/users/${user.id}/apps`)).body.apps.find((a: any) => a.app === "quirky").status).to.equal("pending");
    expect((await cli("apps", "enable", "quirky")).stdout).to.match(/quirky: enabled, [1-9]\d* deliveries queued/);
    await eventually(() => expect(isActiveIn(accountIn(quirky, "eve@example.com"))).to.equal(true));
    const status = await cli("apps", "status", "eve@example.com");
    expect(status.stdout).to.match(/quirky\s+delivered/);
  });
});
