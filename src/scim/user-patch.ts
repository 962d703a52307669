// PATCH of a User (RFC 7644 §3.5.2) applied in memory: scimmy's PatchOp does the operations it handles,
// this module the ones it gets wrong — removing a whole schema extension by its URN, and Entra's replace
// of a value-filtered path that has no target yet — and keeps the operations in request order.
import SCIMMY from "scimmy";
import { DomainError, badRequest } from "../shared/errors.ts";
import type { PatchOperation } from "./dialect.ts";
import { ENTERPRISE_SCHEMA, HR_SCHEMA, PATCH_OP, USER_SCHEMA, declareSchemas, hrExtension } from "./schemas.ts";
import { fromScimmy } from "./scimmy-errors.ts";
import type { UserResource } from "./user-resource.ts";

const EXTENSIONS = [ENTERPRISE_SCHEMA, HR_SCHEMA];
const extensionAt = (path: string | undefined) => (path ? EXTENSIONS.find((u) => u.toLowerCase() === path.toLowerCase()) : undefined);
const ACTIVE_PATH = /^(urn:ietf:params:scim:schemas:core:2\.0:user:)?active$/i;
const CORE_PREFIX = `${USER_SCHEMA}:`.toLowerCase();

/** Whether an add/replace operation assigns `active` (by path, or as a key of a path-less value). */
export function assignsActive(ops: PatchOperation[]): boolean {
  return ops.some((o) => o.op !== "remove" && (o.path ? ACTIVE_PATH.test(o.path)
    : !!o.value && typeof o.value === "object" && Object.keys(o.value).some((k) => ACTIVE_PATH.test(k))));
}

/**
 * RFC 7644 §3.10 lets a path name a core attribute by its schema URN
 * ("urn:ietf:params:scim:schemas:core:2.0:User:title"); scimmy only knows the short name.
 */
function shortCorePath(o: PatchOperation): PatchOperation {
  return o.path?.toLowerCase().startsWith(CORE_PREFIX) ? { ...o, path: o.path.slice(CORE_PREFIX.length) } : o;
}

/** Applies PATCH operations in memory; returns the new resource, or null when nothing changed. */
export async function applyPatch(data: UserResource, id: string, ops: PatchOperation[]): Promise<UserResource | null> {
  declareSchemas();
  let current = data;
  let changed = false;
  let batch: PatchOperation[] = [];
  let batchStart = 0;
  const flush = async () => {
    if (batch.length) {
      const out = await applyWithScimmy(current, id, batch, batchStart);
      if (out) { current = out; changed = true; }
    }
    batch = [];
  };
  for (const [i, raw] of ops.entries()) {
    const o = shortCorePath(raw);
    const urn = extensionAt(o.path);
    if (urn && o.op === "remove") {
      // RFC 7644 §3.5.2.2: the path is the extension's schema URN — remove all of its attributes. scimmy
      // cannot (it fails inside its own code), so the extension is removed here, between the operations
      // before and after it. Removing an extension the user does not have changes nothing.
      await flush();
      const key = Object.keys(current).find((k) => k.toLowerCase() === urn.toLowerCase());
      if (key) { current = withoutExtension(current, key); changed = true; }
      batchStart = i + 1;
      continue;
    }
    if (urn && (o.value === null || typeof o.value !== "object" || Array.isArray(o.value)))
      throw badRequest("invalidValue", `operation ${i + 1} ('${o.op}' of ${urn}): the value must be an object of that extension's attributes`);
    if (!batch.length) batchStart = i;
    batch.push(canonicalExtensionKeys(o, i + 1));
  }
  await flush();
  return changed ? current : null;
}

/**
 * Extension values keyed as the extension defines them (RFC 7643 §2.1: attribute names are
 * case-insensitive, scimmy's extension setter is not), and a key the extension does not define named in
 * the error — scimmy would report the extension URN itself as "an invalid attribute path".
 */
