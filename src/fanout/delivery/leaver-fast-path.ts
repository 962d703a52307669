// The leaver fast path. A leaver's deliveries are durable work written in the HR transaction (outbox.ts), but
// waiting for workers to pick up one job per app — a NOTIFY, a get_job per job, twenty apps on sixteen
// workers — was most of a leaver's latency after the commit (docs/performance.md). So
// the process that committed the HR change starts every app's delivery itself the moment COMMIT returns, all
// apps at once: one statement claims every app's lease, then each app runs the very steps a job runs
// (user-run.ts: the gate, the desired state, HTTP, record) — ordering per (app, user), the gate, retries,
// the audit and the leaver SLA are those of the job path.
//
// The guarantee is one job per leaver (LEAVER_TASK), written in the HR transaction to run after GRACE_MS. If
// this process dies first, it runs (crash recovery also clears this process's leases, owner
// "<process id>/fast") and adds the per-app jobs still owed. A key the fast path cannot finish now (an app
// paused, failing, quarantined, a key busy) re-schedules its own per-app job exactly as a job would. Once
// every app is settled at the version claimed, the guarantee job is removed — unless a newer change of the
// user's wants more (outbox-repository.ts removeLeaverGuard).
//
// At most `workerConcurrency` leavers are in flight here at once (a /Bulk of leavers must not open a request
// per app per leaver at the same moment); beyond that, leavers get their per-app jobs for the workers at
// once, as without the fast path. Only a process that runs the fan-out's workers has a fast path (start()).
import { onTransactionEnd } from "../../store/database.ts";
import type pg from "pg";
import type { Task } from "graphile-worker";
import { addJobSpecs, PRIORITY, userJobSpecs, type LeaverJob } from "../../jobs/fanout-jobs.ts";
import type { AppRuntime } from "../apps/app-registry.ts";
import { claimUserInApps, completeUserInApps } from "./account-batch-repository.ts";
import { leaseMs, type FanoutContext } from "./fanout-context.ts";
import { appsOwed, removeLeaverGuard } from "./outbox-repository.ts";
import { UserDelivery, type PendingRecord } from "./user-run.ts";

/** How long a fast-pathed leaver's jobs wait before a worker may take them (their process may have died). */
export const GRACE_MS = 2_000;

export class LeaverFastPath {
  #active = false;
  #reserved = 0;
  readonly #running = new Set<Promise<void>>();

  constructor(private readonly ctx: FanoutContext, private readonly workerConcurrency: number) {}

  /** This process runs the fan-out's workers: leavers it commits are delivered at once. */
  start(): void {
    this.#active = true;
  }

