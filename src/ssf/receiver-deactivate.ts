// The leaver action of a received SET, as a SCIM write: PATCH active=false (RFC 7644 §3.5.2) through the
// user service, so source authority, the lifecycle hooks (leaver, guard, fan-out, our own SETs) and the
// change record run exactly as for HR's write. The change record's source is "ssf".
import { PATCH_OP } from "../scim/schemas.ts";
import type { WriteContext } from "../scim/write-context.ts";
import type { Deactivate } from "./receiver-apply.ts";

export interface UserPatcher { patch(id: string, body: Record<string, unknown>, ctx: WriteContext): Promise<unknown> }

export function deactivateWith(users: UserPatcher): Deactivate {
  return async (userId, ctx) => {
    await users.patch(userId, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "active", value: false }] }, ctx);
  };
}
