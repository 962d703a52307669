// Use-case helpers a delivery job calls: they tell the matching story of the fan-out issue in one place.
//   linkOrCreateUser: look the account up by the app's matching attribute before creating (apps often have
//     accounts made by hand or by a previous IdP); a 409 on create (RFC 7644 §3.3 "uniqueness") means it
//     exists after all (a concurrent create, or a timed-out earlier attempt that did succeed), so look it
//     up again and link to it.
//   pushUserUpdate: update by the stored app id; a 404 (the account was deleted in the app) re-creates or
//     is reported, per the app's onMissing.
// Both return the app's own id for the caller to store.
import type { AppConfig } from "./app-config.ts";
import { AppHttpError } from "./app-http-error.ts";
import { parsePath, resolvePath } from "./mapping-expression.ts";
import type { ScimClient, ScimResource, ScimResourceWithId } from "./scim-client.ts";

export type LinkOutcome = "created" | "matched" | "linked-after-conflict";
export interface LinkResult {
  id: string;
  outcome: LinkOutcome;
  resource: ScimResourceWithId;
}

export async function linkOrCreateUser(
  client: ScimClient,
  resource: ScimResource,
  matchAttribute: string,
  signal?: AbortSignal,
): Promise<LinkResult> {
  const lookup = () => findByAttributes(client, resource, [matchAttribute, "userName"], signal);
  const existing = await findByAttributes(client, resource, [matchAttribute], signal);
  if (existing) return { id: existing.id, outcome: "matched", resource: existing };
  try {
    const created = await client.createUser(resource, signal);
    return { id: created.id, outcome: "created", resource: created };
  } catch (e) {
    if (!(e instanceof AppHttpError) || e.code !== "FANOUT_CONFLICT") throw e;
    // The conflicting attribute is usually userName (uniqueness "server", RFC 7643 §4.1.1) even when the
    // app matches on something else, so try both before giving up with the original 409.
    const found = await lookup();
    if (!found) throw e;
    return { id: found.id, outcome: "linked-after-conflict", resource: found };
  }
}

export interface UpdateResult {
  id: string;
  /** True when the account had vanished from the app and was created again (the new id must be stored). */
  recreated: boolean;
}

export async function pushUserUpdate(
  client: ScimClient,
  appUserId: string,
  resource: ScimResource,
  config: Pick<AppConfig, "onMissing" | "matchAttribute">,
  signal?: AbortSignal,
): Promise<UpdateResult> {
  try {
    await client.updateUser(appUserId, resource, signal);
    return { id: appUserId, recreated: false };
  } catch (e) {
    if (!(e instanceof AppHttpError) || !e.notFound || config.onMissing === "report") throw e;
    const linked = await linkOrCreateUser(client, resource, config.matchAttribute, signal);
    return { id: linked.id, recreated: true };
  }
}

async function findByAttributes(
  client: ScimClient,
  resource: ScimResource,
  attributes: string[],
  signal?: AbortSignal,
): Promise<ScimResourceWithId | null> {
  for (const attribute of new Set(attributes)) {
    const value = resolvePath(resource, parsePath(attribute));
    if (typeof value !== "string" || value === "") continue;
    const found = await client.findUserBy(attribute, value, signal);
    if (found) return found;
  }
  return null;
}
