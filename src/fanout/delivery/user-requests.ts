// Makes one app hold one user's desired state, over HTTP only (no database): the delivery job calls this
// between claiming the account and recording the outcome. Every step is idempotent, because a crash after
// the app applied a request but before we stored its answer replays the whole step:
//   provision, no id known   → look up by the matching attribute, link or create (user-provisioning.ts),
//                              and bring a pre-existing account to the desired attributes (owned ones it
//                              holds but HR has no value for are removed)
//   provision, id known      → update by id, removing the owned attributes HR cleared since the last
//                              delivery (owned-attributes.ts); 404 (the account vanished) → re-create or
//                              report (onMissing)
//   deprovision              → disable (PATCH active=false, or a full PUT for PUT-only apps) or delete;
//                              an account that is already gone is the desired state
// Never creates an account just to deprovision it.
//
// Apps that answer an unknown id with 500 instead of 404 (docs/scim-clients.md "Downstream apps") would make a
// deleted account look like an outage and retry forever: after a 5xx on a request addressed by id we look
// the account up by its matching attribute; if that list request works and does not return the id, the
// account is missing, not the app.
import type { AppConfig } from "../../domain/app-config.ts";
import { AppHttpError } from "../client/app-http-error.ts";
import type { DesiredUser } from "./desired-state.ts";
import { parsePath, resolvePath } from "../../domain/mapping-expression.ts";
import type { ScimClient, ScimResource } from "../client/scim-client.ts";
import { findExistingUser, linkOrCreateUser, type MatchOptions } from "../client/user-provisioning.ts";
import { attributePaths, clearedButHeld, removedPaths } from "../client/owned-attributes.ts";

export type DeliveryOutcome =
  | "created" | "matched" | "linked-after-conflict" | "updated" | "recreated" | "disabled" | "deleted" | "absent";

export interface DeliveryResult {
  /** The app's id for the account; null when it does not exist (deleted, or never created). */
  remoteId: string | null;
  outcome: DeliveryOutcome;
  /** Provisioned: the attribute paths the app now holds from us (app_account.delivered_attrs). */
  attrs?: string[];
}

type AppSettings = Pick<AppConfig, "matchAttribute" | "onMissing"> & Partial<Pick<AppConfig, "matchScanMax">>;
const matchOf = (config: AppSettings): MatchOptions => ({ matchAttribute: config.matchAttribute, scanMax: config.matchScanMax ?? 0 });

export async function deliverUser(
  client: ScimClient,
  config: AppSettings,
  remoteId: string | null,
  desired: DesiredUser,
  fallbackUserName: string,
  signal?: AbortSignal,
  /** Attribute paths delivered last time (null: unknown, e.g. before the broker recorded them). */
  previousAttrs: readonly string[] | null = null,
): Promise<DeliveryResult> {
  if (desired.kind === "provision") {
    const result = await provision(client, config, remoteId, desired.resource, previousAttrs, signal);
    return { ...result, attrs: attributePaths(desired.resource) };
  }
  // A deleted user has no resource left; its stored userName still finds an account we never linked.
  const lookup = desired.resource ?? { userName: fallbackUserName };
  // Never linked: look as far as a 409 would (case variants, externalId, emails, a small app read whole), so
  // a leaver's account whose userName differs in case on a case-exact app is found and disabled.
  const id = remoteId ?? (await findId(client, config.matchAttribute, lookup, signal)) ?? (await findExistingUser(client, lookup, matchOf(config), signal))?.id ?? null;
  if (id === null) return { remoteId: null, outcome: "absent" };
  try {
    if (desired.mode === "delete") {
      await client.deleteUser(id, signal);
      return { remoteId: null, outcome: "deleted" };
    }
    if (!client.dialect.patch && desired.resource) await client.replaceUser(id, desired.resource, signal);
    else await client.disableUser(id, undefined, signal);
    return { remoteId: id, outcome: "disabled" };
  } catch (e) {
    if (await isMissing(e, client, config.matchAttribute, lookup, id, signal)) {
      // Gone from the app: nothing is active there. Re-check by attribute in case it was re-created by hand.
      const other = remoteId ? await findId(client, config.matchAttribute, lookup, signal) : null;
      if (other === null || other === id) return { remoteId: null, outcome: "absent" };
      return deliverUser(client, config, other, desired, fallbackUserName, signal, previousAttrs);
    }
    throw e;
  }
}

async function provision(client: ScimClient, config: AppSettings, remoteId: string | null, resource: ScimResource, previousAttrs: readonly string[] | null, signal?: AbortSignal): Promise<DeliveryResult> {
  if (remoteId === null) {
    const linked = await linkOrCreateUser(client, resource, matchOf(config), signal);
    // An account found by matching (made by hand, by a previous IdP, or by us before a crash) may be
    // disabled or stale: the desired attributes are pushed to it once, and the owned ones it holds that
    // HR has no value for are removed (we read them in the lookup).
    if (linked.outcome !== "created") await client.updateUser(linked.id, resource, signal, clearedButHeld(resource, linked.resource, client.ownedPaths));
    return { remoteId: linked.id, outcome: linked.outcome };
  }
  try {
    await client.updateUser(remoteId, resource, signal, removedPaths(previousAttrs, resource));
    return { remoteId, outcome: "updated" };
  } catch (e) {
    if (!(await isMissing(e, client, config.matchAttribute, resource, remoteId, signal))) throw e;
    if (config.onMissing === "report") throw asNotFound(e, client.app);
    const linked = await linkOrCreateUser(client, resource, matchOf(config), signal);
    if (linked.outcome !== "created") await client.updateUser(linked.id, resource, signal, clearedButHeld(resource, linked.resource, client.ownedPaths));
    return { remoteId: linked.id, outcome: "recreated" };
  }
}

/** 404, or a 5xx on an id the app's own list does not know (see header). */
async function isMissing(e: unknown, client: ScimClient, attribute: string, resource: ScimResource, id: string, signal?: AbortSignal): Promise<boolean> {
  if (!(e instanceof AppHttpError)) return false;
  if (e.notFound) return true;
  if (e.status === undefined || e.status < 500 || e.status === 503) return false;
  try {
    const found = await findId(client, attribute, resource, signal);
    return found !== id;
  } catch {
    return false; // the list fails too: a real outage
  }
}

async function findId(client: ScimClient, attribute: string, resource: ScimResource, signal?: AbortSignal): Promise<string | null> {
  for (const attr of new Set([attribute, "userName"])) {
    const value = resolvePath(resource, parsePath(attr));
    if (typeof value !== "string" || value === "") continue;
    const found = await client.findUserBy(attr, value, signal);
    if (found) return found.id;
  }
  return null;
}

function asNotFound(e: unknown, app: string): AppHttpError {
  if (e instanceof AppHttpError && e.notFound) return e;
  const err = e as AppHttpError;
  return new AppHttpError({ app, method: err.method ?? "PATCH", path: err.path ?? "/Users", code: "FANOUT_NOT_FOUND", status: 404, detail: "account missing in the app (onMissing: report)" });
}
