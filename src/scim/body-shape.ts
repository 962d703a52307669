// Shape checks scimmy's coerce does not make before a resource body is validated (RFC 7643 §2.3, §3.3):
// given a list where an extension object belongs, or a list inside a multi-valued complex attribute,
// scimmy keeps an empty object and the client's data is silently lost. Each becomes a 400 that names the
// attribute and what was expected.
import SCIMMY from "scimmy";
import { badRequest } from "../shared/errors.ts";

type Definition = InstanceType<typeof SCIMMY.Types.SchemaDefinition>;
type AttributeLike = { name: string; type: string; config: { multiValued: boolean } };

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);
const typeName = (v: unknown) => (Array.isArray(v) ? "a list" : v === null ? "null" : typeof v === "object" ? "an object" : `a ${typeof v}`);

/** `schemas` must be a list of URN strings (RFC 7643 §3). */
export function checkSchemas(body: Record<string, unknown>, core: string): void {
  const schemas = body.schemas;
  if (!Array.isArray(schemas) || schemas.some((s) => typeof s !== "string"))
    throw badRequest("invalidValue", `schemas must be a list of schema URNs containing ${core} (RFC 7643 §3)`);
  if (!schemas.some((s) => s.toLowerCase() === core.toLowerCase())) throw badRequest("invalidValue", `schemas must contain ${core}`);
}

/** Extensions are objects; entries of multi-valued complex attributes are objects (not lists). */
export function checkShapes(def: Definition, body: Record<string, unknown>): void {
  const keys = new Map(Object.keys(body).map((k) => [k.toLowerCase(), k]));
  for (const a of def.attributes as unknown[]) {
    if (a instanceof SCIMMY.Types.SchemaDefinition) {
      const key = keys.get(a.id.toLowerCase());
      if (key !== undefined && !isObject(body[key]))
        throw badRequest("invalidValue", `'${a.id}' must be an object of that extension's attributes, not ${typeName(body[key])}`);
      if (key !== undefined) checkShapes(a, body[key] as Record<string, unknown>);
      continue;
    }
    const attr = a as AttributeLike;
    const key = keys.get(attr.name.toLowerCase());
    if (key === undefined || attr.type !== "complex" || !attr.config.multiValued || !Array.isArray(body[key])) continue;
    const bad = (body[key] as unknown[]).findIndex((v) => v !== null && !isObject(v));
    if (bad >= 0) throw badRequest("invalidValue", `'${attr.name}' must be a list of objects (e.g. [{"value": …}]); entry ${bad + 1} is ${typeName((body[key] as unknown[])[bad])}`);
  }
}

type Described = { name: string; type: string; config: { mutable: boolean | string }; subAttributes?: Described[] };
const readOnly = (a: Described) => a.config.mutable === false || a.config.mutable === "readOnly";

/**
 * RFC 7644 §3.3, §3.5.1: values a client provides for readOnly attributes "SHALL be ignored". scimmy's
 * coerce keeps them (e.g. the enterprise manager.displayName, our sponsor.displayName), so the broker
 * would store and echo what /Schemas calls read-only. Applied to a coerced resource, in place.
 */
export function dropReadOnly(def: Definition, resource: Record<string, unknown>): void {
  const keys = new Map(Object.keys(resource).map((k) => [k.toLowerCase(), k]));
  for (const a of def.attributes as unknown[]) {
    if (a instanceof SCIMMY.Types.SchemaDefinition) {
      const key = keys.get(a.id.toLowerCase());
      if (key !== undefined && isObject(resource[key])) dropReadOnly(a, resource[key] as Record<string, unknown>);
      continue;
    }
    const attr = a as Described;
    const key = keys.get(attr.name.toLowerCase());
    if (key === undefined) continue;
    if (readOnly(attr)) { delete resource[key]; continue; }
    const subs = attr.type === "complex" ? (attr.subAttributes ?? []).filter(readOnly) : [];
    if (!subs.length) continue;
    for (const v of Array.isArray(resource[key]) ? (resource[key] as unknown[]) : [resource[key]])
      if (isObject(v)) for (const s of subs) for (const k of Object.keys(v)) if (k.toLowerCase() === s.name.toLowerCase()) delete v[k];
  }
}
