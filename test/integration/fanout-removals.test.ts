// HR removals reach the apps (issue 13, defect 1). When HR clears an attribute the broker sends (its mapping's
// targets), a PATCH-mode app gets an explicit `remove` for it (RFC 7644 §3.5.2.2) — a path-less `replace`
// with the remaining attributes leaves the old value in place (§3.5.2.3) — and a PUT-mode app the full
// resource (§3.5.1). Reconciliation reports an owned attribute the app still holds after HR cleared it, and
// --fix removes it; an attribute the broker never owned is left alone. Real loopback apps (scimmy-based).
import { expect } from "chai";
import { startQuirkyApp, type QuirkyScimApp } from "../helpers/fake-apps/quirky-app.ts";
import { startStrictApp, type StrictScimApp } from "../helpers/fake-apps/strict-app.ts";
import { accountIn, ENTERPRISE_SCHEMA, eventually, startFanoutBroker, type FanoutBroker } from "./fanout-harness.ts";

describe("fan-out: HR removals reach the apps", function () {
  this.timeout(60_000);
  let strict: StrictScimApp, putOnly: QuirkyScimApp, b: FanoutBroker;

  before(async () => {
    [strict, putOnly] = await Promise.all([startStrictApp(), startQuirkyApp({ patch: "reject-405" })]);
    b = await startFanoutBroker([{ name: "strict", app: strict }, { name: "put-only", app: putOnly, extra: ["dialect: { patch: false }"] }]);
  });
  after(async () => {
    await b?.stop();
    await Promise.all([strict?.stop(), putOnly?.stop()]);
  });

  const reconcile = async (app: string, fix = false) => {
    const started = await b.admin.post(`/apps/${app}/reconcile`, { fix }).expect(202);
    return eventually(async () => {
      const r = await b.admin.get(`/apps/${app}/reconcile/${started.body.runId}`).expect(200);
      expect(r.body.finishedAt, JSON.stringify(r.body.error)).to.be.a("string");
      return r.body.report;
    });
  };

  it("when HR removes title and the enterprise costCenter, then neither app holds them any more", async () => {
    const user = await b.create("rem@example.com", { title: "Engineer", [ENTERPRISE_SCHEMA]: { department: "Sales", costCenter: "CC-17" } });
    await eventually(() => {
      for (const app of [strict, putOnly]) {
        expect(accountIn(app, "rem@example.com")).to.include({ title: "Engineer" });
        expect(accountIn(app, "rem@example.com")![ENTERPRISE_SCHEMA]).to.include({ costCenter: "CC-17" });
      }
    });
    await b.scim.patch(`/Users/${user.id}`, [{ op: "remove", path: "title" }, { op: "remove", path: `${ENTERPRISE_SCHEMA}:costCenter` }]).expect(200);
    await eventually(() => {
      for (const app of [strict, putOnly]) {
        const account = accountIn(app, "rem@example.com")!;
        expect(account, "title").to.not.have.property("title");
        expect(account[ENTERPRISE_SCHEMA], "costCenter").to.not.have.property("costCenter");
        expect(account[ENTERPRISE_SCHEMA]).to.include({ department: "Sales" });
      }
    });
    const patches = strict.requestsTo("PATCH", "/Users/");
    const ops = (patches.at(-1)!.body as { Operations: Array<{ op: string; path?: string }> }).Operations;
    expect(ops.filter((o) => o.op === "remove").map((o) => o.path).sort()).to.deep.equal(["title", `${ENTERPRISE_SCHEMA}:costCenter`]);
  });

  it("when an app holds a value for an owned attribute HR cleared, then reconcile reports it and --fix removes it; a value the broker never owned is left alone", async () => {
    await b.create("stale@example.com", { [ENTERPRISE_SCHEMA]: { department: "Sales" } });
    await eventually(() => expect(accountIn(strict, "stale@example.com")).to.not.equal(undefined));
    const account = accountIn(strict, "stale@example.com")!;
    // Behind the broker's back: owned attributes HR has no value for, and one the broker never sends.
    account.title = "Stale Title";
    (account[ENTERPRISE_SCHEMA] as Record<string, unknown>).costCenter = "CC-OLD";
    account.nickName = "Nick";

    const report = await reconcile("strict");
    const drift = report.attributeDrift.find((d: any) => d.userName === "stale@example.com");
    expect(drift?.attributes).to.deep.equal(["title", `${ENTERPRISE_SCHEMA}:costCenter`]);

    await reconcile("strict", true);
    await eventually(() => {
      const now = accountIn(strict, "stale@example.com")!;
      expect(now).to.not.have.property("title");
      expect(now[ENTERPRISE_SCHEMA]).to.not.have.property("costCenter");
      expect(now.nickName, "never owned: untouched").to.equal("Nick");
    });
    expect((await reconcile("strict")).counts.attributeDrift).to.equal(0);
  });
});
