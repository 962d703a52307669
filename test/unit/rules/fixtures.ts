// Builders shared by the rules tests: SCIM user resources with the HR attributes set where the schema keeps
// them (core, enterprise extension, broker HR extension), and policies loaded from YAML text.
import { stringify } from "yaml";
import { ENTERPRISE_SCHEMA, HR_SCHEMA, USER_SCHEMA } from "../../../src/scim/schemas.ts";
import { loadPolicy, type Policy } from "../../../src/rules/policy-loader.ts";
import type { UserResource } from "../../../src/scim/user-resource.ts";

export interface UserAttrs {
  active?: boolean; userType?: string; title?: string; department?: string; costCenter?: string;
  location?: string; employmentStatus?: string; startDate?: string; endDate?: string; managerId?: string; sponsorId?: string;
}

export function user(id: string, a: UserAttrs = {}): UserResource {
  const ent: Record<string, unknown> = {};
  if (a.department !== undefined) ent.department = a.department;
  if (a.costCenter !== undefined) ent.costCenter = a.costCenter;
  if (a.managerId !== undefined) ent.manager = { value: a.managerId };
  const hr: Record<string, unknown> = {};
  for (const k of ["employmentStatus", "startDate", "endDate", "location"] as const) if (a[k] !== undefined) hr[k] = a[k];
  if (a.sponsorId !== undefined) hr.sponsor = { value: a.sponsorId };
  return {
    schemas: [USER_SCHEMA, ENTERPRISE_SCHEMA, HR_SCHEMA], id, userName: `${id}@example.com`, active: a.active ?? true,
    ...(a.userType !== undefined ? { userType: a.userType } : {}), ...(a.title !== undefined ? { title: a.title } : {}),
    [ENTERPRISE_SCHEMA]: ent, [HR_SCHEMA]: hr,
  };
}

export interface GroupSpec { name: string; when: string; privileged?: boolean; portable?: boolean; owner?: string }

export const policyOf = (groups: GroupSpec[], extra: Record<string, unknown> = {}): Policy =>
  loadPolicy(stringify({ groups, ...extra }), { file: "test.yaml" });

export const NOW = new Date("2026-03-02T09:00:00Z");
export const days = (n: number) => new Date(NOW.getTime() + n * 86_400_000);
