// Use-case helpers a delivery job calls: they tell the matching story of the fan-out in one place.
//   linkOrCreateUser: look the account up by the app's matching attribute before creating (apps often have
//     accounts made by hand or by a previous IdP); a 409 on create (RFC 7644 §3.3 "uniqueness") means it
//     exists after all (a concurrent create, a timed-out earlier attempt that did succeed, or an account
//     whose userName differs in letter case on an app whose filter is case-exact), so look further
//     (findExistingUser) and link to it.
//   pushUserUpdate: update by the stored app id; a 404 (the account was deleted in the app) re-creates or
//     is reported, per the app's onMissing.
// Both return the app's own id for the caller to store.
import type { AppConfig } from "../../domain/app-config.ts";
import { AppHttpError } from "./app-http-error.ts";
import { getCI, parsePath, resolvePath } from "../../domain/mapping-expression.ts";
import type { ScimClient, ScimResource, ScimResourceWithId } from "./scim-client.ts";

export type LinkOutcome = "created" | "matched" | "linked-after-conflict";
export interface LinkResult {
  id: string;
  outcome: LinkOutcome;
  resource: ScimResourceWithId;
}

/** How far a lookup may go; `scanMax`: an app with at most this many users may be read whole (0: never). */
export interface MatchOptions { matchAttribute: string; scanMax: number }

export async function linkOrCreateUser(
  client: ScimClient,
  resource: ScimResource,
  match: string | MatchOptions,
  signal?: AbortSignal,
): Promise<LinkResult> {
  const opts = typeof match === "string" ? { matchAttribute: match, scanMax: 0 } : match;
  const existing = await findByAttributes(client, resource, [opts.matchAttribute], signal);
  if (existing) return { id: existing.id, outcome: "matched", resource: existing };
  try {
    const created = await client.createUser(resource, signal);
    return { id: created.id, outcome: "created", resource: created };
  } catch (e) {
    if (!(e instanceof AppHttpError) || e.code !== "FANOUT_CONFLICT") throw e;
    const found = await findExistingUser(client, resource, opts, signal);
    if (!found) throw e;
    return { id: found.id, outcome: "linked-after-conflict", resource: found };
  }
}

/**
 * An account the app has for this user, looked for further than one `eq` filter — each step bounded, the
 * cheap ones first:
 *   1. the matching attribute and userName, as sent and in other letter cases (RFC 7643 §4.1.1 makes
 *      userName caseExact=false, but some apps compare exactly, e.g. scimmy's Filter.match);
 *   2. externalId = the broker's user id (an account we created before a crash, RFC 7643 §3.1);
 *   3. each email value (`emails[value eq …]`; apps that cannot filter on it are skipped);
 *   4. a paged read of the whole app, compared case-insensitively, when it holds at most `scanMax` users.
 * A step the app refuses (400, 501) is skipped; an outage still fails the delivery (retried later).
 */
export async function findExistingUser(client: ScimClient, resource: ScimResource, opts: MatchOptions, signal?: AbortSignal): Promise<ScimResourceWithId | null> {
  const attrs = [...new Set([opts.matchAttribute, "userName"])];
  for (const attribute of attrs) {
    const value = resolvePath(resource, parsePath(attribute));
    if (typeof value !== "string" || value === "") continue;
    for (const variant of new Set([value, value.toLowerCase(), value.toUpperCase()])) {
      const found = await tolerant(() => client.findUserBy(attribute, variant, signal));
      if (found) return found;
    }
  }
  const externalId = getCI(resource, "externalId");
  if (typeof externalId === "string" && externalId !== "") {
    const found = await tolerant(() => client.findUserBy("externalId", externalId, signal));
    if (found) return found;
  }
  const emails = emailValues(resource);
  for (const email of emails) {
    const page = await tolerant(() => client.listUsers(1, 2, `emails[value eq ${JSON.stringify(email)}]`, signal));
    const hits = (page?.resources ?? []).filter((r) => emailValues(r).includes(email));
    if (hits.length === 1) return hits[0]!;
  }
  if (opts.scanMax <= 0) return null;
  const size = await tolerant(() => client.listUsers(1, 1, undefined, signal));
  if (!size || size.totalResults === null || size.totalResults > opts.scanMax) return null;
  const wanted = new Map<string, string>();
  for (const attribute of attrs) {
    const value = resolvePath(resource, parsePath(attribute));
    if (typeof value === "string" && value !== "") wanted.set(attribute, value.toLowerCase());
  }
  const hits: ScimResourceWithId[] = [];
  for await (const r of client.iterateUsers({ pageSize: 100, signal })) {
    const same = [...wanted].some(([attribute, v]) => String(resolvePath(r, parsePath(attribute)) ?? "").toLowerCase() === v)
      || emailValues(r).some((e) => emails.includes(e));
    if (same) hits.push(r);
  }
  if (hits.length > 1)
    throw new AppHttpError({ app: client.app, method: "GET", path: "/Users", code: "FANOUT_AMBIGUOUS_MATCH", detail: `${hits.length} accounts match this user` });
  return hits[0] ?? null;
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

/** A lookup the app may not support (400 invalidFilter, 501): null instead of failing the delivery. */
async function tolerant<T>(lookup: () => Promise<T>): Promise<T | null> {
  try {
    return await lookup();
  } catch (e) {
    if (e instanceof AppHttpError && (e.code === "FANOUT_REJECTED" || e.code === "FANOUT_NOT_IMPLEMENTED")) return null;
    throw e;
  }
}

/** Lower-cased email values of a resource (RFC 7643 §4.1.2 emails[].value). */
function emailValues(resource: ScimResource): string[] {
  const list = getCI(resource, "emails");
  return Array.isArray(list) ? list.map((e) => getCI(e, "value")).filter((v): v is string => typeof v === "string" && v !== "").map((v) => v.toLowerCase()) : [];
}
