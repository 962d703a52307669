// Accept real clients as they talk (docs/scim-clients.md) before strict validation:
//  - Entra sends booleans as "True"/"False" strings (scimmy rejects them; scimmy#86 was declined);
//  - Entra sends null for unset attributes (RFC 7644 §3.5.1: null means "unassigned");
//  - Okta's PUT echoes id/meta/groups and always carries a password (never stored, never echoed);
//  - Okta renames groups with the id inside a path-less replace value;
//  - ops arrive capitalised ("Replace").
import { userDefinition, groupDefinition } from "./schemas.ts";
import { badRequest } from "../shared/errors.ts";
import { JSON_LIMITS, PATCH_FILTER_MAX_BRANCHES, PATH_MAX_LENGTH } from "./input-limits.ts";
import { normalFormSize, parseFilter } from "./filter-parser.ts";

type Json = unknown;
type Definition = ReturnType<typeof userDefinition>;

/** Attribute type at a path of a schema definition, or undefined when unknown. */
function typeAt(def: Definition, path: string): { type: string; multiValued: boolean } | undefined {
  try { const a = def.attribute(path) as any; return { type: String(a.type), multiValued: !!a.config?.multiValued }; } catch { return undefined; }
}

const boolString = (v: unknown) => (typeof v === "string" && /^(true|false)$/i.test(v) ? v.toLowerCase() === "true" : v);

/**
 * Converts "True"/"False" strings at boolean attributes and drops nulls, walking the schema. Bodies reach
 * it with their depth already bounded (input-limits.ts); the depth check here keeps the recursion bounded
 * for any other caller.
 */
function normaliseValue(def: Definition, path: string, value: Json, depth = 0): Json {
  if (value === null) return undefined;
  if (depth > JSON_LIMITS.maxDepth) throw badRequest("invalidSyntax", `the value of '${path}' is nested more than ${JSON_LIMITS.maxDepth} levels deep`);
  const t = typeAt(def, path);
  if (Array.isArray(value)) return value.map((v) => normaliseValue(def, path, v, depth + 1)).filter((v) => v !== undefined);
  if (t?.type === "boolean") return boolString(value);
  if (value && typeof value === "object") {
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(value)) {
      const sub = k.toLowerCase().startsWith("urn:") ? k : path ? `${path}.${k}` : k;
      const nv = normaliseValue(def, sub, v, depth + 1);
      if (nv !== undefined) out[k] = nv;
    }
    return out;
  }
  return value;
}

const READ_ONLY_TOP = new Set(["id", "meta", "groups", "password"]);

/** Normalises a User body (POST/PUT) and removes what the client may not set or we must never store. */
export function normaliseUserBody(body: Record<string, Json>): Record<string, Json> {
  const def = userDefinition();
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(body)) {
    if (READ_ONLY_TOP.has(k.toLowerCase())) continue;
    const nv = k === "schemas" ? v : normaliseValue(def, k, v);
    if (nv !== undefined) out[k] = nv;
  }
  return out;
}

/** Normalises a Group body: drops id/meta; members are handled by the membership code. */
export function normaliseGroupBody(body: Record<string, Json>): Record<string, Json> {
  const def = groupDefinition();
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(body)) {
    if (k.toLowerCase() === "id" || k.toLowerCase() === "meta") continue;
    const nv = k === "schemas" || k.toLowerCase() === "members" ? v : normaliseValue(def, k, v);
    if (nv !== undefined) out[k] = nv;
  }
  return out;
}

const EXTENSION_URNS = ["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "urn:ietf:params:scim:schemas:extension:scim-broker:2.0:User"];

/** "manager" → "urn:…:enterprise:2.0:User:manager" when it is not a core attribute but an extension's. */
function qualifyExtensionPath(def: Definition, path: string): string {
  if (path.toLowerCase().startsWith("urn:")) return path;
  const head = path.split(/[.[]/)[0]!;
  if (typeAt(def, head)) return path;
  const urn = EXTENSION_URNS.find((u) => typeAt(def, `${u}:${head}`));
  return urn ? `${urn}:${path}` : path;
}

/**
 * A PATCH path (RFC 7644 §3.5.2) is bounded before scimmy parses it: its length, and its value filter must
 * be a valid filter within the filter limits whose normal form stays small (filter-parser.ts
 * normalFormSize: scimmy expands it exponentially).
 */
function assertPatchPath(path: string): void {
  if (path.length > PATH_MAX_LENGTH) throw badRequest("invalidPath", `the PATCH path is ${path.length} characters long; at most ${PATH_MAX_LENGTH} are accepted`);
  const open = path.indexOf("["), close = path.lastIndexOf("]");
  if (open < 0) return;
  if (close < open) throw badRequest("invalidPath", `the PATCH path '${path.slice(0, 80)}' has an unclosed value filter`);
  const ast = parseFilter(path.slice(open + 1, close));
  if (normalFormSize(ast) > PATCH_FILTER_MAX_BRANCHES)
    throw badRequest("invalidFilter", `filter too complex: the value filter of the PATCH path expands to more than ${PATCH_FILTER_MAX_BRANCHES} alternatives`);
}

export interface PatchOperation { op: "add" | "replace" | "remove"; path?: string; value?: Json }

/** Lower-cases ops and converts string booleans inside PATCH values by the path they target. */
export function normalisePatchOps(ops: Array<Record<string, Json>>, kind: "User" | "Group"): PatchOperation[] {
  const def = kind === "User" ? userDefinition() : groupDefinition();
  return ops.map((raw) => {
    const entries = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k.toLowerCase(), v]));
    const op = String(entries.op ?? "").toLowerCase() as PatchOperation["op"];
    let path = typeof entries.path === "string" && entries.path.trim() !== "" ? entries.path.trim() : undefined;
    if (path) assertPatchPath(path);
    let value = entries.value;
    if (path && kind === "User") {
      // Entra: `Add` path "manager" value [{"$ref":…,"value":id}] — a short name of an enterprise (or
      // HR) extension attribute, sent as a one-element array although the attribute is single-valued.
      const qualified = qualifyExtensionPath(def, path);
      if (qualified !== path) {
        path = qualified;
        const t = typeAt(def, path.replace(/\[[^\]]*\]/g, ""));
        if (t && !t.multiValued && Array.isArray(value) && value.length === 1) value = value[0];
      }
    }
    if (path) {
      // value-path filters ("emails[type eq "work"].value") → the attribute's own path for typing
      const plain = path.replace(/\[[^\]]*\]/g, "");
      if (typeAt(def, plain)?.type === "boolean") value = Array.isArray(value) ? value.map(boolString) : boolString(value);
      else if (value !== null && typeof value === "object") value = normaliseValue(def, plain, value);
    } else if (value && typeof value === "object" && !Array.isArray(value)) {
      const v: Record<string, Json> = {};
      for (const [k, x] of Object.entries(value)) {
        if (["id", "meta", "schemas", "password"].includes(k.toLowerCase())) continue; // Okta rename sends id
        const nx = typeAt(def, k)?.type === "boolean" ? boolString(x) : normaliseValue(def, k, x);
        if (nx !== undefined || x === null) v[k] = nx === undefined ? null : nx;
      }
      value = v;
    }
    return { op, ...(path ? { path } : {}), ...(value !== undefined ? { value } : {}) };
  });
}
