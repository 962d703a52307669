// The lifecycle's FanoutPort (src/lifecycle/fanout-port.ts) for SSF receivers, as a transactional outbox:
// called inside the HR transaction, it writes one SET row per (live stream, event) with its audit row and,
// for push streams that are enabled, the stream's delivery job — all commit with the HR change or not at all.
// The SETs are signed when they first go out (push-task.ts, poll-routes.ts): what commits here is their
// content, so a mover's group changes (membershipChanged, later in the same transaction) can still join the
// department change in one token-claims-change.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { BatchChanges, FanoutPort, MembershipChangedEvent, UserChangedEvent } from "../lifecycle/fanout-port.ts";
import type { AuditInput } from "../audit/audit-log.ts";
import { EVENT, eventsDelivered } from "./event-types.ts";
import { claimsChange, setClaims, subjectWanted, userChangeEvents, userKeys, type CauseFacts, type EventDraft } from "./set-builder.ts";
import * as facts from "./outbox-repository.ts";
import * as sets from "./set-repository.ts";
import { liveStreams, type StreamRow } from "./stream-repository.ts";
import { PRIORITY } from "./push-jobs.ts";
import type { SsfMetrics } from "./metrics.ts";
import { StreamPresence } from "./stream-presence.ts";

type LiveStream = StreamRow & { excluded: Set<string> };

export class SsfOutbox implements FanoutPort {
  /** `presence`: without a live stream (known in memory), an HR write reads nothing here (stream-presence.ts). */
  constructor(private readonly metrics?: SsfMetrics, private readonly presence = new StreamPresence()) {}

  userChanged(tx: pg.PoolClient, e: UserChangedEvent): Promise<void> {
    return this.#user(tx, e, false);
  }

  /** A batch of creates: each change as it would have come alone (a SET is per user; joiners rarely have one). */
  async changedInBatch(tx: pg.PoolClient, c: BatchChanges): Promise<void> {
    for (const e of c.users) await this.userChanged(tx, e);
    for (const e of c.memberships) await this.membershipChanged(tx, e);
  }

  /** Called before the row is deleted: the user is still readable in this transaction. */
  userDeleted(tx: pg.PoolClient, e: UserChangedEvent): Promise<void> {
    return this.#user(tx, { ...e, leaver: true }, true);
  }

  /**
   * Group changes become CAEP token-claims-change (`groups`): merged into the claims change this transaction
   * already wrote for the user (a mover's department), else a new one — not for a user who left or was
   * deleted in this transaction (their session-revoked says more).
   */
  async membershipChanged(tx: pg.PoolClient, e: MembershipChangedEvent): Promise<void> {
    const users = [...new Set([...e.added, ...e.removed])];
    if (!users.length) return;
    const streams = ((await this.presence.read(() => liveStreams(tx), (l) => l.length)) ?? []).filter((s) => wants(s, EVENT.tokenClaimsChange));
    if (!streams.length) return;
    for (const userId of users) {
      const groups = await facts.groupsOf(tx, userId);
      const written = await sets.thisTransactionSets(tx, userId);
      if (written.some((w) => LEAVER_EVENTS.has(w.eventType))) continue;
      const claimRows = written.filter((w) => w.eventType === EVENT.tokenClaimsChange);
      for (const row of claimRows) {
        const event = (row.claims.events as Record<string, { claims: Record<string, unknown> }>)[EVENT.tokenClaimsChange]!;
        await sets.replaceClaims(tx, row.id, { ...row.claims, events: { [EVENT.tokenClaimsChange]: { ...event, claims: { ...event.claims, groups } } } });
      }
      if (claimRows.length) continue;
      const user = await facts.userFacts(tx, userId);
      if (!user) continue;
      const cause = { at: e.at, byHr: false, cause: "policy", leaver: false, deleted: false };
      await this.#write(tx, streams, user, [claimsChange(user, cause, "", { groups })], null, e.at, null);
    }
  }

  async #user(tx: pg.PoolClient, e: UserChangedEvent, deleted: boolean): Promise<void> {
    const found = await this.presence.read(() => facts.changeFacts(tx, e.userId, e.changeId), (f) => f.streams.length);
    if (!found) return;
    const { streams, user, changed } = found;
    if (!streams.length || !user) return;
    const cause: CauseFacts = {
      cause: e.cause, leaver: e.leaver, deleted, changeId: e.changeId, at: e.at, changed,
      department: user.department, active: user.active, byHr: e.changeId !== null,
    };
    const drafts = userChangeEvents(user, cause, "");
    if (!drafts.length) return;
    await this.#write(tx, streams, user, drafts, e.changeId, e.at, cause);
  }

  /** One SET per (stream, event) the stream asked for and whose subject it did not remove. */
  async #write(tx: pg.PoolClient, streams: LiveStream[], user: facts.UserFacts, drafts: EventDraft[], changeId: number | null, at: Date, _cause: CauseFacts | null): Promise<void> {
    const rows: sets.NewSet[] = [];
    const audit: AuditInput[] = [];
    const pushes = new Map<string, number>();
    const txn = changeId !== null ? String(changeId) : randomUUID();
    for (const s of streams) {
      if (!subjectWanted(userKeys(user, s.iss), s.excluded)) continue;
      for (const d of drafts) {
        if (!wants(s, d.type)) continue;
        // The builder left the issuer blank: each stream's SETs carry its own iss (SSF §8.1.1).
        const draft = withIssuer(d, s.iss);
        const jti = randomUUID();
        const priority = d.leaver ? PRIORITY.leaver : PRIORITY.other;
        rows.push({ streamId: s.id, jti, userId: user.userId, eventType: d.type, claims: setClaims(draft, jti, txn, s.iss, s.audience, at), priority });
        audit.push({ kind: "ssf.set.issued", userId: user.userId, cause: changeId !== null ? { changeId } : { actor: "lifecycle" }, details: { stream: s.id, jti, event: d.type } });
        if (s.method === "urn:ietf:rfc:8935" && s.status === "enabled") pushes.set(s.id, Math.min(pushes.get(s.id) ?? PRIORITY.other, priority));
      }
    }
    if (!rows.length) return;
    await facts.issue(tx, rows, audit, pushes, at);
    for (const r of rows) this.metrics?.issued.inc({ stream: r.streamId, event: shortName(r.eventType) });
  }
}

const LEAVER_EVENTS: ReadonlySet<string> = new Set([EVENT.sessionRevoked, EVENT.accountDisabled, EVENT.accountPurged]);

const wants = (s: StreamRow, type: string) => eventsDelivered(s.eventsRequested).includes(type);

/** Fills the stream's issuer into iss_sub identifiers (the builder is stream-agnostic). */
function withIssuer(d: EventDraft, iss: string): EventDraft {
  const fix = (id: Record<string, unknown>): Record<string, unknown> =>
    id.format === "iss_sub" ? { ...id, iss } : id.format === "aliases" && Array.isArray(id.identifiers) ? { ...id, identifiers: id.identifiers.map(fix) } : id;
  return { ...d, subject: fix(d.subject) as EventDraft["subject"] };
}

export const shortName = (uri: string) => uri.replace(/^.*\/event-type\//, "").replace(/^urn:ietf:params:scim:event:/, "");
