import { expect } from "chai";
import { compileUserMapping, ENTERPRISE_USER_SCHEMA, mapUser, validateMapping } from "../../../src/domain/app-mapping.ts";
import { evaluateExpression, parseExpression, parsePath, resolvePath } from "../../../src/domain/mapping-expression.ts";

const HR = "urn:ietf:params:scim:schemas:extension:scim-broker:2.0:User";
const CORE = "urn:ietf:params:scim:schemas:core:2.0:User";

const brokerUser = {
  schemas: [CORE, ENTERPRISE_USER_SCHEMA, HR],
  id: "6f1c0f0e-broker-id",
  externalId: "hr-4711",
  userName: "ada@example.com",
  name: { givenName: "Ada", familyName: "Lovelace", formatted: "Ada Lovelace" },
  displayName: "Ada Lovelace",
  title: "Engineer",
  userType: "Employee",
  active: true,
  emails: [
    { value: "ada.home@example.net", type: "home" },
    { value: "ada@example.com", type: "work", primary: true },
  ],
  phoneNumbers: [{ value: "+44 1", type: "work" }],
  meta: { resourceType: "User", version: 'W/"3"' },
  [ENTERPRISE_USER_SCHEMA]: { employeeNumber: "4711", department: "Analytics", manager: { value: "m-1" } },
  [HR]: { employmentStatus: "active", location: "London", startDate: "2026-01-05T00:00:00Z" },
};

describe("fanout/mapping", () => {
  it("when no mapping is configured, then core attributes + enterprise extension go out and externalId is the broker id", () => {
    const out = mapUser(brokerUser);
    expect(out).to.deep.equal({
      schemas: [CORE, ENTERPRISE_USER_SCHEMA],
      userName: "ada@example.com",
      name: brokerUser.name,
      displayName: "Ada Lovelace",
      emails: brokerUser.emails,
      active: true,
      externalId: "6f1c0f0e-broker-id",
      title: "Engineer",
      userType: "Employee",
      [ENTERPRISE_USER_SCHEMA]: brokerUser[ENTERPRISE_USER_SCHEMA],
    });
    // Not sent by default: our HR extension, meta, the broker's id and HR's externalId, phone numbers.
    expect(out).to.not.have.any.keys(HR, "meta", "id", "phoneNumbers");
  });

  it("when mapping overlays defaults, then targets are replaced, added and dropped (null)", () => {
    const out = mapUser(brokerUser, {
      mapping: {
        userName: 'emails[type eq "work"].value',
        displayName: 'name.familyName + ", " + name.givenName',
        [ENTERPRISE_USER_SCHEMA]: null,
        title: null,
        "urn:acme:params:scim:schemas:extension:acme:1.0:User:office": `lower(${HR}:location)`,
        "urn:acme:params:scim:schemas:extension:acme:1.0:User:costCenter": `${ENTERPRISE_USER_SCHEMA}:department`,
        nickName: '"fixed"',
      },
    });
    expect(out.userName).to.equal("ada@example.com");
    expect(out.displayName).to.equal("Lovelace, Ada");
    expect(out).to.not.have.any.keys("title", ENTERPRISE_USER_SCHEMA);
    expect(out["urn:acme:params:scim:schemas:extension:acme:1.0:User"]).to.deep.equal({ office: "london", costCenter: "Analytics" });
    expect(out.schemas).to.deep.equal([CORE, "urn:acme:params:scim:schemas:extension:acme:1.0:User"]);
    expect(out.nickName).to.equal("fixed");
  });

  it("when a target has a value filter, then the matching element is created or completed", () => {
    const out = mapUser(brokerUser, {
      mapping: { emails: null, 'emails[type eq "work"].value': "userName", 'phoneNumbers[type eq "mobile"].value': "phoneNumbers.value" },
    });
    expect(out.emails).to.deep.equal([{ type: "work", value: "ada@example.com" }]);
    expect(out.phoneNumbers).to.deep.equal([{ type: "mobile", value: "+44 1" }]);
  });

  it("when a source is missing, then the target is omitted; ?? supplies a fallback; + with a missing part is missing", () => {
    const sparse = { id: "b-2", userName: "bob", name: { givenName: "Bob" } };
    const out = mapUser(sparse, {
      mapping: { displayName: 'name.givenName + " " + name.familyName ?? name.givenName ?? userName', title: 'title ?? "n/a"' },
    });
    expect(out).to.deep.equal({ schemas: [CORE], userName: "bob", name: { givenName: "Bob" }, displayName: "Bob", externalId: "b-2", title: "n/a" });
  });

  it("when the dialect wants string booleans, then every boolean is sent as True/False", () => {
    const out = mapUser(brokerUser, { dialect: { stringBooleans: true } });
    expect(out.active).to.equal("True");
    expect((out.emails as Array<{ primary?: unknown }>)[1]!.primary).to.equal("True");
    expect(mapUser({ ...brokerUser, active: false }, { dialect: { stringBooleans: true } }).active).to.equal("False");
  });

  it("when the input is mapped, then it is not mutated and outputs share no objects with it", () => {
    const snapshot = structuredClone(brokerUser);
    const out = compileUserMapping(undefined, { stringBooleans: false })(brokerUser);
    (out.name as Record<string, string>).givenName = "changed";
    expect(brokerUser).to.deep.equal(snapshot);
  });

  it("when a mapping is invalid, then validateMapping names the entry", () => {
    const errors = validateMapping({ userName: "lower(", 'emails[type eq "work"]': "userName", title: "bogus(x)", ok: "userName" });
    expect(errors).to.have.length(3);
    expect(errors[0]).to.match(/^userName: /);
    expect(errors[1]).to.match(/needs a sub-attribute/);
    expect(errors[2]).to.match(/unknown function 'bogus'/);
  });

  describe("paths and expressions", () => {
    it("when a path has a URN prefix, then it reads the extension (case-insensitive names, RFC 7643 §2.1)", () => {
      expect(resolvePath(brokerUser, parsePath(`${ENTERPRISE_USER_SCHEMA}:manager.value`))).to.equal("m-1");
      expect(resolvePath(brokerUser, parsePath(`${CORE}:userName`))).to.equal("ada@example.com");
      expect(resolvePath(brokerUser, parsePath("NAME.givenname"))).to.equal("Ada");
    });

    it("when a multi-valued attribute is followed by a sub-attribute, then the primary value is used", () => {
      expect(resolvePath(brokerUser, parsePath("emails.value"))).to.equal("ada@example.com");
      expect(resolvePath(brokerUser, parsePath('emails[type eq "home"].value'))).to.equal("ada.home@example.net");
      expect(resolvePath(brokerUser, parsePath('emails[type eq "other"].value'))).to.equal(undefined);
    });

    it("when literals, functions and parentheses combine, then precedence is + over ??", () => {
      const e = parseExpression('upper(missing ?? "x") + "-" + (nope ?? 42)');
      expect(evaluateExpression(e, {})).to.equal("X-42");
      expect(evaluateExpression(parseExpression("true"), {})).to.equal(true);
      expect(evaluateExpression(parseExpression('"a \\" b"'), {})).to.equal('a " b');
      expect(evaluateExpression(parseExpression('trim(" x ")'), {})).to.equal("x");
    });

    it("when a filter value contains brackets or operators, then it stays inside the path", () => {
      const e = parseExpression('emails[value eq "a]+??(b"].type ?? "none"');
      expect(evaluateExpression(e, { emails: [{ value: "a]+??(b", type: "odd" }] })).to.equal("odd");
    });
  });
});
