// One (app, user) delivery: make one app hold one user's current desired state. The job entry
// (user-task.ts) runs it for a single key; a batch (user-batch.ts) runs its steps for many keys at once.
// The story, in order:
//   1. claim the (app, user) lease and read the account, the app's gate and the user as it is now;
//   2. the gate (delivery-gate.ts): a disabled, quarantined or paused (Retry-After) app gets no request —
//      the job re-schedules; in-process admission (rate limit, concurrency) re-schedules instead of
//      blocking a worker;
//   3. compute the desired state (desired-state.ts); if the app already confirmed exactly that, stop;
//   4. deliver over HTTP (user-requests.ts);
//   5. record the outcome, release the lease, close leaver SLAs, write the audit event — one statement —
//      and queue the group syncs the change affects (then in one transaction with it);
//   failures: retryable (network, timeout, 429, 5xx) → re-scheduled with exponential backoff and full
//   jitter, never before the app's Retry-After; an authentication failure (401/403, credentials) → the app
//   is auth-failing and the delivery waits for it like for any quarantine (app-health.ts), never dead-
//   lettered; permanent (other 4xx) or retries exhausted → dead letter.
import type { AuditInput } from "../../audit/audit-log.ts";
import { withTransaction } from "../../store/database.ts";
import { AppHttpError } from "../client/app-http-error.ts";
import type { AppRuntime } from "../apps/app-registry.ts";
import { summary } from "../apps/app-health.ts";
import * as accounts from "./account-repository.ts";
import { queueGroupsOfUser } from "./app-group-repository.ts";
import { nextDelay } from "./backoff.ts";
import { insertDeadLetter } from "./dead-letter-repository.ts";
import { desiredUser, type DesiredUser } from "./desired-state.ts";
import { busyWaitMs, gateContext, leaseMs, type FanoutContext } from "./fanout-context.ts";
import { decideGate } from "./delivery-gate.ts";
import { nudgeJob, rescheduleJob, USER_TASK, userJobKey, type UserJob } from "../../jobs/fanout-jobs.ts";
import { deliverUser, type DeliveryResult } from "./user-requests.ts";

export type NoopResult = { remoteId: string | null; outcome: "noop" };

/** An outcome ready to be recorded (step 5), handed to a caller that records several at once. */
export interface PendingRecord {
  run: UserDelivery;
  claim: accounts.ClaimedUser;
  desired: DesiredUser;
  result: DeliveryResult | NoopResult;
  streak: boolean;
}

export class UserDelivery {
  readonly key: string;
  readonly attempt: number;
  /** When this delivery's requests began (app-health.ts ignores events older than the app's last transition). */
  startedAt: Date;
  /**
   * The account's desired version this run finished with — delivered, confirmed, held or dead-lettered: the
   * key's job has nothing left to do for it — or null when the key was re-scheduled or not claimed (the
   * leaver fast path, leaver-fast-path.ts, removes only the jobs of settled keys).
   */
  settled: number | null = null;

  constructor(
    private readonly ctx: FanoutContext,
    private readonly runtime: AppRuntime,
    private readonly job: UserJob,
    private readonly owner: string,
    private readonly priority: number,
    private readonly workerConcurrency: number,
  ) {
    this.key = userJobKey(job.app, job.userId);
    this.attempt = job.attempt ?? 0;
    this.startedAt = ctx.clock.now();
  }

  async execute(): Promise<void> {
    const { ctx, runtime, job } = this;
    let claim = await accounts.claimUser(ctx.pool, job.app, job.userId, this.owner, leaseMs(runtime));
    if (claim === null) {
      await accounts.ensureAccount(ctx.pool, job.app, job.userId, "");
      claim = await accounts.claimUser(ctx.pool, job.app, job.userId, this.owner, leaseMs(runtime));
    }
    if (claim === null) return;
    await this.run(claim);
  }