  /** No new fast paths; resolves once those in flight have recorded their outcome. */
  async stop(): Promise<void> {
    this.#active = false;
    await Promise.allSettled([...this.#running]);
  }

  /**
   * Called in the HR transaction that makes `userId` a leaver in `apps`: the delay to write the leaver's jobs
   * with — GRACE_MS when this process will deliver them itself once the transaction commits, 0 when it will
   * not (not a worker process, at capacity, or a transaction not run by withTransaction).
   */
  reserve(tx: pg.PoolClient, userId: string, apps: readonly string[]): number {
    if (!this.#active || this.#reserved >= Math.max(1, this.workerConcurrency)) return 0;
    const registered = onTransactionEnd(tx, (committed) => {
      if (!committed) { this.#reserved--; return; }
      const run = this.#deliver(userId, apps)
        .then((outcome) => this.ctx.metrics.leaverFastPath.inc({ outcome }))
        .catch((e) => {
          this.ctx.metrics.leaverFastPath.inc({ outcome: "failed" });
          this.ctx.log.warn({ userId, err: (e as Error).message }, "leaver fast path failed; its guarantee job delivers the leaver");
        })
        .finally(() => { this.#reserved--; this.#running.delete(run); });
      this.#running.add(run);
    });
    if (!registered) return 0;
    this.#reserved++;
    return GRACE_MS;
  }

  /** Delivers every app; "settled" when all are done and the guarantee job is removed, else "handed-over". */
  async #deliver(userId: string, apps: readonly string[]): Promise<"settled" | "handed-over"> {
    const { ctx } = this;
    const owner = `${ctx.processes.id}/fast`;
    const runs: Array<{ app: string; runtime: AppRuntime; run: UserDelivery }> = [];
    for (const app of apps) {
      const runtime = ctx.apps.get(app);
      if (runtime) runs.push({ app, runtime, run: new UserDelivery(ctx, runtime, { app, userId }, owner, PRIORITY.leaver, this.workerConcurrency) });
    }
    // One statement claims every app's lease (the job path claims one per job); an app without an account
    // row (none written yet) takes the job path's own claim.
    const claims = await claimUserInApps(ctx.pool, userId, runs.map(({ app, runtime }) => ({ app, leaseMs: leaseMs(runtime) })), owner);
    const pending: PendingRecord[] = [];
    await Promise.all(runs.map(({ app, run }) => {
      const claim = claims.get(app);
      return (claim ? run.run(claim, (p) => pending.push(p)) : run.execute()).catch((e) =>
        ctx.log.warn({ userId, app, err: (e as Error).message }, "leaver fast path: delivery failed; its job retries"));
    }));
    await recordOutcomes(ctx, userId, owner, pending);
    const settled = runs.flatMap(({ app, run }) => run.settled === null ? [] : [{ app, version: run.settled }]);
    const removed = await removeLeaverGuard(ctx.pool, userId, settled, apps.length).catch((e) => {
      ctx.log.warn({ userId, err: (e as Error).message }, "leaver fast path: could not remove its guarantee job; it will find the work done");
      return false;
    });
    return removed ? "settled" : "handed-over";
  }
}

/**
 * Step 5 for every app the fast path delivered, in one statement (completeUserInApps) — except an outcome
 * that changes the app's groups (recorded with the group sync it queues, in a transaction of its own). If the
 * statement fails, each outcome is recorded on its own (an account the app matched that belongs to another
 * user then dead-letters that app alone); an outcome that cannot be recorded frees its lease for the job.
 */
async function recordOutcomes(ctx: FanoutContext, userId: string, owner: string, pending: readonly PendingRecord[]): Promise<void> {
  const prepared = pending.map((p) => ({ p, ...p.run.prepareCompletion(p.claim, p.desired, p.result) }));
  const together = prepared.filter((x) => !x.groupsAffected);
  const alone = prepared.filter((x) => x.groupsAffected).map((x) => x.p);
  if (together.length > 1) {
    const done = await completeUserInApps(ctx.pool, userId, owner, together.map((x) => ({ app: x.p.claim.account.app, c: x.completion })), ctx.clock.now())
      .catch((e) => {
        ctx.log.warn({ userId, err: (e as Error).message }, "leaver fast path: recording together failed; recording each app on its own");
        alone.push(...together.map((x) => x.p));
        return null;
      });
    if (done) await Promise.all(together.map(({ p }) => p.run.afterComplete(p.claim, done.get(p.claim.account.app)!, p.result, p.streak)));
  } else alone.push(...together.map((x) => x.p));
  await Promise.all(alone.map((p) => p.run.complete(p.claim, p.desired, p.result, p.streak).catch(async (e) => {
    ctx.log.warn({ userId, app: p.claim.account.app, err: (e as Error).message }, "leaver fast path: could not record an outcome; the job delivers again");
    await p.run.releaseLease().catch(() => {});
  })));
}

/**
 * The guarantee job of a fast-pathed leaver: runs only if the fast path did not settle every app in time
 * (its process died, or an app is slow). Adds the per-app jobs still owed; a key the fast path still holds
 * is found busy by its job, which looks again shortly (user-run.ts).
 */
export function leaverGuardTask(ctx: FanoutContext): Task {
  return async (payload) => {
    const job = payload as LeaverJob;
    const owed = await appsOwed(ctx.pool, job.userId, job.apps);
    // preserve_run_at: a key the fast path re-scheduled (a backoff, an app's Retry-After) keeps its time
    if (owed.length) await addJobSpecs(ctx.pool, userJobSpecs(owed.map((app) => ({ app, userId: job.userId, leaver: true }))), { preserveRunAt: true });
  };
}
