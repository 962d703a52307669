// SCIM filter semantics (RFC 7644 §3.4.2.2), defined once as a tree built from scimmy's parsed filter
// and evaluated here in memory; filter-sql.ts translates the same tree to SQL, so the two agree by
// construction (test/unit/scim/filter-agreement.test.ts checks it on a real PostgreSQL).
//
// Semantics, identical in both places:
// - caseExact:false strings compare case-insensitively; gt/ge/lt/le on strings use code-point order.
// - dateTime values compare as instants; a value without offset is UTC. Booleans take eq/ne only,
//   and Entra's "True"/"False" strings are accepted as filter values.
// - `pr`: present and non-empty (not null, not "", not [], not {}); `eq null` ≡ not present
//   (RFC 7643 §2.5: null and unassigned are equivalent).
// - `ne x` ≡ `not (eq x)` and every `not` is two-valued: absent attributes match `ne`/`not`.
// - Multi-valued attributes match if any value matches; all positive conditions on sub-attributes of
//   one multi-valued attribute in one `and` (value paths, `emails[type eq "work" and value co "x"]`)
//   must hold for the same value. A negated condition (`not (groups.value eq "g")`,
//   `emails.value ne "x"`, `emails[type ne "work"]`) negates the whole attribute: no value matches.
// - A comparison on a complex attribute without sub-attribute applies to its `value` (`manager eq "…"`).
// Where SQL reads a column (attribute-catalog.ts) the matcher reads the resource: they agree as long as
// the store mirrors the resource (e.g. `active` always set, `meta.created`/`lastModified` present).
import {
  AttributePathError, type AttrRef, type ResourceType, childAttribute, DATE_TIME_LOCAL, DATE_TIME_WITH_ZONE,
  elementOf, invalidFilter, rootAttribute,
} from "./attribute-catalog.ts";

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

/**
 * scimmy 1.3.5 silently mis-parses four shapes (measured): a negated group of several comparisons
 * (`not (a or b)` becomes `not a or not b`, no De Morgan), a negated value path (`not (emails[…])`
 * loses its `not`), `and`/`or` grouped inside a value path (`emails[x and (y or z)]`), and `or` in a
 * value path inside a group (`(emails[type eq "a" or type eq "b"] or …)` turns the inner `or` into
 * `and`). The parsed form cannot show them, so the original expression is scanned (strings skipped)
 * and they are refused. This is a defect detector, not a parser: scimmy still parses every filter.
 */
export function assertSupportedExpression(expression: string): void {
  const tokens = expression.match(/"(?:[^"\\]|\\.)*"|[()[\]]|[^\s()[\]"]+/g) ?? [];
  const groups: { negated: boolean; inPath: boolean; logic: boolean; path: boolean }[] = [];
  let brackets = 0;
  tokens.forEach((t, i) => {
    const top = groups.at(-1);
    if (t === "(") groups.push({ negated: tokens[i - 1]?.toLowerCase() === "not", inPath: brackets > 0, logic: false, path: false });
    else if (t === "[") { brackets++; if (top) top.path = true; }
    else if (t === "]") brackets--;
    else if (/^(and|or)$/i.test(t) && top) {
      top.logic = true;
      if (brackets > 0 && /^or$/i.test(t) && !top.inPath)
        throw invalidFilter("'or' inside a value path within parentheses is not supported; write the value path outside the group or as separate value paths");
    }
    else if (t === ")" && top) {
      groups.pop();
      if (top.negated && (top.logic || top.path))
        throw invalidFilter("a negated group may hold a single comparison only, e.g. 'not (a eq 1) and not (b eq 2)' instead of 'not (a eq 1 or b eq 2)'");
      if (top.inPath && top.logic) throw invalidFilter("grouping with and/or inside a value path [...] is not supported; split it into several value paths joined by or");
    }
  });
}

