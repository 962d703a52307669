// Identifiers — userName, emails[].value, externalId, Group displayName — and the one normalisation that
// decides when two of them are the same (docs/identifiers.md):
//
//   key(s) = NFKC( lower( upper( NFKC(s) ) ) ), with U+0307 COMBINING DOT ABOVE dropped after a soft-dotted
//            letter (i, j, …)
//
// - NFKC (UAX #15) folds compatibility look-alikes: fullwidth `ａｎｎ` → `ann`, `ﬀ` → `ff`, `ǅ` → `Dž`,
//   decomposed `å` → `å`.
// - upper-then-lower is a full, locale-independent Unicode case fold built on the engine's SpecialCasing
//   tables (ECMAScript String.prototype.toUpperCase/toLowerCase): `ß` → `SS` → `ss` (so STRASSE ≡ straße),
//   final `ς` and `σ` both → `Σ` → one lower form (so ΟΔΥΣΣΕΥΣ ≡ οδυσσευσ), `İ` → `i̇`. The trailing NFKC
//   keeps the key stable (key(key(s)) = key(s)). Chosen over a case-folding package: the engine's tables
//   follow its Unicode version and need no copy of CaseFolding.txt.
// - `i` + U+0307 renders exactly like `i` (UTS #39 §5.4 names this sequence), so `İnga` ≡ `inga`.
// The key is computed here, in JavaScript only, and stored (scim_user.user_name_key, scim_group.
// display_name_key): uniqueness and `eq`/`sw`/… on those attributes compare keys on both sides, so SQL and
// the in-memory matcher cannot disagree (PostgreSQL's lower() and JavaScript's toLowerCase() do, on `İ`
// and final sigma).
//
// Refused with 400 invalidValue, whatever the attribute: control characters (tab, NUL, …), invisible and
// formatting characters (zero-width space and joiners, soft hyphen, bidi overrides and isolates — Unicode
// Default_Ignorable_Code_Point and Bidi_Control), leading or trailing white space, line separators, and
// mixed-script confusables (UTS #39 §4, §5.1): letters of two scripts where one of them imitates a letter of
// the other (`pаypal` with a Cyrillic `а`). Scripts come from `unicode-properties` (the Unicode Character
// Database's Script property, maintained with fontkit), confusable prototypes from `unicode-confusables`
// (UTS #39 confusables.txt); neither is a table of our own.
import confusablesLib from "unicode-confusables";
import { getScript } from "unicode-properties";
import { badRequest } from "../shared/errors.ts";

const SOFT_DOTTED_DOT = /(\p{Soft_Dotted}\p{Mn}*?)\u0307/gu;

const fold = (v: string) => v.normalize("NFKC").toUpperCase().toLowerCase().normalize("NFKC").replace(SOFT_DOTTED_DOT, "$1");

/** The normalised key of an identifier (see the file comment). Total: never throws. */
export function identifierKey(value: string): string {
  // One upper/lower pass is not always the full case fold: capital sharp s (U+1E9E) upper-cases to itself
  // and lower-cases to ß, whose fold is "ss" (CaseFolding.txt). Folding again until nothing changes makes
  // the key a normal form (key(key(x)) = key(x)); a second pass is the most any character needs.
  let key = fold(value);
  for (let i = 0, next = fold(key); next !== key && i < 3; i++, next = fold(key)) key = next;
  return key;
}

/**
 * The keys of a user's emails[].value, aligned with the array (null where an entry has no string value):
 * the scim_user.email_keys column, written with the row and by the migration that introduced it.
 */
export function emailKeysOf(emails: unknown): Array<string | null> {
  return Array.isArray(emails) ? emails.map((e: { value?: unknown } | null) => (typeof e?.value === "string" ? identifierKey(e.value) : null)) : [];
}

// Cc (controls incl. tab and NUL), Cf (format: zero-width, soft hyphen, bidi), Zl/Zp (line/paragraph
// separators), Co/Cn would be private-use/unassigned: refused as well, they have no agreed appearance.
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}\p{Default_Ignorable_Code_Point}\p{Bidi_Control}]/u;
const EDGE_SPACE = /^[\p{White_Space}]|[\p{White_Space}]$/u;

const describe = (ch: string) => `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;

// UTS #39 §5.2 Highly Restrictive: these script combinations are normal in one writing system.
const ALLOWED_MIXES = [["Latin", "Han", "Hiragana", "Katakana"], ["Latin", "Han", "Bopomofo"], ["Latin", "Han", "Hangul"]].map((s) => new Set(s));
const scriptOf = (ch: string): string => getScript(ch.codePointAt(0)!);
const NEUTRAL = new Set(["Common", "Inherited", "Unknown"]);

/** Why `value` is not acceptable as an identifier, or undefined. */
export function identifierProblem(value: string): string | undefined {
  const bad = INVISIBLE.exec(value);
  if (bad) return `contains the invisible or control character ${describe(bad[0])}`;
  if (EDGE_SPACE.test(value)) return "starts or ends with white space";
  if (value.normalize("NFKC").trim() === "") return "is empty";
  const chars = [...value.normalize("NFD")];
  const scripts = new Set(chars.map(scriptOf).filter((s) => !NEUTRAL.has(s)));
  if (scripts.size > 1 && !ALLOWED_MIXES.some((allowed) => [...scripts].every((s) => allowed.has(s)))) {
    // Mixed script: refused when a letter of one script imitates a letter of another script present.
    for (const ch of chars) {
      const own = scriptOf(ch);
      if (NEUTRAL.has(own)) continue;
      const proto = confusablesLib.rectifyConfusion(ch);
      const protoScripts = new Set([...proto].map(scriptOf).filter((s) => !NEUTRAL.has(s)));
      if (proto !== ch && protoScripts.size === 1 && !protoScripts.has(own) && scripts.has([...protoScripts][0]!))
        return `mixes ${[...scripts].join(" and ")} look-alike letters ('${ch}' ${describe(ch)} is ${own} and looks like '${proto}'), UTS #39`;
    }
  }
  return undefined;
}

/** Throws 400 invalidValue naming the attribute when `value` is not an acceptable identifier. */
export function assertIdentifier(attribute: string, value: unknown): void {
  if (typeof value !== "string") return;
  const problem = identifierProblem(value);
  if (problem) throw badRequest("invalidValue", `${attribute} ${problem} (identifiers: docs/identifiers.md)`);
}

/** Every identifier of a User resource (validated, canonical names); see assertIdentifier. */
export function assertUserIdentifiers(r: Record<string, unknown>): void {
  assertIdentifier("userName", r.userName);
  assertIdentifier("externalId", r.externalId);
  if (Array.isArray(r.emails)) r.emails.forEach((e, i) => assertIdentifier(`emails[${i}].value`, (e as { value?: unknown } | null)?.value));
}

/** Every identifier of a Group resource. */
export function assertGroupIdentifiers(r: Record<string, unknown>): void {
  assertIdentifier("displayName", r.displayName);
  assertIdentifier("externalId", r.externalId);
}
