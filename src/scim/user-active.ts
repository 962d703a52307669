// What `active` is after a write, when the client did not assign it. Pure: the user service passes the
// stored user and the validated resource; the lifecycle layer then classifies the result (a rehire is a
// leaver whose status becomes active), so every re-activation starts here.
//
// RFC 7644 §3.5.1 lets a service provider give attributes a PUT omits a default, and §3.5.2.2 makes a
// PATCH `remove` leave an attribute unassigned — neither says "true". For a broker whose main duty is
// deprovisioning, turning a disabled leaver back on is a security decision, so it never follows from an
// absence. The rules (README, "active and re-activation"):
//   - create: an unassigned `active` is true (a new identity is enabled unless HR says otherwise);
//   - update: an unassigned `active` keeps the stored value — except when the same write changes the HR
//     employmentStatus to "active" from anything else, which is HR's explicit decision to (re-)activate;
//   - an explicit `active` (true or false) is always taken as sent.
// What Entra and Okta send for `active`: docs/scim-clients.md.

export interface ActiveBefore { active: boolean; employmentStatus: string | null }

const isActiveStatus = (v: unknown) => typeof v === "string" && v.trim().toLowerCase() === "active";

/**
 * @param before the stored user (null on create)
 * @param assigned the `active` the client assigned in this write, or undefined (omitted, null, removed)
 * @param employmentStatus the HR employmentStatus after the write
 */
export function resolveActive(before: ActiveBefore | null, assigned: boolean | undefined, employmentStatus: unknown): boolean {
  if (assigned !== undefined) return assigned;
  if (!before) return true;
  if (isActiveStatus(employmentStatus) && !isActiveStatus(before.employmentStatus)) return true;
  return before.active;
}
