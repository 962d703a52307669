// Limits on client input, checked before any work that grows with it (docs/identifiers.md, README "Input
// limits"). Every violation is a 400 naming the field, never a database error or a stack overflow:
// - JSON bodies: nesting depth, string length, NUL and unpaired UTF-16 surrogates (PostgreSQL text and
//   jsonb cannot store either: 22021, 22P05), `__proto__` keys. One iterative walk, before any recursive
//   code (dialect normalisation, scimmy) sees the body.
// - Attribute lengths: every column-backed (indexed) attribute at most 256 characters (a btree entry holds
//   ~2,700 bytes; 256 characters are at most 1,024 bytes of UTF-8), other strings 1,024, binary 16,384.
// - Filters: length, comparisons and nesting (RFC 7644 §3.4.2.2 sets no bound; one 70,000-term filter would
//   otherwise hold the event loop for seconds), checked before parsing → 400 invalidFilter "too complex".
import { badRequest, type ScimType } from "../shared/errors.ts";
import { ENTERPRISE_SCHEMA, HR_SCHEMA } from "./schemas.ts";

export const FILTER_LIMITS = { maxLength: 4_096, maxTerms: 100, maxDepth: 16 } as const;
export const JSON_LIMITS = { maxDepth: 32, maxStringLength: 16_384 } as const;
export const PATH_MAX_LENGTH = 1_024;
/** Alternatives a PATCH path's value filter may expand to (filter-parser.ts normalFormSize). */
export const PATCH_FILTER_MAX_BRANCHES = 64;
export const DEFAULT_MAX_LENGTH = 1_024;
export const BINARY_MAX_LENGTH = 16_384;

/** Column-backed attributes (prisma/schema.prisma: the indexed columns of scim_user and scim_group). */
const INDEXED = 256;
export const ATTRIBUTE_MAX_LENGTH: Readonly<Record<string, number>> = Object.freeze(Object.fromEntries([
  "userName", "externalId", "displayName", "userType", "title", "nickName", "emails.value",
  `${ENTERPRISE_SCHEMA}:department`, `${ENTERPRISE_SCHEMA}:costCenter`, `${ENTERPRISE_SCHEMA}:division`,
  `${ENTERPRISE_SCHEMA}:organization`, `${ENTERPRISE_SCHEMA}:employeeNumber`, `${ENTERPRISE_SCHEMA}:manager.value`,
  `${HR_SCHEMA}:employmentStatus`, `${HR_SCHEMA}:location`, `${HR_SCHEMA}:sponsor.value`,
].map((p) => [p.toLowerCase(), INDEXED])));

// In a `u` regular expression a paired surrogate is one code point; only an unpaired half is \p{Cs}.
const LONE_SURROGATE = /\p{Cs}/u;

/** Why a string cannot be stored as text, or undefined when it can. */
export function textProblem(s: string): string | undefined {
  if (s.includes("\u0000")) return "contains a NUL character";
  if (LONE_SURROGATE.test(s)) return "contains an unpaired UTF-16 surrogate (not valid Unicode text)";
  return undefined;
}

const fail = (scimType: ScimType, message: string) => { throw badRequest(scimType, message); };
const show = (path: string) => path || "the body";

/**
 * One iterative walk over a parsed JSON body (no recursion: a body nested 100,000 deep is refused, not
 * walked): depth ≤ 32, strings ≤ 16,384 characters and storable, no `__proto__` keys. 400 invalidSyntax
 * names the JSON path of the first problem.
 */
