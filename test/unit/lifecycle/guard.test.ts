import { expect } from "chai";
import fc from "fast-check";
import { DEFAULT_MASS_DEPROVISION, massDeprovisionDecision } from "../../../src/domain/mass-deprovision-guard.ts";

const config = { maxUsers: 10, maxPercent: 5, windowMs: 3_600_000 };

describe("lifecycle/guard", () => {
  it("when there is no guards section, then the defaults are 50 users, 20 percent, one hour", () => {
    expect(DEFAULT_MASS_DEPROVISION).to.deep.equal({ maxUsers: 50, maxPercent: 20, windowMs: 3_600_000 });
  });

  it("when the 10th leaver arrives with maxUsers 10, then it goes through; the 11th is held", () => {
    const big = { populationActive: 100_000, leftInWindow: 0, config };
    expect(massDeprovisionDecision({ ...big, leaversInWindow: 9 }).hold).to.equal(false);
    const held = massDeprovisionDecision({ ...big, leaversInWindow: 10 });
    expect(held).to.include({ hold: true, limit: "maxUsers", count: 11 });
    expect(held.reason).to.equal("11 leavers from this source within 1h exceed maxUsers 10");
  });

  it("when leavers exceed maxPercent of active plus recently left users, then the leaver is held", () => {
    // 5 % of (95 active + 5 left) = 5: the 5th leaver passes, the 6th is held.
    expect(massDeprovisionDecision({ leaversInWindow: 4, populationActive: 96, leftInWindow: 4, config }).hold).to.equal(false);
    const held = massDeprovisionDecision({ leaversInWindow: 5, populationActive: 95, leftInWindow: 5, config });
    expect(held).to.include({ hold: true, limit: "maxPercent", count: 6, population: 100 });
    expect(held.reason).to.match(/6 of 100 users \(6%\).*maxPercent 5/);
  });

  it("when both limits are exceeded, then maxUsers is the reported reason", () => {
    expect(massDeprovisionDecision({ leaversInWindow: 20, populationActive: 10, leftInWindow: 20, config })).to.include({ limit: "maxUsers" });
  });

  it("when the counts are stale or negative, then the population is never below the count", () => {
    expect(massDeprovisionDecision({ leaversInWindow: -3, populationActive: 0, leftInWindow: 0, config: { ...config, maxPercent: 100 } }))
      .to.include({ hold: false, count: 1, population: 1 });
  });

  it("when more leavers arrive in the same window, then a hold never turns back into a release (monotone)", () => {
    fc.assert(fc.property(fc.nat(200), fc.nat(200), fc.nat(5000), fc.nat(100), fc.integer({ min: 1, max: 100 }), (n, extra, active, maxUsers, maxPercent) => {
      const c = { maxUsers, maxPercent, windowMs: 60_000 };
      const first = massDeprovisionDecision({ leaversInWindow: n, populationActive: active, leftInWindow: 0, config: c });
      const later = massDeprovisionDecision({ leaversInWindow: n + extra, populationActive: active, leftInWindow: 0, config: c });
      if (first.hold) expect(later.hold).to.equal(true);
    }));
  });
});
