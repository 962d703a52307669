// What a lifecycle change means for SSF receivers, as pure functions (unit-tested without a database):
// which events (CAEP 1.0, RISC 1.0, RFC 9967), their subject identifiers (RFC 9493) and their claims. The
// outbox (outbox.ts) reads the facts inside the HR transaction and hands them here; the signer adds iss,
// aud, iat and jti's signature when the SET goes out.
import { EVENT } from "./event-types.ts";

/** A subject identifier (RFC 9493 §3): email, opaque, iss_sub, aliases, or RFC 9967's scim. */
export type SubjectId = Record<string, unknown> & { format: string };

/** The person as the transmitter identifies them. */
export interface SubjectFacts { userId: string; email: string | null; externalId: string | null }

/** Why: the lifecycle's cause and trigger, the HR change record, and when. */
export interface CauseFacts {
  /** fanout-port.ts UserChangedEvent.cause: joiner | mover | leaver | rehire | return | update | policy | … */
  cause: string;
  /** the user left now (the change made them a leaver), or the row is being deleted */
  leaver: boolean;
  deleted: boolean;
  /** the HR change record (txn, RFC 8417 §2.2); null for scheduled transitions and policy applies */
  changeId: number | null;
  at: Date;
  /** attribute names the HR change touched (change_record.changed), for prov:patch and claims */
  changed: readonly string[];
  /** the user's department after the change (token-claims-change) */
  department: string | null;
  /** the user is active after the change */
  active: boolean;
  /** the change was made by HR (a token), not by the broker's schedule or policy */
  byHr: boolean;
}

/** One event of one SET, before it is addressed to a stream. */
export interface EventDraft { type: string; subject: SubjectId; event: Record<string, unknown>; leaver: boolean }

/**
 * The user's subject: every identifier the broker knows for them (RFC 9493 §3.2.1 aliases when there are
 * several): iss_sub with the broker as issuer and the SCIM id as sub, the email, HR's externalId (opaque).
 */
export function userSubject(s: SubjectFacts, iss: string): SubjectId {
  const ids: SubjectId[] = [{ format: "iss_sub", iss, sub: s.userId }];
  if (s.email) ids.push({ format: "email", email: s.email });
  if (s.externalId) ids.push({ format: "opaque", id: s.externalId });
  return ids.length === 1 ? ids[0]! : { format: "aliases", identifiers: ids };
}

/** RFC 9967 §2.1's subject of a SCIM provisioning event: the resource's relative URI. */
export const scimSubject = (userId: string): SubjectId => ({ format: "scim", uri: `/Users/${userId}` });

/** CAEP 1.0 §2 common claims from the cause: who initiated it and why (in the admin's words). */
export function caepCommon(c: CauseFacts): Record<string, unknown> {
  return {
    event_timestamp: Math.floor(c.at.getTime() / 1000),
    initiating_entity: c.byHr ? "admin" : "policy",
    reason_admin: { en: reasonText(c) },
  };
}

function reasonText(c: CauseFacts): string {
  if (c.deleted) return "The user was deleted by the HR source.";
  if (c.leaver) return c.cause === "guard-release" ? "Leaver released after review." : c.byHr ? "Leaver: the HR source ended the employment." : "Leaver: the end date was reached.";
  if (c.cause === "mover") return "Mover: the user's department or groups changed.";
  return `Lifecycle change: ${c.cause}.`;
}

