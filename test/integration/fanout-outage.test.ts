// An app that fails does not slow the others, is quarantined (visible in the API, the metrics and the
// logs), and catches up when it answers again; an app that says "429, Retry-After: 2" hears nothing from us
// for two seconds. Real HTTP on loopback, assertions on the apps' state and request logs.
import { expect } from "chai";
import { startQuirkyApp, type QuirkyScimApp } from "../helpers/fake-apps/quirky-app.ts";
import { startStrictApp, type StrictScimApp } from "../helpers/fake-apps/strict-app.ts";
import { accountIn, capturingLogger, eventually, isActiveIn, metric, startFanoutBroker, type FanoutBroker } from "./fanout-harness.ts";

describe("fan-out: outages, quarantine and Retry-After", function () {
  this.timeout(90_000);
  let a: StrictScimApp, c: StrictScimApp, down: QuirkyScimApp, slow: QuirkyScimApp;
  let b: FanoutBroker;
  const log = capturingLogger("info");

  before(async () => {
    [a, c, down, slow] = await Promise.all([startStrictApp(), startStrictApp(), startQuirkyApp({ patch: "no-content" }), startQuirkyApp({ patch: "no-content" })]);
    b = await startFanoutBroker([
      { name: "a", app: a }, { name: "c", app: c }, { name: "down", app: down },
      { name: "paced", app: slow, extra: ["assign: 'title eq \"paced\"'"] },
    ], { log: log.log });
  });
  after(async () => {
    await b?.stop();
    await Promise.all([a, c, down, slow].map((x) => x?.stop()));
  });

  it("when one app answers 503 for a while, then the others are served at once, it is quarantined, and it catches up after", async () => {
    down.faults.unavailable = true;
    const names = Array.from({ length: 12 }, (_, i) => `out${i}@example.com`);
    const outcomes = async (app: string) => Object.fromEntries(await Promise.all(
      ["created", "retry", "deferred", "quarantined"].map(async (o) => [o, await metric(b.t.url, "broker_fanout_deliveries_total", { app, outcome: o })] as const)));
    const [aBefore, cBefore] = [await outcomes("a"), await outcomes("c")];
    for (const n of names) await b.create(n);
    await eventually(() => {
      for (const n of names) {
        expect(isActiveIn(accountIn(a, n)), `${n} in a`).to.equal(true);
        expect(isActiveIn(accountIn(c, n)), `${n} in c`).to.equal(true);
      }
    });
    // The healthy apps are not held up by the failing one: served while it still refuses everything, each
    // account in one request, and none of their deliveries waited (no retry, deferral or quarantine).
    expect(down.users.size, "served while the failing app still fails").to.equal(0);
    for (const [x, before] of [[a, aBefore], [c, cBefore]] as const) {
      const name = x === a ? "a" : "c";
      expect(x.requestsTo("POST", "/Users").length, `${name}: one POST per user`).to.equal(names.length);
      // The app holds the account as soon as it answered; the broker counts the delivery when it has recorded
      // the answer, a moment later: wait for that record, then no delivery may have waited.
      await eventually(async () => {
        const now = await outcomes(name);
        expect({ created: now.created! - before.created!, retry: now.retry! - before.retry!, deferred: now.deferred! - before.deferred!, quarantined: now.quarantined! - before.quarantined! },
          `${name}: deliveries`).to.deep.equal({ created: names.length, retry: 0, deferred: 0, quarantined: 0 });
      });
    }

    const apps = await eventually(async () => {
      const r = await b.admin.get("/apps").expect(200);
      expect(r.body.items.find((x: any) => x.name === "down")).to.include({ status: "quarantined" });
      return r.body.items;
    });
    expect(apps.find((x: any) => x.name === "a").status).to.equal("ok");
    const prom = await (await fetch(`${b.t.url}/metrics`)).text();
    expect(prom).to.include('broker_app_quarantined{app="down"} 1');
    expect(prom).to.include('broker_app_quarantined{app="a"} 0');
    const status = await b.admin.get(`/users/${encodeURIComponent(names[0]!)}/apps`).expect(200);
    expect(status.body.apps.find((x: any) => x.app === "down").status).to.be.oneOf(["pending", "quarantined"]);

    // While quarantined the app gets probes, not one request per queued delivery: the queued deliveries run
    // again (each run counted as outcome="quarantined") and the app hears far fewer requests than that.
    const parked = () => metric(b.t.url, "broker_fanout_deliveries_total", { app: "down", outcome: "quarantined" });
    const during = down.requests.length;
    const parkedDuring = await parked();
    await eventually(async () => expect(await parked(), "the queued deliveries ran again").to.be.at.least(parkedDuring + names.length), 30_000);
    expect(down.requests.length - during).to.be.lessThan(6);

    const recoveredLines = () => log.lines.filter((l) => l.code === "FANOUT_APP_RECOVERED" && l.app === "down");
    expect(recoveredLines(), "still quarantined").to.deep.equal([]);
    down.faults.unavailable = false;
    await eventually(() => {
      for (const n of names) expect(isActiveIn(accountIn(down, n)), `${n} in down`).to.equal(true);
    }, 20_000);
    // It caught up because the quarantine's release queued the backlog at once (not each delivery's own
    // retry timer): one release, whose backlog held the deliveries still owed.
    const [recovered, ...again] = recoveredLines();
    expect(again, "one release").to.deep.equal([]);
    expect(recovered?.backlog, JSON.stringify(recovered)).to.be.at.least(names.length - 1);
    expect(down.users.size).to.equal(names.length); // each created once, despite the retries
    await eventually(async () => {
      const r = await b.admin.get("/apps").expect(200);
      expect(r.body.items.find((x: any) => x.name === "down")).to.include({ status: "ok" });
    });
  });

  it("when an app answers 429 with Retry-After: 2, then it gets no request before 2 s, and then the delivery", async () => {
    slow.throttle(1, 2);
    await b.create("paced@example.com", { title: "paced" });
    await eventually(() => expect(isActiveIn(accountIn(slow, "paced@example.com"))).to.equal(true), 15_000);
    const refused = slow.requests.findIndex((r) => r.status === 429);
    expect(refused).to.be.greaterThan(-1);
    // The broker recorded the pause it was asked for (Retry-After: 2 from the refusal), and the next request
    // came after that pause: order of readings of one machine's clock, not a measured duration.
    const { rows: [state] } = await b.db.query(`SELECT paused_until FROM app_state WHERE app = 'paced'`);
    const pausedUntil = (state.paused_until as Date).getTime();
    expect(pausedUntil - slow.requests[refused]!.at, "the pause is the Retry-After").to.be.at.least(2000);
    const next = slow.requests[refused + 1]!;
    expect(next.at, "Retry-After honoured").to.be.at.least(pausedUntil);
    expect(slow.requests.filter((r) => r.method === "POST")).to.have.length(1);
  });
});
