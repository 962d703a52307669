// Per-token request rate limits on the SCIM and admin APIs: a token bucket per token and broker process
// (capacity = one second's worth, refilled continuously), answered 429 with Retry-After when empty.
//
// Hand-written rather than rate-limiter-flexible's memory store: that library reads the wall clock itself,
// while every time-dependent rule here takes the injected Clock (tests move time instead of sleeping), and
// the whole algorithm is the dozen lines below. Buckets live in process memory: with N broker processes
// behind a load balancer a token gets up to N × its rate, which is what an abuse guard needs (the limit
// protects the process it runs in); a cluster-wide quota would cost a database round trip per request.
import type { Clock } from "../domain/clock.ts";
import { DomainError } from "../shared/errors.ts";

/** 429, with the seconds a client should wait (RFC 6585 §4, Retry-After per RFC 9110 §10.2.3). */
export class RateLimited extends DomainError {
  constructor(readonly retryAfterSeconds: number, limit: number) {
    super("TOO_MANY_REQUESTS", 429, `rate limit of ${limit} requests per second for this token exceeded; retry after ${retryAfterSeconds} s`);
  }
}

interface Bucket { tokens: number; at: number; rate: number }

export class RequestRateLimiter {
  readonly #buckets = new Map<string, Bucket>();

  constructor(private readonly clock: Clock, private readonly defaultRate: number) {}

  /** The rate that applies to a token: its own, else the default; 0 = unlimited. */
  rateOf(tokenRate: number | null): number { return tokenRate ?? this.defaultRate; }

  /** Takes one request from the token's bucket, or throws RateLimited. */
  take(tokenId: string, tokenRate: number | null): void {
    const rate = this.rateOf(tokenRate);
    if (rate <= 0) return;
    const now = this.clock.now().getTime();
    let b = this.#buckets.get(tokenId);
    if (!b || b.rate !== rate) {
      b = { tokens: rate, at: now, rate }; // a new or re-rated token starts full
      if (this.#buckets.size >= 100_000) this.#buckets.clear(); // bounded: tokens are few; never grows without end
      this.#buckets.set(tokenId, b);
    }
    b.tokens = Math.min(rate, b.tokens + (Math.max(0, now - b.at) * rate) / 1000);
    b.at = now;
    if (b.tokens >= 1) { b.tokens -= 1; return; }
    throw new RateLimited(Math.max(1, Math.ceil((1 - b.tokens) / rate)), rate);
  }
}
