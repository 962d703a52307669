// Per-app admission control: a token bucket (requests per second, burst = one second's worth) and a
// concurrency semaphore. One instance per app, owned by that app's client, shared by all workers in the
// process. Apps publish limits like "600 writes/min" and answer 429 when we exceed them; staying under the
// limit is cheaper than being told off. On a 429 the client calls pauseFor(Retry-After) so *every* request
// to that app waits, not just the job that was refused.
//
// Time comes from an injectable Clock and waiting from an injectable Scheduler, so tests run without sleeps.
// A job handler that prefers not to block a worker uses tryAcquire() and re-schedules the job by `waitMs`.
import { setTimeout as sleep } from "node:timers/promises";
import { systemClock, type Clock } from "../../domain/clock.ts";

/** The limiter reads only the monotonic side of the broker's clock (src/domain/clock.ts). */
export type MonotonicClock = Pick<Clock, "monotonic">;
export interface Scheduler {
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemScheduler: Scheduler = { sleep: (ms, signal) => sleep(ms, undefined, { signal }) };

export interface RateLimitOptions {
  /** Infinity: no rate limit (concurrency and pauseFor still apply). */
  perSecond: number;
  concurrency: number;
  /** Bucket size; default max(1, perSecond). */
  burst?: number;
}

export interface Permit {
  /** Frees the concurrency slot; idempotent. */
  release(): void;
}

export type TryAcquireResult =
  | { ok: true; permit: Permit }
  | { ok: false; reason: "paused" | "rate"; waitMs: number }
  | { ok: false; reason: "concurrency"; waitMs: undefined };

export class RateLimiter {
  readonly perSecond: number;
  readonly concurrency: number;
  readonly burst: number;
  #tokens: number;
  #refilledAt: number;
  #pausedUntil = Number.NEGATIVE_INFINITY;
  #inFlight = 0;
  /** FIFO of acquirers waiting for a slot; release() hands its slot straight to the first. */
  #waiters: Array<() => void> = [];

  constructor(
    options: RateLimitOptions,
    private readonly clock: MonotonicClock = systemClock,
    private readonly scheduler: Scheduler = systemScheduler,
  ) {
    if (!(options.perSecond > 0)) throw new RangeError("perSecond must be > 0");
    if (!(Number.isInteger(options.concurrency) && options.concurrency > 0)) throw new RangeError("concurrency must be a positive integer");
    this.perSecond = options.perSecond;
    this.concurrency = options.concurrency;
    this.burst = options.burst ?? Math.max(1, options.perSecond);
    this.#tokens = this.burst;
    this.#refilledAt = clock.monotonic();
  }

  get inFlight(): number {
    return this.#inFlight;
  }
  get waiting(): number {
    return this.#waiters.length;
  }
  /** Tokens available now (fractional). */
  get tokens(): number {
    this.#refill();
    return this.#tokens;
  }

  /** Non-blocking: a permit, or why not and (for rate/pause) how long until trying again makes sense. */
  tryAcquire(): TryAcquireResult {
    if (this.#inFlight >= this.concurrency || this.#waiters.length > 0) return { ok: false, reason: "concurrency", waitMs: undefined };
    const wait = this.#tokenWait();
    if (wait.ms > 0) return { ok: false, reason: wait.reason, waitMs: wait.ms };
    this.#tokens -= 1;
    this.#inFlight++;
    return { ok: true, permit: this.#permit() };
  }

  /**
   * Non-consuming tryAcquire: could a request start now, else why and for how long not. A delivery job asks
   * this before it starts (and re-schedules itself instead of blocking a worker slot); the client's own
   * acquire() then takes the token per request, so multi-request deliveries are charged per request.
   */
  check(): { ok: true } | Exclude<TryAcquireResult, { ok: true }> {
    if (this.#inFlight >= this.concurrency || this.#waiters.length > 0) return { ok: false, reason: "concurrency", waitMs: undefined };
    const wait = this.#tokenWait();
    return wait.ms > 0 ? { ok: false, reason: wait.reason, waitMs: wait.ms } : { ok: true };
  }

  /** Waits for a slot (FIFO), then for a token. Rejects with the signal's reason when aborted. */
  async acquire(signal?: AbortSignal): Promise<Permit> {
    signal?.throwIfAborted();
    await this.#acquireSlot(signal);
    const permit = this.#permit();
    try {
      for (;;) {
        const wait = this.#tokenWait();
        if (wait.ms <= 0) break;
        await this.scheduler.sleep(wait.ms, signal);
      }
    } catch (e) {
      permit.release();
      throw e;
    }
    this.#tokens -= 1;
    return permit;
  }

  /** The app said "come back later" (429/503 Retry-After): nobody gets a token before then. */
  pauseFor(ms: number): void {
    if (ms > 0) this.#pausedUntil = Math.max(this.#pausedUntil, this.clock.monotonic() + ms);
  }

  #acquireSlot(signal?: AbortSignal): Promise<void> {
    if (this.#inFlight < this.concurrency && this.#waiters.length === 0) {
      this.#inFlight++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = () => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  #permit(): Permit {
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        // Hand the slot over instead of freeing it, so a new arrival cannot overtake a waiter.
        const next = this.#waiters.shift();
        if (next) next();
        else this.#inFlight--;
      },
    };
  }

  #tokenWait(): { ms: number; reason: "paused" | "rate" } {
    const now = this.clock.monotonic();
    if (this.#pausedUntil > now) return { ms: Math.ceil(this.#pausedUntil - now), reason: "paused" };
    this.#refill(now);
    if (this.#tokens >= 1) return { ms: 0, reason: "rate" };
    return { ms: Math.ceil(((1 - this.#tokens) * 1000) / this.perSecond), reason: "rate" };
  }

  #refill(now = this.clock.monotonic()): void {
    if (this.perSecond === Number.POSITIVE_INFINITY) return void (this.#tokens = Number.POSITIVE_INFINITY);
    // A clock that steps back (fake clocks in tests) must not drain the bucket.
    const elapsed = Math.max(0, now - this.#refilledAt);
    this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.perSecond) / 1000);
    this.#refilledAt = Math.max(now, this.#refilledAt);
  }
}
