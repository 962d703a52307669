// One person's provisioning log (pure): the records of people-repository.ts merged into one time-ordered
// story — HR change records, lifecycle events, entitlement changes from the audit log with their causes
// (rule and policy version, exception, review, token), what each app was sent and answered, and the
// leaver SLA per app. The page an incident responder opens first: "what happened to this person, where,
// and why".
import type { PersonRecords } from "./people-repository.ts";

export type LogCategory = "hr" | "lifecycle" | "entitlement" | "app" | "review" | "exception" | "policy";

export interface LogCause {
  changeId?: number; rule?: string; policyVersion?: string; token?: string; actor?: string; trigger?: string;
  review?: { id: string; kind?: string; status?: string }; exception?: { id: string; kind?: string; reason?: string };
}

export interface LogEntry {
  at: Date;
  /** stable id of the source row: change:N, event:N, audit:N, dead-letter:N, sla:N */
  ref: string;
  kind: string;
  category: LogCategory;
  title: string;
  app?: string;
  group?: string;
  cause?: LogCause;
  details?: Record<string, unknown>;
}

export interface AppView {
  app: string; status: string; remoteId: string | null; pendingSince: Date | null; deliveredAt: Date | null; attempts: number;
  lastError: Record<string, unknown> | null; openDeadLetters: number;
  /** the last request we know of and the app's answer (from the audit log, a dead letter or the retrying error) */
  lastSent: { at: Date; what: string; answer: string; ok: boolean } | null;
  /** the latest leaver SLA as seen by this app: confirmed (with the time from the HR request) or pending */
  leaverSla: { requestedAt: Date; confirmedAt: Date | null; durationMs: number | null } | null;
}

export interface ProvisioningLog {
  person: (NonNullable<PersonRecords["user"]>) | null;
  id: string;
  deleted: boolean;
  groups: PersonRecords["groups"];
  apps: AppView[];
  leaverSla: Array<PersonRecords["slas"][number] & { durationMs: number | null; apps: Array<{ app: string; confirmedAt: Date | null; durationMs: number | null }> }>;
  entries: LogEntry[];
  truncated: boolean;
}

const CATEGORY_ORDER: Record<string, number> = { change: 0, event: 1, audit: 2, "dead-letter": 3, sla: 4 };
const str = (v: unknown) => (v === null || v === undefined || v === "" ? "∅" : typeof v === "object" ? JSON.stringify(v) : String(v));

