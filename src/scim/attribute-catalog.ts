// Where each filterable/sortable SCIM attribute lives in PostgreSQL (RFC 7644 §3.4.2.2, §3.4.2.3).
// Column-backed paths use their indexed column; `groups` (User) and `members` (Group) are EXISTS over
// group_member; every other attribute of the schemas is read from the `data` jsonb (canonical attribute
// names, extensions under their URN key). Names are resolved against the scimmy schema definitions, so
// look-ups are case-insensitive (RFC 7643 §2.1) and an unknown name is an error, never a silent miss.
import type SCIMMY from "scimmy";
import { DomainError, badRequest } from "../shared/errors.ts";
import { ENTERPRISE_SCHEMA, HR_SCHEMA, groupDefinition, userDefinition } from "./schemas.ts";
import type { FilterAst } from "./filter-parser.ts";
import { groupUpdatedAtSql } from "../store/group-repository.ts";

export type ResourceType = "User" | "Group";
type Attribute = SCIMMY.Types.Attribute;
type SchemaDefinition = SCIMMY.Types.SchemaDefinition;

/** How values of an attribute compare. `uuid`: resource ids, compared case-insensitively as UUIDs. */
export type ValueKind = "string" | "uuid" | "boolean" | "dateTime" | "number" | "complex";

/** A column backing an attribute. `{el}` (relation columns only) becomes the EXISTS alias number. */
export interface ColumnDef { sql: string; kind: "text" | "uuid" | "boolean" | "timestamptz"; key?: string }
/** A multi-valued attribute stored as rows of group_member rather than in `data`. */
export interface RelationDef { from: string; correlate: string; columns: Record<string, ColumnDef> }

/** A resolved attribute path: what the matcher reads (segments) and what SQL reads (column or jsonb). */
export interface AttrRef {
  path: string;                 // canonical full path, for messages and catalog look-ups
  segments: string[];           // canonical keys relative to the evaluation context (resource or element)
  kind: ValueKind;
  caseExact: boolean;
  multiValued: boolean;
  scope: "root" | "element";    // element: inside one value of a multi-valued attribute
  attribute: Attribute;
  column?: ColumnDef;
  relation?: RelationDef;
  /** A text[] column holding identifierKey of each value, aligned with the jsonb array (emails.value). */
  elementKey?: string;
}

/** Resolution failure; callers turn it into invalidFilter (filters) or invalidValue (sortBy). */
export class AttributePathError extends Error {}

const text = (sql: string, key?: string): ColumnDef => ({ sql, kind: "text", ...(key ? { key } : {}) });
const ENT = ENTERPRISE_SCHEMA;
const HR = HR_SCHEMA;

const USER_COLUMNS: Record<string, ColumnDef> = {
  id: { sql: "u.id", kind: "uuid" },
  externalId: text("u.external_id"),
  userName: text("u.user_name", "u.user_name_key"),
  displayName: text("u.display_name"),
  userType: text("u.user_type"),
  title: text("u.title"),
  active: { sql: "u.active", kind: "boolean" },
  "meta.created": { sql: "u.created_at", kind: "timestamptz" },
  "meta.lastModified": { sql: "u.updated_at", kind: "timestamptz" },
  [`${ENT}:department`]: text("u.department"),
  [`${ENT}:costCenter`]: text("u.cost_center"),
  [`${ENT}:division`]: text("u.division"),
  [`${ENT}:organization`]: text("u.organization"),
  [`${ENT}:employeeNumber`]: text("u.employee_number"),
  [`${ENT}:manager.value`]: text("u.manager_id"),
  [`${HR}:employmentStatus`]: text("u.employment_status"),
  [`${HR}:startDate`]: { sql: "u.start_date", kind: "timestamptz" },
  [`${HR}:endDate`]: { sql: "u.end_date", kind: "timestamptz" },
  [`${HR}:location`]: text("u.location"),
  [`${HR}:sponsor.value`]: text("u.sponsor_id"),
};
const GROUP_COLUMNS: Record<string, ColumnDef> = {
  id: { sql: "g.id", kind: "uuid" },
  externalId: text("g.external_id"),
  displayName: text("g.display_name", "g.display_name_key"),
  "meta.created": { sql: "g.created_at", kind: "timestamptz" },
  "meta.lastModified": { sql: groupUpdatedAtSql("g"), kind: "timestamptz" }, // moved on by membership changes (group-repository.ts)
};
// A user may hold one membership per source, hence EXISTS rather than a join. LEFT JOIN to the PK lets
// PostgreSQL drop the join when only `value` is tested.
const USER_RELATIONS: Record<string, RelationDef> = {
  groups: {
    from: "group_member gm{el} LEFT JOIN scim_group gg{el} ON gg{el}.id = gm{el}.group_id",
    correlate: "gm{el}.user_id = u.id",
    columns: { value: { sql: "gm{el}.group_id", kind: "uuid" }, display: text("gg{el}.display_name", "gg{el}.display_name_key") },
  },
};
const GROUP_RELATIONS: Record<string, RelationDef> = {
  members: {
    from: "group_member gm{el} LEFT JOIN scim_user mu{el} ON mu{el}.id = gm{el}.user_id",
    correlate: "gm{el}.group_id = g.id",
    columns: { value: { sql: "gm{el}.user_id", kind: "uuid" }, display: text("mu{el}.display_name") },
  },
};

