// Attribute paths and the small expression language of per-app attribute mappings.
//
// Paths follow RFC 7644 §3.10 attribute notation: `name.givenName`, a schema-URN prefix for extension
// attributes (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`) and value filters
// on multi-valued attributes (`emails[type eq "work"].value`, §3.4.2.2 valuePath). The bracketed filter is
// parsed and matched by scimmy (never by hand); this file only splits the path around it.
//
// Expressions (our own, not SCIM): a path, a JSON string/number/true/false/null literal,
// `a + " " + b` (concatenation; undefined if any part is missing), `a ?? b` (first non-empty), and
// `lower(x)`, `upper(x)`, `trim(x)`. `+` binds tighter than `??`; parentheses group.
import SCIMMY from "scimmy";

export const CORE_USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";

export interface PathStep {
  name: string;
  /** Raw filter text inside the brackets and scimmy's parsed form of it. */
  filterText?: string;
  filter?: SCIMMY.Types.Filter;
}
export interface AttributePath {
  /** Extension schema URN; undefined for core attributes (with or without the core URN prefix). */
  schema?: string;
  steps: PathStep[];
}

export type Expression =
  | { kind: "literal"; value: string | number | boolean | null }
  | { kind: "path"; path: AttributePath }
  | { kind: "concat"; parts: Expression[] }
  | { kind: "fallback"; options: Expression[] }
  | { kind: "call"; fn: "lower" | "upper" | "trim"; arg: Expression };

export class MappingSyntaxError extends Error {
  override readonly name = "MappingSyntaxError";
  readonly code = "FANOUT_MAPPING_SYNTAX";
}

// Extension URNs end in `<version>:<Resource>` (RFC 7643 §8.7 and ours); the lazy prefix stops at the first.
const VERSIONED_URN = /^(urn:[^[\]]*?:\d+(?:\.\d+)*:[A-Za-z][\w-]*)(?::(.+))?$/i;
const ATTR_NAME = /^\$?[A-Za-z][\w$-]*$/; // RFC 7643 §2.1 ATTRNAME, plus "$ref"

export function parsePath(text: string): AttributePath {
  const source = text.trim();
  let schema: string | undefined;
  let rest = source;
  if (/^urn:/i.test(source)) {
    const versioned = VERSIONED_URN.exec(source);
    if (versioned) [schema, rest] = [versioned[1]!, versioned[2] ?? ""];
    else {
      const cut = lastIndexOutside(source, ":");
      [schema, rest] = [source.slice(0, cut), source.slice(cut + 1)];
    }
    if (schema.toLowerCase() === CORE_USER_SCHEMA.toLowerCase()) schema = undefined;
  }
  const steps = rest === "" ? [] : splitOutside(rest, ".").map(parseStep);
  if (!schema && steps.length === 0) throw new MappingSyntaxError(`empty attribute path '${text}'`);
  return { schema, steps };
}

function parseStep(segment: string): PathStep {
  const open = segment.indexOf("[");
  const name = open < 0 ? segment : segment.slice(0, open);
  if (!ATTR_NAME.test(name)) throw new MappingSyntaxError(`invalid attribute name '${name}'`);
  if (open < 0) return { name };
  if (!segment.endsWith("]")) throw new MappingSyntaxError(`unterminated value filter in '${segment}'`);
  const filterText = segment.slice(open + 1, -1);
  try {
    return { name, filterText, filter: new SCIMMY.Types.Filter(filterText) };
  } catch (e) {
    throw new MappingSyntaxError(`invalid value filter '${filterText}': ${(e as Error).message}`);
  }
}

/** Reads a path from a resource. A multi-valued attribute followed by a sub-attribute resolves to its
 * primary value, else its first (RFC 7643 §2.4 "primary"). Attribute names match case-insensitively (§2.1). */
export function resolvePath(resource: Record<string, unknown>, path: AttributePath): unknown {
  let current: unknown = path.schema ? getCI(resource, path.schema) : resource;
  path.steps.forEach((step, i) => {
    if (Array.isArray(current)) current = pickPrimary(current);
    current = getCI(current, step.name);
    if (step.filter) current = Array.isArray(current) ? step.filter.match(current) : undefined;
    if (Array.isArray(current) && current.length === 0 && i < path.steps.length - 1) current = undefined;
  });
  return current;
}

export function getCI(value: unknown, key: string): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  if (key in record) return record[key];
  const lower = key.toLowerCase();
  const found = Object.keys(record).find((k) => k.toLowerCase() === lower);
  return found === undefined ? undefined : record[found];
}

function pickPrimary(values: unknown[]): unknown {
  return values.find((v) => getCI(v, "primary") === true) ?? values[0];
}