  /**
   * Steps 2–5 from a claim already made (the leaver fast path claims a user's every app in one statement).
   * `record`: step 5 is handed over instead of done here (the fast path records every app's outcome in one
   * statement); the caller then owns the lease until it records or releases it.
   */
  async run(claim: accounts.ClaimedUser | { busy: Date }, record?: (p: PendingRecord) => void): Promise<void> {
    const { ctx, runtime, job } = this;
    if ("busy" in claim) {
      // An earlier delivery of this key is in flight: look again shortly (busyWaitMs).
      return this.later(busyWaitMs(claim.busy, runtime, ctx.clock.now()), "busy");
    }
    const { account, gate } = claim;
    try {
      const wait = await this.gate(gate);
      if (wait !== null) return;
      if (claim.held) {
        // Frozen by the mass-deprovision guard (deleted while held included): lifecycle calls the port again
        // when the hold is decided.
        await accounts.releaseUser(ctx.pool, job.app, job.userId, this.owner, { at: ctx.clock.now() });
        ctx.metrics.deliveries.inc({ app: job.app, outcome: "held" });
        this.settled = account.desiredVersion;
        return;
      }
      const desired = desiredUser(runtime, claim.user, claim.groups, ctx.clock.now());
      if (desired.hash === account.deliveredHash && (desired.kind === "deprovision" || account.remoteId !== null)) {
        const noop: NoopResult = { remoteId: account.remoteId, outcome: "noop" };
        if (record) record({ run: this, claim, desired, result: noop, streak: false });
        else await this.complete(claim, desired, noop);
        return;
      }
      const result = await this.deliver(account, desired);
      if (result instanceof Error) return await this.failed(claim, result);
      if (record) record({ run: this, claim, desired, result, streak: gate.failures > 0 });
      else await this.complete(claim, desired, result, gate.failures > 0);
    } catch (e) {
      // Unexpected (a database error): free the key for the retry graphile-worker will make.
      await accounts.releaseUser(ctx.pool, job.app, job.userId, this.owner, { at: ctx.clock.now() }).catch(() => {});
      throw e;
    }
  }

  /** The app's gate (delivery-gate.ts); returns null to go on, or the delay the job was re-scheduled with. */
  async gate(gate: accounts.AppGate): Promise<number | null> {
    const { ctx, runtime, job } = this;
    const decision = decideGate(gate, gateContext(ctx, runtime, this.workerConcurrency));
    if (decision.go) return null;
    if (decision.reason === "quarantined") {
      await ctx.health.ensureProbe(job.app, gate.probeAt);
      return this.release({ status: "quarantined" }, decision.delayMs, "quarantined");
    }
    return this.release({}, decision.delayMs, decision.reason);
  }

  /** The HTTP part. Every request has the app's timeout; a shutdown lets in-flight deliveries finish. */
  async deliver(account: accounts.AccountRow, desired: DesiredUser): Promise<DeliveryResult | AppHttpError> {
    const { runtime } = this;
    const started = performance.now();
    runtime.inFlight++;
    this.startedAt = this.ctx.clock.now();
    try {
      await runtime.ready();
      return await deliverUser(runtime.client, runtime.config, account.remoteId, desired, account.userName, undefined, account.deliveredAttrs);
    } catch (e) {
      if (e instanceof AppHttpError) return e;
      throw e;
    } finally {
      runtime.inFlight--;
      runtime.observe(performance.now() - started);
    }
  }

  /**
   * Records the outcome; a success ends a failure streak (`streak`) or a quarantine begun meanwhile. True
   * when it told app health so (a batch tells it once, not once per delivery).
   */
  async complete(claim: accounts.ClaimedUser, desired: DesiredUser, result: DeliveryResult | NoopResult, streak = false): Promise<boolean> {
    const { ctx, runtime, job } = this;
    const { completion, groupsAffected } = this.prepareCompletion(claim, desired, result);
    let done: accounts.CompletionResult;
    try {
      done = !groupsAffected
        ? await accounts.completeUser(ctx.pool, job.app, job.userId, this.owner, completion)
        : await withTransaction(ctx.pool, async (tx) => {
            const r = await accounts.completeUser(tx, job.app, job.userId, this.owner, completion);
            if (r.recorded) await queueGroupsOfUser(tx, job.app, job.userId, [...runtime.groups], completion.at);
            return r;
          });
    } catch (e) {
      if ((e as { code?: string }).code !== "23505") throw e;
      // unique (app, remote_id): the account the app matched already belongs to another broker user.
      const err = new AppHttpError({ app: job.app, method: "GET", path: "/Users", code: "FANOUT_AMBIGUOUS_MATCH",
        detail: `the app's account ${result.remoteId} is already linked to another user` });
      await this.deadLetter(claim, err);
      return false;
    }
    return this.afterComplete(claim, done, result, streak);
  }

