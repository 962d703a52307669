// The ChangeHooks the SCIM services call inside each write's transaction (scim/write-context.ts): a user
// write first meets source authority (broker.yaml sources: who may change which attribute), then goes through
// the lifecycle use case; manual membership changes of managed groups are audited and handed to the fan-out
// (they change what the apps that subscribe to the group should see).
import type pg from "pg";
import type { ChangeHooks, GroupChange, HookCarry, UserChange, UserWrite } from "../scim/write-context.ts";
import { authoriseUserWrite } from "../rules/source-authority.ts";
import { handleUserChange, type LifecycleContext } from "./user-lifecycle.ts";
import { AuditTrail } from "./audit-trail.ts";
import { LifecycleBatch } from "./lifecycle-batch.ts";
import { withBrokerRows } from "./membership-store.ts";
import type { ActivePolicy } from "./policy-holder.ts";
import { getState, type StoredState } from "./event-store.ts";
import { issued } from "../store/database.ts";

/** The key of the policy beforeUserWrite read, in the write's HookCarry. */
const POLICY = "lifecycle.policy";
/** The key of the user's lifecycle state, read by startUserWrite, in the write's HookCarry. */
const STATE = "lifecycle.state";
/** The key of a batch of creates' deferred transitions (lifecycle-batch.ts), in the batch's HookCarry. */
const BATCH = "lifecycle.batch";

export function lifecycleHooks(ctx: LifecycleContext): Required<ChangeHooks> {
  return {
    // The policy lock and version are asked for before the user's row: both statements leave together, and
    // the shared policy lock is taken before the row lock, the order a policy apply takes them in.
    startUserWrite(tx: pg.PoolClient, carry: HookCarry) {
      carry[POLICY] = issued(ctx.policies.current(tx)); // awaited by beforeUserWrite
    },
    // The user's lifecycle state, read right behind the row's lock (so it is the state the last writer of this
    // user committed) and in the same round trip; nothing the write does before its lifecycle changes it.
    userLocked(tx: pg.PoolClient, carry: HookCarry, userId: string) {
      carry[STATE] = issued(getState(tx, userId)); // awaited by the lifecycle (judgeChange)
    },
    // Source authority (rules/source-authority.ts): a writer may not change what another source owns.
    async beforeUserWrite(tx: pg.PoolClient, w: UserWrite) {
      // A batch of writes in one transaction shares one carry: the policy read for the first serves the rest.
      const active = await ((w.carry?.[POLICY] as ActivePolicy | Promise<ActivePolicy> | undefined) ?? ctx.policies.current(tx));
      // Read under the shared policy lock, which this transaction now holds to its end: no new version can be
      // recorded before it commits (policy-holder.ts), so afterUserWrite takes this one instead of asking again.
      if (w.carry) w.carry[POLICY] = active;
      const { policy } = active;
      return authoriseUserWrite(policy.owned, { operation: w.operation, writer: w.ctx.source, before: w.before?.data ?? null, resource: w.resource });
    },
    async afterUserWrite(tx: pg.PoolClient, c: UserChange) {
      // A create in a batch: what ends its lifecycle is written with the batch's, in afterUserBatch.
      const batch = c.laterInBatch && c.carry ? ((c.carry[BATCH] ??= new LifecycleBatch()) as LifecycleBatch) : undefined;
      const out = await handleUserChange(tx, ctx, {
        before: c.before, after: c.after, at: c.at, changeId: c.changeId, trigger: "hr", actor: c.ctx.actor, tokenId: c.ctx.tokenId,
        policy: c.carry?.[POLICY] as ActivePolicy | undefined, batch, laterInBatch: c.laterInBatch,
        state: c.carry?.[STATE] as Promise<StoredState | null> | undefined, // set by userLocked: replace and patch only
      });
      return { membershipsChanged: out.gained.length > 0 || out.lost.length > 0, accountChanged: out.accountChanged };
    },
    async afterUserBatch(tx: pg.PoolClient, carry: HookCarry) {
      await (carry[BATCH] as LifecycleBatch | undefined)?.flush(tx, ctx.fanout);
    },
    async afterGroupWrite(tx: pg.PoolClient, c: GroupChange) {
      const group = c.after ?? c.before!;
      if (!group.managed || (!c.added.length && !c.removed.length)) return;
      // A user who also holds a rule or exception row was (and stays) a visible member: not a change for apps.
      const covered = await withBrokerRows(tx, group.id, [...c.added, ...c.removed]);
      const added = c.added.filter((u) => !covered.has(u));
      const removed = c.removed.filter((u) => !covered.has(u));
      const audit = new AuditTrail({ changeId: c.changeId, tokenId: c.ctx.tokenId, actor: c.ctx.actor });
      for (const u of c.added) audit.add("membership.added", { userId: u, groupName: group.displayName, details: { source: "manual", visible: !covered.has(u) } });
      for (const u of c.removed) audit.add("membership.removed", { userId: u, groupName: group.displayName, details: { source: "manual", visible: !covered.has(u) } });
      await audit.flush(tx, c.at);
      if (added.length || removed.length)
        await ctx.fanout.membershipChanged(tx, { groupId: group.id, groupName: group.displayName, added, removed, at: c.at });
    },
  };
}

/** Runs several hook sets in order (lifecycle first, then e.g. a test's own). */
export function combineHooks(...sets: Array<ChangeHooks | undefined>): ChangeHooks {
  const list = sets.filter((s): s is ChangeHooks => !!s);
  const befores = list.filter((s) => s.beforeUserWrite);
  const users = list.filter((s) => s.afterUserWrite);
  const groups = list.filter((s) => s.afterGroupWrite);
  const batches = list.filter((s) => s.afterUserBatch);
  const starts = list.filter((s) => s.startUserWrite);
  const lockeds = list.filter((s) => s.userLocked);
  return {
    ...(starts.length ? { startUserWrite(tx, carry) { for (const s of starts) s.startUserWrite!(tx, carry); } } : {}),
    ...(lockeds.length ? { userLocked(tx, carry, userId) { for (const s of lockeds) s.userLocked!(tx, carry, userId); } } : {}),
    ...(befores.length ? {
      async beforeUserWrite(tx, w) {
        let resource = w.resource;
        for (const s of befores) resource = await s.beforeUserWrite!(tx, { ...w, resource });
        return resource;
      },
    } : {}),
    ...(users.length ? {
      async afterUserWrite(tx, c) {
        let changed = false, account = false;
        for (const s of users) {
          const out = await s.afterUserWrite!(tx, c);
          changed = (out?.membershipsChanged ?? true) || changed;
          account = (out?.accountChanged ?? false) || account;
        }
        return { membershipsChanged: changed, accountChanged: account };
      },
    } : {}),
    ...(groups.length ? { async afterGroupWrite(tx, c) { for (const s of groups) await s.afterGroupWrite!(tx, c); } } : {}),
    ...(batches.length ? { async afterUserBatch(tx, carry) { for (const s of batches) await s.afterUserBatch!(tx, carry); } } : {}),
  };
}
