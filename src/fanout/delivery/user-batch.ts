// Batch jobs for the bulk of deliveries. A leaver gets its own job (deliver:<app>:<user>, priority
// leaver) so nothing stands between it and the app; every other change goes to one of BATCH_BUCKETS
// pending jobs per app (deliver:<app>:batch:<bucket>), using graphile-worker's documented batch jobs: a job
// whose payload is an array absorbs the payloads of later add_job calls with the same key while it waits
// (BATCH_BUCKETS and bucketOf are in jobs/fanout-jobs.ts). One run then claims, reads and records up to
// MAX_BATCH keys with three statements, instead of four round trips per delivery, and drives up to
// BATCH_CONCURRENCY requests at once.
//
// Semantics are the single-job ones, per (app, user): desired state read at run time, the same lease (a
// key another delivery holds is handed to its own job, which the holder nudges), same gates, same outcome
// bookkeeping. A failed item leaves the batch and retries as its own job (attempt counted), so a bad
// account never holds up its bucket.
import type { Job } from "graphile-worker";
import * as batches from "./account-batch-repository.ts";
import * as accounts from "./account-repository.ts";
import { AppHttpError } from "../client/app-http-error.ts";
import type { AppRuntime } from "../apps/app-registry.ts";
import { desiredUser, type DesiredUser } from "./desired-state.ts";
import { UserDelivery, type NoopResult } from "./user-run.ts";
import { busyWaitMs, gateContext, leaseMs, type FanoutContext } from "./fanout-context.ts";
import { decideGate } from "./delivery-gate.ts";
import { batchJobKey, bucketOf, nudgeJob, PRIORITY, rescheduleJob, USER_TASK, userJobKey, type UserJob } from "../../jobs/fanout-jobs.ts";
import type { DeliveryResult } from "./user-requests.ts";

export const MAX_BATCH = 100;
export const BATCH_CONCURRENCY = 4;

/** A delivery done (or found unnecessary) and not yet recorded. */
interface Done { d: UserDelivery; claim: accounts.ClaimedUser; desired: DesiredUser; result: DeliveryResult | NoopResult }

export async function deliverBatch(ctx: FanoutContext, runtime: AppRuntime, items: readonly UserJob[], job: Job, workerConcurrency: number, shutdown?: AbortSignal): Promise<void> {
  const run = new BatchRun(ctx, runtime, `${job.locked_by}/${job.id}`, workerConcurrency);
  const ids = [...new Set(items.filter((i) => i && typeof i.userId === "string").map((i) => i.userId))];
  if (ids.length === 0) return;
  const now = ids.slice(0, MAX_BATCH);
  if (ids.length > MAX_BATCH) await run.requeue(ids.slice(MAX_BATCH), 0, "deferred");
  const gate = await batches.appGate(ctx.pool, runtime.name);
  if (!(await run.passGate(gate, now))) return;
  const work = await run.claim(now, gate);
  const done = await run.deliverAll(work, shutdown);
  await run.record(done, gate);
}

/** One run of a batch job: its steps share the app, the job's lease owner and the clock. */
class BatchRun {
  readonly app: string;

  constructor(private readonly ctx: FanoutContext, private readonly runtime: AppRuntime, private readonly owner: string, private readonly workerConcurrency: number) {
    this.app = runtime.name;
  }

  /** Back into their bucket's batch job, after `delayMs`. */
  requeue(userIds: string[], delayMs: number, outcome: string): Promise<void> {
    const { ctx, app } = this;
    ctx.metrics.deliveries.inc({ app, outcome }, userIds.length);
    return rescheduleJob(ctx.pool, USER_TASK, batchJobKey(app, bucketOf(userIds[0]!)), userIds.map((userId) => ({ app, userId })), delayMs, PRIORITY.user);
  }

  /** The app's gate (delivery-gate.ts), once for the batch: a closed gate re-queues the whole batch. */
  async passGate(gate: accounts.AppGate, ids: string[]): Promise<boolean> {
    const { ctx, app } = this;
    const decision = decideGate(gate, gateContext(ctx, this.runtime, this.workerConcurrency));
    if (decision.go) return true;
    if (decision.reason === "quarantined") {
      await ctx.health.ensureProbe(app, gate.probeAt);
      await batches.markStatus(ctx.pool, app, ids, "quarantined", ctx.clock.now());
      await this.requeue(ids, decision.delayMs, "quarantined");
    } else await this.requeue(ids, decision.delayMs, "deferred");
    return false;
  }