  /** After the outcome is recorded (here, or with others in one statement): app health, metrics, a nudge. */
  async afterComplete(claim: accounts.ClaimedUser, done: accounts.CompletionResult, result: DeliveryResult | NoopResult, streak: boolean): Promise<boolean> {
    this.settled = claim.account.desiredVersion;
    const success = result.outcome !== "noop" && (streak || done.appQuarantined === true);
    if (success) await this.ctx.health.recordSuccess(this.job.app, this.startedAt);
    await this.completed(done, result);
    return success;
  }

  /** Frees the lease without recording (the caller that took step 5 over could not record). */
  async releaseLease(): Promise<void> {
    await accounts.releaseUser(this.ctx.pool, this.job.app, this.job.userId, this.owner, { at: this.ctx.clock.now() });
  }

  /**
   * What recording this outcome writes (a "noop" re-confirms a state the app already has: same SLA and
   * version bookkeeping, no request). Group membership follows the account: a new, re-created or
   * deprovisioned account changes what the app's groups should contain.
   */
  prepareCompletion(claim: accounts.ClaimedUser, desired: DesiredUser, result: DeliveryResult | NoopResult): { completion: accounts.Completion; groupsAffected: boolean } {
    const { account } = claim;
    const provisioned = desired.kind === "provision";
    const wasProvisioned = account.deliveredHash !== null && !account.deliveredHash.startsWith("deprovision:") && account.remoteId !== null;
    return {
      completion: {
        remoteId: result.remoteId, status: provisioned ? "delivered" : "deprovisioned", version: account.desiredVersion, hash: desired.hash,
        attrs: "attrs" in result && result.attrs ? result.attrs : null, at: this.ctx.clock.now(), confirmsLeaver: !provisioned, audit: auditEvents(this.job, account, desired, result),
      },
      groupsAffected: this.runtime.groups.size > 0 && (provisioned !== wasProvisioned || result.remoteId !== account.remoteId),
    };
  }

  /** After the outcome is recorded: metrics, the leaver SLA histogram, and a nudge if a newer change waits. */
  async completed(done: accounts.CompletionResult, result: DeliveryResult | NoopResult): Promise<void> {
    const { ctx, job } = this;
    ctx.metrics.deliveries.inc({ app: job.app, outcome: result.outcome });
    for (const sla of done.completedSlas) ctx.metrics.leaverSla.observe((sla.completedAt.getTime() - sla.requestedAt.getTime()) / 1000);
    if (done.newer) await nudgeJob(ctx.pool, USER_TASK, this.key, { app: job.app, userId: job.userId }, this.priority);
    ctx.log.debug({ app: job.app, userId: job.userId, outcome: result.outcome, remoteId: result.remoteId }, "delivered");
  }

  async failed(claim: accounts.ClaimedUser, error: AppHttpError): Promise<void> {
    const { ctx, job } = this;
    if (!error.retryable && !error.authFailure) return this.deadLetter(claim, error);
    if (error.retryAfterMs !== undefined && error.retryAfterMs > 0) await ctx.health.pause(job.app, error.retryAfterMs);
    const health = await ctx.health.recordFailure(job.app, error, this.startedAt);
    if (health === "stale") // the app came back while this request hung: again now, as a fresh attempt
      return void (await this.release({ lastError: summary(error) }, 0, "retry"));
    if (health === "quarantined") {
      // The app's condition (an outage, or its credentials), not this delivery's: wait for its release,
      // which enqueues the backlog at once; no attempt is used, so a long outage never dead-letters.
      ctx.log.debug({ app: job.app, userId: job.userId, code: error.code, status: error.status }, "delivery waits for the app");
      return void (await this.release({ status: "quarantined", lastError: summary(error) }, ctx.health.waitMs(null), error.authFailure ? "auth-failing" : "quarantined"));
    }
    const attempt = this.attempt + 1;
    if (attempt >= ctx.settings.maxAttempts) return this.deadLetter(claim, error, attempt);
    const delay = nextDelay(attempt, { baseMs: ctx.settings.backoffBaseMs, maxMs: ctx.settings.backoffMaxMs, retryAfterMs: error.retryAfterMs });
    ctx.log.warn({ app: job.app, userId: job.userId, code: error.code, status: error.status, attempt, retryInMs: delay }, "delivery failed; will retry");
    await this.release({ lastError: summary(error), attempts: attempt }, delay, "retry", attempt);
  }

