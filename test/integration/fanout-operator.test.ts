// The operator's view tells the truth (issue 13, defect 8): `apps show` carries the real last success and
// no stale error once the app is ok; a test against a hung app says FANOUT_TIMEOUT; /metrics has a sample
// for every configured app, zeros included (alerts built on absent() must not misfire).
import { expect } from "chai";
import { createServer, type Server, type Socket } from "node:net";
import { startQuirkyApp, type QuirkyScimApp } from "../helpers/fake-apps/quirky-app.ts";
import { startStrictApp, type StrictScimApp } from "../helpers/fake-apps/strict-app.ts";
import { accountIn, eventually, isActiveIn, startFanoutBroker, type FanoutBroker } from "./fanout-harness.ts";

describe("fan-out: the operator's view", function () {
  this.timeout(60_000);
  let strict: StrictScimApp, flaky: QuirkyScimApp, hung: Server, b: FanoutBroker;
  const sockets = new Set<Socket>();

  before(async () => {
    [strict, flaky] = await Promise.all([startStrictApp(), startQuirkyApp({ patch: "no-content" })]);
    // Accepts connections and never answers: a hung app.
    hung = createServer((s) => { sockets.add(s); s.on("close", () => sockets.delete(s)); });
    await new Promise<void>((r) => hung.listen(0, "127.0.0.1", () => r()));
    const hungUrl = `http://127.0.0.1:${(hung.address() as { port: number }).port}/scim/v2`;
    b = await startFanoutBroker([
      { name: "strict", app: strict }, { name: "flaky", app: flaky },
      { name: "hung", app: { url: hungUrl, auth: { bearer: "x" } } as never, extra: ["timeoutMs: 300", "assign: 'title eq \"never\"'"] },
    ]);
  });
  after(async () => {
    await b?.stop();
    for (const s of sockets) s.destroy();
    await new Promise((r) => hung?.close(r));
    await Promise.all([strict?.stop(), flaky?.stop()]);
  });

  it("when deliveries succeed, then apps show has the last success; after a failure streak ends, no stale error", async () => {
    const sent = Date.now(); // before the action: the success recorded must be this delivery's
    await b.create("op1@example.com");
    await eventually(() => expect(isActiveIn(accountIn(strict, "op1@example.com"))).to.equal(true));
    const shown = await eventually(async () => { // (recorded just after the app answered)
      const r = (await b.admin.get("/apps/strict").expect(200)).body;
      expect(Date.parse(r.lastSuccessAt)).to.be.at.least(sent);
      return r;
    });
    expect(shown.status).to.equal("ok");
    expect((await b.admin.get("/apps").expect(200)).body.items.find((a: any) => a.name === "strict").lastSuccessAt).to.equal(shown.lastSuccessAt);

    flaky.faults.failEvery = 1; // one failure, then it answers again
    await b.create("op2@example.com");
    await eventually(async () => expect((await b.admin.get("/apps/flaky").expect(200)).body.lastError?.code).to.equal("FANOUT_UNAVAILABLE"));
    flaky.faults.failEvery = 0;
    await eventually(() => expect(isActiveIn(accountIn(flaky, "op2@example.com"))).to.equal(true));
    const recovered = await eventually(async () => {
      const r = (await b.admin.get("/apps/flaky").expect(200)).body;
      expect(r.status).to.equal("ok");
      return r;
    });
    expect(recovered.lastError).to.equal(null);
    expect(Date.parse(recovered.lastSuccessAt)).to.be.at.least(Date.parse(recovered.lastFailureAt));
  });

  it("when a connection test meets a hung app, then it fails with FANOUT_TIMEOUT", async () => {
    const r = (await b.admin.post("/apps/hung/test").expect(200)).body;
    expect(r.ok).to.equal(false);
    expect(r.error.code).to.equal("FANOUT_TIMEOUT");
  });

  it("when an app has no dead letters and no queue, then /metrics still reports 0 for it", async () => {
    const text = await (await fetch(`${b.t.url}/metrics`)).text();
    for (const app of ["strict", "flaky", "hung"]) {
      expect(text).to.include(`broker_fanout_dead_letters{app="${app}"} 0`);
      expect(text).to.match(new RegExp(`broker_fanout_queue_depth\\{app="${app}"\\} \\d+`));
    }
    expect(text).to.include('broker_fanout_queue_depth{app="hung"} 0');
  });
});