// Keys of identifiers inside multi-valued attributes (docs/identifiers.md): u.email_keys[n] is
// identifierKey(emails[n].value), written with the row (src/store/user-repository.ts).
const USER_ELEMENT_KEYS: Record<string, string> = { "emails.value": "u.email_keys" };

const lowerKeys = <T>(o: Record<string, T>) => new Map(Object.entries(o).map(([k, v]) => [k.toLowerCase(), v]));
const CATALOG = {
  User: { alias: "u", data: "u.data", columns: lowerKeys(USER_COLUMNS), relations: lowerKeys(USER_RELATIONS), elementKeys: lowerKeys(USER_ELEMENT_KEYS), definition: userDefinition },
  Group: { alias: "g", data: "g.data", columns: lowerKeys(GROUP_COLUMNS), relations: lowerKeys(GROUP_RELATIONS), elementKeys: lowerKeys<string>({}), definition: groupDefinition },
} as const;

export const tableAlias = (rt: ResourceType) => CATALOG[rt].alias;
export const dataColumn = (rt: ResourceType) => CATALOG[rt].data;

const kindOf = (a: Attribute): ValueKind => {
  switch (String(a.type)) {
    case "boolean": return "boolean";
    case "dateTime": return "dateTime";
    case "integer": case "decimal": return "number";
    case "complex": return "complex";
    default: return "string"; // string, reference, binary
  }
};
const isDefinition = (a: unknown): a is SchemaDefinition => !!a && typeof (a as SchemaDefinition).id === "string" && !("type" in (a as object));
const extensionsOf = (d: SchemaDefinition): SchemaDefinition[] => (d.attributes as unknown[]).filter(isDefinition);

function make(rt: ResourceType, attribute: Attribute, path: string, segments: string[], scope: AttrRef["scope"], parent?: AttrRef): AttrRef {
  const cat = CATALOG[rt];
  const inRelation = parent?.relation && scope === "element";
  const column = inRelation ? parent.relation!.columns[attribute.name] : scope === "root" ? cat.columns.get(path.toLowerCase()) : undefined;
  const relation = scope === "root" ? cat.relations.get(path.toLowerCase()) : undefined;
  // RFC 7643 §2.2 returned:"never" (password) must not be probed through filters; meta and the
  // membership attributes exist only as columns, so their other sub-attributes cannot be filtered.
  const returned = attribute.config.returned as unknown;
  if (returned === "never" || returned === false) throw new AttributePathError(`attribute '${path}' cannot be filtered or sorted on`);
  if ((/^meta\./i.test(path) || inRelation) && !column)
    throw new AttributePathError(`attribute '${path}' is not supported in filters or sortBy`);
  const elementKey = scope === "element" && !inRelation ? cat.elementKeys.get(path.toLowerCase()) : undefined;
  return {
    path, segments, scope, attribute, column, elementKey, relation: relation ?? (inRelation ? parent!.relation : undefined),
    kind: column?.kind === "uuid" ? "uuid" : kindOf(attribute),
    caseExact: attribute.config.caseExact === true,
    multiValued: attribute.config.multiValued === true,
  };
}

/** Resolves a top-level key of a parsed filter (`userName`, `urn:…:User:manager`) at the resource root. */
export function rootAttribute(rt: ResourceType, key: string): AttrRef {
  const definition = CATALOG[rt].definition();
  let found: unknown;
  try { found = definition.attribute(key); } catch { throw new AttributePathError(`unknown attribute '${key}' for ${rt}`); }
  if (isDefinition(found)) throw new AttributePathError(`'${key}' names a schema, not an attribute`);
  const attribute = found as Attribute;
  const lower = key.toLowerCase();
  const extension = lower.startsWith("urn:")
    ? extensionsOf(definition).find((d) => lower.startsWith(`${d.id.toLowerCase()}:`))
    : undefined;
  const path = extension ? `${extension.id}:${attribute.name}` : attribute.name;
  return make(rt, attribute, path, extension ? [extension.id, attribute.name] : [attribute.name], "root");
}

