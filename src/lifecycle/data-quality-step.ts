// The data-quality shield's step in the lifecycle use case (user-lifecycle.ts), around the pure decisions
// of data-quality.ts: gather the facts a change needs, record its signals (lifecycle events `data-quality`,
// the audit log, broker_data_quality_signals_total), raise or refresh the user's ONE data-quality review,
// and keep the user's hold (data_quality_hold) in step. What it hands back tells the use case what to hold:
//
//   keepLeaver     a held re-activation: the account is written back disabled, so the user stays the leaver
//                  it was — no memberships, apps deprovisioned — until the review is approved;
//   evaluateAs     memberships held (an unknown value on a mover): the rules see the user as they last
//                  applied it, so nothing is granted or removed until the review or a known value;
//   withholdGrants identity clash: rule grants wait; removals go through.
//
// A leaver is never held here: the step releases a hold when the user leaves (and the mass-deprovision
// guard, not this step, decides whether a leaver waits).
import type pg from "pg";
import { Counter, type Registry } from "prom-client";
import type { UserResource } from "../scim/user-resource.ts";
import { setUserActive } from "../store/user-repository.ts";
import { snapshotOfResource } from "../rules/evaluate.ts";
import type { Policy } from "../rules/policy-loader.ts";
import { userStatus, type LifecycleEvent } from "../domain/classify.ts";
import {
  concernedGroups, detectSignals, isReactivation, needsIdentityFacts, planShield, shieldConfig, withoutRuleGrants,
  SIGNALS, type Signal, type SignalName,
} from "./data-quality.ts";
import { deleteHold, identityFacts, lastLeftAt, putHold } from "./data-quality-store.ts";
import { decideReview, requestReview } from "./review-store.ts";
import type { AuditTrail } from "./audit-trail.ts";
import type { EventInput, LifecycleTrigger, StoredState } from "./event-store.ts";
import type { MembershipDiff } from "../rules/diff.ts";
import type { UserRow } from "../store/rows.ts";

type Tx = Pick<pg.PoolClient, "query">;

export interface ShieldContext { signals?: (name: SignalName) => void }

/** broker_data_quality_signals_total{signal} on the broker's registry, every signal reported from zero. */
export function dataQualityMetric(registry: Registry): (name: SignalName) => void {
  const counter = new Counter({
    name: "broker_data_quality_signals_total", help: "Data-quality signals raised by HR changes (README: HR data quality)",
    labelNames: ["signal"], registers: [registry],
  });
  for (const signal of SIGNALS) counter.inc({ signal }, 0);
  return (signal) => counter.inc({ signal });
}

export interface ShieldOutcome {
  /** the user's row after the step (a held re-activation: disabled again) */
  after: UserRow | null;
  keepLeaver: boolean;
  evaluateAs: UserResource | null;
  withholdGrants: boolean;
  /** signals of this change, to record as `data-quality` lifecycle events (held: it held something) */
  signals: Array<Signal & { held: boolean }>;
  /** the user's data-quality review, when one is pending */
  reviewId: string | null;
}

const pass = (after: UserRow | null): ShieldOutcome => ({ after, keepLeaver: false, evaluateAs: null, withholdGrants: false, signals: [], reviewId: null });

/** What the shield reads of the change (user-lifecycle.ts's UserChangeInput carries it). */
export interface ShieldInput {
  before: UserRow | null;
  after: UserRow | null;
  beforeAt?: Date;
  changeId: number | null;
  trigger: LifecycleTrigger;
  released?: boolean;
  dataQuality?: "approved";
  /** users a batch of creates stored after this one: the identity look-ups do not see them yet */
  laterInBatch?: readonly string[];
}

export interface ShieldArgs {
  input: ShieldInput;
  user: UserRow;
  events: readonly LifecycleEvent[];
  previous: StoredState | null;
  policy: Policy;
  audit: AuditTrail;
  now: Date;
}

