// A group's `when` condition: a SCIM filter (RFC 7644 §3.4.2.2) over the user, parsed by the same grammar
// the SCIM server uses for ?filter= (scim/filter-parser.ts), with the policy's short names expanded to URN
// paths, then checked against the User schema definition, so that a typo fails at load time instead of
// silently matching nobody.
import { declareSchemas } from "../scim/schemas.ts";
import { AttributePathError, childAttribute, expandAliases, rootAttribute, type AttrRef } from "../scim/attribute-catalog.ts";
import { compileMatcher } from "../scim/filter-match.ts";
import { parseFilter, type FilterAst } from "../scim/filter-parser.ts";
import { deepFreeze } from "./freeze.ts";

/** A compiled condition: the source text, the parsed filter (aliases expanded), what it reads, its matcher. */
export interface Condition {
  readonly expression: string;
  /** The parsed filter (scim/filter-parser.ts), short names rewritten to canonical paths; deep-frozen. */
  readonly filter: FilterAst;
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
  let parsed: FilterAst;
  try {
    parsed = expandAliases(parseFilter(expression));
  } catch (e) {
    throw new ConditionError([`invalid SCIM filter: ${(e as Error).message}`]);
  }
  const problems: string[] = [];
  const attributes = new Set<string>();
  walk(parsed, undefined, problems, attributes);
  if (problems.length > 0) throw new ConditionError([...new Set(problems)]);
  let matches: (user: Record<string, unknown>) => boolean;
  try {
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

// Resolves every attribute path (short names already expanded) and records the canonical paths read.
function walk(ast: FilterAst, element: AttrRef | undefined, problems: string[], seen: Set<string>): void {
  if (ast.op === "not") { walk(ast.node, element, problems, seen); return; }
  if (ast.op !== "attr" && ast.op !== "valuePath") { for (const n of ast.nodes) walk(n, element, problems, seen); return; }
  let ref: AttrRef | undefined;
  try {
    const colon = ast.path.lastIndexOf(":");
    const [first, ...subs] = ast.path.slice(colon + 1).split(".");
    ref = element ? childAttribute("User", element, first!, true) : rootAttribute("User", `${ast.path.slice(0, colon + 1)}${first}`);
    for (const s of subs) ref = childAttribute("User", ref, s, ref.multiValued);
  } catch (e) {
    if (!(e instanceof AttributePathError)) throw e;
    problems.push(e.message);
    return;
  }
  if (ast.op === "valuePath" && ref.kind === "complex") walk(ast.filter, ref, problems, seen);
  else seen.add(ref.path);
}
