// Pure: which attributes the broker owns in an app, and which of them HR has cleared.
//
// The broker owns the targets of the app's mapping (domain/app-mapping.ts: the defaults plus the app's overrides). A
// path-less PATCH `replace` only sets what it carries (RFC 7644 §3.5.2.3: attributes not in `value` are
// left unchanged), so an attribute HR cleared must be removed explicitly (`remove`, §3.5.2.2). Removals
// are computed against what was last delivered (app_account.delivered_attrs), never against everything the
// mapping could produce: an app whose schema lacks an attribute we never sent would refuse a `remove` of
// it (scimmy answers 400 invalidPath), and an attribute we never sent is not ours to clear.
//
// Granularity is the attribute path an app can remove (RFC 7644 §3.10 notation): a top-level attribute
// (`title`, `emails`), a sub-attribute of a singular complex one (`name.givenName`), or an extension's
// attribute (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter`). Multi-valued
// attributes are replaced whole by the `replace`, so they only need a `remove` when they are gone entirely.
import type { ScimResource } from "../../domain/app-mapping.ts";
import { parsePath } from "../../domain/mapping-expression.ts";

/** Never removed or compared: identity, metadata, and `active` (deprovisioning's own business). */
const NOT_OWNED = new Set(["schemas", "id", "meta", "groups", "password", "active", "externalid"]);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const present = (v: unknown) => v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0) && !(isObject(v) && Object.keys(v).length === 0);

/** The removable attribute paths a resource holds a value for (see header). */
export function attributePaths(resource: ScimResource): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(resource)) {
    if (NOT_OWNED.has(key.toLowerCase()) || !present(value)) continue;
    if (isObject(value)) {
      const sep = /^urn:/i.test(key) ? ":" : ".";
      for (const [sub, v] of Object.entries(value)) if (present(v)) out.push(`${key}${sep}${sub}`);
    } else out.push(key);
  }
  return out.sort();
}

/** Paths delivered before that the desired resource no longer has: the `remove` operations to send. */
export function removedPaths(previous: readonly string[] | null, desired: ScimResource): string[] {
  if (!previous || previous.length === 0) return [];
  const now = new Set(attributePaths(desired).map((p) => p.toLowerCase()));
  return previous.filter((p) => !now.has(p.toLowerCase()));
}

/**
 * The owned-attribute prefixes of a mapping's targets: `title`, `name.givenName`, `emails` (a filtered
 * target such as `emails[type eq "work"].value` owns the multi-valued attribute), or a whole extension URN.
 */
export function ownedPrefixes(targets: readonly string[]): string[] {
  return targets.map((t) => {
    const { schema, steps } = parsePath(t);
    const filtered = steps.findIndex((s) => s.filter);
    const names = (filtered < 0 ? steps : steps.slice(0, filtered + 1)).map((s) => s.name).join(".");
    return (schema ? (names ? `${schema}:${names}` : schema) : names).toLowerCase();
  });
}

/**
 * Attribute paths the app holds a value for, under an owned target, that the desired resource does not
 * have: HR cleared them (or someone set them in the app behind the broker's back). Reconciliation reports
 * these as drift; a path the mapping does not own (an app's own attribute) never counts. Multi-valued
 * attributes we send are compared by value elsewhere (reconcile-diff.ts).
 */
export function clearedButHeld(desired: ScimResource, actual: ScimResource, owned: readonly string[]): string[] {
  const want = new Set(attributePaths(desired).map((p) => p.toLowerCase()));
  return attributePaths(actual).filter((path) => {
    const p = path.toLowerCase();
    if (want.has(p)) return false;
    return owned.some((o) => p === o || p.startsWith(`${o}.`) || p.startsWith(`${o}:`) || o.startsWith(`${p}.`));
  });
}