export async function dataQualityShield(tx: Tx, ctx: ShieldContext, a: ShieldArgs): Promise<ShieldOutcome> {
  const { input, user, policy, audit, now } = a;
  const existing = a.previous?.hold ?? null;
  // An approved review applies HR's data as sent; a guard release applies a leaver: nothing to shield.
  if (input.dataQuality === "approved" || input.released) return pass(input.after);
  const config = shieldConfig(policy.dataQuality, existing !== null);
  if (!config) return pass(input.after);

  const { before, after } = input;
  const hrChange = input.trigger === "hr";
  const wasLeaver = a.previous ? a.previous.status === "leaver" : !!before && userStatus(before, input.beforeAt ?? now) === "leaver";
  const heldMemberships = existing?.holds.includes("memberships") ?? false;
  let signals: Signal[] = [];
  if (hrChange) {
    const need = needsIdentityFacts(before, after, now, existing?.holds.includes("grants") ?? false);
    signals = detectSignals({
      config, before, after, events: a.events, wasLeaver, heldMemberships, source: user.source, now,
      baseline: heldMemberships && existing!.heldData ? snapshotOfResource(existing!.heldData) : before,
      lastLeftAt: isReactivation(after, wasLeaver, now) ? await lastLeftAt(tx, user.id) : null,
      identity: after && (need.employeeNumber || need.manager) ? await identityFacts(tx, after, now, need, input.laterInBatch) : null,
    });
  }
  const plan = planShield({ config, signals, existing, after, hrChange, now });
  const recorded = signals.map((s) => ({ ...s, held: s.holds !== null && plan.holds.includes(s.holds) }));
  for (const s of recorded) {
    // Counted inside the transaction: a write that rolls back afterwards (rare) still counts its signals.
    ctx.signals?.(s.name);
    audit.add("lifecycle.event", { userId: user.id, details: { event: "data-quality", signal: s.name, held: s.held, ...s.evidence, trigger: input.trigger } });
  }

  let reviewId = existing?.state === "held" ? existing.reviewId : null;
  if (plan.review) {
    const baseData = heldMemberships ? existing!.heldData : before?.data ?? null;
    const owner = ownerOf(policy, user.source, concernedGroups(policy.groups, plan.holds, baseData, (after ?? user).data));
    const r = await requestReview(tx, {
      kind: "data-quality", userId: user.id, owner, source: user.source, refresh: true,
      payload: { userName: user.userName, signals: recorded.map(({ held: _h, ...s }) => s), holds: plan.holds, changeId: input.changeId },
    }, now);
    reviewId = r.id;
    if (r.created) audit.add("review.created", { userId: user.id, cause: { reviewId: r.id }, details: { kind: "data-quality", signals: recorded.map((s) => s.name), holds: plan.holds } });
  }
  if (plan.release && existing) {
    await deleteHold(tx, user.id);
    if (existing.state === "held" && !plan.review) {
      const why = !after || userStatus(after, now) === "leaver" ? "the user left" : config.action === "flag" ? "the shield no longer holds (action: flag)" : "HR sent data that raises no signal";
      await decideReview(tx, existing.reviewId, "cancelled", "lifecycle", why, now);
      audit.add("review.decided", { userId: user.id, cause: { reviewId: existing.reviewId }, details: { kind: "data-quality", status: "cancelled", reason: why } });
      reviewId = null;
    }
  }
  // Held memberships: the rules keep seeing the user as they last applied it (kept from an earlier hold).
  const heldData = plan.holds.includes("memberships") ? (existing?.heldData ?? before?.data ?? null) : null;
  if (hrChange && plan.holds.length) {
    const state = plan.review || !existing ? "held" : existing.state;
    await putHold(tx, { userId: user.id, reviewId: reviewId ?? existing!.reviewId, holds: plan.holds, state, heldData }, now);
  }

  let row = after;
  if (plan.keepLeaver && after?.active) {
    row = (await setUserActive(tx, user.id, false, now)) ?? after;
    audit.add("account.disabled", { userId: user.id, cause: reviewId ? { reviewId } : {}, details: { reason: "data-quality hold: re-activation waits for review" } });
  }
  return { after: row, keepLeaver: plan.keepLeaver, evaluateAs: heldData, withholdGrants: plan.holds.includes("grants"), signals: recorded, reviewId };
}

/** The owners of the groups concerned, or the owner of the user's HR source (broker.yaml sources). */
function ownerOf(policy: Policy, source: string | null, groups: readonly string[]): string | null {
  const owners = [...new Set(groups.map((g) => policy.groupsByName[g]?.owner).filter((o): o is string => !!o))].sort();
  if (owners.length) return owners.join(", ");
  return policy.sources.find((s) => s.name === source)?.owner ?? null;
}

/**
 * The change's event rows with the shield's: one `data-quality` event per signal (its name and evidence), and
 * — when a re-activation is held — the classification's events marked held, with the review that holds them.
 */
export function shieldEventRows(shield: ShieldOutcome, rows: EventInput[], make: (kind: string, details: Record<string, unknown> | null, held: boolean) => EventInput): EventInput[] {
  const review = shield.reviewId ? { reviewId: shield.reviewId } : {};
  const out: EventInput[] = shield.keepLeaver ? rows.map((r) => ({ ...r, held: true, details: { ...r.details, dataQuality: "re-activation held", ...review } })) : rows;
  for (const s of shield.signals) out.push(make("data-quality", { signal: s.name, holds: s.holds, ...s.evidence, ...review }, s.held));
  return out;
}

/** The diff with rule grants withheld while the shield holds them (identity clash). */
export const withheldGrants = (shield: ShieldOutcome, diff: MembershipDiff): MembershipDiff => (shield.withholdGrants ? withoutRuleGrants(diff) : diff);
