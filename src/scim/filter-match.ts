// SCIM filter semantics (RFC 7644 §3.4.2.2), defined once as a tree built from the parsed filter
// (filter-parser.ts) and evaluated here in memory; filter-sql.ts translates the same tree to SQL, so the
// two agree by construction (test/integration/filter-agreement.test.ts checks it on a real PostgreSQL).
//
// Semantics, identical in both places:
// - caseExact:false strings compare case-insensitively; gt/ge/lt/le on strings use code-point order.
//   Identifiers with a key column (userName, Group displayName, groups.display) compare their keys
//   (identifier.ts: NFKC + full case fold), computed in JavaScript for both the column and the value.
// - dateTime values compare as instants; a value without offset is UTC. Booleans take eq/ne only,
//   and Entra's "True"/"False" strings are accepted as filter values.
// - `pr`: present and non-empty (not null, not "", not [], not {}); `eq null` ≡ not present
//   (RFC 7643 §2.5: null and unassigned are equivalent).
// - `ne x` ≡ `not (eq x)` and every `not` is two-valued: absent attributes match `ne`/`not`.
// - Multi-valued attributes match if any value matches. Conditions inside one value path
//   (`emails[type eq "work" and not (value co "x")]`) hold for the same value; conditions on sub-attributes
//   outside a value path stand alone. A negated condition outside a value path (`not (groups.value eq "g")`,
//   `emails.value ne "x"`) means no value matches; `not` is an exact complement everywhere.
// - A comparison on a complex attribute without sub-attribute applies to its `value` (`manager eq "…"`).
// Where SQL reads a column (attribute-catalog.ts) the matcher reads the resource: they agree as long as
// the store mirrors the resource (e.g. `active` always set, `meta.created`/`lastModified` present).
import {
  AttributePathError, type AttrRef, type ResourceType, childAttribute, DATE_TIME_LOCAL, DATE_TIME_WITH_ZONE,
  elementOf, invalidFilter, rootAttribute,
} from "./attribute-catalog.ts";
import type { CompValue, FilterAst } from "./filter-parser.ts";
import { identifierKey } from "../domain/identifier.ts";

/** Identifiers with a stored key column (userName, emails.value, Group displayName): compared by identifierKey on both sides. */
export const isKeyed = (attr: AttrRef): boolean =>
  !attr.caseExact && attr.kind === "string" && (attr.column?.key !== undefined || attr.elementKey !== undefined);

export type Comparison = "eq" | "co" | "sw" | "ew" | "gt" | "ge" | "lt" | "le";
export type FilterNode =
  | { op: "and" | "or"; nodes: FilterNode[] }
  | { op: "not"; node: FilterNode }
  | { op: "any"; attr: AttrRef; where: FilterNode }   // some value of a multi-valued attribute
  | { op: "pr"; attr: AttrRef }
  | { op: "cmp"; cmp: Comparison; attr: AttrRef; value: string | number | boolean }
  | { op: "const"; value: boolean };

