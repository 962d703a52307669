// User resources: validation with scimmy's schema (RFC 7643 §4.1, §4.3 and our HR extension), the
// mapping to the columns PostgreSQL indexes, and the SCIM representation served back.
import SCIMMY from "scimmy";
import { ENTERPRISE_SCHEMA, HR_SCHEMA, USER_SCHEMA, declareSchemas } from "./schemas.ts";
import { badRequest } from "../shared/errors.ts";
import { fromScimmy } from "./scimmy-errors.ts";
import { resolveActive, type ActiveBefore } from "./user-active.ts";
import { checkSchemas, checkShapes, dropReadOnly } from "./body-shape.ts";
import { assertAttributeLengths } from "./input-limits.ts";
import type { UserColumns, UserRow } from "../store/rows.ts";
import { assertUserIdentifiers, emailKeysOf, identifierKey } from "../domain/identifier.ts";

// RFC 7643 §4.1.2: x509Certificates values are binary (base64 DER), longer than any text attribute.
const BINARY_ATTRIBUTES = new Set(["x509certificates.value"]);

export type UserResource = Record<string, any>;

/**
 * Validates a (dialect-normalised) body; returns the canonical resource without id/meta/groups/password.
 * `active` stays as the client sent it (possibly unassigned): `settleActive` decides it per write.
 */
export function validateUser(body: Record<string, unknown>): UserResource {
  declareSchemas();
  checkSchemas(body, USER_SCHEMA);
  checkShapes(SCIMMY.Schemas.User.definition, body);
  let resource: UserResource;
  try {
    // The schema definition's coerce validates exactly as a SCIMMY.Schemas.User instance would, without
    // building the instance's attribute accessors: 0.12 ms instead of 0.43 ms per resource.
    resource = JSON.parse(JSON.stringify(SCIMMY.Schemas.User.definition.coerce(body, "in")));
  } catch (e) { throw fromScimmy(e); }
  delete resource.id; delete resource.meta; delete resource.groups; delete resource.password;
  dropReadOnly(SCIMMY.Schemas.User.definition, resource);
  if (typeof resource.userName !== "string" || resource.userName.trim() === "")
    throw badRequest("invalidValue", "userName is required (RFC 7643 §4.1.1)");
  assertAttributeLengths(resource, BINARY_ATTRIBUTES);
  assertUserIdentifiers(resource);
  return resource;
}

/**
 * Sets `active` on a validated resource (src/scim/user-active.ts): `assigned` is what the client assigned
 * in this write (undefined when omitted, null or removed — RFC 7644 §3.5.1, §3.5.2.2), `before` the stored
 * user (null on create). An unassigned `active` never re-enables a disabled user.
 */
export function settleActive(resource: UserResource, before: ActiveBefore | null, assigned: unknown): UserResource {
  const hr = (resource[HR_SCHEMA] ?? {}) as Record<string, unknown>;
  resource.active = resolveActive(before, typeof assigned === "boolean" ? assigned : undefined, hr.employmentStatus);
  return resource;
}

const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : null);
const date = (v: unknown) => (typeof v === "string" || v instanceof Date ? new Date(v) : null);

export function toColumns(r: UserResource): UserColumns {
  const ent = (r[ENTERPRISE_SCHEMA] ?? {}) as Record<string, any>;
  const hr = (r[HR_SCHEMA] ?? {}) as Record<string, any>;
  return {
    userName: r.userName, userNameKey: identifierKey(String(r.userName)), externalId: str(r.externalId),
    active: r.active !== false, displayName: str(r.displayName), userType: str(r.userType), title: str(r.title),
    department: str(ent.department), costCenter: str(ent.costCenter), division: str(ent.division),
    organization: str(ent.organization), employeeNumber: str(ent.employeeNumber), managerId: str(ent.manager?.value),
    employmentStatus: str(hr.employmentStatus), startDate: date(hr.startDate), endDate: date(hr.endDate),
    location: str(hr.location), sponsorId: str(hr.sponsor?.value), data: r,
    emailKeys: emailKeysOf(r.emails),
  };
}

export interface GroupRef { value: string; display: string }

/** The SCIM representation (RFC 7643 §4.1 + §3.1 meta). `groups` is read-only and derived (§4.1.2). */
export function userToScim(row: UserRow, groups: GroupRef[] | undefined, baseUrl: string): UserResource {
  const { schemas, ...rest } = row.data;
  return {
    schemas, id: row.id, ...rest,
    ...(groups ? { groups: groups.map((g) => ({ value: g.value, $ref: `${baseUrl}/Groups/${g.value}`, display: g.display, type: "direct" })) } : {}),
    meta: {
      resourceType: "User", created: row.createdAt.toISOString(), lastModified: row.updatedAt.toISOString(),
      location: `${baseUrl}/Users/${row.id}`, version: etagOf(row.version),
    },
  };
}

export const etagOf = (version: number) => `W/"${version}"`;
