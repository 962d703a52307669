// Source authority, pure: which source may change which user attribute. broker.yaml
// `sources:` names each writer (a token's --source) and the attributes it owns:
//
//   sources:
//     - name: workday
//       owns: [department, employmentStatus, active, manager, startDate, endDate]
//     - name: entra
//       owns: [title, phoneNumbers, emails]
//
// The rule, checked on the whole resource before anything is stored (the user service calls it inside the
// write's transaction, so a refusal leaves nothing behind — no partial write):
//   - a write that CHANGES an attribute another source owns is refused: 400 with scimType "mutability"
//     (RFC 7644 §3.12: "the attempted modification is not compatible with the target attribute's
//     mutability or current state"), naming every such attribute and its owner. A token without a source
//     owns nothing. Bulk operations (§3.7) are refused one by one, like any other failing operation;
//   - sending an owned attribute with the value it already has is not a change, so a PUT that repeats
//     another source's values is accepted;
//   - a PUT that OMITS an attribute another source owns keeps the stored value: RFC 7644 §3.5.1 lets a
//     service provider treat omitted attributes as not asserted by the client, and a writer that does not
//     own an attribute cannot assert it — clearing it would be a change it may not make. (A PATCH `remove`
//     is an explicit change, and is refused.);
//   - attributes no source owns may be written by anyone.
import { isDeepStrictEqual } from "node:util";
import { AttributePathError, expandAliases, rootAttribute } from "../scim/attribute-catalog.ts";
import { declareSchemas } from "../scim/schemas.ts";
import { badRequest } from "../shared/errors.ts";

type Resource = Record<string, any>;

/** One owned attribute: as written in broker.yaml, where it lives in a User resource, and who owns it. */
export interface OwnedAttribute {
  /** as written under `owns` (e.g. `department`) */
  readonly name: string;
  /** canonical path (e.g. `urn:…:enterprise:2.0:User:department`) */
  readonly path: string;
  /** keys from the resource root: [name] for core, [extension URN, name] for extensions */
  readonly segments: readonly string[];
  readonly dateTime: boolean;
  readonly owner: string;
}

export interface SourceConfig {
  readonly name: string;
  readonly owner?: string;
  /** as written */
  readonly owns: readonly string[];
}

/** Resolves a name under `owns` to a writable top-level User attribute; throws AttributePathError. */
export function resolveOwnedAttribute(name: string): Omit<OwnedAttribute, "owner"> {
  declareSchemas();
  const expanded = expandAliases({ op: "attr", path: name, cmp: "pr" });
  const key = expanded.op === "attr" ? expanded.path : name;
  if (key.slice(key.lastIndexOf(":") + 1).includes("."))
    throw new AttributePathError(`'${name}' is a sub-attribute; a source owns whole attributes (e.g. '${name.slice(0, name.lastIndexOf("."))}')`);
  let ref;
  try { ref = rootAttribute("User", key); } catch (e) {
    if (e instanceof AttributePathError) throw new AttributePathError(`unknown User attribute '${name}'`);
    throw e;
  }
  const mutability = ref.attribute.config.mutable as unknown;
  if (mutability === false || mutability === "readOnly" || ["id", "meta", "groups"].includes(ref.path))
    throw new AttributePathError(`'${name}' is read-only; no source writes it`);
  return { name, path: ref.path, segments: ref.segments, dateTime: ref.kind === "dateTime" };
}

/** Owned attributes of the policy's sources (the loader has checked names, resolution and uniqueness). */
export function ownedAttributes(sources: readonly SourceConfig[]): OwnedAttribute[] {
  return sources.flatMap((s) => s.owns.map((name) => ({ ...resolveOwnedAttribute(name), owner: s.name })));
}

const valueAt = (r: Resource | null, a: Pick<OwnedAttribute, "segments">): unknown => {
  let v: unknown = r;
  for (const s of a.segments) v = v && typeof v === "object" ? (v as Resource)[s] : undefined;
  return v;
};

const absent = (v: unknown) => v === undefined || v === null || v === "" || (Array.isArray(v) && v.length === 0);

/** Same value for the rule: both absent, equal instants for dateTime, otherwise deep equality (multi-valued in any order). */
function sameValue(a: OwnedAttribute, x: unknown, y: unknown): boolean {
  if (absent(x) || absent(y)) return absent(x) && absent(y);
  if (a.dateTime && typeof x === "string" && typeof y === "string") return Date.parse(x) === Date.parse(y);
  if (Array.isArray(x) && Array.isArray(y)) {
    const key = (v: unknown) => JSON.stringify(v, Object.keys(v && typeof v === "object" ? v : {}).sort());
    return x.length === y.length && isDeepStrictEqual(x.map(key).sort(), y.map(key).sort());
  }
  return isDeepStrictEqual(x, y);
}

export interface Refusal { attribute: string; owner: string }

// What a create starts from: `active` is true unless the client says otherwise (user-active.ts), so that
// default is not the writer's change.
const CREATED: Resource = { active: true };

/** The owned attributes this write would change while its writer does not own them (before null: a create). */
export function refusedChanges(owned: readonly OwnedAttribute[], writer: string | null, before: Resource | null, after: Resource): Refusal[] {
  return owned
    .filter((a) => a.owner !== writer && !sameValue(a, valueAt(before ?? CREATED, a), valueAt(after, a)))
    .map((a) => ({ attribute: a.name, owner: a.owner }));
}

/**
 * A PUT's resource completed with the stored values of attributes another source owns that the PUT omits
 * (not asserted, RFC 7644 §3.5.1). Returns a new resource; the input is not changed.
 */
export function keepUnasserted(owned: readonly OwnedAttribute[], writer: string | null, before: Resource, after: Resource): Resource {
  let out = after;
  for (const a of owned) {
    if (a.owner === writer || !absent(valueAt(after, a))) continue;
    const stored = valueAt(before, a);
    if (absent(stored)) continue;
    if (out === after) out = structuredClone(after);
    if (a.segments.length === 1) out[a.segments[0]!] = structuredClone(stored);
    else {
      const [urn, name] = a.segments as [string, string];
      out[urn] = { ...(out[urn] ?? {}), [name]: structuredClone(stored) };
      if (Array.isArray(out.schemas) && !out.schemas.includes(urn)) out.schemas = [...out.schemas, urn];
    }
  }
  return out;
}

export type UserWriteKind = "create" | "replace" | "patch";

/**
 * The source-authority step of a user write: the resource to store, or a 400 mutability error naming every
 * attribute the writer may not change. `before` is the stored resource (null on create).
 */
export function authoriseUserWrite(owned: readonly OwnedAttribute[], w: { operation: UserWriteKind; writer: string | null; before: Resource | null; resource: Resource }): Resource {
  if (!owned.length) return w.resource;
  const resource = w.operation === "replace" && w.before ? keepUnasserted(owned, w.writer, w.before, w.resource) : w.resource;
  const refused = refusedChanges(owned, w.writer, w.before, resource);
  if (refused.length) {
    const who = w.writer === null ? "a token without a source" : `source '${w.writer}'`;
    const list = refused.map((r) => `'${r.attribute}' (owned by source '${r.owner}')`).join(", ");
    throw badRequest("mutability", `${who} may not change ${list}; nothing of this write was stored (broker.yaml sources)`);
  }
  return resource;
}
