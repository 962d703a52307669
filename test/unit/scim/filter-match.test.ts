import { expect } from "chai";
import fc from "fast-check";
import { compileMatcher, matchesFilter } from "../../../src/scim/filter-match.ts";
import { expandAliases } from "../../../src/scim/attribute-catalog.ts";
import { parseFilter } from "../../../src/scim/filter-parser.ts";
import { DomainError } from "../../../src/shared/errors.ts";

const ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const HR = "urn:ietf:params:scim:schemas:extension:scim-broker:2.0:User";
const GROUP_ID = "6f1c6b0e-1111-4000-8000-000000000001";

const parse = (f: string) => parseFilter(f);
const match = (f: string, r: Record<string, unknown>, aliases = false) =>
  matchesFilter(aliases ? expandAliases(parse(f)) : parse(f), r);

const alice: Record<string, unknown> = {
  id: "0b0c1d2e-3f40-4152-8637-48494a4b4c4d",
  userName: "Alice@Example.com",
  externalId: "EXT-1",
  active: true,
  title: "Engineer",
  name: { givenName: "Alice", familyName: "Émile" },
  emails: [{ value: "alice@corp.example", type: "work", primary: true }, { value: "ali@home.example", type: "home" }],
  [ENT]: { department: "Sales", manager: { value: "m-1", displayName: "Bob" } },
  [HR]: { employmentStatus: "active", startDate: "2024-03-01T09:00:00+01:00" },
  groups: [{ value: GROUP_ID, display: "Admins" }],
  meta: { created: "2024-01-01T00:00:00.000Z", lastModified: "2024-06-01T12:00:00.000Z" },
};
const bare: Record<string, unknown> = { userName: "bare", active: false, title: "", emails: [] };

function expectInvalid(f: () => unknown, fragment?: string) {
  try { f(); } catch (e) {
    expect(e).to.be.instanceOf(DomainError);
    expect((e as DomainError).status).to.equal(400);
    expect((e as DomainError).scimType).to.equal("invalidFilter");
    if (fragment) expect((e as Error).message).to.include(fragment);
    return;
  }
  expect.fail("expected 400 invalidFilter");
}

