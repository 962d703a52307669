import type { UserRow } from "../store/rows.ts";
// What a user change "is" for the layers after us: the attributes that matter to rules and lifecycle
// (HR attributes, status, identity), their before/after values, and which of them changed.

export interface UserAttributes {
  id: string; userName: string; externalId: string | null; active: boolean; displayName: string | null;
  userType: string | null; title: string | null; department: string | null; costCenter: string | null;
  division: string | null; organization: string | null; employeeNumber: string | null; managerId: string | null;
  sponsorId: string | null; location: string | null; employmentStatus: string | null;
  startDate: string | null; endDate: string | null;
}

export function snapshotOf(u: UserRow): UserAttributes {
  return {
    id: u.id, userName: u.userName, externalId: u.externalId, active: u.active, displayName: u.displayName,
    userType: u.userType, title: u.title, department: u.department, costCenter: u.costCenter, division: u.division,
    organization: u.organization, employeeNumber: u.employeeNumber, managerId: u.managerId, sponsorId: u.sponsorId,
    location: u.location, employmentStatus: u.employmentStatus,
    startDate: u.startDate ? u.startDate.toISOString() : null, endDate: u.endDate ? u.endDate.toISOString() : null,
  };
}

/** Names of changed attributes: snapshot fields plus any other top-level SCIM attribute of `data`. */
export function changedAttributes(before: UserRow | null, after: UserRow | null): string[] {
  const a = before ? snapshotOf(before) : ({} as Partial<UserAttributes>);
  const b = after ? snapshotOf(after) : ({} as Partial<UserAttributes>);
  const out = new Set<string>();
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof UserAttributes>) if (a[k] !== b[k]) out.add(k);
  const da = before?.data ?? {}, db = after?.data ?? {};
  for (const k of new Set([...Object.keys(da), ...Object.keys(db)])) {
    if (k.startsWith("urn:") || k === "schemas" || k === "active" || k === "userName") continue;
    if (JSON.stringify(da[k]) !== JSON.stringify(db[k])) out.add(k);
  }
  out.delete("id");
  return [...out].sort();
}
