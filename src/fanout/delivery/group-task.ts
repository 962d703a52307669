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
    const owner = `${helpers.job.locked_by}/${helpers.job.id}`;
    const key = groupJobKey(job.app, job.groupId);
    const attempt = job.attempt ?? 0;
    const later = (ms: number, nextAttempt = attempt) => {
      const payload = { app: job.app, groupId: job.groupId, ...(nextAttempt ? { attempt: nextAttempt } : {}) };
      // "now" overrides a waiting job parked later (preserve_run_at would keep its run_at)
      return ms <= 0 ? nudgeJob(ctx.pool, GROUP_TASK, key, payload, PRIORITY.group) : rescheduleJob(ctx.pool, GROUP_TASK, key, payload, ms, PRIORITY.group);
    };
    const release = (patch: { status?: string; lastError?: object; attempts?: number }) =>
      groups.releaseGroup(ctx.pool, job.app, job.groupId, owner, { ...patch, at: ctx.clock.now() });

    const claim = await groups.claimGroup(ctx.pool, job.app, job.groupId, owner, leaseMs(runtime));
    if (claim === null) return;
    if ("busy" in claim) return later(busyWaitMs(claim.busy, runtime, ctx.clock.now()));
    const { group, gate } = claim;
    try {
      const decision = decideGate(gate, gateContext(ctx, runtime, workerConcurrency));
      if (!decision.go) {
        if (decision.reason === "quarantined") await ctx.health.ensureProbe(job.app, gate.probeAt);
        return (await release(decision.reason === "quarantined" ? { status: "quarantined" } : {}), later(decision.delayMs));
      }
          if (claim.currentName === null) {
        // The broker group is gone (a managed group leaves the policy): the app's group is left as it is;
        // reconciliation reports it.
        await groups.completeGroup(ctx.pool, job.app, job.groupId, owner, { remoteId: group.remoteId ?? "", version: group.desiredVersion, added: [], removed: [], more: false, at: ctx.clock.now() });
        return;
      }
      const { desired, pushed } = await groups.memberSets(ctx.pool, job.app, job.groupId);
      const add: Array<[string, string]> = [], removeUsers: string[] = [], removeRemote: string[] = [];
      for (const [user, remote] of desired) if (pushed.get(user) !== remote) add.push([user, remote]);
      for (const [user, remote] of pushed) {
        if (!desired.has(user)) { removeUsers.push(user); removeRemote.push(remote); }
        else if (desired.get(user) !== remote) removeRemote.push(remote); // the account was re-created: new id replaces old
      }
      const more = add.length + removeRemote.length > MAX_DELTA_PER_RUN;
      const addNow = add.slice(0, MAX_DELTA_PER_RUN);
      const removeNow = removeRemote.slice(0, Math.max(0, MAX_DELTA_PER_RUN - addNow.length));
      const removeUsersNow = removeUsers.filter((u) => removeNow.includes(pushed.get(u)!));

      let remoteId = group.remoteId;
      let recordAdd = addNow, recordRemove = removeUsersNow;
      const startedAt = ctx.clock.now();
      runtime.inFlight++;
      try {
        // No AbortSignal: each request has the app's timeout (see deliveryDeadlineMs).
        await runtime.ready();
        if (remoteId === null) remoteId = await linkOrCreateGroup(runtime.client, claim.currentName, job.groupId);
        try {
          await runtime.client.patchGroupMembers(remoteId, addNow.map(([, r]) => r), removeNow);
        } catch (e) {
          // Deleted in the app behind our back: create it again and push every desired member.
          if (!(e instanceof AppHttpError && e.notFound) || group.remoteId === null) throw e;
          remoteId = await linkOrCreateGroup(runtime.client, claim.currentName, job.groupId);
          await runtime.client.patchGroupMembers(remoteId, [...desired.values()], []);
          recordAdd = [...desired];
          recordRemove = [...pushed.keys()].filter((u) => !desired.has(u));
        }
      } catch (e) {
        if (!(e instanceof AppHttpError)) throw e;
        return await failed(e, startedAt);
      } finally {
        runtime.inFlight--;
      }
      if (gate.failures > 0) await ctx.health.recordSuccess(job.app, startedAt);
      const done = await withTransaction(ctx.pool, (tx) => groups.completeGroup(tx, job.app, job.groupId, owner, {
        remoteId: remoteId!, version: group.desiredVersion, added: recordAdd, removed: recordRemove, more, at: ctx.clock.now(),
      }));
      ctx.metrics.deliveries.inc({ app: job.app, outcome: "group_synced" });
      if (done.newer) await nudgeJob(ctx.pool, GROUP_TASK, key, { app: job.app, groupId: job.groupId }, PRIORITY.group);
    } catch (e) {
      await release({}).catch(() => {});
      throw e;
    }

    async function failed(error: AppHttpError, startedAt: Date): Promise<void> {
      if (error.retryable || error.authFailure) {
        if (error.retryAfterMs) await ctx.health.pause(job.app, error.retryAfterMs);
        const health = await ctx.health.recordFailure(job.app, error, startedAt);
        // As for users (user-run.ts): a stale failure retries now; a quarantined app is waited for.
        if (health === "stale") return void (await release({ lastError: summary(error) }), await later(0));
        if (health === "quarantined") return void (await release({ status: "quarantined", lastError: summary(error) }), await later(ctx.health.waitMs(null)));
      }
      const next = attempt + 1;
      if (error.retryable && next < ctx.settings.maxAttempts) {
        await release({ lastError: summary(error), attempts: next });
        await later(nextDelay(next, { baseMs: ctx.settings.backoffBaseMs, maxMs: ctx.settings.backoffMaxMs, retryAfterMs: error.retryAfterMs }), next);
        ctx.metrics.deliveries.inc({ app: job.app, outcome: "retry" });
        return;
      }
      await insertDeadLetter(ctx.pool, {
        app: job.app, kind: "group", key: job.groupId, label: group.groupName, code: error.code, request: { method: error.method, path: error.path },
        responseStatus: error.status ?? null, responseBody: error.body ?? null, message: error.message, attempts: next, at: ctx.clock.now(),
      }, owner, summary(error));
      ctx.metrics.deliveries.inc({ app: job.app, outcome: "dead_letter" });
      ctx.log.error({ app: job.app, groupId: job.groupId, code: error.code, status: error.status }, "group sync failed permanently; dead-lettered");
    }
  };
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