function canonicalExtensionKeys(o: PatchOperation, n: number): PatchOperation {
  if (o.op === "remove" || !o.value || typeof o.value !== "object" || Array.isArray(o.value)) return o;
  const canonical = (urn: string, value: Record<string, unknown>) => {
    const names = new Map(extensionAttributes(urn).map((a) => [a.toLowerCase(), a]));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => {
      const name = names.get(k.toLowerCase());
      if (!name) throw badRequest("invalidPath", `operation ${n} ('${o.op}'): '${k.slice(0, 100)}' is not an attribute of ${urn} (see /Schemas)`);
      return [name, v];
    }));
  };
  const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);
  const pathUrn = extensionAt(o.path);
  if (pathUrn) return { ...o, value: canonical(pathUrn, o.value as Record<string, unknown>) };
  if (o.path) return o;
  return { ...o, value: Object.fromEntries(Object.entries(o.value as Record<string, unknown>).map(([k, v]) => {
    const urn = extensionAt(k);
    return urn && isObject(v) ? [urn, canonical(urn, v)] : [k, v];
  })) };
}

const COMMON = new Set(["schemas", "id", "externalId", "meta"]); // RFC 7643 §3.1, not extension attributes
const extensionAttributes = (urn: string): string[] =>
  ((urn === ENTERPRISE_SCHEMA ? SCIMMY.Schemas.EnterpriseUser.definition : hrExtension).attributes as Array<{ name: string }>)
    .map((a) => a.name).filter((a) => !COMMON.has(a));

function withoutExtension(data: UserResource, key: string): UserResource {
  const { [key]: _, ...rest } = data;
  if (Array.isArray(rest.schemas)) rest.schemas = rest.schemas.filter((s: unknown) => String(s).toLowerCase() !== key.toLowerCase());
  return rest;
}

/** One run of consecutive operations through scimmy's PatchOp; `first` is their index in the request. */
async function applyWithScimmy(data: UserResource, id: string, ops: PatchOperation[], first: number): Promise<UserResource | null> {
  const run = async (operations: PatchOperation[]) => {
    const instance = new SCIMMY.Schemas.User({ ...data, id }, "both");
    let result: unknown;
    const out = await new SCIMMY.Messages.PatchOp({ schemas: [PATCH_OP], Operations: operations }).apply(instance, async (i: any) => (result = i));
    if (out === undefined) return null;
    const { id: _, meta: __, ...resource } = JSON.parse(JSON.stringify(result)) as UserResource;
    return resource;
  };
  let current = ops;
  for (let attempt = 0; ; attempt++) {
    try {
      return await run(current);
    } catch (e) {
      // Entra replaces `emails[type eq "work"].value` on users that have no work e-mail yet and expects it
      // to be added; RFC 7644 §3.5.2.3 would answer 400 noTarget. Accept that one operation as an add of
      // {type: "work", value} and try again.
      const err = e as { scimType?: string; message?: string };
      const index = err.scimType === "noTarget" ? Number(/operation (\d+)/.exec(err.message ?? "")?.[1]) - 1 : -1;
      const fixed = index >= 0 && attempt < ops.length ? addForMissingTarget(current, index) : null;
      if (!fixed) throw inRequestOrder(fromScimmy(e, "invalidValue", describeOps(current)), first);
      current = fixed;
    }
  }
}

/** scimmy numbers the operations it was given; the client numbers those of its request. */
function inRequestOrder(e: DomainError, first: number): DomainError {
  if (!first) return e;
  const message = e.message.replace(/operation (\d+)/g, (_, n: string) => `operation ${Number(n) + first}`);
  return new DomainError(e.code, e.status, message, e.scimType);
}

const describeOps = (ops: PatchOperation[]) => (n: number) => {
  const o = ops[n - 1];
  return o ? `'${o.op}'${o.path ? ` of '${o.path}'` : " without a path"}` : undefined;
};

function addForMissingTarget(ops: PatchOperation[], index: number): PatchOperation[] | null {
  const o = ops[index];
  const m = o?.op === "replace" && o.path ? /^([\w$-]+)\[\s*(\w+)\s+eq\s+"([^"]*)"\s*\]\.([\w$-]+)$/i.exec(o.path) : null;
  if (!m) return null;
  const out = [...ops];
  out[index] = { op: "add", path: m[1], value: [{ [m[2]!]: m[3], [m[4]!]: o!.value }] };
  return out;
}
