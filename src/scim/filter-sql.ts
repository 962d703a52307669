// Translates a parsed SCIM filter (RFC 7644 §3.4.2.2) into a parameterised PostgreSQL WHERE expression
// over `scim_user u` or `scim_group g`. The semantics are filter-match.ts's tree; this file only says
// how each node reads in SQL. Values are always bind parameters; the only literals are attribute keys
// taken from the schema definitions and fixed SQL fragments.
//
// NULL handling: under AND/OR alone a NULL comparison behaves like FALSE in a WHERE clause, so positive
// conditions stay bare (and can use indexes: `u.user_name_key = $1`). Only `not` could turn
// an unknown into a match or a miss, so it reads `NOT COALESCE(x, FALSE)`: `not (title eq "x")` and
// `title ne "x"` match users without a title, exactly like the in-memory matcher.
import {
  type AttrRef, type ResourceType, type SqlContext, columnSql, dataColumn, jsonSql, relationSql, valueSql,
} from "./attribute-catalog.ts";
import { buildFilterTree, type FilterNode } from "./filter-match.ts";
import type { FilterAst } from "./filter-parser.ts";
import { identifierKey } from "../domain/identifier.ts";
import { isKeyed } from "./filter-match.ts";

export { sortExpression } from "./attribute-catalog.ts";

export interface CompiledFilter { sql: string; params: unknown[] }

interface State { params: unknown[]; first: number; exists: number }

const bind = (s: State, value: unknown) => { s.params.push(value); return `$${s.first + s.params.length - 1}`; };

/** LIKE pattern for co/sw/ew with %, _ and the escape character itself taken literally. */
const likeEscape = (v: string) => v.replace(/[\\%_]/g, "\\$&");

const ORDER = { gt: ">", ge: ">=", lt: "<", le: "<=" } as const;
const EMPTY_JSON = `('null'::jsonb, '""'::jsonb, '[]'::jsonb, '{}'::jsonb)`;

/** Nodes whose SQL is never NULL (EXISTS, constants, presence tests, negations). */
const neverNull = (n: FilterNode) => n.op === "any" || n.op === "const" || n.op === "not" || n.op === "pr";

function present(attr: AttrRef, ctx: SqlContext): string {
  // A membership row is one present value of groups/members.
  if (attr.relation && attr.scope === "element" && attr.segments.length === 0) return "TRUE";
  if (attr.column) {
    const col = columnSql(attr.column, ctx.el);
    return attr.column.kind === "text" ? `(${col} IS NOT NULL AND ${col} <> '')` : `(${col} IS NOT NULL)`;
  }
  const j = jsonSql(attr, ctx);
  return `(${j} IS NOT NULL AND ${j} NOT IN ${EMPTY_JSON})`;
}

function comparison(n: Extract<FilterNode, { op: "cmp" }>, ctx: SqlContext, s: State): string {
  const { attr, cmp, value } = n;
  if (attr.kind === "uuid" && cmp === "eq" && attr.column) return `${columnSql(attr.column, ctx.el)} = ${bind(s, value)}::uuid`;
  const lhs = valueSql(attr, ctx);
  switch (attr.kind) {
    case "boolean": return `${lhs} = ${bind(s, value)}::boolean`;
    case "number": return `${lhs} ${cmp === "eq" ? "=" : ORDER[cmp as keyof typeof ORDER]} ${bind(s, value)}::numeric`;
    case "dateTime": return `${lhs} ${cmp === "eq" ? "=" : ORDER[cmp as keyof typeof ORDER]} ${bind(s, value)}::timestamptz`;
    default: {
      // Strings and ids: caseExact:false folds both sides with lower() (RFC 7644 §3.4.2.2); identifiers
      // with a stored key compare keys, the value's computed here as the column's was (identifier.ts).
      const keyed = isKeyed(attr);
      const fold = !keyed && (attr.kind === "uuid" || !attr.caseExact);
      const rhs = (v: string) => (fold ? `lower(${bind(s, v)})` : bind(s, v));
      const str = keyed ? identifierKey(String(value)) : String(value);
      switch (cmp) {
        case "eq": return `${lhs} = ${rhs(str)}`;
        case "co": return `${lhs} LIKE ${rhs(`%${likeEscape(str)}%`)} ESCAPE '\\'`;
        case "sw": return `${lhs} LIKE ${rhs(`${likeEscape(str)}%`)} ESCAPE '\\'`;
        case "ew": return `${lhs} LIKE ${rhs(`%${likeEscape(str)}`)} ESCAPE '\\'`;
        // Code-point order, independent of the database collation, as in the matcher.
        default: return `(${lhs}) COLLATE "C" ${ORDER[cmp]} ${rhs(str)}`;
      }
    }
  }
}

function anyValue(n: Extract<FilterNode, { op: "any" }>, ctx: SqlContext, s: State): string {
  const el = String(++s.exists);
  if (n.attr.relation) {
    const { from, correlate } = relationSql(n.attr.relation, el);
    return `EXISTS (SELECT 1 FROM ${from} WHERE ${correlate} AND ${compile(n.where, { json: "NULL::jsonb", el }, s)})`;
  }
  const arr = jsonSql(n.attr, ctx);
  const where = compile(n.where, { json: `e${el}.v`, el: ctx.el, ord: `e${el}.n` }, s);
  return `EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(${arr}) = 'array' THEN ${arr} ELSE '[]'::jsonb END) WITH ORDINALITY AS e${el}(v, n) WHERE ${where})`;
}

function compile(n: FilterNode, ctx: SqlContext, s: State): string {
  switch (n.op) {
    case "const": return n.value ? "TRUE" : "FALSE";
    case "and": case "or": return `(${n.nodes.map((c) => compile(c, ctx, s)).join(n.op === "and" ? " AND " : " OR ")})`;
    case "not": {
      const inner = compile(n.node, ctx, s);
      return neverNull(n.node) ? `NOT ${inner}` : `NOT COALESCE(${inner}, FALSE)`;
    }
    case "pr": return present(n.attr, ctx);
    case "any": return anyValue(n, ctx, s);
    case "cmp": return comparison(n, ctx, s);
  }
}

/**
 * Compiles a parsed filter (filter-parser.ts `parseFilter(expr)`) to a
 * WHERE expression over alias `u` (User) or `g` (Group) with bind parameters numbered from `firstParam`.
 * Throws DomainError 400 invalidFilter for an unknown attribute or operator, a missing or ill-typed value.
 */
export function compileFilter(parsed: FilterAst, resourceType: ResourceType, firstParam = 1): CompiledFilter {
  const tree = buildFilterTree(parsed, resourceType);
  const state: State = { params: [], first: firstParam, exists: 0 };
  const sql = compile(tree, { json: dataColumn(resourceType), el: "" }, state);
  return { sql, params: state.params };
}
