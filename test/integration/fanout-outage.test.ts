// An app that fails does not slow the others, is quarantined (visible in the API, the metrics and the
// logs), and catches up when it answers again; an app that says "429, Retry-After: 2" hears nothing from us
// for two seconds. Real HTTP on loopback, assertions on the apps' state and request logs.
import { expect } from "chai";
import { startQuirkyApp, type QuirkyScimApp } from "../helpers/fake-apps/quirky-app.ts";
import { startStrictApp, type StrictScimApp } from "../helpers/fake-apps/strict-app.ts";
import { accountIn, eventually, isActiveIn, startFanoutBroker, type FanoutBroker } from "./fanout-harness.ts";

describe("fan-out: outages, quarantine and Retry-After", function () {
  this.timeout(90_000);
  let a: StrictScimApp, c: StrictScimApp, down: QuirkyScimApp, slow: QuirkyScimApp;
  let b: FanoutBroker;

  before(async () => {
    [a, c, down, slow] = await Promise.all([startStrictApp(), startStrictApp(), startQuirkyApp({ patch: "no-content" }), startQuirkyApp({ patch: "no-content" })]);
    b = await startFanoutBroker([
      { name: "a", app: a }, { name: "c", app: c }, { name: "down", app: down },
      { name: "paced", app: slow, extra: ["assign: 'title eq \"paced\"'"] },
    ]);
  });
  after(async () => {
    await b?.stop();
    await Promise.all([a, c, down, slow].map((x) => x?.stop()));
  });

  it("when one app answers 503 for a while, then the others are served at once, it is quarantined, and it catches up after", async () => {
    down.faults.unavailable = true;
    const names = Array.from({ length: 12 }, (_, i) => `out${i}@example.com`);
    const started = Date.now();
    for (const n of names) await b.create(n);
    await eventually(() => {
      for (const n of names) {
        expect(isActiveIn(accountIn(a, n)), `${n} in a`).to.equal(true);
        expect(isActiveIn(accountIn(c, n)), `${n} in c`).to.equal(true);
      }
    });
    const healthyMs = Date.now() - started;
    expect(healthyMs, "the healthy apps are not held up by the failing one").to.be.lessThan(5_000);

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

    // While quarantined the app gets probes, not one request per queued delivery.
    const during = down.requests.length;
    await new Promise((r) => setTimeout(r, 1500)); // observing the absence of traffic over an interval
    expect(down.requests.length - during).to.be.lessThan(6);

    down.faults.unavailable = false;
    const recovered = Date.now();
    await eventually(() => {
      for (const n of names) expect(isActiveIn(accountIn(down, n)), `${n} in down`).to.equal(true);
    }, 20_000);
    expect(Date.now() - recovered).to.be.lessThan(8_000);
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
    const next = slow.requests[refused + 1]!;
    expect(next.at - slow.requests[refused]!.at, "Retry-After honoured").to.be.at.least(2000);
    expect(slow.requests.filter((r) => r.method === "POST")).to.have.length(1);
  });
});