const OPERATORS = new Set(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TRUE: FilterNode = { op: "const", value: true };
const FALSE: FilterNode = { op: "const", value: false };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isConst = (n: FilterNode, v: boolean) => n.op === "const" && n.value === v;

function and(nodes: FilterNode[]): FilterNode {
  if (nodes.some((n) => isConst(n, false))) return FALSE;
  const rest = nodes.filter((n) => !isConst(n, true));
  return rest.length === 0 ? TRUE : rest.length === 1 ? rest[0] : { op: "and", nodes: rest };
}
function or(nodes: FilterNode[]): FilterNode {
  if (nodes.some((n) => isConst(n, true))) return TRUE;
  const rest = nodes.filter((n) => !isConst(n, false));
  return rest.length === 0 ? FALSE : rest.length === 1 ? rest[0] : { op: "or", nodes: rest };
}
const not = (n: FilterNode): FilterNode => (n.op === "const" ? { op: "const", value: !n.value } : n.op === "not" ? n.node : { op: "not", node: n });
const any = (attr: AttrRef, where: FilterNode): FilterNode => (isConst(where, false) ? FALSE : { op: "any", attr, where });

/** Normalises a comparison to (positive operator, value, negated): `ne` → not eq, `eq null` → not pr. */
function polarity(ref: AttrRef, rawOp: string, value: CompValue | undefined): { op: string; value: unknown; negated: boolean } {
  const op = rawOp.toLowerCase();
  if (!OPERATORS.has(op))
    throw invalidFilter(`unknown operator '${rawOp}' for '${ref.path}'; RFC 7644 §3.4.2.2 defines eq, ne, co, sw, ew, gt, ge, lt, le, pr`);
  let negated = op === "ne";
  let positive = op === "ne" ? "eq" : op;
  if (value === null) {
    if (positive !== "eq") throw invalidFilter(`'${ref.path} ${op} null': null compares only with eq and ne`);
    positive = "pr";
    negated = !negated;
  }
  return { op: positive, value, negated };
}

function comparison(ref: AttrRef, op: string, value: unknown): FilterNode {
  if (op === "pr") return { op: "pr", attr: ref };
  const cmp = op as Comparison;
  const substring = ["co", "sw", "ew"].includes(op);
  switch (ref.kind) {
    case "string":
    case "uuid":
      if (typeof value !== "string") throw invalidFilter(`'${ref.path}' is a string attribute: quote the value ('${ref.path} ${op} "${String(value)}"')`);
      // An id that is not a UUID matches nothing (and must never reach a ::uuid cast).
      if (ref.kind === "uuid" && op === "eq" && !UUID.test(value)) return FALSE;
      return { op: "cmp", cmp, attr: ref, value };
    case "boolean": {
      if (op !== "eq") throw invalidFilter(`'${ref.path}' is boolean: only eq, ne and pr apply`);
      const b = typeof value === "string" && /^(true|false)$/i.test(value) ? value.toLowerCase() === "true" : value;
      if (typeof b !== "boolean") throw invalidFilter(`'${ref.path}' is boolean: compare with true or false`);
      return { op: "cmp", cmp, attr: ref, value: b };
    }
    case "dateTime": {
      if (substring) throw invalidFilter(`'${ref.path}' is a dateTime: use eq, ne, gt, ge, lt, le or pr`);
      const at = typeof value === "string" ? instant(value, true) : undefined;
      if (at === undefined) throw invalidFilter(`'${String(value)}' is not a valid dateTime for '${ref.path}' (RFC 3339, e.g. "2025-01-31T00:00:00Z")`);
      return { op: "cmp", cmp, attr: ref, value: new Date(at).toISOString() };
    }
    case "number":
      if (substring) throw invalidFilter(`'${ref.path}' is numeric: use eq, ne, gt, ge, lt, le or pr`);
      if (typeof value !== "number") throw invalidFilter(`'${ref.path}' is numeric: compare with a number`);
      return { op: "cmp", cmp, attr: ref, value };
    default:
      throw invalidFilter(`'${ref.path}' is complex: filter on one of its sub-attributes`);
  }
}

/** A comparison on `ref`: any-value semantics for multi-valued attributes, `value` for complex ones. */
function leaf(rt: ResourceType, ref: AttrRef, rawOp: string, rawValue: CompValue | undefined): FilterNode {
  if (ref.path === "meta") throw invalidFilter("'meta' is not filterable; use meta.created or meta.lastModified");
  const { op, value, negated } = polarity(ref, rawOp, rawValue);
  const on = (r: AttrRef, element: boolean) =>
    r.kind === "complex" && op !== "pr" ? comparison(childValue(rt, r, element), op, value) : comparison(r, op, value);
  const node = ref.multiValued ? any(ref, on(elementOf(ref), true)) : on(ref, false);
  return negated ? not(node) : node;
}

function childValue(rt: ResourceType, ref: AttrRef, element: boolean): AttrRef {
  try { return childAttribute(rt, ref, "value", element); }
  catch { throw invalidFilter(`'${ref.path}' is complex: filter on one of its sub-attributes`); }
}

/**
 * Resolves `path` (`userName`, `name.familyName`, `emails.value`, `urn:…:User:manager.value`) from the
 * resource root, or inside one value of `element` (value-path filters). A sub-attribute of a multi-valued
 * attribute is reached through `any`: `emails.value eq "x"` means some e-mail has that value, and each such
 * comparison stands alone (`emails.type eq "a" and emails.value eq "b"` may hold on two different values;
 * a value path says "the same value").
 */
function resolve(rt: ResourceType, path: string, element: AttrRef | undefined): { ref: AttrRef; wrap: (n: FilterNode) => FilterNode } {
  const colon = path.lastIndexOf(":");
  const [first, ...subs] = path.slice(colon + 1).split(".");
  const head = `${path.slice(0, colon + 1)}${first}`;
  let ref = element ? childAttribute(rt, element, head, true) : rootAttribute(rt, head);
  let wrap = (n: FilterNode) => n;
  for (const sub of subs) {
    if (ref.multiValued && ref.kind === "complex") {
      const owner = ref, outer = wrap;
      wrap = (n) => outer(any(owner, n));
      ref = childAttribute(rt, owner, sub, true);
    } else ref = childAttribute(rt, ref, sub, element !== undefined);
  }
  return { ref, wrap };
}

/** `name[givenName eq "x"]` → `name.givenName eq "x"`. */
function prefixed(ast: FilterAst, prefix: string): FilterAst {
  switch (ast.op) {
    case "and": case "or": return { op: ast.op, nodes: ast.nodes.map((n) => prefixed(n, prefix)) };
    case "not": return { op: "not", node: prefixed(ast.node, prefix) };
    case "attr": return { ...ast, path: `${prefix}.${ast.path}` };
    case "valuePath": throw invalidFilter(`value paths cannot be nested ('${prefix}[…${ast.path}[…]…]')`);
  }
}

function toTree(rt: ResourceType, ast: FilterAst, element: AttrRef | undefined): FilterNode {
  switch (ast.op) {
    case "and": return and(ast.nodes.map((n) => toTree(rt, n, element)));
    case "or": return or(ast.nodes.map((n) => toTree(rt, n, element)));
    case "not": return not(toTree(rt, ast.node, element));
    case "attr": {
      const { ref, wrap } = resolve(rt, ast.path, element);
      return wrap(leaf(rt, ref, ast.cmp, ast.value));
    }
    case "valuePath": {
      if (element) throw invalidFilter(`value paths cannot be nested ('${element.path}' … '${ast.path}[…]')`);
      const { ref, wrap } = resolve(rt, ast.path, undefined);
      if (ref.kind !== "complex") throw invalidFilter(`'${ref.path}' has no sub-attributes to filter in [...]`);
      // A single-valued complex attribute (`name[givenName eq "x"]`) is its own one value.
      return ref.multiValued ? wrap(any(ref, toTree(rt, ast.filter, ref))) : toTree(rt, prefixed(ast.filter, ast.path), undefined);
    }
  }
}

/**
 * Builds the semantic tree of a parsed filter (filter-parser.ts). Throws 400 invalidFilter for an
 * unknown attribute or operator, or an ill-typed value.
 */
export function buildFilterTree(parsed: FilterAst, resourceType: ResourceType): FilterNode {
  if (!parsed || typeof parsed !== "object" || !("op" in parsed)) throw invalidFilter("empty filter");
  try {
    return toTree(resourceType, parsed, undefined);
  } catch (e) {
    if (e instanceof AttributePathError) throw invalidFilter(e.message);
    throw e;
  }
}

// ---- in-memory evaluation ---------------------------------------------------------------------------
/** Milliseconds since the epoch of an RFC 3339 dateTime (no offset = UTC); undefined when not one. */
export function instant(value: unknown, strict = false): number | undefined {
  if (typeof value !== "string") return undefined;
  const zoned = new RegExp(DATE_TIME_WITH_ZONE).test(value);
  if (!zoned && !new RegExp(DATE_TIME_LOCAL).test(value)) return undefined;
  if (strict) { // reject 2025-02-30, 24:00, +25:00 … which Date would silently roll over
    const [y, mo, d, h = 0, mi = 0, s = 0] = value.split(/[-T:.Z+]/).map(Number);
    const days = new Date(Date.UTC(y!, mo!, 0)).getUTCDate();
    if (mo! < 1 || mo! > 12 || d! < 1 || d! > days || h > 23 || mi > 59 || s > 59) return undefined;
    const off = /([+-])(\d{2}):(\d{2})$/.exec(value);
    if (off && (Number(off[2]) > 23 || Number(off[3]) > 59)) return undefined;
  }
  const ms = Date.parse(zoned || !value.includes("T") ? value : `${value}Z`);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Case-insensitive attribute look-up (RFC 7643 §2.1), exact spelling first. */
function read(ctx: unknown, segments: string[]): unknown {
  let v = ctx;
  for (const s of segments) {
    if (!isObject(v)) return undefined;
    const key = Object.hasOwn(v, s) ? s : Object.keys(v).find((k) => k.toLowerCase() === s.toLowerCase());
    v = key === undefined ? undefined : v[key];
  }
  return v;
}

export const isPresent = (v: unknown): boolean =>
  v !== undefined && v !== null && v !== "" && !(Array.isArray(v) && v.length === 0) && !(isObject(v) && Object.keys(v).length === 0);

/** Byte order of UTF-8 = code-point order = PostgreSQL's COLLATE "C", used for gt/ge/lt/le on strings. */
const order = (a: string, b: string) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

function compare(node: Extract<FilterNode, { op: "cmp" }>, actual: unknown): boolean {
  const { attr, cmp } = node;
  let a: string | number | boolean | undefined;
  let v = node.value;
  if (attr.kind === "dateTime") { a = instant(actual); v = instant(v)!; }
  else if (attr.kind === "string" || attr.kind === "uuid") {
    if (typeof actual !== "string") return false;
    if (isKeyed(attr)) { a = identifierKey(actual); v = identifierKey(String(v)); }
    else {
      const fold = attr.kind === "uuid" || !attr.caseExact;
      a = fold ? actual.toLowerCase() : actual;
      v = fold ? String(v).toLowerCase() : v;
    }
  } else a = typeof actual === typeof v ? (actual as number | boolean) : undefined;
  if (a === undefined) return false;
  const c = typeof a === "string" ? order(a, v as string) : a === v ? 0 : a < v ? -1 : 1;
  switch (cmp) {
    case "eq": return c === 0;
    case "co": return (a as string).includes(v as string);
    case "sw": return (a as string).startsWith(v as string);
    case "ew": return (a as string).endsWith(v as string);
    case "gt": return c > 0;
    case "ge": return c >= 0;
    case "lt": return c < 0;
    case "le": return c <= 0;
  }
}

export function matchesNode(node: FilterNode, ctx: unknown): boolean {
  switch (node.op) {
    case "const": return node.value;
    case "and": return node.nodes.every((n) => matchesNode(n, ctx));
    case "or": return node.nodes.some((n) => matchesNode(n, ctx));
    case "not": return !matchesNode(node.node, ctx);
    case "any": {
      const values = read(ctx, node.attr.segments);
      return Array.isArray(values) && values.some((el) => matchesNode(node.where, el));
    }
    case "pr": // one membership row (groups/members) is always a present value
      return node.attr.relation && node.attr.segments.length === 0 ? true : isPresent(read(ctx, node.attr.segments));
    case "cmp": return compare(node, read(ctx, node.attr.segments));
  }
}

/** Compiles a parsed filter once into a predicate over SCIM resources (the rules layer, per HR event). */
export function compileMatcher(parsed: FilterAst, resourceType: ResourceType = "User"): (resource: Record<string, unknown>) => boolean {
  const tree = buildFilterTree(parsed, resourceType);
  return (resource) => matchesNode(tree, resource);
}

/** Whether `resource` (SCIM JSON; `groups` as [{value, display}]) matches the parsed filter. */
export function matchesFilter(parsed: FilterAst, resource: Record<string, unknown>, resourceType: ResourceType = "User"): boolean {
  return matchesNode(buildFilterTree(parsed, resourceType), resource);
}
