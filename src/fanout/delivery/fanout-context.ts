// What the fan-out's tasks share, built once by createFanout (fanout.ts) — no module-level state.
import type pg from "pg";
import type { FanoutSettings } from "../../config/config.ts";
import type { Clock } from "../../domain/clock.ts";
import type { Logger } from "../../shared/logger.ts";
import type { AppHealth } from "../apps/app-health.ts";
import type { AppRegistry, AppRuntime } from "../apps/app-registry.ts";
import type { FanoutMetrics } from "./fanout-metrics.ts";
import type { ProcessRegistry } from "./process-registry.ts";
import type { GateContext } from "./delivery-gate.ts";

export interface FanoutContext {
  pool: pg.Pool;
  apps: AppRegistry;
  log: Logger;
  clock: Clock;
  settings: FanoutSettings;
  metrics: FanoutMetrics;
  health: AppHealth;
  processes: ProcessRegistry;
}

/**
 * Upper bound of one delivery's HTTP work: each request is bounded by the app's timeoutMs, and the longest
 * path (update → 5xx check → lookup → create → 409 → lookup → update) makes fewer than ten requests. No
 * per-delivery AbortSignal: creating and combining signals was a tenth of the broker's CPU per delivery.
 */
export const deliveryDeadlineMs = (runtime: AppRuntime) => runtime.config.timeoutMs * 12;
/**
 * The lease outlives the delivery's deadline, so it only expires under a dead holder — and a dead holder's
 * leases are cleared at once by the process registry; expiry is the backstop.
 */
export const leaseMs = (runtime: AppRuntime) => deliveryDeadlineMs(runtime) + 5_000;

/**
 * How long a job whose key another delivery holds waits before looking again. The holder nudges it when it
 * records a newer change, but not when it only re-schedules itself (a failure, a stale request after an
 * outage), and graphile-worker's preserve_run_at keeps the waiter's run_at: so the waiter must not sleep
 * until the lease expires (minutes, for an app that hangs), only this long.
 */
export const busyWaitMs = (until: Date, runtime: AppRuntime, now: Date) => Math.min(Math.max(until.getTime() - now.getTime(), 20), BUSY_POLL_MS, leaseMs(runtime));
const BUSY_POLL_MS = 1000;


/**
 * In-process admission: null = go now; otherwise the delay after which to try again. Waiting jobs are
 * re-scheduled rather than parked on a worker, and spread over time at the pace the app can take (each
 * later job gets a later slot), so a backlog does not come back as one wave.
 *  - the app's rateLimit (tokens, concurrency) and a Retry-After pause, from the client's own limiter;
 *  - a per-app cap of deliveries in flight in this process when the app is slow or failing, so one hung
 *    app cannot hold every worker while its failures accumulate towards quarantine.
 */
export function admissionDelay(runtime: AppRuntime, workerConcurrency: number, failing: boolean, nowMs: number): number | null {
  const slow = failing || runtime.avgDeliveryMs > 500;
  const cap = runtime.config.rateLimit?.concurrency ?? (slow ? Math.max(1, Math.ceil(workerConcurrency / 2)) : Number.POSITIVE_INFINITY);
  const perSecond = runtime.config.rateLimit?.perSecond;
  const pace = perSecond ? 1000 / perSecond : Math.max(1, runtime.avgDeliveryMs / Math.min(cap, workerConcurrency));
  if (runtime.inFlight >= cap) return spread(runtime, pace, pace, nowMs);
  const check = runtime.limiter?.check();
  if (!check || check.ok) return null;
  return spread(runtime, check.waitMs ?? pace, pace, nowMs);
}

function spread(runtime: AppRuntime, minDelayMs: number, spacingMs: number, now: number): number {
  const at = Math.max(now + minDelayMs, runtime.nextSlotAt);
  runtime.nextSlotAt = at + spacingMs;
  return at - now;
}

/** What the delivery gate (delivery-gate.ts) asks of this process: the clock, app health, admission. */
export const gateContext = (ctx: FanoutContext, runtime: AppRuntime, workerConcurrency: number): GateContext => ({
  now: ctx.clock.now(),
  quarantineWaitMs: (probeAt) => ctx.health.waitMs(probeAt),
  admission: (failing, pauseMs) => {
    if (pauseMs > 0) runtime.limiter?.pauseFor(pauseMs);
    return admissionDelay(runtime, workerConcurrency, failing, ctx.clock.monotonic());
  },
});
