// Filter evaluation for the fake apps: scimmy parses (RFC 7644 §3.4.2.2, OR-of-ANDs), we only compare.
// scimmy's Filter.match compares strings exactly, but userName/displayName are caseExact:false
// (RFC 7643 §4.1.1), so the comparison is ours (docs/scimmy.md 5).
import SCIMMY from "scimmy";
import { ScimHttpError } from "./harness.ts";

/** attribute (lower-case) → caseExact */
export type FilterableAttributes = Record<string, boolean>;

/**
 * Resources matching `filterText`. Only `attr eq value` on the listed attributes is supported; anything else
 * is rejected with 400 invalidFilter (strict) or makes the filter match everything (quirky apps do that).
 */
export function applyFilter<T extends Record<string, unknown>>(
  resources: T[],
  filterText: string | null,
  attributes: FilterableAttributes,
  onUnsupported: "reject" | "ignore",
): T[] {
  if (filterText === null || filterText.trim() === "") return resources;
  let parsed: Array<Record<string, unknown>>;
  try {
    parsed = [...new SCIMMY.Types.Filter(filterText)] as Array<Record<string, unknown>>;
  } catch (e) {
    if (onUnsupported === "ignore") return resources;
    throw new ScimHttpError(400, "invalidFilter", (e as Error).message);
  }
  const branches: Array<Array<[string, unknown, boolean]>> = [];
  for (const branch of parsed) {
    const terms: Array<[string, unknown, boolean]> = [];
    for (const [attr, comparison] of Object.entries(branch)) {
      const caseExact = attributes[attr.toLowerCase()];
      if (caseExact === undefined || !Array.isArray(comparison) || comparison[0] !== "eq" || comparison.length !== 2) {
        if (onUnsupported === "ignore") return resources;
        throw new ScimHttpError(400, "invalidFilter", `unsupported filter on '${attr}'`);
      }
      terms.push([attr.toLowerCase(), comparison[1], caseExact]);
    }
    branches.push(terms);
  }
  return resources.filter((r) => branches.some((terms) => terms.every(([attr, value, caseExact]) => equals(read(r, attr), value, caseExact))));
}

function read(resource: Record<string, unknown>, attrLower: string): unknown {
  const key = Object.keys(resource).find((k) => k.toLowerCase() === attrLower);
  return key === undefined ? undefined : resource[key];
}

function equals(actual: unknown, expected: unknown, caseExact: boolean): boolean {
  if (typeof actual === "string" && typeof expected === "string" && !caseExact) return actual.toLowerCase() === expected.toLowerCase();
  return actual === expected;
}
