// A group's `when` condition: a SCIM filter (RFC 7644 §3.4.2.2) over the user, parsed by scimmy — the same
// parser the SCIM server uses for ?filter= — with the policy's short names expanded to URN paths, then
// checked against the User schema definition. scimmy's parser is lenient (`foo eq "a"` and `department eq`
// both parse, scimmy-notes trap 4), so the checks here are what makes a typo fail at load time instead of
// silently matching nobody.
import SCIMMY from "scimmy";
import { declareSchemas } from "../scim/schemas.ts";
import { AttributePathError, childAttribute, expandAliases, rootAttribute, type AttrRef } from "../scim/attribute-catalog.ts";
import { assertSupportedExpression, compileMatcher } from "../scim/filter-match.ts";
import { deepFreeze } from "./freeze.ts";

/** A compiled condition: the source text, the parsed filter (aliases expanded), what it reads, its matcher. */
export interface Condition {
  readonly expression: string;
  /** OR-of-ANDs in scimmy's parsed shape, keys rewritten to canonical paths; deep-frozen. */
  readonly filter: readonly Readonly<Record<string, unknown>>[];
  /** Canonical attribute paths the condition reads (e.g. `urn:…:enterprise:2.0:User:department`), sorted. */
  readonly attributes: readonly string[];
  /** The SCIM server's own filter semantics (filter-match.ts), compiled once at load. */
  readonly matches: (user: Record<string, unknown>) => boolean;
}

/** Every problem found in one expression (the loader adds file, line and path). */
export class ConditionError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join("; "));
    this.name = "ConditionError";
  }
}

/**
 * Parses and checks an expression; throws ConditionError. Unknown attributes are collected across the whole
 * expression (typos come in twos); the remaining checks — operators, value types, the shapes scimmy
 * mis-parses — are filter-match's, so a condition accepts exactly what ?filter= accepts.
 */
export function compileCondition(expression: string): Condition {
  declareSchemas();
  let parsed: Record<string, unknown>[];
  try {
    // scimmy's parsed filter is a tree of immutable proxies; a plain copy can be frozen and kept.
    parsed = JSON.parse(JSON.stringify(expandAliases([...new SCIMMY.Types.Filter(expression)] as object[])));
  } catch (e) {
    throw new ConditionError([`invalid SCIM filter: ${(e as Error).message}`]);
  }
  const problems: string[] = [];
  const attributes = new Set<string>();
  for (const branch of parsed) walk(branch, undefined, problems, attributes);
  if (problems.length > 0) throw new ConditionError([...new Set(problems)]);
  let matches: (user: Record<string, unknown>) => boolean;
  try {
    // The expanded copy has lost scimmy's `expression`, which filter-match scans for mis-parsed shapes.
    assertSupportedExpression(expression);
    matches = compileMatcher(parsed, "User");
  } catch (e) {
    throw new ConditionError([(e as Error).message]);
  }
  const condition = deepFreeze({ expression, filter: parsed, attributes: [...attributes].sort() });
  return Object.freeze({ ...condition, matches });
}

/** Whether the user resource (SCIM JSON, extensions under their URN keys) satisfies the condition. */
export function conditionMatches(condition: Condition, user: Record<string, unknown>): boolean {
  return condition.matches(user);
}

// Resolves every attribute key (short names already expanded) and records the canonical paths read.
function walk(branch: Record<string, unknown>, parent: AttrRef | undefined, problems: string[], seen: Set<string>): void {
  for (const [key, value] of Object.entries(branch)) {
    let ref: AttrRef;
    try {
      ref = parent ? childAttribute("User", parent, key, parent.multiValued) : rootAttribute("User", key);
    } catch (e) {
      if (!(e instanceof AttributePathError)) throw e;
      problems.push(e.message);
      continue;
    }
    const nested = [value, ...(Array.isArray(value) ? value : [])].filter((v) => v && typeof v === "object" && !Array.isArray(v));
    if (nested.length > 0 && ref.kind === "complex") for (const n of nested) walk(n as Record<string, unknown>, ref, problems, seen);
    else seen.add(ref.path);
  }
}