  /**
   * The leases, in one statement. A key another delivery holds gets its own job (looking again shortly,
   * busyWaitMs); a user without an account row gets one and its own job; a user the guard holds is released.
   */
  async claim(ids: string[], gate: accounts.AppGate): Promise<accounts.ClaimedUser[]> {
    const { ctx, app } = this;
    const claim = await batches.claimUsers(ctx.pool, app, ids, this.owner, leaseMs(this.runtime), gate);
    for (const b of claim.busy)
      await rescheduleJob(ctx.pool, USER_TASK, userJobKey(app, b.userId), { app, userId: b.userId }, busyWaitMs(b.until, this.runtime, ctx.clock.now()), PRIORITY.user);
    for (const userId of claim.missing) {
      await accounts.ensureAccount(ctx.pool, app, userId, "");
      await nudgeJob(ctx.pool, USER_TASK, userJobKey(app, userId), { app, userId }, PRIORITY.user);
    }
    const held = claim.claimed.filter((c) => c.held);
    await batches.releaseUsers(ctx.pool, app, this.owner, held.map((c) => c.account.userId), null, ctx.clock.now());
    if (held.length) ctx.metrics.deliveries.inc({ app, outcome: "held" }, held.length); // as a single-key run counts them (user-run.ts)
    return claim.claimed.filter((c) => !c.held);
  }

  /** Deliver, BATCH_CONCURRENCY at a time; failures take the single-job path (retry as their own job). */
  async deliverAll(work: accounts.ClaimedUser[], shutdown?: AbortSignal): Promise<Done[]> {
    const { ctx, app } = this;
    const done: Done[] = [];
    const skipped: string[] = [];
    let next = 0;
    try {
      await Promise.all(Array.from({ length: Math.min(BATCH_CONCURRENCY, work.length) }, async () => {
        while (next < work.length) {
          const c = work[next++]!;
          if (shutdown?.aborted) { // stopping: leave the rest to the next process (released below, then re-queued)
            skipped.push(c.account.userId);
            continue;
          }
          const x = await this.deliverOne(c);
          if (x) done.push(x);
        }
      }));
    } catch (e) {
      // Unexpected (database): free the keys not yet recorded; graphile-worker retries the batch.
      await batches.releaseUsers(ctx.pool, app, this.owner, work.map((c) => c.account.userId), null, ctx.clock.now()).catch(() => {});
      throw e;
    }
    if (skipped.length) {
      await batches.releaseUsers(ctx.pool, app, this.owner, skipped, null, ctx.clock.now());
      await this.requeue(skipped, 0, "deferred");
    }
    return done;
  }

  /** One user: nothing to send if the app confirmed this state; a failure is handled (and not returned) here. */
  async deliverOne(c: accounts.ClaimedUser): Promise<Done | null> {
    const { ctx, app } = this;
    const d = new UserDelivery(ctx, this.runtime, { app, userId: c.account.userId }, this.owner, PRIORITY.user, this.workerConcurrency);
    const desired = desiredUser(this.runtime, c.user, c.groups, ctx.clock.now());
    if (desired.hash === c.account.deliveredHash && (desired.kind === "deprovision" || c.account.remoteId !== null))
      return { d, claim: c, desired, result: { remoteId: c.account.remoteId, outcome: "noop" } };
    const result = await d.deliver(c.account, desired);
    if (result instanceof AppHttpError) return (await d.failed(c, result), null);
    return { d, claim: c, desired, result };
  }

  /** Record: the plain outcomes in one statement; those that also queue group syncs one by one. */
  async record(done: Done[], gate: accounts.AppGate): Promise<void> {
    const { ctx, app } = this;
    const prepared = done.map((x) => ({ ...x, ...x.d.prepareCompletion(x.claim, x.desired, x.result) }));
    const plain = prepared.filter((x) => !x.groupsAffected);
    let recorded: Map<string, accounts.CompletionResult> | null = null;
    try {
      recorded = plain.length ? await batches.completeUsers(ctx.pool, app, this.owner, plain.map((x) => ({ userId: x.claim.account.userId, c: x.completion })), ctx.clock.now()) : new Map();
    } catch (e) {
      if ((e as { code?: string }).code !== "23505") throw e; // a remote id already linked: sort it out one by one
    }
    let released = false;
    for (const x of prepared) {
      const r = x.groupsAffected || !recorded ? null : recorded.get(x.claim.account.userId);
      const success = x.result.outcome !== "noop";
      if (r) {
        // A success ends a failure streak, or a quarantine that began while the batch ran (app-health.ts).
        if (success && !released && (gate.failures > 0 || r.appQuarantined)) released = (await ctx.health.recordSuccess(app, x.d.startedAt), true);
        await x.d.completed(r, x.result);
      } else if (await x.d.complete(x.claim, x.desired, x.result, success && !released && gate.failures > 0)) released = true;
    }
  }
}
