// /metrics carries what an operator alerts on: HTTP latency by route template and status, the leaver SLA
// (overall and per app), queue depth, deliveries by outcome, quarantined apps, and open reviews by kind.
import { expect } from "chai";
import { startStrictApp, type StrictScimApp } from "../helpers/fake-apps/strict-app.ts";
import { accountIn, eventually, startFanoutBroker, type FanoutBroker } from "./fanout-harness.ts";

describe("metrics: the families an operator alerts on", function () {
  this.timeout(60_000);
  let app: StrictScimApp;
  let b: FanoutBroker;
  const scrape = async () => (await fetch(`${b.t.url}/metrics`)).text();

  before(async () => {
    app = await startStrictApp();
    b = await startFanoutBroker([{ name: "crm", app, groups: ["finance"] }]);
  });
  after(async () => {
    await b?.stop();
    await app?.stop();
  });

  it("when a leaver goes out and a review waits, then every required family is on /metrics with its labels", async () => {
    const user = await b.create("mia@example.com", { department: "Finance" });
    await eventually(() => expect(accountIn(app, "mia@example.com")?.active).to.equal(true));
    await b.scim.patch(`/Users/${user.id}`, [{ op: "replace", path: "active", value: false }]).expect(200);
    await eventually(async () => expect((await b.admin.get(`/users/${user.id}/apps`).expect(200)).body.leaverSla[0].completedAt).to.be.a("string"));
    await b.create("carl@example.com", { userType: "Contractor" }); // no end date: a review
    await b.admin.get("/reviews").expect(200);

    const prom = await scrape();
    // HTTP latency by route template (never the raw id) and status
    expect(prom).to.match(/broker_http_request_duration_seconds_count\{method="PATCH",route="\/scim\/v2\/Users\/:id",status="200"\} 1/);
    expect(prom).to.match(/broker_http_request_duration_seconds_count\{method="GET",route="\/admin\/v1\/users\/:user\/apps",status="200"\} \d+/);
    expect(prom).to.not.include(user.id);
    // leaver SLA: the whole leaver (histogram) and per app (p50/p99 of the last 24 h)
    expect(prom).to.match(/broker_leaver_sla_seconds_count \d+/);
    expect(prom).to.match(/broker_app_leaver_sla_seconds\{app="crm",quantile="0.5"\} [\d.e-]+/);
    expect(prom).to.match(/broker_app_leaver_sla_seconds\{app="crm",quantile="0.99"\} [\d.e-]+/);
    expect(prom).to.match(/broker_app_leavers_pending\{app="crm"\} 0/);
    // queue depth, deliveries by outcome, quarantined apps
    expect(prom).to.match(/broker_fanout_queue_depth\{app="crm"\} \d+/);
    expect(prom).to.match(/broker_fanout_deliveries_total\{app="crm",outcome="disabled"\} 1/);
    expect(prom).to.match(/broker_app_quarantined\{app="crm"\} 0/);
    // open reviews by kind: every kind has a sample
    expect(prom).to.match(/broker_reviews_open\{kind="contractor-without-end-date"\} 1/);
    expect(prom).to.match(/broker_reviews_open\{kind="mass-deprovision"\} 0/);
  });

  it("when a path matches no route or is a console file, then the route label is shared, not the path", async () => {
    await fetch(`${b.t.url}/no/such/path/123`);
    await fetch(`${b.t.url}/console/console.css`);
    await fetch(`${b.t.url}/scim/v2/Users/00000000-0000-0000-0000-000000000000`, { headers: { Authorization: `Bearer ${b.t.token}` } });
    const prom = await scrape();
    expect(prom).to.match(/route="unmatched",status="404"/);
    expect(prom).to.match(/route="\/console",status="200"/);
    expect(prom).to.match(/method="GET",route="\/scim\/v2\/Users\/:id",status="404"/);
    expect(prom).to.not.include("/no/such/path");
  });
});
