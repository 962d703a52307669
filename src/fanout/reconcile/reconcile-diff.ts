// Pure comparisons for reconciliation: which of the attributes we send differ from what the app holds.
// Only what our mapping produces is compared (apps add their own attributes: meta, groups, defaults), and
// with the app's tolerances: booleans may come back as "True"/"False" strings, userName is case-insensitive
// (RFC 7643 §4.1.1 caseExact false), multi-valued attributes match element-wise as subsets in any order.
import type { ScimResource } from "../../domain/app-mapping.ts";

const IGNORED = new Set(["schemas", "id", "meta", "groups", "password"]);

/** Top-level attribute names (URN extensions as a whole) whose desired value the app does not hold. */
export function driftingAttributes(desired: ScimResource, actual: ScimResource): string[] {
  const out: string[] = [];
  for (const [key, want] of Object.entries(desired)) {
    if (IGNORED.has(key) || want === undefined || want === null) continue;
    const have = getCI(actual, key);
    const caseless = key.toLowerCase() === "username";
    if (!covers(want, have, caseless)) out.push(key);
  }
  return out.sort();
}

/** Whether the app's account counts as active: absent `active` means active (RFC 7643 §4.1.1 default). */
export function isActive(resource: ScimResource): boolean {
  const a = getCI(resource, "active");
  return !(a === false || (typeof a === "string" && a.toLowerCase() === "false"));
}

function covers(want: unknown, have: unknown, caseless: boolean): boolean {
  if (Array.isArray(want)) {
    const list = Array.isArray(have) ? have : have === undefined ? [] : [have];
    return want.every((w) => list.some((h) => covers(w, h, caseless)));
  }
  if (want !== null && typeof want === "object") {
    if (have === null || typeof have !== "object" || Array.isArray(have)) return false;
    return Object.entries(want as Record<string, unknown>).every(([k, w]) => w === undefined || w === null || covers(w, getCI(have as Record<string, unknown>, k), caseless));
  }
  const a = scalar(want), b = scalar(have);
  if (typeof a === "string" && typeof b === "string" && caseless) return a.toLowerCase() === b.toLowerCase();
  return a === b;
}

function scalar(v: unknown): unknown {
  if (typeof v === "string" && /^(true|false)$/i.test(v)) return v.toLowerCase() === "true";
  return v;
}

function getCI(obj: Record<string, unknown>, key: string): unknown {
  if (Object.hasOwn(obj, key)) return obj[key];
  const k = Object.keys(obj).find((x) => x.toLowerCase() === key.toLowerCase());
  return k === undefined ? undefined : obj[k];
}
