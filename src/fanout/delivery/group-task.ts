// The "fanout:group" task: one managed group in one app. The group is found by displayName or created
// (RFC 7644 §3.3; 409 → look up and link), then its membership is brought to the desired set by deltas:
// PATCH add/remove of app member ids (RFC 7644 §3.5.2.1/§3.5.2.2, chunked by the client; PUT-only apps get
// a read-modify-PUT), computed against what we pushed before — never a rewrite of the whole member list.
// Members are the broker group's members whose account in this app is provisioned; a user whose account
// is created later triggers this sync again (user-run.ts). Gates, lease, retries and dead letters
// work as for users.
import type { Task } from "graphile-worker";
import { withTransaction } from "../../store/database.ts";
import { summary } from "../apps/app-health.ts";
import type { AppRuntime } from "../apps/app-registry.ts";
import type { AppGate } from "./account-repository.ts";
import { AppHttpError } from "../client/app-http-error.ts";
import * as groups from "./app-group-repository.ts";
import { nextDelay } from "./backoff.ts";
import { insertDeadLetter } from "./dead-letter-repository.ts";
import { busyWaitMs, gateContext, leaseMs, type FanoutContext } from "./fanout-context.ts";
import { decideGate } from "./delivery-gate.ts";
import { GROUP_TASK, groupJobKey, nudgeJob, PRIORITY, rescheduleJob, type GroupJob } from "../../jobs/fanout-jobs.ts";
import type { ScimClient } from "../client/scim-client.ts";

/** Member changes sent per job run; a larger delta continues in the next run (bounded lease, fair workers). */
const MAX_DELTA_PER_RUN = 1000;

export function groupSyncTask(ctx: FanoutContext, workerConcurrency: number): Task {
  return async (payload, helpers) => {
    const job = payload as GroupJob;
    const runtime = ctx.apps.get(job.app);
    if (!runtime || !job.groupId) return;
    ctx.processes.notePool(helpers.job.locked_by);
    await new GroupSync(ctx, runtime, job, `${helpers.job.locked_by}/${helpers.job.id}`, workerConcurrency).execute();
  };
}

/** Members as user id → app id (app-group-repository.ts memberSets). */
type MemberSets = Awaited<ReturnType<typeof groups.memberSets>>;

/** This run's share of the delta between the desired and the pushed members (at most MAX_DELTA_PER_RUN changes). */
export interface MemberDelta {
  /** (user id, app id) to add */
  add: Array<[string, string]>;
  /** app ids to remove */
  removeRemote: string[];
  /** the users those removals take out of the pushed set (a re-created account's old id removes no user) */
  removeUsers: string[];
  /** more changes are left for the next run */
  more: boolean;
}

/** The delta to send now: pure, computed against what we pushed before — never a rewrite of the whole list. */
export function memberDelta({ desired, pushed }: MemberSets, max = MAX_DELTA_PER_RUN): MemberDelta {
  const add: Array<[string, string]> = [], removeUsers: string[] = [], removeRemote: string[] = [];
  for (const [user, remote] of desired) if (pushed.get(user) !== remote) add.push([user, remote]);
  for (const [user, remote] of pushed) {
    if (!desired.has(user)) { removeUsers.push(user); removeRemote.push(remote); }
    else if (desired.get(user) !== remote) removeRemote.push(remote); // the account was re-created: new id replaces old
  }
  const more = add.length + removeRemote.length > max;
  const addNow = add.slice(0, max);
  const removeNow = removeRemote.slice(0, Math.max(0, max - addNow.length));
  return { add: addNow, removeRemote: removeNow, removeUsers: removeUsers.filter((u) => removeNow.includes(pushed.get(u)!)), more };
}

/** One run of one (app, group): claim, gate, delta, send, record — or fail, retry, dead-letter. */
class GroupSync {
  readonly key: string;
  readonly attempt: number;

  constructor(
    private readonly ctx: FanoutContext,
    private readonly runtime: AppRuntime,
    private readonly job: GroupJob,
    private readonly owner: string,
    private readonly workerConcurrency: number,
  ) {
    this.key = groupJobKey(job.app, job.groupId);
    this.attempt = job.attempt ?? 0;
  }

  async execute(): Promise<void> {
    const { ctx, job } = this;
    const claim = await groups.claimGroup(ctx.pool, job.app, job.groupId, this.owner, leaseMs(this.runtime));
    if (claim === null) return;
    if ("busy" in claim) return this.later(busyWaitMs(claim.busy, this.runtime, ctx.clock.now()));
    const { group, gate } = claim;
    try {
      const decision = decideGate(gate, gateContext(ctx, this.runtime, this.workerConcurrency));
      if (!decision.go) {
        if (decision.reason === "quarantined") await ctx.health.ensureProbe(job.app, gate.probeAt);
        return (await this.release(decision.reason === "quarantined" ? { status: "quarantined" } : {}), this.later(decision.delayMs));
      }
      if (claim.currentName === null) {
        // The broker group is gone (a managed group leaves the policy): the app's group is left as it is;
        // reconciliation reports it.
        await groups.completeGroup(ctx.pool, job.app, job.groupId, this.owner, { remoteId: group.remoteId ?? "", version: group.desiredVersion, added: [], removed: [], more: false, at: ctx.clock.now() });
        return;
      }
      const sets = await groups.memberSets(ctx.pool, job.app, job.groupId);
      const delta = memberDelta(sets);
      const startedAt = ctx.clock.now();
      const sent = await this.send(group, claim.currentName, sets, delta, startedAt);
      if (sent) await this.record(group, gate, sent, delta.more, startedAt);
    } catch (e) {
      await this.release({}).catch(() => {});
      throw e;
    }
  }