export function evaluateExpression(expr: Expression, resource: Record<string, unknown>): unknown {
  switch (expr.kind) {
    case "literal":
      return expr.value;
    case "path":
      return resolvePath(resource, expr.path);
    case "concat": {
      const parts = expr.parts.map((p) => evaluateExpression(p, resource));
      return parts.some(isEmpty) ? undefined : parts.map(String).join("");
    }
    case "fallback":
      for (const option of expr.options) {
        const value = evaluateExpression(option, resource);
        if (!isEmpty(value)) return value;
      }
      return undefined;
    case "call": {
      const value = evaluateExpression(expr.arg, resource);
      if (typeof value !== "string") return value;
      return expr.fn === "lower" ? value.toLowerCase() : expr.fn === "upper" ? value.toUpperCase() : value.trim();
    }
  }
}

function isEmpty(value: unknown): boolean {
  return value === undefined || value === null || value === "" || (Array.isArray(value) && value.length === 0);
}

// ---- expression parser (recursive descent over a tiny token stream) ----

type Token = { t: "str"; v: string } | { t: "num"; v: number } | { t: "word"; v: string } | { t: "op"; v: string };

export function parseExpression(text: string): Expression {
  const tokens = tokenize(text);
  let pos = 0;
  const peek = () => tokens[pos];
  const isOp = (v: string) => peek()?.t === "op" && peek()!.v === v;
  const expect = (v: string) => {
    if (!isOp(v)) throw new MappingSyntaxError(`expected '${v}' in '${text}'`);
    pos++;
  };
  const fallback = (): Expression => {
    const options = [concat()];
    while (isOp("??")) {
      pos++;
      options.push(concat());
    }
    return options.length === 1 ? options[0]! : { kind: "fallback", options };
  };
  const concat = (): Expression => {
    const parts = [primary()];
    while (isOp("+")) {
      pos++;
      parts.push(primary());
    }
    return parts.length === 1 ? parts[0]! : { kind: "concat", parts };
  };
  const primary = (): Expression => {
    const token = tokens[pos++];
    if (!token) throw new MappingSyntaxError(`unexpected end of expression '${text}'`);
    if (token.t === "str" || token.t === "num") return { kind: "literal", value: token.v };
    if (token.t === "op" && token.v === "(") {
      const inner = fallback();
      expect(")");
      return inner;
    }
    if (token.t !== "word") throw new MappingSyntaxError(`unexpected '${token.v}' in '${text}'`);
    if (isOp("(")) {
      if (token.v !== "lower" && token.v !== "upper" && token.v !== "trim")
        throw new MappingSyntaxError(`unknown function '${token.v}' (lower, upper, trim)`);
      pos++;
      const arg = fallback();
      expect(")");
      return { kind: "call", fn: token.v, arg };
    }
    if (token.v === "true" || token.v === "false") return { kind: "literal", value: token.v === "true" };
    if (token.v === "null") return { kind: "literal", value: null };
    return { kind: "path", path: parsePath(token.v) };
  };
  const expr = fallback();
  if (pos !== tokens.length) throw new MappingSyntaxError(`unexpected '${tokens[pos]!.v}' in '${text}'`);
  return expr;
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) i++;
    else if (c === '"') {
      const end = endOfString(text, i);
      tokens.push({ t: "str", v: JSON.parse(text.slice(i, end)) as string });
      i = end;
    } else if (text.startsWith("??", i)) {
      tokens.push({ t: "op", v: "??" });
      i += 2;
    } else if ("+()".includes(c)) {
      tokens.push({ t: "op", v: c });
      i++;
    } else if (/[-\d]/.test(c) && /^-?\d/.test(text.slice(i))) {
      const m = /^-?\d+(\.\d+)?/.exec(text.slice(i))!;
      tokens.push({ t: "num", v: Number(m[0]) });
      i += m[0].length;
    } else {
      const start = i;
      while (i < text.length) {
        if (text[i] === "[") i = endOfBracket(text, i);
        else if (/[\w:$.-]/.test(text[i]!)) i++;
        else break;
      }
      if (i === start) throw new MappingSyntaxError(`unexpected character '${c}' in '${text}'`);
      tokens.push({ t: "word", v: text.slice(start, i) });
    }
  }
  return tokens;
}

/** Index just past the closing quote of the JSON string starting at `start`. */
function endOfString(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === '"') return i + 1;
  }
  throw new MappingSyntaxError(`unterminated string in '${text}'`);
}

/** Index just past the `]` matching the `[` at `start`, skipping quoted filter values. */
function endOfBracket(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === '"') i = endOfString(text, i) - 1;
    else if (text[i] === "]") return i + 1;
  }
  throw new MappingSyntaxError(`unterminated '[' in '${text}'`);
}

function splitOutside(text: string, sep: string): string[] {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "[") i = endOfBracket(text, i) - 1;
    else if (text[i] === sep) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

function lastIndexOutside(text: string, sep: string): number {
  let last = -1;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "[") i = endOfBracket(text, i) - 1;
    else if (text[i] === sep) last = i;
  }
  return last;
}
