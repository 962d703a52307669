// The app's gate, decided in one place for every delivery (one user, a batch of users, a group): whether
// to send requests now, or to hand the work back to the queue with a delay and a status. Pure: the
// callers read the gate row (app_state) and apply the decision (release the lease, re-schedule the job,
// ask app health for a probe); the order of the checks is the policy:
//   1. a disabled app gets nothing (re-enabling enqueues its backlog at once, so the recheck is slow);
//   2. a quarantined app gets nothing until its probe releases it (docs/architecture.md, step 9);
//   3. a Retry-After pause still running (RFC 9110 §10.2.3, RFC 6585 §4) goes to the app's rate limiter,
//      which spaces the requests that follow;
//   4. in-process admission (rate limit, concurrency cap while slow or failing) re-schedules rather than
//      parking a worker.
import type { AppGate } from "./account-repository.ts";

export type GateDecision =
  | { go: true }
  | { go: false; reason: "disabled" | "quarantined" | "deferred"; delayMs: number };

/** How long a disabled app's jobs sleep before looking again (re-enabling enqueues the backlog at once). */
export const DISABLED_RECHECK_MS = 15 * 60_000;

export interface GateContext {
  now: Date;
  /** The wait until a quarantined app's probe (app health adds jitter); asked only when quarantined. */
  quarantineWaitMs: (probeAt: Date | null) => number;
  /**
   * In-process admission: null = go. Asked last, since it reserves a slot when it defers; `pauseMs` > 0 is
   * what remains of the app's Retry-After, which the rate limiter must know before it answers.
   */
  admission: (failing: boolean, pauseMs: number) => number | null;
}

export function decideGate(gate: AppGate, c: GateContext): GateDecision {
  if (gate.disabled) return { go: false, reason: "disabled", delayMs: DISABLED_RECHECK_MS };
  if (gate.quarantined) return { go: false, reason: "quarantined", delayMs: c.quarantineWaitMs(gate.probeAt) };
  const pauseMs = gate.pausedUntil ? Math.max(0, gate.pausedUntil.getTime() - c.now.getTime()) : 0;
  const delay = c.admission(gate.failures > 0, pauseMs);
  return delay === null ? { go: true } : { go: false, reason: "deferred", delayMs: delay };
}