  /** Re-adds the job after `ms` ("now" overrides a waiting job parked later: preserve_run_at would keep its run_at). */
  later(ms: number, nextAttempt = this.attempt): Promise<void> {
    const { ctx, job } = this;
    const payload = { app: job.app, groupId: job.groupId, ...(nextAttempt ? { attempt: nextAttempt } : {}) };
    return ms <= 0 ? nudgeJob(ctx.pool, GROUP_TASK, this.key, payload, PRIORITY.group) : rescheduleJob(ctx.pool, GROUP_TASK, this.key, payload, ms, PRIORITY.group);
  }

  release(patch: { status?: string; lastError?: object; attempts?: number }): Promise<void> {
    return groups.releaseGroup(this.ctx.pool, this.job.app, this.job.groupId, this.owner, { ...patch, at: this.ctx.clock.now() });
  }

  /**
   * The delta over HTTP (PATCH add/remove of app member ids, RFC 7644 §3.5.2.1/§3.5.2.2), the group linked or
   * created first if we have no id for it. Returns what to record, or null once an app failure is handled.
   */
  async send(group: groups.AppGroupRow, displayName: string, sets: MemberSets, delta: MemberDelta, startedAt: Date): Promise<{ remoteId: string; added: Array<[string, string]>; removed: string[] } | null> {
    const { runtime, job } = this;
    runtime.inFlight++;
    try {
      // No AbortSignal: each request has the app's timeout (see deliveryDeadlineMs).
      await runtime.ready();
      const remoteId = group.remoteId ?? await linkOrCreateGroup(runtime.client, displayName, job.groupId);
      try {
        await runtime.client.patchGroupMembers(remoteId, delta.add.map(([, r]) => r), delta.removeRemote);
        return { remoteId, added: delta.add, removed: delta.removeUsers };
      } catch (e) {
        // Deleted in the app behind our back: create it again and push every desired member.
        if (!(e instanceof AppHttpError && e.notFound) || group.remoteId === null) throw e;
        const recreated = await linkOrCreateGroup(runtime.client, displayName, job.groupId);
        await runtime.client.patchGroupMembers(recreated, [...sets.desired.values()], []);
        return { remoteId: recreated, added: [...sets.desired], removed: [...sets.pushed.keys()].filter((u) => !sets.desired.has(u)) };
      }
    } catch (e) {
      if (!(e instanceof AppHttpError)) throw e;
      await this.failed(e, group.groupName, startedAt);
      return null;
    } finally {
      runtime.inFlight--;
    }
  }

  /** The outcome: the app's health, what we pushed (one transaction), and the next run if the group changed meanwhile. */
  async record(group: groups.AppGroupRow, gate: AppGate, sent: { remoteId: string; added: Array<[string, string]>; removed: string[] }, more: boolean, startedAt: Date): Promise<void> {
    const { ctx, job } = this;
    if (gate.failures > 0) await ctx.health.recordSuccess(job.app, startedAt);
    const done = await withTransaction(ctx.pool, (tx) => groups.completeGroup(tx, job.app, job.groupId, this.owner, {
      remoteId: sent.remoteId, version: group.desiredVersion, added: sent.added, removed: sent.removed, more, at: ctx.clock.now(),
    }));
    ctx.metrics.deliveries.inc({ app: job.app, outcome: "group_synced" });
    if (done.newer) await nudgeJob(ctx.pool, GROUP_TASK, this.key, { app: job.app, groupId: job.groupId }, PRIORITY.group);
  }

  /** A failed request: wait for the app (stale failure, quarantine), retry with backoff, or dead-letter. */
  async failed(error: AppHttpError, groupName: string, startedAt: Date): Promise<void> {
    const { ctx, job } = this;
    if (error.retryable || error.authFailure) {
      if (error.retryAfterMs) await ctx.health.pause(job.app, error.retryAfterMs);
      const health = await ctx.health.recordFailure(job.app, error, startedAt);
      // As for users (user-run.ts): a stale failure retries now; a quarantined app is waited for.
      if (health === "stale") return void (await this.release({ lastError: summary(error) }), await this.later(0));
      if (health === "quarantined") return void (await this.release({ status: "quarantined", lastError: summary(error) }), await this.later(ctx.health.waitMs(null)));
    }
    const next = this.attempt + 1;
    if (error.retryable && next < ctx.settings.maxAttempts) {
      await this.release({ lastError: summary(error), attempts: next });
      await this.later(nextDelay(next, { baseMs: ctx.settings.backoffBaseMs, maxMs: ctx.settings.backoffMaxMs, retryAfterMs: error.retryAfterMs }), next);
      ctx.metrics.deliveries.inc({ app: job.app, outcome: "retry" });
      return;
    }
    await insertDeadLetter(ctx.pool, {
      app: job.app, kind: "group", key: job.groupId, label: groupName, code: error.code, request: { method: error.method, path: error.path },
      responseStatus: error.status ?? null, responseBody: error.body ?? null, message: error.message, attempts: next, at: ctx.clock.now(),
    }, this.owner, summary(error));
    ctx.metrics.deliveries.inc({ app: job.app, outcome: "dead_letter" });
    ctx.log.error({ app: job.app, groupId: job.groupId, code: error.code, status: error.status }, "group sync failed permanently; dead-lettered");
  }
}

async function linkOrCreateGroup(client: ScimClient, displayName: string, groupId: string): Promise<string> {
  const existing = await client.findGroupBy("displayName", displayName);
  if (existing) return existing.id;
  try {
    return (await client.createGroup({ displayName, externalId: groupId, members: [] })).id;
  } catch (e) {
    if (!(e instanceof AppHttpError) || e.code !== "FANOUT_CONFLICT") throw e;
    const found = await client.findGroupBy("displayName", displayName);
    if (!found) throw e;
    return found.id;
  }
}
