import { expect } from "chai";
import { RateLimiter, type MonotonicClock, type Scheduler } from "../../../src/fanout/client/rate-limiter.ts";

/** A clock tests move by hand, and a scheduler whose sleep just advances that clock: no real waiting. */
function fakeTime(start = 1_000) {
  let now = start;
  const slept: number[] = [];
  const clock: MonotonicClock = { monotonic: () => now };
  const scheduler: Scheduler = {
    sleep: async (ms, signal) => {
      signal?.throwIfAborted();
      slept.push(ms);
      now += ms;
    },
  };
  return { clock, scheduler, slept, advance: (ms: number) => (now += ms) };
}

describe("fanout/rate-limiter", () => {
  it("when the bucket is full, then perSecond requests pass at once and the next waits 1/perSecond", () => {
    const t = fakeTime();
    const limiter = new RateLimiter({ perSecond: 10, concurrency: 100 }, t.clock);
    for (let i = 0; i < 10; i++) {
      const r = limiter.tryAcquire();
      expect(r.ok, `request ${i}`).to.equal(true);
      if (r.ok) r.permit.release();
    }
    const refused = limiter.tryAcquire();
    expect(refused).to.deep.include({ ok: false, reason: "rate", waitMs: 100 });
    t.advance(100);
    expect(limiter.tryAcquire().ok).to.equal(true);
  });

  it("when time passes, then tokens refill at perSecond but never beyond the burst", () => {
    const t = fakeTime();
    const limiter = new RateLimiter({ perSecond: 2, concurrency: 10, burst: 3 }, t.clock);
    for (let i = 0; i < 3; i++) limiter.tryAcquire();
    expect(limiter.tokens).to.be.closeTo(0, 1e-9);
    t.advance(750);
    expect(limiter.tokens).to.be.closeTo(1.5, 1e-9);
    t.advance(60_000);
    expect(limiter.tokens).to.equal(3);
  });

  it("when all slots are taken, then tryAcquire says 'concurrency' without consuming a token", () => {
    const t = fakeTime();
    const limiter = new RateLimiter({ perSecond: 100, concurrency: 2 }, t.clock);
    const a = limiter.tryAcquire();
    const b = limiter.tryAcquire();
    const before = limiter.tokens;
    expect(limiter.tryAcquire()).to.deep.equal({ ok: false, reason: "concurrency", waitMs: undefined });
    expect(limiter.tokens).to.equal(before);
    if (a.ok) a.permit.release();
    expect(limiter.inFlight).to.equal(1);
    if (b.ok) {
      b.permit.release();
      b.permit.release(); // idempotent
    }
    expect(limiter.inFlight).to.equal(0);
  });

  it("when acquirers queue for a slot, then release hands the slot over in FIFO order", async () => {
    const t = fakeTime();
    const limiter = new RateLimiter({ perSecond: 1_000, concurrency: 1 }, t.clock, t.scheduler);
    const first = await limiter.acquire();
    const order: string[] = [];
    const second = limiter.acquire().then((p) => (order.push("second"), p));
    const third = limiter.acquire().then((p) => (order.push("third"), p));
    expect(limiter.waiting).to.equal(2);
    // A newcomer must not overtake the queue.
    expect(limiter.tryAcquire()).to.deep.include({ ok: false, reason: "concurrency" });
    first.release();
    (await second).release();
    (await third).release();
    expect(order).to.deep.equal(["second", "third"]);
    expect(limiter.inFlight).to.equal(0);
  });

  it("when no token is left, then acquire sleeps exactly until the next token (fake scheduler)", async () => {
    const t = fakeTime();
    const limiter = new RateLimiter({ perSecond: 4, concurrency: 10, burst: 1 }, t.clock, t.scheduler);
    (await limiter.acquire()).release();
    (await limiter.acquire()).release();
    (await limiter.acquire()).release();
    expect(t.slept).to.deep.equal([250, 250]);
  });

  it("when the app said Retry-After, then pauseFor blocks everyone until then", async () => {
    const t = fakeTime();
    const limiter = new RateLimiter({ perSecond: 100, concurrency: 10 }, t.clock, t.scheduler);
    limiter.pauseFor(2_000);
    expect(limiter.tryAcquire()).to.deep.equal({ ok: false, reason: "paused", waitMs: 2_000 });
    limiter.pauseFor(500); // a shorter pause never shortens an existing one
    t.advance(1_500);
    expect(limiter.tryAcquire()).to.deep.include({ reason: "paused", waitMs: 500 });
    (await limiter.acquire()).release();
    expect(t.slept).to.deep.equal([500]);
  });

  it("when an aborted acquirer was queued, then it leaves the queue and the slot goes to the next", async () => {
    const t = fakeTime();
    const limiter = new RateLimiter({ perSecond: 100, concurrency: 1 }, t.clock, t.scheduler);
    const held = await limiter.acquire();
    const controller = new AbortController();
    const aborted = limiter.acquire(controller.signal);
    const next = limiter.acquire();
    controller.abort(new Error("job cancelled"));
    let error: unknown;
    await aborted.catch((e: unknown) => (error = e));
    expect((error as Error).message).to.equal("job cancelled");
    expect(limiter.waiting).to.equal(1);
    held.release();
    (await next).release();
    expect(limiter.inFlight).to.equal(0);
  });

  it("when the clock steps backwards, then the bucket is not drained", () => {
    const t = fakeTime(10_000);
    const limiter = new RateLimiter({ perSecond: 1, concurrency: 1, burst: 1 }, t.clock);
    t.advance(-5_000);
    expect(limiter.tokens).to.equal(1);
  });

  it("when perSecond is Infinity (no configured rate), then only concurrency and Retry-After pauses limit", () => {
    const t = fakeTime();
    const limiter = new RateLimiter({ perSecond: Number.POSITIVE_INFINITY, concurrency: 1_000 }, t.clock);
    for (let i = 0; i < 500; i++) expect(limiter.tryAcquire().ok).to.equal(true);
    limiter.pauseFor(1_000);
    expect(limiter.tryAcquire()).to.deep.include({ ok: false, reason: "paused", waitMs: 1_000 });
  });

  it("when options are invalid, then construction fails fast", () => {
    expect(() => new RateLimiter({ perSecond: 0, concurrency: 1 })).to.throw(RangeError);
    expect(() => new RateLimiter({ perSecond: 1, concurrency: 1.5 })).to.throw(RangeError);
  });
});