/** Normalises a condition to (positive operator, value, negated): `ne` → not eq, `eq null` → not pr. */
function polarity(ref: AttrRef, cond: unknown[]): { op: string; value: unknown; negated: boolean } {
  const hasNot = typeof cond[0] === "string" && cond[0].toLowerCase() === "not";
  const [rawOp, ...rest] = hasNot ? cond.slice(1) : cond;
  const op = typeof rawOp === "string" ? rawOp.toLowerCase() : "";
  if (!OPERATORS.has(op))
    throw invalidFilter(`unknown operator '${String(rawOp)}' for '${ref.path}'; RFC 7644 §3.4.2.2 defines eq, ne, co, sw, ew, gt, ge, lt, le, pr`);
  if (op === "pr" ? rest.length !== 0 : rest.length !== 1)
    throw invalidFilter(op === "pr" ? `'pr' takes no value ('${ref.path} pr')` : `missing comparison value in '${ref.path} ${op}'`);
  let negated = hasNot !== (op === "ne");
  let positive = op === "ne" ? "eq" : op;
  if (rest[0] === null) {
    if (positive !== "eq") throw invalidFilter(`'${ref.path} ${op} null': null compares only with eq and ne`);
    positive = "pr";
    negated = !negated;
  }
  return { op: positive, value: rest[0], negated };
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

/** A condition on `ref`: any-value semantics for multi-valued attributes, `value` for complex ones. */
function leaf(rt: ResourceType, ref: AttrRef, cond: unknown[]): FilterNode {
  if (ref.path === "meta") throw invalidFilter("'meta' is not filterable; use meta.created or meta.lastModified");
  const { op, value, negated } = polarity(ref, cond);
  const on = (r: AttrRef, element: boolean) =>
    r.kind === "complex" && op !== "pr" ? comparison(childValue(rt, r, element), op, value) : comparison(r, op, value);
  const node = ref.multiValued ? any(ref, on(elementOf(ref), true)) : on(ref, false);
  return negated ? not(node) : node;
}

function childValue(rt: ResourceType, ref: AttrRef, element: boolean): AttrRef {
  try { return childAttribute(rt, ref, "value", element); }
  catch { throw invalidFilter(`'${ref.path}' is complex: filter on one of its sub-attributes`); }
}

function subFilter(rt: ResourceType, ref: AttrRef, filter: Record<string, unknown>): FilterNode {
  if (ref.kind !== "complex") throw invalidFilter(`'${ref.path}' has no sub-attributes`);
  if (!ref.multiValued) return branch(rt, filter, ref, false);
  // scimmy merges every condition on one multi-valued attribute within an `and` into one object, so
  // `not (emails.type eq "a") and emails.value co "b"` and `emails[not (type eq "a") and value co "b"]`
  // arrive identical. Rule: negated conditions say "no value matches", the positive ones must hold
  // together on one value. It keeps De Morgan and `not` as an exact complement.
  const positive: Record<string, unknown[]> = {};
  const nodes: FilterNode[] = [];
  for (const [key, value] of Object.entries(filter)) {
    const child = childAttribute(rt, ref, key, true);
    for (const c of isConditionList(value) ? value : [value]) {
      const p = Array.isArray(c) ? polarity(child, c) : undefined;
      if (p?.negated) nodes.push(not(any(ref, comparison(child, p.op, p.value))));
      else (positive[key] ??= []).push(c);
    }
  }
  if (Object.keys(positive).length) nodes.push(any(ref, branch(rt, positive, ref, true)));
  return and(nodes);
}

const isConditionList = (v: unknown): v is unknown[] =>
  Array.isArray(v) && v.length > 0 && v.every((e) => Array.isArray(e) || isObject(e));

function branch(rt: ResourceType, filter: unknown, parent: AttrRef | undefined, element: boolean): FilterNode {
  if (!isObject(filter) || Object.keys(filter).length === 0) throw invalidFilter("malformed filter expression");
  return and(Object.entries(filter).map(([key, value]) => {
    const ref = parent ? childAttribute(rt, parent, key, element) : rootAttribute(rt, key);
    const conditions = isConditionList(value) ? value : [value];
    return and(conditions.map((c) => {
      if (Array.isArray(c)) return leaf(rt, ref, c);
      if (isObject(c)) return subFilter(rt, ref, c);
      throw invalidFilter(`malformed condition for '${ref.path}'`);
    }));
  }));
}

/**
 * Builds the semantic tree of a parsed filter (scimmy's OR-of-ANDs). Throws 400 invalidFilter for an
 * unknown attribute or operator, a missing or ill-typed value, or an expression scimmy mis-parses.
 */
export function buildFilterTree(parsed: unknown, resourceType: ResourceType): FilterNode {
  const expression = (parsed as { expression?: unknown } | null)?.expression;
  if (typeof expression === "string") assertSupportedExpression(expression);
  if (!Array.isArray(parsed) || parsed.length === 0) throw invalidFilter("empty filter");
  try {
    return or(parsed.map((b) => branch(resourceType, b, undefined, false)));
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
    const fold = attr.kind === "uuid" || !attr.caseExact;
    a = fold ? actual.toLowerCase() : actual;
    v = fold ? String(v).toLowerCase() : v;
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

export function evaluate(node: FilterNode, ctx: unknown): boolean {
  switch (node.op) {
    case "const": return node.value;
    case "and": return node.nodes.every((n) => evaluate(n, ctx));
    case "or": return node.nodes.some((n) => evaluate(n, ctx));
    case "not": return !evaluate(node.node, ctx);
    case "any": {
      const values = read(ctx, node.attr.segments);
      return Array.isArray(values) && values.some((el) => evaluate(node.where, el));
    }
    case "pr": // one membership row (groups/members) is always a present value
      return node.attr.relation && node.attr.segments.length === 0 ? true : isPresent(read(ctx, node.attr.segments));
    case "cmp": return compare(node, read(ctx, node.attr.segments));
  }
}

/** Compiles a parsed filter once into a predicate over SCIM resources (the rules layer, per HR event). */
export function compileMatcher(parsed: unknown, resourceType: ResourceType = "User"): (resource: Record<string, unknown>) => boolean {
  const tree = buildFilterTree(parsed, resourceType);
  return (resource) => evaluate(tree, resource);
}

/** Whether `resource` (SCIM JSON; `groups` as [{value, display}]) matches the parsed filter. */
export function matchesFilter(parsed: unknown, resource: Record<string, unknown>, resourceType: ResourceType = "User"): boolean {
  return evaluate(buildFilterTree(parsed, resourceType), resource);
}
