import { expect } from "chai";
import fc from "fast-check";
import { compileFilter, sortExpression } from "../../../src/scim/filter-sql.ts";
import { expandAliases } from "../../../src/scim/attribute-catalog.ts";
import { parseFilter } from "../../../src/scim/filter-parser.ts";
import { DomainError } from "../../../src/shared/errors.ts";

const ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const HR = "urn:ietf:params:scim:schemas:extension:scim-broker:2.0:User";
const parse = (f: string) => parseFilter(f);
const users = (f: string, first = 1) => compileFilter(parse(f), "User", first);
const groups = (f: string) => compileFilter(parse(f), "Group");

function expectError(f: () => unknown, scimType: string, fragment?: string) {
  try { f(); } catch (e) {
    expect(e).to.be.instanceOf(DomainError);
    expect((e as DomainError).status).to.equal(400);
    expect((e as DomainError).scimType).to.equal(scimType);
    if (fragment) expect((e as Error).message).to.include(fragment);
    return;
  }
  expect.fail(`expected 400 ${scimType}`);
}

describe("compileFilter (RFC 7644 §3.4.2.2 → PostgreSQL)", () => {
  it("when userName eq is compiled, then it compares the identifier key column with the value's key (unique index)", () => {
    expect(users('userName eq "Bob@X"')).to.deep.equal({ sql: "u.user_name_key = $1", params: ["bob@x"] });
    expect(users('userName eq "ＳＴＲＡßＥ"')).to.deep.equal({ sql: "u.user_name_key = $1", params: ["strasse"] });
  });
  it("when firstParam is given, then placeholders are numbered from it", () => {
    const r = users('userName eq "a" or externalId eq "B"', 4);
    expect(r.sql).to.equal("(u.user_name_key = $4 OR u.external_id = $5)");
    expect(r.params).to.deep.equal(["a", "B"]);
  });
  it("when a caseExact:false column has no key column, then both sides are lower-cased", () => {
    expect(users('title eq "Eng"').sql).to.equal("lower(u.title) = lower($1)");
    expect(users(`${ENT}:department eq "Sales"`).sql).to.equal("lower(u.department) = lower($1)");
  });
  it("when co/sw/ew carry LIKE wildcards, then %, _ and \\ are escaped", () => {
    const r = users('userName co "50%_off\\\\"');
    expect(r.sql).to.equal("u.user_name_key LIKE $1 ESCAPE '\\'");
    expect(r.params).to.deep.equal(["%50\\%\\_off\\\\%"]);
    expect(users('title sw "a"').params).to.deep.equal(["a%"]);
    expect(users('title ew "a"').params).to.deep.equal(["%a"]);
  });
  it("when gt/lt compare strings, then code-point order (COLLATE \"C\") is used", () => {
    expect(users('title gt "M"').sql).to.equal('(lower(u.title)) COLLATE "C" > lower($1)');
  });
  it("when not or ne is compiled, then NULL counts as no match inside the negation", () => {
    expect(users('not (title eq "x")').sql).to.equal("NOT COALESCE(lower(u.title) = lower($1), FALSE)");
    expect(users('title ne "x"').sql).to.equal("NOT COALESCE(lower(u.title) = lower($1), FALSE)");
  });
  it("when pr is compiled, then it means non-null and non-empty", () => {
    expect(users("title pr").sql).to.equal("(u.title IS NOT NULL AND u.title <> '')");
    expect(users("nickName pr").sql).to.equal(
      `(u.data -> 'nickName' IS NOT NULL AND u.data -> 'nickName' NOT IN ('null'::jsonb, '""'::jsonb, '[]'::jsonb, '{}'::jsonb))`);
    expect(users("title eq null").sql).to.equal("NOT (u.title IS NOT NULL AND u.title <> '')");
  });
  it("when a dateTime is compared, then the value is normalised to UTC and cast to timestamptz", () => {
    const r = users(`${HR}:startDate ge "2025-01-01T00:00:00+02:00"`);
    expect(r).to.deep.equal({ sql: "u.start_date >= $1::timestamptz", params: ["2024-12-31T22:00:00.000Z"] });
    expect(users('meta.lastModified gt "2025-01-01"').sql).to.equal("u.updated_at > $1::timestamptz");
  });
  it("when a dateTime lives in jsonb, then the cast is guarded so bad data cannot raise an error", () => {
    const r = users(`${ENT}:manager.displayName eq "x" or ${HR}:sponsor.value eq "s"`);
    expect(r.sql).to.include("u.data -> 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User' -> 'manager' ->> 'displayName'");
    expect(r.sql).to.include("lower(u.sponsor_id) = lower($2)");
  });
  it("when a boolean is compared with Entra's \"False\", then it binds a boolean", () => {
    expect(users('active eq "False"')).to.deep.equal({ sql: "u.active = $1::boolean", params: [false] });
  });
  it("when an id is not a UUID, then the filter is FALSE and nothing is cast to uuid", () => {
    expect(users('id eq "abc"')).to.deep.equal({ sql: "FALSE", params: [] });
    expect(users('id ne "abc"')).to.deep.equal({ sql: "TRUE", params: [] });
    expect(users('id eq "0B0C1D2E-3F40-4152-8637-48494A4B4C4D"').sql).to.equal("u.id = $1::uuid");
  });
  it("when a value path is used, then all its conditions apply to the same jsonb element", () => {
    const r = users('emails[type eq "work" and value co "x"]');
    expect(r.sql).to.match(/^EXISTS \(SELECT 1 FROM jsonb_array_elements\(.*u\.data -> 'emails'.*\) WITH ORDINALITY AS e1\(v, n\) WHERE \(lower\(\(e1\.v ->> 'type'\)\) = lower\(\$1\) AND u\.email_keys\[e1\.n\] LIKE \$2 ESCAPE '\\'\)\)$/);
  });
  it("when groups are filtered on a user, then EXISTS over group_member is used", () => {
    const r = users('groups.value eq "6f1c6b0e-1111-4000-8000-000000000001" and not (groups.display sw "adm")');
    expect(r.sql).to.equal("(EXISTS (SELECT 1 FROM group_member gm1 LEFT JOIN scim_group gg1 ON gg1.id = gm1.group_id WHERE gm1.user_id = u.id AND gm1.group_id = $1::uuid)"
      + " AND NOT EXISTS (SELECT 1 FROM group_member gm2 LEFT JOIN scim_group gg2 ON gg2.id = gm2.group_id WHERE gm2.user_id = u.id AND gg2.display_name_key LIKE $2 ESCAPE '\\'))");
    expect(r.params).to.deep.equal(["6f1c6b0e-1111-4000-8000-000000000001", "adm%"]);
  });
  it("when members are filtered on a group, then EXISTS over group_member joins the user", () => {
    const r = groups('displayName eq "Admins" and members[display co "ali"]');
    expect(r.sql).to.equal("(g.display_name_key = $1 AND EXISTS (SELECT 1 FROM group_member gm1 LEFT JOIN scim_user mu1 ON mu1.id = gm1.user_id WHERE gm1.group_id = g.id AND lower(mu1.display_name) LIKE lower($2) ESCAPE '\\'))");
  });
  it("when policy aliases are expanded, then they compile to the extension columns", () => {
    const r = compileFilter(expandAliases(parse('department eq "Sales" and manager.value eq "m1" and employmentStatus eq "active"')), "User");
    expect(r.sql).to.equal("(lower(u.department) = lower($1) AND lower(u.manager_id) = lower($2) AND lower(u.employment_status) = lower($3))");
  });

  describe("rejections (400 invalidFilter)", () => {
    it("when the attribute is unknown, then the message names it", () => expectError(() => users('foo eq "a"'), "invalidFilter", "foo"));
    it("when a User attribute is used on Group, then it is unknown", () => expectError(() => groups('userName eq "a"'), "invalidFilter", "userName"));
    it("when the value is missing, then it says so", () => expectError(() => users("userName eq"), "invalidFilter", "missing"));
    it("when a boolean is ordered, then it is refused", () => expectError(() => users("active gt true"), "invalidFilter", "boolean"));
    it("when a date is not parsable, then it is refused", () => expectError(() => users('meta.created gt "soon"'), "invalidFilter", "dateTime"));
    it("when groups.type is filtered, then it is refused (not stored)", () => expectError(() => users('groups.type eq "direct"'), "invalidFilter", "groups.type"));
  });

  describe("properties", () => {
    const attrs = fc.constantFrom("userName", "title", "emails.value", "name.familyName", "groups.display", `${ENT}:department`);
    const ops = fc.constantFrom("eq", "ne", "co", "sw", "ew", "gt", "le");
    const value = fc.string({ maxLength: 12 }).filter((s) => !s.includes('"') && !s.includes("\\") && !/[()[\]]/.test(s));
    it("when any string value is compiled, then it only travels as a bind parameter", () => {
      fc.assert(fc.property(attrs, ops, value, (a, op, v) => {
        const marker = `zq${v}`;
        const r = users(`${a} ${op} "${marker}"`);
        const escaped = marker.replace(/[\\%_]/g, "\\$&").toLowerCase(); // identifier keys are case-folded
        return !r.sql.includes(marker) && r.params.some((p) => String(p).toLowerCase().includes(escaped) || String(p).toLowerCase() === marker.toLowerCase());
      }));
    });
    it("when a filter compiles, then placeholders are exactly $first..$first+params-1", () => {
      fc.assert(fc.property(fc.array(fc.tuple(attrs, ops, value), { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 9 }), (parts, first) => {
        const r = users(parts.map(([a, op, v]) => `${a} ${op} "x${v}"`).join(" or "), first);
        const used = [...r.sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]));
        return used.length === r.params.length && used.every((n, i) => n === first + i);
      }));
    });
    it("when arbitrary nested filters with not, groups and value paths compile, then no NOT is bare and placeholders stay in order", () => {
      const leaf = fc.tuple(attrs, ops, value).map(([a, op, v]) => `${a} ${op} "x${v}"`);
      const nested = fc.letrec<{ f: string }>((tie) => ({
        f: fc.oneof({ depthSize: "small", maxDepth: 4 }, leaf, fc.constantFrom('emails[type eq "work" and not (value co "a")]', "title pr"),
          fc.tuple(tie("f"), fc.constantFrom("and", "or"), tie("f")).map(([a, op, b]) => `(${a} ${op} ${b})`), tie("f").map((a) => `not (${a})`)),
      })).f;
      fc.assert(fc.property(nested, fc.integer({ min: 1, max: 9 }), (f, first) => {
        const r = users(f, first);
        const used = [...r.sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]));
        // a NOT is over COALESCE(…, FALSE), EXISTS or a never-NULL parenthesised test, never a bare comparison
        const bareNot = /(?<!IS )NOT (?!COALESCE\(|EXISTS |\()/.test(r.sql);
        return used.every((n, i) => n === first + i) && used.length === r.params.length && !bareNot;
      }));
    });
  });
});

