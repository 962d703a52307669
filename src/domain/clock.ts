// Injectable clock: everything time-dependent (effective dates, guards, expiry, backoff) asks a Clock,
// so tests move time instead of sleeping.
export interface Clock { now(): Date }
export const systemClock: Clock = { now: () => new Date() };

/** A clock tests can set and advance. */
export class ManualClock implements Clock {
  constructor(private t: Date = new Date()) {}
  now(): Date { return new Date(this.t.getTime()); }
  set(t: Date | string): void { this.t = new Date(t); }
  advance(ms: number): void { this.t = new Date(this.t.getTime() + ms); }
}
