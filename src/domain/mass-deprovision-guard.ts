// Mass-deprovision guard, pure: the lifecycle use case counts (in SQL, per HR source, over the sliding
// window) and asks here whether this one leaver may go through or must be held for review. Holding is the
// safe failure: a broken HR export that marks half the company terminated must not disable half the company
// in the SaaS apps before a human looks.

export interface MassDeprovisionConfig {
  /** Hold when the leavers in the window, counting this one, exceed this many. */
  maxUsers: number;
  /** Hold when they exceed this percentage of the source's population. */
  maxPercent: number;
  /** Sliding window length in ms; the caller counts over [now - windowMs, now]. */
  windowMs: number;
}

/** Issue defaults when broker.yaml has no guards section (also the schema defaults). */
export const DEFAULT_MASS_DEPROVISION: MassDeprovisionConfig = Object.freeze({ maxUsers: 50, maxPercent: 20, windowMs: 3_600_000 });

export interface MassDeprovisionInput {
  /**
   * Leaver events from the same source inside the window before this one — applied and held alike (a held
   * leaver still counts, or a flood would be let through once the first ones are parked). This leaver is
   * not included; the guard adds it.
   */
  leaversInWindow: number;
  /** Users of the source that are active now. The candidate and held leavers are still active, so included. */
  populationActive: number;
  /** Users of the source that left within the window (applied leavers; they are no longer active). */
  leftInWindow: number;
  config: MassDeprovisionConfig;
}

export type MassDeprovisionDecision =
  | { hold: false; reason: string; count: number; population: number }
  | { hold: true; reason: string; limit: "maxUsers" | "maxPercent"; count: number; population: number };

/**
 * Holds when, counting this leaver, the count exceeds maxUsers or exceeds maxPercent of the population
 * (active now + left within the window, so the denominator does not shrink as the wave is applied). Both
 * limits are strict "exceeds": maxUsers 10 lets the 10th leaver through and holds the 11th. maxUsers is
 * checked first, so a wave that trips both reports the absolute limit, the one an operator reads fastest.
 * The comparison is done in integers (count·100 > percent·population) so 20 % of 5 is exactly 1.
 */
export function massDeprovisionDecision(input: MassDeprovisionInput): MassDeprovisionDecision {
  const { config } = input;
  const count = nonNegative(input.leaversInWindow) + 1;
  // Never below the count itself: the candidate is part of the population even if a stale count says not.
  const population = Math.max(nonNegative(input.populationActive) + nonNegative(input.leftInWindow), count);
  const window = formatWindow(config.windowMs);
  if (count > config.maxUsers)
    return { hold: true, limit: "maxUsers", count, population, reason: `${count} leavers from this source within ${window} exceed maxUsers ${config.maxUsers}` };
  if (count * 100 > config.maxPercent * population) {
    const pct = Math.round((count * 1000) / population) / 10;
    return {
      hold: true, limit: "maxPercent", count, population,
      reason: `${count} of ${population} users (${pct}%) from this source left within ${window}, exceeding maxPercent ${config.maxPercent}`,
    };
  }
  return { hold: false, count, population, reason: `${count} leaver(s) of ${population} within ${window}: below the limits` };
}

const nonNegative = (n: number) => (Number.isFinite(n) && n > 0 ? Math.floor(n) : 0);

function formatWindow(ms: number): string {
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const)
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
