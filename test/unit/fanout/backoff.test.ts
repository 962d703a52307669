import { expect } from "chai";
import fc from "fast-check";
import { DEFAULT_BACKOFF, nextDelay } from "../../../src/fanout/delivery/backoff.ts";

describe("fanout/backoff nextDelay", () => {
  it("when random is at its top, then the ceiling doubles per attempt up to maxMs", () => {
    const top = () => 0.999999;
    const delays = [1, 2, 3, 4, 5, 6].map((a) => nextDelay(a, { baseMs: 100, maxMs: 2_000, random: top }));
    expect(delays).to.deep.equal([99, 199, 399, 799, 1599, 1999]);
  });

  it("when random is 0, then full jitter allows an immediate retry", () => {
    expect(nextDelay(7, { baseMs: 100, maxMs: 10_000, random: () => 0 })).to.equal(0);
  });

  it("when no options are given, then defaults apply (1 s base, 10 min cap)", () => {
    expect(nextDelay(1, { random: () => 0.5 })).to.equal(500);
    expect(nextDelay(50, { random: () => 0.5 })).to.equal(DEFAULT_BACKOFF.maxMs / 2);
  });

  it("when Retry-After exceeds the jittered delay (even the cap), then the delay is Retry-After", () => {
    expect(nextDelay(1, { baseMs: 100, maxMs: 1_000, retryAfterMs: 5_000, random: () => 0.9 })).to.equal(5_000);
    expect(nextDelay(1, { baseMs: 100, retryAfterMs: 1.2, random: () => 0 })).to.equal(2);
  });

  it("when the attempt is huge or invalid, then the result stays finite and bounded", () => {
    expect(nextDelay(10_000, { baseMs: 1_000, maxMs: 60_000, random: () => 0.5 })).to.equal(30_000);
    expect(nextDelay(Number.NaN, { baseMs: 1_000, random: () => 0.5 })).to.equal(500);
    expect(nextDelay(0, { baseMs: 1_000, random: () => 0.5 })).to.equal(500);
  });

  it("property: never below Retry-After, never above max(cap ceiling, Retry-After), integer", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 0, max: 3_600_000 }),
        fc.option(fc.integer({ min: 0, max: 7_200_000 }), { nil: undefined }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, baseMs, maxMs, retryAfterMs, r) => {
          const d = nextDelay(attempt, { baseMs, maxMs, retryAfterMs, random: () => r });
          const ceiling = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
          expect(Number.isInteger(d)).to.equal(true);
          expect(d).to.be.at.least(retryAfterMs ?? 0);
          expect(d).to.be.at.most(Math.max(ceiling, retryAfterMs ?? 0));
        },
      ),
    );
  });

  it("property: the upper bound never shrinks as attempts grow", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 5_000 }), (attempt, baseMs) => {
        const top = { baseMs, maxMs: 600_000, random: () => 0.999 };
        expect(nextDelay(attempt + 1, top)).to.be.at.least(nextDelay(attempt, top));
      }),
    );
  });
});