  async deadLetter(claim: accounts.ClaimedUser, error: AppHttpError, attempts = this.attempt + 1): Promise<void> {
    const { ctx, job } = this;
    const id = await insertDeadLetter(ctx.pool, {
      app: job.app, kind: "user", key: job.userId, label: claim.account.userName || null, code: error.code,
      request: { method: error.method, path: error.path }, responseStatus: error.status ?? null, responseBody: error.body ?? null,
      message: error.message, attempts, at: ctx.clock.now(),
    }, this.owner, summary(error));
    ctx.metrics.deliveries.inc({ app: job.app, outcome: "dead_letter" });
    this.settled = claim.account.desiredVersion;
    ctx.log.error({ app: job.app, userId: job.userId, code: error.code, status: error.status, deadLetter: id }, "delivery failed permanently; dead-lettered (replay with `scim-broker apps replay`)");
  }

  /** Releases the lease and re-schedules this key; returns the delay. */
  async release(patch: { status?: accounts.AccountStatus; lastError?: object; attempts?: number }, delayMs: number, outcome: string, attempt = this.attempt): Promise<number> {
    const { ctx, job } = this;
    await accounts.releaseUser(ctx.pool, job.app, job.userId, this.owner, { ...patch, at: ctx.clock.now() });
    await this.later(delayMs, outcome, attempt);
    return delayMs;
  }

  async later(delayMs: number, outcome: string, attempt = this.attempt): Promise<void> {
    const { ctx, job } = this;
    const payload = { app: job.app, userId: job.userId, ...(attempt ? { attempt } : {}) };
    // "Now" must be now, even if a waiting job of this key is parked later (preserve_run_at would keep it).
    if (delayMs <= 0) await nudgeJob(ctx.pool, USER_TASK, this.key, payload, this.priority);
    else await rescheduleJob(ctx.pool, USER_TASK, this.key, payload, delayMs, this.priority);
    ctx.metrics.deliveries.inc({ app: job.app, outcome: outcome === "retry" ? "retry" : "deferred" });
  }
}

/** Audit kinds of src/audit/audit-log.ts: an app assignment starting or ending, and a confirmed deprovision. */
function auditEvents(job: UserJob, account: accounts.AccountRow, desired: DesiredUser, result: { remoteId: string | null; outcome: string }): AuditInput[] {
  const cause = { ...(account.changeId !== null ? { changeId: account.changeId } : {}), actor: "fanout" };
  const before = account.deliveredHash === null ? null : account.deliveredHash.startsWith("deprovision:") ? "deprovisioned" : "provisioned";
  if (desired.kind === "provision") {
    if (before === "provisioned") return [];
    return [{ kind: "app.assignment.changed", userId: job.userId, app: job.app, cause, details: { assigned: true, outcome: result.outcome, remoteId: result.remoteId } }];
  }
  if (before === "deprovisioned" || (before === null && result.outcome === "absent")) return [];
  const events: AuditInput[] = [];
  if (desired.reason === "unassigned") events.push({ kind: "app.assignment.changed", userId: job.userId, app: job.app, cause, details: { assigned: false } });
  events.push({ kind: "app.deprovisioned", userId: job.userId, app: job.app, cause, details: { mode: desired.mode, reason: desired.reason, outcome: result.outcome, remoteId: result.remoteId ?? account.remoteId } });
  return events;
}
