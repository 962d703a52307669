// Row shapes of the tables the repositories read and write (scim_user, scim_group): the store's own
// vocabulary, which the SCIM layer maps to and from resources (scim/user-resource.ts, scim/group-resource.ts).
/* eslint-disable @typescript-eslint/no-explicit-any -- `data` holds a SCIM resource as stored (jsonb) */

/** Columns of scim_user derived from a validated resource. */
export interface UserColumns {
  userName: string; userNameKey: string; externalId: string | null; active: boolean; displayName: string | null;
  userType: string | null; title: string | null; department: string | null; costCenter: string | null;
  division: string | null; organization: string | null; employeeNumber: string | null; managerId: string | null;
  employmentStatus: string | null; startDate: Date | null; endDate: Date | null; location: string | null;
  sponsorId: string | null; data: Record<string, any>;
  /** identifierKey of each emails[].value, aligned with data.emails (null where a value is missing). */
  emailKeys?: Array<string | null>;
}

export interface UserRow extends UserColumns {
  id: string; seq: number; source: string | null; version: number; createdAt: Date; updatedAt: Date;
}


export interface GroupRow {
  id: string; seq: number; displayName: string; displayNameKey: string; externalId: string | null;
  data: Record<string, any>; managed: boolean; version: number; createdAt: Date; updatedAt: Date;
}
export interface MemberRef { value: string; display: string }