/** Resolves `key` as a sub-attribute of `parent`; `element` when evaluated on one value of a multi-valued parent. */
export function childAttribute(rt: ResourceType, parent: AttrRef, key: string, element = false): AttrRef {
  const sub = parent.attribute.subAttributes?.find((s) => s.name.toLowerCase() === key.toLowerCase());
  if (String(parent.attribute.type) !== "complex" || !sub)
    throw new AttributePathError(`unknown attribute '${parent.path}.${key}' for ${rt}`);
  const segments = element ? [sub.name] : [...parent.segments, sub.name];
  return make(rt, sub, `${parent.path}.${sub.name}`, segments, element ? "element" : parent.scope, parent);
}

/** The value of one element of a multi-valued attribute, as seen from inside that element. */
export function elementOf(ref: AttrRef): AttrRef {
  return { ...ref, segments: [], multiValued: false, scope: "element", column: undefined };
}

// ---- aliases used in policy conditions --------------------------------------------------------------
const ALIASES = new Map<string, string>([
  ...["department", "costCenter", "division", "organization", "employeeNumber", "manager"].map((n) => [n.toLowerCase(), `${ENT}:${n}`] as const),
  ...["employmentStatus", "startDate", "endDate", "location", "sponsor"].map((n) => [n.toLowerCase(), `${HR}:${n}`] as const),
]);

const isCore = (name: string) => { try { userDefinition().attribute(name); return true; } catch { return false; } };

/** The canonical path of a short policy name (`department` → `urn:…:enterprise:2.0:User:department`). */
function aliased(path: string): string {
  if (path.includes(":")) return path;
  const [first, ...rest] = path.split(".");
  const target = ALIASES.get(first!.toLowerCase());
  return target && !isCore(first!) ? [target, ...rest].join(".") : path;
}

/**
 * Rewrites the short names used in policy conditions (`department eq "Sales"`, `manager.value eq "…"`,
 * `startDate le "…"`) to their extension URN paths, unless the name is a core User attribute. Only paths
 * at the resource root are rewritten, never the sub-attributes inside a value path.
 */
export function expandAliases(ast: FilterAst): FilterAst {
  switch (ast.op) {
    case "and": case "or": return { op: ast.op, nodes: ast.nodes.map(expandAliases) };
    case "not": return { op: "not", node: expandAliases(ast.node) };
    case "attr": return { ...ast, path: aliased(ast.path) };
    case "valuePath": return { ...ast, path: aliased(ast.path) };
  }
}

// ---- SQL expressions shared by filter-sql and sortBy -------------------------------------------------
/** Where the current evaluation context lives in SQL: the jsonb of the resource or element, and the EXISTS alias. */
export interface SqlContext { json: string; el: string; ord?: string }

const SAFE_KEY = /^[A-Za-z0-9$_:.-]+$/;
/** Attribute names come from the schema definitions, never from the request; still, quote defensively. */
export const keyLiteral = (k: string) => {
  if (!SAFE_KEY.test(k)) throw new Error(`unexpected attribute key ${JSON.stringify(k)}`);
  return `'${k}'`;
};
export const columnSql = (c: ColumnDef, el: string) => c.sql.replaceAll("{el}", el);
export const relationSql = (r: RelationDef, el: string) => ({ from: r.from.replaceAll("{el}", el), correlate: r.correlate.replaceAll("{el}", el) });

/** jsonb of the attribute in the context. */
export const jsonSql = (ref: AttrRef, ctx: SqlContext) => ctx.json + ref.segments.map((s) => ` -> ${keyLiteral(s)}`).join("");
/** Text of a string-valued attribute in the context (NULL when absent). */
export const textSql = (ref: AttrRef, ctx: SqlContext) =>
  ref.segments.length === 0 ? `(${ctx.json} #>> '{}')`
    : `(${ctx.json}${ref.segments.slice(0, -1).map((s) => ` -> ${keyLiteral(s)}`).join("")} ->> ${keyLiteral(ref.segments.at(-1)!)})`;

// RFC 7643 §2.3.5 dateTime: xsd:dateTime. A value without offset is read as UTC on both sides (SQL and
// in-memory) so the answer never depends on the session time zone. Shared with filter-match.
export const DATE_TIME_WITH_ZONE = "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$";
export const DATE_TIME_LOCAL = "^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?)?$";

/**
 * The comparable SQL value of an attribute: lower-cased text for caseExact:false strings (the `_key`
 * column where there is one), timestamptz for dateTime, boolean, numeric; NULL when absent or ill-typed.
 */
