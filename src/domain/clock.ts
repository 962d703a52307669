// The one injectable clock: everything time-dependent (effective dates, guards, expiry, backoff, leases,
// rate limits) asks a Clock, so tests move time instead of sleeping. Two readings, for two jobs:
//   now()        wall time — instants that are stored, compared across processes or shown (a start date,
//                a lease's end, an OAuth token's expiry, a Retry-After date);
//   monotonic()  milliseconds on a scale that never steps back — durations and rates inside one process
//                (a request's duration, a token bucket, a refresh deadline).
export interface Clock {
  now(): Date;
  monotonic(): number;
}
export const systemClock: Clock = { now: () => new Date(), monotonic: () => performance.now() };

/** A clock tests can set and advance (both readings move together). */
export class ManualClock implements Clock {
  constructor(private t: Date = new Date()) {}
  now(): Date { return new Date(this.t.getTime()); }
  monotonic(): number { return this.t.getTime(); }
  set(t: Date | string): void { this.t = new Date(t); }
  advance(ms: number): void { this.t = new Date(this.t.getTime() + ms); }
}