describe("sortExpression (RFC 7644 §3.4.2.3)", () => {
  it("when sorting by userName, then the lower-cased key column is used", () => {
    expect(sortExpression("userName", "User")).to.equal("u.user_name_key");
    expect(sortExpression("displayName", "Group")).to.equal("g.display_name_key");
  });
  it("when sorting by a caseExact:false jsonb string, then it sorts case-insensitively", () => {
    expect(sortExpression("name.familyName", "User")).to.equal("lower((u.data -> 'name' ->> 'familyName'))");
  });
  it("when sorting by a multi-valued attribute, then the primary (else first) value is used", () => {
    expect(sortExpression("emails", "User")).to.include("ORDER BY (s.v -> 'primary') = 'true'::jsonb DESC NULLS LAST, s.n LIMIT 1");
  });
  it("when sorting by a dateTime or an extension column, then the column is used", () => {
    expect(sortExpression("meta.lastModified", "User")).to.equal("u.updated_at");
    expect(sortExpression(`${ENT}:manager`, "User")).to.equal("lower(u.manager_id)");
  });
  it("when the attribute is unknown or not sortable, then 400 invalidValue", () => {
    expectError(() => sortExpression("foo", "User"), "invalidValue", "foo");
    expectError(() => sortExpression("groups", "User"), "invalidValue", "groups");
    expectError(() => sortExpression("name", "User"), "invalidValue", "name");
    expectError(() => sortExpression("password", "User"), "invalidValue", "password");
  });
});