/** The events of a user change, for a stream issued by `iss` (claims changes come separately: claimsChange). */
export function userChangeEvents(s: SubjectFacts, c: CauseFacts, iss: string): EventDraft[] {
  const subject = userSubject(s, iss);
  const scim = scimSubject(s.userId);
  const out: EventDraft[] = [];
  if (c.deleted) {
    // CAEP 1.0 §3.1 and RISC 1.0 §2.3: the sessions go, and the account is gone for good.
    out.push({ type: EVENT.sessionRevoked, subject, event: caepCommon(c), leaver: true });
    out.push({ type: EVENT.accountPurged, subject, event: {}, leaver: true });
    out.push({ type: EVENT.provDelete, subject: scim, event: {}, leaver: true });
    return out;
  }
  if (c.leaver) {
    // The leaver transition (not every later update of a leaver): CAEP §3.1, RISC §2.2, RFC 9967 §2.4.
    if (c.cause !== "leaver" && c.cause !== "guard-release") return out;
    out.push({ type: EVENT.sessionRevoked, subject, event: caepCommon(c), leaver: true });
    out.push({ type: EVENT.accountDisabled, subject, event: {}, leaver: true });
    out.push({ type: EVENT.provDeactivate, subject: scim, event: {}, leaver: true });
    return out;
  }
  if (c.cause === "joiner") {
    out.push({ type: EVENT.provCreate, subject: scim, event: { attributes: [...c.changed] }, leaver: false });
    return out;
  }
  if (c.cause === "rehire" || c.cause === "return") {
    out.push({ type: EVENT.accountEnabled, subject, event: {}, leaver: false });
    out.push({ type: EVENT.provActivate, subject: scim, event: {}, leaver: false });
    return out;
  }
  if (c.changed.length) out.push({ type: EVENT.provPatch, subject: scim, event: { attributes: [...c.changed] }, leaver: false });
  if (c.cause === "mover" && c.changed.includes("department")) out.push(claimsChange(s, c, iss, { department: c.department }));
  if (c.changed.some((a) => CREDENTIAL_ATTRIBUTES.has(a)))
    out.push({ type: EVENT.credentialChange, subject, event: { ...caepCommon(c), credential_type: "password", change_type: "update" }, leaver: false });
  return out;
}

/** A credential reset HR or an admin signals through SCIM (the password attribute written). */
const CREDENTIAL_ATTRIBUTES = new Set(["password"]);

/** CAEP 1.0 §3.2 token-claims-change: the claims whose values changed, with their new values. */
export function claimsChange(s: SubjectFacts, c: Pick<CauseFacts, "at" | "byHr" | "cause" | "leaver" | "deleted">, iss: string, claims: Record<string, unknown>): EventDraft {
  return { type: EVENT.tokenClaimsChange, subject: userSubject(s, iss), event: { ...caepCommon({ ...c, changeId: null, changed: [], department: null, active: true }), claims }, leaver: false };
}

/** SSF §8.1.4: a verification event's subject is the stream itself. */
export function verificationEvent(streamId: string, state: string | undefined): EventDraft {
  return { type: EVENT.verification, subject: { format: "opaque", id: streamId }, event: state === undefined ? {} : { state }, leaver: false };
}

/**
 * The SET's claims (RFC 8417 §2.2, SSF 1.0 §4.1): sub_id at the top level, exactly one event, txn tying it
 * to the HR change record; never `sub` (SSF §4.1.2) nor `exp` (RFC 8417 §2.2: a SET does not expire).
 * iss, aud and iat are the stream's and the signer's.
 */
export function setClaims(d: EventDraft, jti: string, txn: string | null, iss: string, aud: readonly string[], iat: Date): Record<string, unknown> {
  return {
    iss, jti, iat: Math.floor(iat.getTime() / 1000), ...(aud.length ? { aud: aud.length === 1 ? aud[0] : [...aud] } : {}),
    ...(txn ? { txn } : {}), sub_id: d.subject, events: { [d.type]: d.event },
  };
}

/** Keys a subject matches in a stream's added/removed subjects (SSF §8.1.3): one per simple identifier. */
export function subjectKeys(subject: SubjectId): string[] {
  if (subject.format === "aliases" && Array.isArray(subject.identifiers)) return (subject.identifiers as SubjectId[]).flatMap(subjectKeys);
  switch (subject.format) {
    case "email": return typeof subject.email === "string" ? [`email:${subject.email.toLowerCase()}`] : [];
    case "opaque": return typeof subject.id === "string" ? [`opaque:${subject.id}`] : [];
    case "iss_sub": return typeof subject.iss === "string" && typeof subject.sub === "string" ? [`iss_sub:${subject.iss}|${subject.sub}`] : [];
    case "scim": return typeof subject.uri === "string" ? [`scim:${subject.uri}`] : [];
    default: return [];
  }
}

/** The keys of every identifier of a user (a stream's subject filter matches any). */
export function userKeys(s: SubjectFacts, iss: string): string[] {
  return [...subjectKeys(userSubject(s, iss)), `opaque:${s.userId}`, ...subjectKeys(scimSubject(s.userId))];
}

/**
 * A stream's subject filter (SSF §8.1.3, default_subjects ALL): a removed subject gets nothing; every other
 * subject gets events.
 */
export function subjectWanted(keys: readonly string[], excluded: ReadonlySet<string>): boolean {
  return !keys.some((k) => excluded.has(k));
}