export function buildProvisioningLog(id: string, r: PersonRecords): ProvisioningLog {
  const reviews = new Map(r.reviews.map((x) => [x.id, x]));
  const exceptions = new Map(r.exceptions.map((x) => [x.id, x]));
  const entries: LogEntry[] = [];

  for (const c of r.changes) {
    const before = (c.before ?? {}) as Record<string, unknown>, after = (c.after ?? {}) as Record<string, unknown>;
    const diffs = c.changed.map((a) => (a in before || a in after ? { attribute: a, from: before[a] ?? null, to: after[a] ?? null } : { attribute: a }));
    const who = [c.source ? `source ${c.source}` : null, c.tokenName ? `token ${c.tokenName}` : null].filter(Boolean).join(", ");
    const what = c.operation === "create" ? "Created" : c.operation === "delete" ? "Deleted" : `Updated: ${diffs.map((d) => ("from" in d ? `${d.attribute} ${str(d.from)} → ${str(d.to)}` : d.attribute)).join("; ") || "no attribute changed"}`;
    entries.push({
      at: c.at, ref: `change:${c.id}`, kind: `hr.${c.operation}`, category: "hr", title: `${what}${who ? ` (${who})` : ""}`,
      cause: { changeId: c.id, ...(c.tokenName ? { token: c.tokenName } : {}) },
      details: { changed: diffs, source: c.source, requestId: c.requestId },
    });
  }

  for (const e of r.events) {
    const reason = e.details && typeof e.details.reason === "string" ? ` (${e.details.reason})` : "";
    entries.push({
      at: e.at, ref: `event:${e.id}`, kind: `lifecycle.${e.kind}`, category: "lifecycle",
      title: `Lifecycle: ${e.kind}${reason}${e.held ? " — held by the mass-deprovision guard" : ""}`,
      cause: { ...(e.changeId !== null ? { changeId: e.changeId } : {}), trigger: e.cause }, ...(e.details ? { details: e.details } : {}),
    });
  }

  for (const a of r.audit) {
    if (a.kind === "lifecycle.event") continue; // the lifecycle_event rows above say the same, with more detail
    const cause = causeOf(a.cause, reviews, exceptions, r.tokens);
    entries.push({
      at: a.at, ref: `audit:${a.seq}`, kind: a.kind, category: categoryOf(a.kind), title: auditTitle(a),
      ...(a.app ? { app: a.app } : {}), ...(a.groupName ? { group: a.groupName } : {}), cause,
      details: { ...(a.details ?? {}), sealed: a.sealed },
    });
  }

  for (const d of r.deadLetters) {
    entries.push({
      at: d.at, ref: `dead-letter:${d.id}`, kind: "app.dead-letter", category: "app", app: d.app,
      title: `${d.app} refused ${d.request.method ?? "?"} ${d.request.path ?? ""}: ${d.responseStatus ? `HTTP ${d.responseStatus} ` : ""}${d.code} — ${d.message}${d.replayedAt ? " (replayed)" : ""}`,
      details: { id: d.id, code: d.code, request: d.request, responseStatus: d.responseStatus, responseBody: d.responseBody, attempts: d.attempts, replayedAt: d.replayedAt },
    });
  }

  const deprovisioned = r.audit.filter((a) => a.kind === "app.deprovisioned" && a.app);
  const leaverSla = r.slas.map((s) => {
    const apps = [...new Set([...deprovisioned.filter((a) => a.at >= s.requestedAt).map((a) => a.app!), ...s.pendingApps])].sort().map((app) => {
      const confirmed = s.pendingApps.includes(app) ? undefined : deprovisioned.filter((a) => a.app === app && a.at >= s.requestedAt).sort((x, y) => +x.at - +y.at)[0];
      return { app, confirmedAt: confirmed?.at ?? null, durationMs: confirmed ? +confirmed.at - +s.requestedAt : null };
    });
    return { ...s, durationMs: s.completedAt ? +s.completedAt - +s.requestedAt : null, apps };
  });
  for (const s of leaverSla) {
    if (!s.completedAt) continue;
    entries.push({
      at: s.completedAt, ref: `sla:${s.id}`, kind: "leaver.sla.completed", category: "app",
      title: `Leaver deprovisioned in every app (${s.appsTotal}) in ${formatMs(s.durationMs!)} from the HR request`,
      cause: s.changeId !== null ? { changeId: s.changeId } : {}, details: { requestedAt: s.requestedAt, apps: s.apps },
    });
  }

  entries.sort((x, y) => +x.at - +y.at || CATEGORY_ORDER[x.ref.split(":")[0]!]! - CATEGORY_ORDER[y.ref.split(":")[0]!]! || Number(x.ref.split(":")[1]) - Number(y.ref.split(":")[1]));

  const apps: AppView[] = r.accounts.map((acc) => {
    const sent = lastSent(acc.app, r, acc.lastError);
    const sla = leaverSla[0]?.apps.find((a) => a.app === acc.app);
    return {
      app: acc.app, status: acc.status, remoteId: acc.remoteId, pendingSince: acc.pendingSince, deliveredAt: acc.deliveredAt,
      attempts: acc.attempts, lastError: acc.lastError, openDeadLetters: r.deadLetters.filter((d) => d.app === acc.app && !d.replayedAt).length,
      lastSent: sent, leaverSla: sla ? { requestedAt: leaverSla[0]!.requestedAt, confirmedAt: sla.confirmedAt, durationMs: sla.durationMs } : null,
    };
  });

  return { person: r.user, id, deleted: !r.user, groups: r.groups, apps, leaverSla, entries, truncated: r.truncated };
}

