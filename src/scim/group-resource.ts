// Group resources (RFC 7643 §4.2): attributes validated by scimmy without `members`, which live as rows
// in group_member and change as deltas.
import SCIMMY from "scimmy";
import { GROUP_SCHEMA } from "./schemas.ts";
import { badRequest } from "../shared/errors.ts";
import { fromScimmy } from "./scimmy-errors.ts";
import { assertAttributeLengths } from "./input-limits.ts";
import type { GroupRow, MemberRef } from "../store/rows.ts";
import { assertGroupIdentifiers } from "../domain/identifier.ts";
import { isUuid } from "../store/user-repository.ts";
import { etagOf } from "./user-resource.ts";
import { checkSchemas } from "./body-shape.ts";


/** Validates a Group body; returns its attributes (without members) and the member ids it lists. */
/** Lengths (input-limits.ts) and identifier rules (identifier.ts) of a validated Group. */
export function assertGroupInput(data: Record<string, unknown>): void {
  assertAttributeLengths(data);
  assertGroupIdentifiers(data);
}

export function validateGroup(body: Record<string, unknown>): { data: Record<string, any>; memberIds: string[] | undefined } {
  checkSchemas(body, GROUP_SCHEMA);
  const membersKey = Object.keys(body).find((k) => k.toLowerCase() === "members");
  const members = membersKey ? body[membersKey] : undefined;
  const rest = { ...body };
  if (membersKey) delete rest[membersKey];
  // Entra lists an extra Microsoft schema URN on groups; it carries no attributes we store.
  rest.schemas = [GROUP_SCHEMA];
  let data: Record<string, any>;
  try { data = JSON.parse(JSON.stringify(SCIMMY.Schemas.Group.definition.coerce(rest, "in"))); } catch (e) { throw fromScimmy(e); }
  delete data.id; delete data.meta; delete data.members;
  if (typeof data.displayName !== "string" || data.displayName.trim() === "") throw badRequest("invalidValue", "displayName is required (RFC 7643 §4.2)");
  assertGroupInput(data);
  return { data, memberIds: members === undefined ? undefined : memberIdsOf(members) };
}

/** The user ids of a members value ([{value, display?, type?}]); nested groups are not supported. */
export function memberIdsOf(members: unknown): string[] {
  const list = members === null ? [] : Array.isArray(members) ? members : [members];
  const ids = list.map((m) => {
    if (!m || typeof m !== "object") throw badRequest("invalidValue", "each member must be an object with a value");
    const entry = Object.fromEntries(Object.entries(m).map(([k, v]) => [k.toLowerCase(), v]));
    if (typeof entry.type === "string" && entry.type.toLowerCase() === "group") throw badRequest("invalidValue", "nested groups are not supported: members must be Users");
    const v = entry.value;
    if (typeof v !== "string") throw badRequest("invalidValue", "each member needs a value: the id of a User, as a string");
    if (!isUuid(v)) throw badRequest("invalidValue", `member value '${v.slice(0, 100)}' is not a User id`);
    return v.toLowerCase();
  });
  return [...new Set(ids)];
}

export function groupToScim(row: GroupRow, members: MemberRef[] | undefined, baseUrl: string): Record<string, any> {
  const { schemas, ...rest } = row.data;
  return {
    schemas: schemas ?? [GROUP_SCHEMA], id: row.id, ...rest, displayName: row.displayName,
    ...(members ? { members: members.map((m) => ({ value: m.value, $ref: `${baseUrl}/Users/${m.value}`, display: m.display, type: "User" })) } : {}),
    meta: {
      resourceType: "Group", created: row.createdAt.toISOString(), lastModified: row.updatedAt.toISOString(),
      location: `${baseUrl}/Groups/${row.id}`, version: etagOf(row.version),
    },
  };
}