export function valueSql(ref: AttrRef, ctx: SqlContext): string {
  if (ref.column) {
    const col = columnSql(ref.column, ctx.el);
    if (ref.column.kind === "text") return ref.caseExact ? col : ref.column.key ? columnSql({ ...ref.column, sql: ref.column.key }, ctx.el) : `lower(${col})`;
    return ref.column.kind === "uuid" ? `${col}::text` : col;
  }
  // An identifier inside an array element compares its stored key, found by the element's ordinality.
  if (ref.elementKey && !ref.caseExact && ctx.ord) return `${ref.elementKey}[${ctx.ord}]`;
  const j = jsonSql(ref, ctx);
  switch (ref.kind) {
    case "boolean": return `(CASE WHEN jsonb_typeof(${j}) = 'boolean' THEN (${j})::boolean END)`;
    case "number": return `(CASE WHEN jsonb_typeof(${j}) = 'number' THEN (${j})::numeric END)`;
    case "dateTime": {
      const t = textSql(ref, ctx);
      return `(CASE WHEN ${t} ~ '${DATE_TIME_WITH_ZONE}' THEN ${t}::timestamptz WHEN ${t} ~ '${DATE_TIME_LOCAL}' THEN ${t}::timestamp AT TIME ZONE 'UTC' END)`;
    }
    case "uuid": case "string": return ref.caseExact ? textSql(ref, ctx) : `lower(${textSql(ref, ctx)})`;
    default: throw new AttributePathError(`complex attribute '${ref.path}' has no comparable value`);
  }
}

/** Resolves a dotted attribute path (sortBy): `name.familyName`, `urn:…:enterprise:2.0:User:manager.value`. */
export function resolvePath(rt: ResourceType, path: string): AttrRef[] {
  const definition = CATALOG[rt].definition();
  const ext = [definition, ...extensionsOf(definition)]
    .find((d) => path.toLowerCase().startsWith(`${d.id.toLowerCase()}:`));
  const rest = ext ? path.slice(ext.id.length + 1) : path;
  const [first, ...subs] = rest.split(".");
  if (!first) throw new AttributePathError(`'${path}' is not an attribute path`);
  const chain = [rootAttribute(rt, ext && ext !== definition ? `${ext.id}:${first}` : first)];
  for (const s of subs) {
    const parent = chain.at(-1)!;
    chain.push(childAttribute(rt, parent, s, parent.multiValued));
  }
  return chain;
}

/**
 * SQL expression to ORDER BY for `sortBy` (RFC 7644 §3.4.2.3): caseExact:false strings sort
 * case-insensitively; a complex attribute sorts by its `value`; a multi-valued one by the primary value,
 * else the first. Absent values are NULL (the caller orders NULLS LAST ascending / FIRST descending).
 * An unknown or unsortable attribute is 400 invalidValue, not invalidFilter: sortBy is not a filter,
 * and RFC 7644 §3.12 defines invalidValue for a request value incompatible with the resource schema.
 */
export function sortExpression(sortBy: string, rt: ResourceType): string {
  try {
    let chain = resolvePath(rt, sortBy);
    const last = chain.at(-1)!;
    if (last.kind === "complex") {
      if (!last.attribute.subAttributes?.some((a) => a.name === "value")) throw new AttributePathError(`complex attribute '${sortBy}' needs a sub-attribute`);
      chain = [...chain, childAttribute(rt, last, "value", last.multiValued)];
    }
    const ctx: SqlContext = { json: dataColumn(rt), el: "" };
    const mv = chain.findIndex((r) => r.multiValued);
    if (mv < 0) return valueSql(chain.at(-1)!, ctx);
    const owner = chain[mv];
    if (owner.relation || chain.slice(mv + 1).some((r) => r.multiValued)) throw new AttributePathError(`attribute '${sortBy}' cannot be sorted on`);
    const leaf = mv === chain.length - 1 ? elementOf(owner) : chain.at(-1)!;
    const arr = jsonSql(owner, ctx);
    return `(SELECT ${valueSql(leaf, { json: "s.v", el: "" })} FROM jsonb_array_elements(CASE WHEN jsonb_typeof(${arr}) = 'array' THEN ${arr} ELSE '[]'::jsonb END) WITH ORDINALITY AS s(v, n) ORDER BY (s.v -> 'primary') = 'true'::jsonb DESC NULLS LAST, s.n LIMIT 1)`;
  } catch (e) {
    if (e instanceof AttributePathError) throw badRequest("invalidValue", `sortBy: ${e.message}`);
    throw e;
  }
}

export const invalidFilter = (message: string): DomainError => badRequest("invalidFilter", message);
