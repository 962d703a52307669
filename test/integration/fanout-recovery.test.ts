// Recovery after an outage (issue 13, defects 8 and 9): a quarantined app is probed ~1 s after the
// quarantine, then at doubling intervals capped at the configured probe interval, so a short outage costs
// seconds, not a probe period; any request that succeeds (here a connection test) releases the quarantine
// at once. Each episode logs FANOUT_APP_QUARANTINED once and FANOUT_APP_RECOVERED once. Time is the manual
// clock's; probes are called, never waited for.
import { expect } from "chai";
import { startQuirkyApp, type QuirkyScimApp } from "../helpers/fake-apps/quirky-app.ts";
import { ManualClock } from "../../src/domain/clock.ts";
import { accountIn, capturingLogger, eventually, isActiveIn, startFanoutBroker, type FanoutBroker } from "./fanout-harness.ts";

describe("fan-out: recovery after an outage", function () {
  this.timeout(60_000);
  let down: QuirkyScimApp, b: FanoutBroker;
  const clock = new ManualClock(new Date());
  const capture = capturingLogger("info");
  const logged = (code: string) => capture.lines.filter((l) => l.code === code && l.app === "down").length;
  const state = async () => (await b.db.query(`SELECT quarantined, probe_count, probe_at FROM app_state WHERE app = 'down'`)).rows[0];
  /** Moves the clock to the next probe and has it run (by this call or by the probe job: same effect). */
  const probeDue = async () => {
    const before = await state();
    clock.set(new Date(Math.max(clock.now().getTime(), before.probe_at.getTime())));
    await b.t.broker.fanout.health.probe("down");
    return eventually(async () => {
      const after = await state();
      expect(after.quarantined === false || after.probe_count > before.probe_count, "the due probe ran").to.equal(true);
      return after;
    });
  };
  const quarantine = async (names: string[]) => {
    down.faults.unavailable = true;
    for (const n of names) await b.create(n);
    await eventually(async () => expect((await b.admin.get("/apps/down").expect(200)).body.status).to.equal("quarantined"));
  };

  before(async () => {
    down = await startQuirkyApp({ patch: "no-content" });
    b = await startFanoutBroker([{ name: "down", app: down }], { clock, log: capture.log, env: { BROKER_FANOUT_PROBE_INTERVAL: "30s" } });
  });
  after(async () => {
    await b?.stop();
    await down?.stop();
  });

  it("when an app is down, then probes start ~1 s after the quarantine and double up to the probe interval, and the first probe after it answers releases it", async () => {
    const names = Array.from({ length: 6 }, (_, i) => `rec${i}@example.com`);
    await quarantine(names);
    const intervals: number[] = [];
    let s = await state();
    expect(s.probe_at.getTime() - clock.now().getTime(), "first probe").to.equal(1000);
    for (let i = 0; i < 6; i++) {
      s = await probeDue();
      intervals.push(s.probe_at.getTime() - clock.now().getTime());
    }
    expect(intervals).to.deep.equal([2000, 4000, 8000, 16000, 30000, 30000]);
    for (const n of names) expect(accountIn(down, n), "nothing delivered while down").to.equal(undefined);

    down.faults.unavailable = false;
    expect((await probeDue()).quarantined).to.equal(false);
    await eventually(() => { for (const n of names) expect(isActiveIn(accountIn(down, n)), n).to.equal(true); });
    expect((await b.admin.get("/apps/down").expect(200)).body.status).to.equal("ok");
    expect(logged("FANOUT_APP_QUARANTINED"), "one error log per episode").to.equal(1);
    expect(logged("FANOUT_APP_RECOVERED"), "one log on release").to.equal(1);
  });

  it("when any request to a quarantined app succeeds, then the quarantine ends at once, before the next probe", async () => {
    await quarantine(["early@example.com"]);
    expect((await state()).probe_at.getTime()).to.be.greaterThan(clock.now().getTime());
    down.faults.unavailable = false;
    const tested = await b.admin.post("/apps/down/test").expect(200);
    expect(tested.body.ok).to.equal(true);
    expect((await state()).quarantined).to.equal(false);
    await eventually(() => expect(isActiveIn(accountIn(down, "early@example.com"))).to.equal(true));
    expect(logged("FANOUT_APP_QUARANTINED")).to.equal(2);
    expect(logged("FANOUT_APP_RECOVERED")).to.equal(2);
  });
});
