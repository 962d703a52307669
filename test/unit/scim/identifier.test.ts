import { expect } from "chai";
import fc from "fast-check";
import { identifierKey, identifierProblem } from "../../../src/domain/identifier.ts";
import { assertJsonWithinLimits, assertRawJsonDepth, JSON_LIMITS } from "../../../src/scim/input-limits.ts";
import { normalFormSize, parseFilter } from "../../../src/scim/filter-parser.ts";
import { DomainError } from "../../../src/shared/errors.ts";

describe("identifiers (docs/identifiers.md)", () => {
  it("when two spellings are the issue's look-alikes, then their keys are equal", () => {
    for (const [a, b] of [["İnga", "inga"], ["ΟΔΥΣΣΕΥΣ", "οδυσσευσ"], ["ａｎｎ", "ann"], ["a\u030asa", "\u00e5sa"], ["\ufb00", "ff"],
      ["STRASSE", "straße"], ["\u01c5emo", "džemo"], ["ｆｉｎａｎｃｅ", "finance"], ["Ann@Example.COM", "ann@example.com"]]) {
      expect(identifierKey(a), `${a} ≡ ${b}`).to.equal(identifierKey(b));
    }
  });
  it("when different identifiers are keyed, then they stay different", () => {
    expect(identifierKey("anna")).to.not.equal(identifierKey("ann"));
    expect(identifierKey("jose")).to.not.equal(identifierKey("josé"));
    expect(identifierKey("ace")).to.not.equal(identifierKey("асе")); // Cyrillic: a whole-script look-alike is another identifier
  });
  it("when a name holds the capital sharp s, then it folds fully to ss (found by the property below)", () => {
    expect(identifierKey("ẞ")).to.equal("ss");
    expect(identifierKey("STRAẞE")).to.equal(identifierKey("straße")).and.to.equal(identifierKey("STRASSE"));
  });
  it("when any string is keyed twice, then the key does not change (the key is a normal form)", () => {
    fc.assert(fc.property(fc.string({ unit: "grapheme", maxLength: 12 }), (s) => identifierKey(identifierKey(s)) === identifierKey(s)), { numRuns: 400 });
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 12 }), (s) => identifierKey(identifierKey(s)) === identifierKey(s)), { numRuns: 400 });
  });
  it("when an identifier holds control, invisible or bidi characters or edge white space, then it is refused", () => {
    for (const bad of ["a\u200bb", "a\u200db", "a\u00adb", "\u202eab", "a\u2066b", "a\tb", "a\u0000b", "\ufeffab", " ab", "ab ", "ab\u00a0", "a\u2028b", "a\ue000b"])
      expect(identifierProblem(bad), JSON.stringify(bad)).to.be.a("string");
  });
  it("when letters of two scripts imitate each other, then the mixed-script confusable is refused (UTS #39)", () => {
    expect(identifierProblem("p\u0430ypal@example.com")).to.match(/Latin and Cyrillic|Cyrillic and Latin/);
    expect(identifierProblem("\u03bfdin@example.com")).to.match(/Greek/); // Greek omicron among Latin letters
  });
  it("when names use one script, or allowed combinations, then they are accepted", () => {
    for (const ok of ["ann@example.com", "Ελένη", "山田太郎", "やまだ タロウ", "Müller-Lüdenscheidt", "o'brien_1@x.io", "user@例え.jp", "Ωmega", "İnga"])
      expect(identifierProblem(ok), ok).to.equal(undefined);
  });
});

describe("input limits", () => {
  const rejects = (f: () => void) => { try { f(); } catch (e) { expect(e).to.be.instanceOf(DomainError); return true; } return false; };
  it("when raw JSON is nested, then the byte scan and the parsed walk agree on the depth limit", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 60 }), fc.constantFrom("[", '{"a":'), fc.string({ maxLength: 5 }), (n, open, filler) => {
      const close = open === "[" ? "]" : "}";
      const text = `${open.repeat(n)}${JSON.stringify(`${filler}[{"]}`)}${close.repeat(n)}`;
      return rejects(() => assertRawJsonDepth(Buffer.from(text))) === rejects(() => assertJsonWithinLimits(JSON.parse(text))) && rejects(() => assertRawJsonDepth(Buffer.from(text))) === n > JSON_LIMITS.maxDepth;
    }));
  });
  it("when a parsed filter is expanded as scimmy would, then its normal form size is counted (De Morgan included)", () => {
    expect(normalFormSize(parseFilter('(a eq "1" or b eq "2") and (c eq "3" or d eq "4")'))).to.equal(4);
    expect(normalFormSize(parseFilter('not (a eq "1" and b eq "2" and c eq "3")'))).to.equal(3);
    expect(normalFormSize(parseFilter('not ((a eq "1" or b eq "2") and c eq "3")'))).to.equal(2);
  });
});