describe("matchesFilter (RFC 7644 §3.4.2.2 in memory)", () => {
  describe("strings", () => {
    it("when userName differs only in case, then eq matches (caseExact:false)", () => {
      expect(match('userName eq "alice@example.COM"', alice)).to.equal(true);
    });
    it("when externalId differs in case, then eq does not match (caseExact:true)", () => {
      expect(match('externalId eq "ext-1"', alice)).to.equal(false);
      expect(match('externalId eq "EXT-1"', alice)).to.equal(true);
    });
    it("when co/sw/ew are used, then they compare substrings case-insensitively", () => {
      expect(match('userName co "EXAMPLE"', alice)).to.equal(true);
      expect(match('userName sw "ali"', alice)).to.equal(true);
      expect(match('userName ew ".COM"', alice)).to.equal(true);
      expect(match('userName ew "example"', alice)).to.equal(false);
    });
    it("when gt/lt compare strings, then code-point order applies after case folding", () => {
      expect(match('title gt "E"', alice)).to.equal(true);
      expect(match('title lt "engineer"', alice)).to.equal(false);
      expect(match('title le "engineer"', alice)).to.equal(true);
    });
    it("when the resource spells attribute names in another case, then look-up is case-insensitive", () => {
      expect(match('userName eq "x"', { USERNAME: "X" })).to.equal(true);
      expect(match('emails.value eq "a@b"', { Emails: [{ VALUE: "a@b" }] })).to.equal(true);
      expect(match(`${ENT}:department eq "x"`, { [ENT.toLowerCase()]: { Department: "X" } })).to.equal(true);
    });
  });

  describe("presence, null and negation", () => {
    it("when an attribute is absent, empty string, empty array or empty object, then pr is false", () => {
      expect(match("title pr", alice)).to.equal(true);
      expect(match("title pr", bare)).to.equal(false);
      expect(match("emails pr", bare)).to.equal(false);
      expect(match("nickName pr", alice)).to.equal(false);
      expect(match("name pr", { name: {} })).to.equal(false);
    });
    it("when a title is absent, then not (title eq x) and title ne x both match", () => {
      expect(match('not (nickName eq "x")', alice)).to.equal(true);
      expect(match('nickName ne "x"', alice)).to.equal(true);
      expect(match('title ne "engineer"', alice)).to.equal(false);
    });
    it("when eq null is used, then it means not present (RFC 7643 §2.5)", () => {
      expect(match("nickName eq null", alice)).to.equal(true);
      expect(match("title eq null", alice)).to.equal(false);
      expect(match("title ne null", alice)).to.equal(true);
    });
  });

  describe("types", () => {
    it("when a dateTime has an offset, then it compares as an instant", () => {
      expect(match(`${HR}:startDate eq "2024-03-01T08:00:00Z"`, alice)).to.equal(true);
      expect(match(`${HR}:startDate gt "2024-03-01T08:30:00Z"`, alice)).to.equal(false);
      expect(match('meta.created ge "2024-01-01"', alice)).to.equal(true);
    });
    it("when a dateTime value is not a date, then 400 invalidFilter", () => {
      expectInvalid(() => match('meta.created gt "yesterday"', alice), "dateTime");
      expectInvalid(() => match('meta.created gt "2024-02-30T00:00:00Z"', alice), "dateTime");
    });
    it("when Entra sends \"True\"/\"False\" for a boolean, then they compare as booleans", () => {
      expect(match('active eq "True"', alice)).to.equal(true);
      expect(match('active eq "False"', bare)).to.equal(true);
      expect(match("active ne true", bare)).to.equal(true);
    });
    it("when gt or co is used on a boolean, then 400 invalidFilter", () => {
      expectInvalid(() => match("active gt true", alice), "boolean");
      expectInvalid(() => match('active co "t"', alice), "boolean");
    });
    it("when an id value is not a UUID, then eq is false and ne is true", () => {
      expect(match('id eq "nope"', alice)).to.equal(false);
      expect(match('id ne "nope"', alice)).to.equal(true);
      expect(match(`id eq "${String(alice.id).toUpperCase()}"`, alice)).to.equal(true);
    });
  });

  describe("multi-valued and complex attributes", () => {
    it("when a value path has two conditions, then both must hold on the same value", () => {
      expect(match('emails[type eq "work" and value co "corp"]', alice)).to.equal(true);
      expect(match('emails[type eq "home" and value co "corp"]', alice)).to.equal(false);
    });
    it("when a multi-valued attribute is compared without sub-attribute, then its value is used", () => {
      expect(match('emails co "HOME"', alice)).to.equal(true);
      expect(match('manager eq "M-1"', alice, true)).to.equal(true);
    });
    it("when a condition outside a value path is negated, then no value may match; inside one, it tests each value", () => {
      expect(match('not (emails.value eq "alice@corp.example")', alice)).to.equal(false);
      expect(match('emails.value ne "nobody@x"', alice)).to.equal(true);
      expect(match('emails[not (type eq "work")]', alice)).to.equal(true);
      expect(match('emails[not (type eq "work")]', { emails: [{ type: "work", value: "x" }] })).to.equal(false);
      expect(match('not (emails.type eq "work")', bare)).to.equal(true);
    });
    it("when groups are given as [{value, display}], then membership filters work", () => {
      expect(match(`groups.value eq "${GROUP_ID.toUpperCase()}"`, alice)).to.equal(true);
      expect(match('groups[display eq "admins"]', alice)).to.equal(true);
      expect(match(`not (groups.value eq "${GROUP_ID}")`, alice)).to.equal(false);
      expect(match(`not (groups.value eq "${GROUP_ID}")`, bare)).to.equal(true);
      expect(match("groups pr", bare)).to.equal(false);
    });
    it("when a complex attribute has no value sub-attribute, then comparing it is 400", () => {
      expectInvalid(() => match('name eq "x"', alice), "complex");
    });
  });

  describe("aliases", () => {
    it("when policy conditions use short extension names, then they resolve to the URN paths", () => {
      const expanded = expandAliases(parse('department eq "sales" and startDate le "2025-01-01" and title pr'));
      expect(expanded.op === "and" && expanded.nodes.map((n) => (n.op === "attr" ? n.path : n.op))).to.deep.equal([`${ENT}:department`, `${HR}:startDate`, "title"]);
      expect(matchesFilter(expanded, alice)).to.equal(true);
    });
    it("when the short and the qualified name are both used, then both conditions are kept", () => {
      const expanded = expandAliases(parse(`department eq "sales" and ${ENT}:department eq "hr"`));
      expect(matchesFilter(expanded, alice)).to.equal(false);
    });
    it("when aliases are expanded inside a negated group, then De Morgan holds", () => {
      expect(match('not (department eq "a" or title pr)', alice, true)).to.equal(false);
      expect(match('not (department eq "a" or title eq "x")', alice, true)).to.equal(true);
    });
    it("when the alias is not expanded, then the short name is unknown", () => {
      expectInvalid(() => match('department eq "sales"', alice), "department");
    });
  });

  describe("rejections", () => {
    it("when the attribute is unknown, then 400 invalidFilter names it", () => {
      expectInvalid(() => match('foo eq "a"', alice), "foo");
    });
    it("when the value is missing, then 400 invalidFilter", () => {
      expectInvalid(() => match("userName eq", alice), "missing");
    });
    it("when an operator is not RFC 7644's (np), then 400 invalidFilter", () => {
      expectInvalid(() => match("title np", alice), "operator");
    });
    it("when password or meta.version is filtered, then 400 invalidFilter", () => {
      expectInvalid(() => match('password eq "x"', alice), "password");
      expectInvalid(() => match('meta.version eq "x"', alice), "meta.version");
    });
    it("when a string attribute gets an unquoted number, then 400 invalidFilter", () => {
      expectInvalid(() => match("userName eq 12", alice), "quote");
    });
    it("when value paths are nested, then 400 invalidFilter", () => {
      expectInvalid(() => match('emails[type eq "work" and x[value eq "a"]]', alice), "nested");
    });
    it("when the syntax is broken, then 400 invalidFilter names the offset", () => {
      expectInvalid(() => match('userName eq "a" and', alice), "unexpected");
      expectInvalid(() => match("((", alice), "unexpected");
      expectInvalid(() => match("userName eq bare", alice), "missing comparison value");
    });
  });

  describe("grouping and negation (RFC 7644 §3.4.2.2 ABNF)", () => {
    // Issue 8 defect 5: scimmy failed with "Unexpected token ')'" on both.
    it("when not (…) stands inside a parenthesised group, then it parses and negates that group only", () => {
      expect(match('userName sw "a" and (title eq "x" or not (title eq "y"))', alice)).to.equal(true);
      expect(match('userName sw "a" and (title eq "x" or not (title eq "Engineer"))', alice)).to.equal(false);
      expect(match('(not (title eq "y"))', alice)).to.equal(true);
      expect(match('(not (title eq "Engineer"))', alice)).to.equal(false);
    });
    it("when a negated group holds several comparisons or a value path, then De Morgan and exact complements hold", () => {
      expect(match('not (title eq "a" or title eq "Engineer")', alice)).to.equal(false);
      expect(match('not (title eq "a" or title eq "b")', alice)).to.equal(true);
      expect(match('not (emails[type eq "work"])', alice)).to.equal(false);
      expect(match('not (emails[type eq "fax"])', alice)).to.equal(true);
      expect(match('emails[type eq "work" and (value co "x" or primary eq true)]', alice)).to.equal(true);
      expect(match('(emails[type eq "work" or type eq "home"] or title pr)', bare)).to.equal(false);
      expect(match('not (not (title eq "Engineer"))', alice)).to.equal(true);
    });
    it("when keywords are written in another case, then they still parse (RFC 7644 §3.4.2.2)", () => {
      expect(match('userName SW "a" AND (title Eq "x" OR NOT (title eq "y"))', alice)).to.equal(true);
    });
    it("when a value path is followed by a sub-attribute comparison, then both hold on the same value", () => {
      expect(match('emails[type eq "work"].value co "corp"', alice)).to.equal(true);
      expect(match('emails[type eq "home"].value co "corp"', alice)).to.equal(false);
    });
    it("when value paths and groups are combined, then they are evaluated as written", () => {
      expect(match('emails[type eq "x" or type eq "home"] and title pr', alice)).to.equal(true);
      expect(match('(title eq "x" or emails[type eq "home" and value co "ali"]) and userName sw "a"', alice)).to.equal(true);
      expect(match('emails[not (type eq "work")] or title pr', { emails: [{ type: "work", value: "x" }] })).to.equal(false);
    });
    it("when a string value contains parentheses or and/or, then it is not mistaken for a group", () => {
      expect(match('title eq "not (a or b)"', { title: "not (a or b)" })).to.equal(true);
    });
  });

  describe("properties", () => {
    const titles = fc.option(fc.constantFrom("Engineer", "engineer", "", "Manager", "ÉQUIPE", "a%b_c"), { nil: undefined });
    const resource = fc.record({
      userName: fc.string({ minLength: 1, maxLength: 8 }),
      title: titles,
      active: fc.boolean(),
      emails: fc.array(fc.record({ value: fc.constantFrom("a@x", "B@Y", "c@x"), type: fc.constantFrom("work", "home") }), { maxLength: 3 }),
    }, { requiredKeys: ["userName", "active", "emails"] });
    const comparisons = fc.tuple(
      fc.constantFrom("title", "userName", "emails.value", "emails.type"),
      fc.constantFrom("eq", "ne", "co", "sw", "ew", "gt", "lt"),
      fc.constantFrom("engineer", "a", "X", "", "work", "b@y"),
    ).map(([a, op, v]) => `${a} ${op} "${v}"`);
    const filters = fc.oneof(comparisons, fc.tuple(comparisons, comparisons).map(([a, b]) => `${a} and ${b}`),
      fc.constantFrom("title pr", "emails pr", "active eq true"));

    it("when the same filter is evaluated twice on the same resource, then the answer is the same", () => {
      fc.assert(fc.property(filters, resource, (f, r) => match(f, r) === match(f, structuredClone(r))));
    });
    it("when a single comparison is negated, then not (f) is the complement of f", () => {
      fc.assert(fc.property(comparisons, resource, (f, r) => match(`not (${f})`, r) === !match(f, r)));
    });
    it("when two comparisons are or-ed, then De Morgan holds with separately negated groups", () => {
      fc.assert(fc.property(comparisons, comparisons, resource, (a, b, r) =>
        match(`not (${a}) and not (${b})`, r) === !(match(a, r) || match(b, r))));
    });
    it("when any nested filter is negated, then not (f) is the complement of f and De Morgan holds", () => {
      const nested = fc.letrec<{ f: string }>((tie) => ({
        f: fc.oneof({ depthSize: "small", withCrossShrink: true }, comparisons,
          fc.tuple(tie("f"), fc.constantFrom("and", "or"), tie("f")).map(([a, op, b]) => `(${a} ${op} ${b})`),
          tie("f").map((a) => `not (${a})`)),
      })).f;
      fc.assert(fc.property(nested, nested, resource, (a, b, r) =>
        match(`not (${a})`, r) === !match(a, r) && match(`not (${a} or ${b})`, r) === (match(`not (${a})`, r) && match(`not (${b})`, r))));
    });
    it("when a filter is compiled once, then it agrees with matchesFilter", () => {
      fc.assert(fc.property(filters, resource, (f, r) => compileMatcher(parse(f))(r) === match(f, r)));
    });
  });
});
