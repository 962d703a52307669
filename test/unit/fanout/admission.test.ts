import { expect } from "chai";
import { admissionDelay } from "../../../src/fanout/delivery/fanout-context.ts";
import { RateLimiter } from "../../../src/fanout/client/rate-limiter.ts";
import type { AppRuntime } from "../../../src/fanout/apps/app-registry.ts";

function runtime(opts: { perSecond?: number; concurrency?: number; avg?: number; limiter?: RateLimiter }): AppRuntime {
  const rateLimit = opts.perSecond ? { perSecond: opts.perSecond, concurrency: opts.concurrency ?? 100 } : undefined;
  return { config: { rateLimit }, inFlight: 0, avgDeliveryMs: opts.avg ?? 5, nextSlotAt: 0, limiter: opts.limiter ?? null } as unknown as AppRuntime;
}

/** The clock's monotonic reading the admission is asked at (the injected clock in the broker). */
const NOW = 1_000_000;

describe("fanout/admission", () => {
  it("when the app is fast and unlimited, then every delivery goes at once", () => {
    const r = runtime({});
    r.inFlight = 50;
    expect(admissionDelay(r, 16, false, NOW)).to.equal(null);
  });

  it("when the app is slow or failing, then at most half the workers wait on it", () => {
    const r = runtime({ avg: 2000 });
    r.inFlight = 8;
    expect(admissionDelay(r, 16, false, NOW)).to.be.a("number");
    r.inFlight = 7;
    expect(admissionDelay(r, 16, false, NOW)).to.equal(null);
    expect(admissionDelay(runtime({}), 16, true, NOW)).to.equal(null);
  });

  it("when the rate limit is exhausted, then waiting jobs get successive slots at the app's pace, not one wave", () => {
    const limiter = new RateLimiter({ perSecond: 10, concurrency: 10 }, { monotonic: () => NOW });
    for (let i = 0; i < 10; i++) { const p = limiter.tryAcquire(); if (p.ok) p.permit.release(); }
    const r = runtime({ perSecond: 10, limiter });
    const delays = [admissionDelay(r, 16, false, NOW)!, admissionDelay(r, 16, false, NOW)!, admissionDelay(r, 16, false, NOW)!];
    expect(delays).to.deep.equal([100, 200, 300]);
  });

  it("when the limiter is paused by Retry-After, then check() says so without taking a token", () => {
    const limiter = new RateLimiter({ perSecond: 100, concurrency: 4 });
    limiter.pauseFor(2000);
    const c = limiter.check();
    expect(c.ok).to.equal(false);
    expect(!c.ok && c.reason).to.equal("paused");
    expect(limiter.tokens).to.equal(100);
  });
});