export function assertJsonWithinLimits(body: unknown): void {
  const stack: Array<{ value: unknown; path: string; depth: number }> = [{ value: body, path: "", depth: 0 }];
  while (stack.length) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value === "string") {
      if (value.length > JSON_LIMITS.maxStringLength)
        fail("invalidValue", `${show(path)} is ${value.length} characters long; at most ${JSON_LIMITS.maxStringLength} are accepted`);
      const problem = textProblem(value);
      if (problem) fail("invalidValue", `${show(path)} ${problem}`);
      continue;
    }
    if (value === null || typeof value !== "object") continue;
    if (depth >= JSON_LIMITS.maxDepth) fail("invalidSyntax", `the body is nested more than ${JSON_LIMITS.maxDepth} levels deep (at ${show(path)})`);
    if (Array.isArray(value)) {
      value.forEach((v, i) => stack.push({ value: v, path: `${path}[${i}]`, depth: depth + 1 }));
      continue;
    }
    for (const [k, v] of Object.entries(value)) {
      const at = path ? `${path}.${k}` : k;
      if (k === "__proto__") fail("invalidSyntax", `'__proto__' is not an attribute name (at ${show(path)})`);
      const problem = k.length > PATH_MAX_LENGTH ? "is too long" : textProblem(k);
      if (problem) fail("invalidSyntax", `an attribute name at ${show(path)} ${problem}`);
      stack.push({ value: v, path: at, depth: depth + 1 });
    }
  }
}

/**
 * The nesting depth of raw JSON text, measured before JSON.parse (which has no depth limit and spends
 * ~0.3 s on 1 MB of brackets): a byte scan that skips strings. Hand-written because no JSON parser we use
 * takes a depth bound; it only counts, it does not parse.
 */
export function assertRawJsonDepth(buf: Buffer): void {
  let depth = 0, inString = false;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i];
    if (inString) {
      if (b === 0x5c) i++;            // backslash: skip the escaped byte
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x5b || b === 0x7b) {
      if (++depth > JSON_LIMITS.maxDepth) fail("invalidSyntax", `the body is nested more than ${JSON_LIMITS.maxDepth} levels deep`);
    } else if (b === 0x5d || b === 0x7d) depth--;
  }
}

/** Filter text bounds, checked before the grammar runs (filter-parser.ts also bounds terms and depth). */
export function assertFilterWithinLimits(expression: string): void {
  if (expression.length > FILTER_LIMITS.maxLength)
    fail("invalidFilter", `filter too complex: ${expression.length} characters (at most ${FILTER_LIMITS.maxLength})`);
  const problem = textProblem(expression);
  if (problem) fail("invalidFilter", `the filter ${problem}`);
}

/**
 * Checks the string attributes of a validated resource (canonical names, extensions under their URN) against
 * ATTRIBUTE_MAX_LENGTH, DEFAULT_MAX_LENGTH, or BINARY_MAX_LENGTH for `binaryAttrs`; 400 invalidValue names
 * the attribute. Validated resources are shallow (schema depth ≤ 3), so the walk is bounded.
 */
export function assertAttributeLengths(resource: Record<string, unknown>, binaryAttrs: ReadonlySet<string> = new Set()): void {
  const visit = (value: unknown, path: string, shown: string): void => {
    if (typeof value === "string") {
      const key = path.toLowerCase();
      const max = ATTRIBUTE_MAX_LENGTH[key] ?? (binaryAttrs.has(key) ? BINARY_MAX_LENGTH : DEFAULT_MAX_LENGTH);
      if (value.length > max) fail("invalidValue", `${shown} is ${value.length} characters long; at most ${max} are accepted`);
    } else if (Array.isArray(value)) value.forEach((v, i) => visit(v, path, `${shown}[${i}]`));
    else if (value && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) visit(v, `${path}.${k}`, `${shown}.${k}`);
    }
  };
  for (const [k, v] of Object.entries(resource)) {
    if (k === "schemas") continue;
    // Extension attributes are named `urn:…:User:department` (RFC 7644 §3.10).
    if (k.toLowerCase().startsWith("urn:") && v && typeof v === "object" && !Array.isArray(v))
      for (const [ek, ev] of Object.entries(v)) visit(ev, `${k}:${ek}`, `${k}:${ek}`);
    else visit(v, k, k);
  }
}