function lastSent(app: string, r: PersonRecords, lastError: Record<string, unknown> | null): AppView["lastSent"] {
  const candidates: NonNullable<AppView["lastSent"]>[] = [];
  for (const a of r.audit) {
    if (a.app !== app) continue;
    const d = (a.details ?? {}) as Record<string, unknown>;
    if (a.kind === "app.deprovisioned")
      candidates.push({ at: a.at, what: d.mode === "delete" ? "DELETE the account (deprovision)" : "PATCH active=false (deprovision)", answer: `done (${str(d.outcome)})`, ok: true });
    else if (a.kind === "app.assignment.changed" && d.assigned === true)
      candidates.push({ at: a.at, what: "provision: find by matchAttribute, then create or link", answer: `done (${str(d.outcome)}; app id ${str(d.remoteId)})`, ok: true });
  }
  for (const d of r.deadLetters) {
    if (d.app !== app) continue;
    candidates.push({ at: d.at, what: `${d.request.method ?? "?"} ${d.request.path ?? ""}`, answer: `${d.responseStatus ? `HTTP ${d.responseStatus} ` : ""}${d.code}: ${d.message} (dead letter #${d.id})`, ok: false });
  }
  const best = candidates.sort((x, y) => +y.at - +x.at)[0] ?? null;
  const acc = r.accounts.find((a) => a.app === app);
  if (lastError && acc && (!best || acc.updatedAt >= best.at)) {
    const e = lastError as { method?: string; path?: string; status?: number | null; code?: string; message?: string };
    return { at: acc.updatedAt, what: `${e.method ?? "?"} ${e.path ?? ""}`, answer: `${e.status ? `HTTP ${e.status} ` : ""}${e.code ?? "error"}: ${e.message ?? ""} (retrying, attempt ${acc.attempts})`, ok: false };
  }
  return best;
}

function categoryOf(kind: string): LogCategory {
  if (kind.startsWith("app.")) return "app";
  if (kind.startsWith("review.") || kind.startsWith("guard.")) return "review";
  if (kind.startsWith("exception.")) return "exception";
  if (kind.startsWith("policy.")) return "policy";
  return "entitlement";
}

function causeOf(c: Record<string, unknown>, reviews: Map<string, PersonRecords["reviews"][number]>, exceptions: Map<string, PersonRecords["exceptions"][number]>, tokens: Map<string, string>): LogCause {
  const out: LogCause = {};
  if (typeof c.changeId === "number") out.changeId = c.changeId;
  if (typeof c.rule === "string") out.rule = c.rule;
  if (typeof c.policyVersion === "string") out.policyVersion = c.policyVersion;
  if (typeof c.actor === "string") out.actor = c.actor;
  if (typeof c.tokenId === "string") out.token = tokens.get(c.tokenId) ?? c.tokenId;
  if (typeof c.reviewId === "string") { const r = reviews.get(c.reviewId); out.review = { id: c.reviewId, ...(r ? { kind: r.kind, status: r.status } : {}) }; }
  if (typeof c.exceptionId === "string") { const e = exceptions.get(c.exceptionId); out.exception = { id: c.exceptionId, ...(e ? { kind: e.kind, reason: e.reason } : {}) }; }
  return out;
}

function auditTitle(a: PersonRecords["audit"][number]): string {
  const d = (a.details ?? {}) as Record<string, unknown>;
  const g = a.groupName ?? "?";
  switch (a.kind) {
    case "membership.added": return `Added to group ${g}${d.source ? ` (${d.source})` : ""}`;
    case "membership.removed": return `Removed from group ${g}${d.source ? ` (${d.source})` : ""}`;
    case "account.created": return "Account created";
    case "account.disabled": return `Account disabled${d.reason ? ` (${d.reason})` : ""}`;
    case "account.enabled": return `Account enabled${d.reason ? ` (${d.reason})` : ""}`;
    case "account.deleted": return "Account deleted";
    case "app.assignment.changed": return d.assigned ? `Assigned to ${a.app}: account ${str(d.outcome)} (app id ${str(d.remoteId)})` : `Unassigned from ${a.app}`;
    case "app.deprovisioned": return `Deprovisioned in ${a.app}: ${d.mode === "delete" ? "account deleted" : "account disabled"} (${str(d.reason)}; app answered ${str(d.outcome)})`;
    case "exception.created": return `Exception ${str(d.kind)} on ${g} created${d.reason ? `: ${d.reason}` : ""}`;
    case "exception.expired": return `Exception on ${g} expired`;
    case "exception.revoked": return `Exception on ${g} revoked${d.reason ? `: ${d.reason}` : ""}`;
    case "review.created": return `Review ${str(d.kind)}${a.groupName ? ` for ${g}` : ""} opened`;
    case "review.decided": return `Review ${str(d.kind)}${a.groupName ? ` for ${g}` : ""} ${str(d.status)}${d.reason ? `: ${d.reason}` : ""}`;
    case "guard.held": return "Held by the mass-deprovision guard";
    case "guard.released": return `Released by the mass-deprovision review (${str(d.outcome)})`;
    case "policy.applied": return "Policy applied";
    default: return a.kind;
  }
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : ms < 120_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 60_000).toFixed(1)} min`;
}
