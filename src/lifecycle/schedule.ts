// Scheduled transitions: start dates (a pre-hire becomes a joiner), end dates (a leaver), and exception
// expiry (back to the rule outcome). Durable by construction: each user's next instant is a row
// (lifecycle_state.next_at, written with every HR change) and each exception's expiry is a column, so a
// restart loses nothing; the sweep runs every minute from graphile-worker's cron (broker.ts registers it,
// so transitions fire within a minute of their time) and tests call runLifecycleSweep with a ManualClock.
//
// Each user is handled in its own transaction, under its row lock — the same lock an HR write takes — and
// is re-checked after locking, so two sweeps (two broker processes) or a sweep racing an HR write do the
// transition once. A late sweep still produces the joiner/leaver: classify judges `before` just before the
// scheduled instant (classify.ts beforeAt).
import type pg from "pg";
import { withTransaction } from "../store/database.ts";
import { findUser } from "../store/user-repository.ts";
import type { Clock } from "../domain/clock.ts";
import { handleUserChange, type LifecycleContext } from "./user-lifecycle.ts";
import { deleteState, dueStates, getState } from "./event-store.ts";
import { dueExpiries, markExpired } from "./exception-store.ts";
import { AuditTrail } from "./audit-trail.ts";

export const SWEEP_TASK = "lifecycle_sweep";
/** graphile-worker crontab line: every minute. */
export const SWEEP_CRONTAB = `* * * * * ${SWEEP_TASK}`;

export interface SweepResult { transitions: number; expired: number; failed: number }

const BATCH = 500;

export async function runLifecycleSweep(pool: pg.Pool, ctx: LifecycleContext, clock: Clock): Promise<SweepResult> {
  const now = clock.now();
  const result: SweepResult = { transitions: 0, expired: 0, failed: 0 };
  // One user's failure (logged with its id) must not stop the others; it stays due, so the next run
  // (a minute later) tries it again — the retry is the schedule itself, not a loop here.
  const attempt = async (what: string, id: string, fn: () => Promise<boolean>) => {
    try { return await fn(); } catch (e) {
      result.failed++;
      ctx.log.error({ err: e, [what]: id }, "lifecycle sweep: transition failed; it stays due");
      return false;
    }
  };
  const skip = new Set<string>();
  for (;;) {
    const due = (await dueStates(pool, now, BATCH + skip.size)).filter((d) => !skip.has(d.userId));
    for (const d of due) {
      if (await attempt("userId", d.userId, () => fireTransition(pool, ctx, d.userId, now))) result.transitions++;
      else skip.add(d.userId);
    }
    if (due.length < BATCH) break;
  }
  skip.clear();
  for (;;) {
    const due = (await dueExpiries(pool, now, BATCH + skip.size)).filter((d) => !skip.has(d.id));
    for (const d of due) {
      if (await attempt("exceptionId", d.id, () => expireException(pool, ctx, d.id, d.userId, now))) result.expired++;
      else skip.add(d.id);
    }
    if (due.length < BATCH) break;
  }
  if (result.transitions || result.expired || result.failed) ctx.log.info({ ...result }, "lifecycle sweep");
  return result;
}

async function fireTransition(pool: pg.Pool, ctx: LifecycleContext, userId: string, now: Date): Promise<boolean> {
  return withTransaction(pool, async (tx) => {
    const user = await findUser(tx, userId, { lock: true });
    const state = await getState(tx, userId);
    if (!user) { await deleteState(tx, userId); return false; }
    if (!state?.nextAt || state.nextAt.getTime() > now.getTime()) return false; // done meanwhile
    await handleUserChange(tx, ctx, {
      before: user, after: user, at: now, beforeAt: new Date(state.nextAt.getTime() - 1),
      changeId: null, trigger: "schedule", actor: "schedule", state,
    });
    return true;
  });
}

async function expireException(pool: pg.Pool, ctx: LifecycleContext, id: string, userId: string, now: Date): Promise<boolean> {
  return withTransaction(pool, async (tx) => {
    const user = await findUser(tx, userId, { lock: true });
    const expired = await markExpired(tx, id, now);
    if (!expired) return false; // revoked or expired meanwhile
    const audit = new AuditTrail({ actor: "schedule", exceptionId: id });
    audit.add("exception.expired", { userId, groupName: expired.group, details: { kind: expired.kind, expiresAt: expired.expiresAt?.toISOString() } });
    await audit.flush(tx, now);
    if (user) await handleUserChange(tx, ctx, { before: user, after: user, at: now, changeId: null, trigger: "exception", actor: "schedule", cause: { exceptionId: id } });
    return true;
  });
}
