// How one app deviates from RFC 7644, and what its /ServiceProviderConfig (RFC 7644 §4, schema RFC 7643 §5)
// tells us about it. Precedence: an explicit setting in the app's config wins (operators override apps whose
// discovery document lies), then what discovery says, then RFC defaults.

export interface Dialect {
  /** PATCH (RFC 7644 §3.5.2) supported; when false every change is a full PUT (§3.5.1). */
  patch: boolean;
  /** PatchOp `op` spelling: RFC says "add"/"remove"/"replace"; some apps only accept "Add"/"Replace". */
  opCasing: "lower" | "Capital";
  /** Send booleans as "True"/"False" strings (apps written against Entra's wire format). */
  stringBooleans: boolean;
}

export const DEFAULT_DIALECT: Readonly<Dialect> = Object.freeze({
  patch: true,
  opCasing: "lower",
  stringBooleans: false,
});

/** What an app's /ServiceProviderConfig says; null fields mean "not stated". */
export interface AppCapabilities {
  patch: boolean | null;
  bulk: boolean | null;
  filter: boolean | null;
  /** filter.maxResults: the page size the app will honour at most (RFC 7643 §5). */
  maxResults: number | null;
  etag: boolean | null;
  sort: boolean | null;
}

/** Reads a ServiceProviderConfig body defensively: apps omit sections or send "true" strings. */
export function parseServiceProviderConfig(body: unknown): AppCapabilities {
  const doc = isObject(body) ? body : {};
  const section = (key: string): Record<string, unknown> | undefined => {
    const found = Object.keys(doc).find((k) => k.toLowerCase() === key.toLowerCase());
    const value = found === undefined ? undefined : doc[found];
    return isObject(value) ? value : undefined;
  };
  const supported = (key: string): boolean | null => toBool(section(key)?.supported);
  const maxResults = Number(section("filter")?.maxResults);
  return {
    patch: supported("patch"),
    bulk: supported("bulk"),
    filter: supported("filter"),
    maxResults: Number.isInteger(maxResults) && maxResults > 0 ? maxResults : null,
    etag: supported("etag"),
    sort: supported("sort"),
  };
}

/** Effective dialect: explicit config, then discovery, then RFC defaults. */
export function resolveDialect(configured: Partial<Dialect> | undefined, discovered?: AppCapabilities | null): Dialect {
  return {
    patch: configured?.patch ?? discovered?.patch ?? DEFAULT_DIALECT.patch,
    opCasing: configured?.opCasing ?? DEFAULT_DIALECT.opCasing,
    stringBooleans: configured?.stringBooleans ?? DEFAULT_DIALECT.stringBooleans,
  };
}

export type PatchOpName = "add" | "remove" | "replace";
export interface AppPatchOperation {
  op: PatchOpName;
  path?: string;
  value?: unknown;
}

export const PATCH_OP_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/** A PatchOp message (RFC 7644 §3.5.2) in the app's dialect. */
export function patchBody(ops: readonly AppPatchOperation[], dialect: Dialect): Record<string, unknown> {
  return {
    schemas: [PATCH_OP_SCHEMA],
    Operations: ops.map((o) => ({
      op: dialect.opCasing === "Capital" ? o.op[0]!.toUpperCase() + o.op.slice(1) : o.op,
      ...(o.path === undefined ? {} : { path: o.path }),
      ...(o.value === undefined ? {} : { value: encodeBooleans(o.value, dialect) }),
    })),
  };
}

/** Deep-converts booleans to "True"/"False" when the dialect asks for string booleans. */
export function encodeBooleans<T>(value: T, dialect: Pick<Dialect, "stringBooleans">): T {
  if (!dialect.stringBooleans) return value;
  const walk = (v: unknown): unknown => {
    if (typeof v === "boolean") return v ? "True" : "False";
    if (Array.isArray(v)) return v.map(walk);
    if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

function toBool(value: unknown): boolean | null {
  if (typeof value === "boolean") return value;
  if (typeof value === "string" && /^(true|false)$/i.test(value)) return value.toLowerCase() === "true";
  return null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
