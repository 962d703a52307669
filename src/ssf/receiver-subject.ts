// Which broker user a received SET is about, pure part: the RFC 9493 subject identifiers we can match, in
// the order we try them. `email` matches an email or the userName; `opaque` ids and `iss_sub` subs match the
// userName or the externalId (an IdP's id for the person is what HR/IdP writes as externalId); `aliases`
// tries each of its identifiers; an SSF 1.0 §3 complex subject is read through its `user` member.

export interface SubjectKey { by: "email" | "identifier"; value: string }

/** The subject: the SET's top-level sub_id (SSF 1.0 §3), else the event's own `subject` (CAEP/RISC drafts). */
export function subjectOf(payload: Record<string, unknown>, event: Record<string, unknown>): unknown {
  return payload.sub_id ?? event.subject ?? null;
}

export function subjectKeys(subject: unknown, depth = 0): SubjectKey[] {
  if (!subject || typeof subject !== "object" || Array.isArray(subject) || depth > 2) return [];
  const s = subject as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === "string" && v.trim() ? v.trim() : null);
  switch (s.format) {
    case "email": { const e = str(s.email); return e ? [{ by: "email", value: e }] : []; }
    case "opaque": { const id = str(s.id); return id ? [{ by: "identifier", value: id }] : []; }
    case "iss_sub": { const sub = str(s.sub); return sub ? [{ by: "identifier", value: sub }] : []; }
    case "account": { // RFC 9493 §3.2.1: acct:local@domain
      const uri = str(s.uri);
      return uri?.startsWith("acct:") ? [{ by: "email", value: uri.slice(5) }] : [];
    }
    case "aliases": return Array.isArray(s.identifiers) ? s.identifiers.flatMap((i) => subjectKeys(i, depth + 1)) : [];
    default: return s.format === undefined && s.user ? subjectKeys(s.user, depth + 1) : [];
  }
}
