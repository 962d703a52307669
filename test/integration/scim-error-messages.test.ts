// Error details are for client authors (RFC 7644 §3.12): every 400 names the attribute and what was
// expected, with a scimType — never a JavaScript engine message ("Cannot read properties of undefined").
import { expect } from "chai";
import { startTestBroker, type TestBroker } from "../helpers/broker.ts";
import { scimClient, userBody, USER_SCHEMA, GROUP_SCHEMA, PATCH_OP, ENTERPRISE_SCHEMA, HR_SCHEMA } from "../helpers/scim.ts";

const JS_INTERNALS = /Cannot (read|convert|add|set|assign|create|define|destructure|access) (propert|undefined|null|to|value|object)|undefined|null to object|is not a function|is not iterable|not extensible|is not defined|trap returned|on proxy|parameter .* in \w+ (constructor|instance)|\[object \w+\]|to primitive value|Maximum call stack|TypeError|RangeError|ReferenceError/i;
const SCIM_TYPES = ["invalidFilter", "tooMany", "uniqueness", "mutability", "invalidSyntax", "invalidPath", "noTarget", "invalidValue", "invalidVers", "sensitive", "invalidCursor", "expiredCursor"];

describe("SCIM error details: no JavaScript internals, always a scimType", function () {
  this.timeout(60_000);
  let t: TestBroker;
  let c: ReturnType<typeof scimClient>;
  let userId: string;
  let groupId: string;
  before(async () => {
    t = await startTestBroker();
    c = scimClient(t.base, t.token);
    userId = (await c.post("/Users", userBody())).body.id;
    groupId = (await c.post("/Groups", { schemas: [GROUP_SCHEMA], displayName: `messages-${Date.now()}` })).body.id;
  });
  after(async () => { await t.stop(); });

  // Malformed but parseable JSON: each one is a shape a client author could plausibly send by mistake.
  const userBodies: Array<[string, unknown]> = [
    ["name is a string", { schemas: [USER_SCHEMA], userName: "m1", name: "Ann Smith" }],
    ["name is an array", { schemas: [USER_SCHEMA], userName: "m2", name: ["Ann"] }],
    ["emails is an object", { schemas: [USER_SCHEMA], userName: "m3", emails: { value: "a@x" } }],
    ["emails has a string entry", { schemas: [USER_SCHEMA], userName: "m4", emails: ["a@x"] }],
    ["emails has a null entry", { schemas: [USER_SCHEMA], userName: "m5", emails: [null, 3] }],
    ["emails value is an object", { schemas: [USER_SCHEMA], userName: "m6", emails: [{ value: { a: 1 } }] }],
    ["enterprise extension is a string", { schemas: [USER_SCHEMA, ENTERPRISE_SCHEMA], userName: "m7", [ENTERPRISE_SCHEMA]: "Finance" }],
    ["enterprise extension is an array", { schemas: [USER_SCHEMA, ENTERPRISE_SCHEMA], userName: "m8", [ENTERPRISE_SCHEMA]: [{ department: "x" }] }],
    ["manager is a string", { schemas: [USER_SCHEMA, ENTERPRISE_SCHEMA], userName: "m9", [ENTERPRISE_SCHEMA]: { manager: "boss" } }],
    ["HR extension is a number", { schemas: [USER_SCHEMA, HR_SCHEMA], userName: "m10", [HR_SCHEMA]: 5 }],
    ["startDate is not a date", { schemas: [USER_SCHEMA, HR_SCHEMA], userName: "m11", [HR_SCHEMA]: { startDate: "soon" } }],
    ["userName is an object", { schemas: [USER_SCHEMA], userName: { first: "a" } }],
    ["userName is an array", { schemas: [USER_SCHEMA], userName: ["a"] }],
    ["active is a number", { schemas: [USER_SCHEMA], userName: "m12", active: 7 }],
    ["active is an object", { schemas: [USER_SCHEMA], userName: "m13", active: { value: true } }],
    ["schemas is a string", { schemas: USER_SCHEMA, userName: "m14" }],
    ["schemas has a number", { schemas: [USER_SCHEMA, 5], userName: "m15" }],
    ["schemas lists an unknown extension", { schemas: [USER_SCHEMA, "urn:example:nope"], userName: "m16", "urn:example:nope": { a: 1 } }],
    ["unknown extension key without schemas", { schemas: [USER_SCHEMA], userName: "m17", "urn:example:other:2.0:User": { a: 1 } }],
    ["phoneNumbers primary is a word", { schemas: [USER_SCHEMA], userName: "m18", phoneNumbers: [{ value: "1", primary: "yes" }] }],
    ["addresses is a number", { schemas: [USER_SCHEMA], userName: "m19", addresses: 42 }],
    ["meta is a string", { schemas: [USER_SCHEMA], userName: "m20", meta: "x" }],
    ["__proto__ key", JSON.parse(`{"schemas":["${USER_SCHEMA}"],"userName":"m21","__proto__":{"x":1}}`)],
    ["constructor key", { schemas: [USER_SCHEMA], userName: "m22", constructor: { prototype: {} } }],
    ["x509Certificates value is a number", { schemas: [USER_SCHEMA], userName: "m23", x509Certificates: [{ value: 5 }] }],
    ["nested arrays", { schemas: [USER_SCHEMA], userName: "m24", emails: [[{ value: "a@x" }]] }],
  ];

  const patchBodies: Array<[string, unknown[]]> = [
    ["remove with a bracketed nonsense path", [{ op: "remove", path: "emails[" }]],
    ["value path on a simple attribute", [{ op: "replace", path: 'userName[value eq "x"]', value: "y" }]],
    ["sub-attribute of a simple attribute", [{ op: "replace", path: "userName.first", value: "y" }]],
    ["add without value", [{ op: "add", path: "title" }]],
    ["path-less add with a string value", [{ op: "add", value: "x" }]],
    ["path-less replace with an array value", [{ op: "replace", value: [1, 2] }]],
    ["replace name with a string", [{ op: "replace", path: "name", value: "Ann" }]],
    ["replace emails with an object of the wrong shape", [{ op: "replace", path: "emails", value: { nope: true } }]],
    ["add emails with a string list", [{ op: "add", path: "emails", value: ["a@x"] }]],
    ["replace active with a number", [{ op: "replace", path: "active", value: 3 }]],
    ["replace the enterprise extension with a string", [{ op: "replace", path: ENTERPRISE_SCHEMA, value: "Finance" }]],
    ["replace manager with a number", [{ op: "replace", path: `${ENTERPRISE_SCHEMA}:manager`, value: 12 }]],
    ["filter on an unknown sub-attribute", [{ op: "replace", path: 'emails[nosuch eq "x"].value', value: "y" }]],
    ["remove from an absent multi-valued attribute by filter", [{ op: "remove", path: 'ims[type eq "x"]' }]],
    ["op is a number", [{ op: 5, path: "title", value: "x" }]],
    ["path is a number", [{ op: "replace", path: 7, value: "x" }]],
    ["path is an object", [{ op: "replace", path: { a: 1 }, value: "x" }]],
    ["value is null on add", [{ op: "add", path: "title", value: null }]],
    ["remove of meta", [{ op: "remove", path: "meta" }]],
    ["replace of id", [{ op: "replace", path: "id", value: "x" }]],
    ["replace of groups", [{ op: "replace", path: "groups", value: [] }]],
    ["path-less replace with nested nonsense", [{ op: "replace", value: { name: 5, "name.givenName": { a: 1 } } }]],
    ["extension URN path with a sub-path of an absent extension", [{ op: "remove", path: `${HR_SCHEMA}:sponsor.value` }]],
    ["remove a sub-attribute of every e-mail", [{ op: "remove", path: "emails.value" }]],
    ["path-less add with a null value", [{ op: "add", value: null }]],
    ["remove from groups with an empty value object", [{ op: "remove", path: "groups", value: {} }]],
    ["remove of the enterprise extension with a value", [{ op: "remove", path: ENTERPRISE_SCHEMA, value: 5 }]],
    ["replace of the HR extension with a list", [{ op: "replace", path: HR_SCHEMA, value: [1] }]],
    ["replace of a core-URN path with a wrong type", [{ op: "replace", path: `${USER_SCHEMA}:active`, value: "maybe" }]],
    ["replace of the enterprise extension with an unknown key", [{ op: "replace", path: ENTERPRISE_SCHEMA, value: { department: "x", schemas: [ENTERPRISE_SCHEMA] } }]],
    ["path-less add of an extension object with an unknown key", [{ op: "add", value: { [HR_SCHEMA]: { nosuch: 1 } } }]],
  ];

  const offenders: string[] = [];
  const check = (label: string, res: { status: number; body: any }) => {
    if (res.status >= 500) { offenders.push(`${label}: ${res.status} ${JSON.stringify(res.body)}`); return; }
    if (res.status !== 400) return; // some are accepted (lenient where the RFC allows); fine
    const { detail, scimType } = res.body ?? {};
    if (typeof detail !== "string" || JS_INTERNALS.test(detail) || !SCIM_TYPES.includes(scimType)) offenders.push(`${label}: ${JSON.stringify(res.body)}`);
  };

  it("when malformed but parseable bodies are POSTed, PUT and PATCHed, then no 400 detail leaks a JavaScript internal and each carries a scimType", async () => {
    for (const [label, body] of userBodies) {
      check(`POST /Users ${label}`, await c.post("/Users", body));
      check(`PUT /Users ${label}`, await c.put(`/Users/${userId}`, body));
    }
    for (const [label, ops] of patchBodies) check(`PATCH /Users ${label}`, await c.patch(`/Users/${userId}`, ops));
    const groupBodies: Array<[string, unknown]> = [
      ["displayName is an object", { schemas: [GROUP_SCHEMA], displayName: { a: 1 } }],
      ["members is an object", { schemas: [GROUP_SCHEMA], displayName: "g1", members: { value: userId } }],
      ["members has a string", { schemas: [GROUP_SCHEMA], displayName: "g2", members: [userId] }],
      ["schemas is null", { schemas: null, displayName: "g3" }],
    ];
    for (const [label, body] of groupBodies) {
      check(`POST /Groups ${label}`, await c.post("/Groups", body));
      check(`PUT /Groups ${label}`, await c.put(`/Groups/${groupId}`, body));
    }
    for (const [label, ops] of [
      ["replace displayName with an object", [{ op: "replace", path: "displayName", value: { a: 1 } }]],
      ["path-less replace with a string", [{ op: "replace", value: "x" }]],
      ["remove displayName", [{ op: "remove", path: "displayName" }]],
      ["add members with a number", [{ op: "add", path: "members", value: 5 }]],
      ["unknown attribute", [{ op: "replace", path: "nosuch", value: 1 }]],
      ["remove members with an entry without value", [{ op: "remove", path: "members", value: [{ display: "x" }] }]],
      ["add members with an entry without value", [{ op: "add", path: "members", value: [{}] }]],
    ] as Array<[string, unknown[]]>) check(`PATCH /Groups ${label}`, await c.patch(`/Groups/${groupId}`, ops));
    for (const [label, body] of [
      ["operation is a string", { schemas: ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], Operations: ["x"] }],
      ["data is a string", { schemas: ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], Operations: [{ method: "POST", path: "/Users", bulkId: "a", data: "x" }] }],
      ["PATCH data without Operations", { schemas: ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], Operations: [{ method: "PATCH", path: `/Users/${userId}`, data: { schemas: [PATCH_OP] } }] }],
    ] as Array<[string, unknown]>) {
      const res = await c.post("/Bulk", body);
      if (res.status !== 200) check(`Bulk ${label}`, res);
      else for (const [i, op] of (res.body.Operations ?? []).entries()) if (op.response) check(`Bulk ${label} #${i}`, { status: Number(op.status), body: op.response });
    }
    for (const filter of ["not", '"x"', "userName eq true false", 'emails[type eq "work"'])
      check(`GET /Users?filter=${filter}`, await c.get("/Users", { filter }));
    expect(offenders, offenders.join("\n")).to.deep.equal([]);
  });

  it("when an extension or an entry of a multi-valued attribute has the wrong shape, then 400 invalidValue naming it instead of dropping the data", async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ schemas: [USER_SCHEMA, ENTERPRISE_SCHEMA], userName: "shape1", [ENTERPRISE_SCHEMA]: "Finance" }, /enterprise:2\.0:User' must be an object/],
      [{ schemas: [USER_SCHEMA, ENTERPRISE_SCHEMA], userName: "shape2", [ENTERPRISE_SCHEMA]: [{ department: "x" }] }, /must be an object.*not a list/],
      [{ schemas: [USER_SCHEMA, HR_SCHEMA], userName: "shape3", [HR_SCHEMA]: 5 }, /scim-broker:2\.0:User' must be an object/],
      [{ schemas: [USER_SCHEMA], userName: "shape4", emails: [[{ value: "a@x" }]] }, /'emails' must be a list of objects.*entry 1 is a list/],
      [{ schemas: [USER_SCHEMA, 5], userName: "shape5" }, /schemas must be a list of schema URNs/],
    ];
    for (const [body, detail] of cases) {
      const res = await c.post("/Users", body);
      expect(res.status, JSON.stringify(res.body)).to.equal(400);
      expect(res.body.scimType).to.equal("invalidValue");
      expect(res.body.detail).to.match(detail);
    }
    expect((await c.get("/Users", { filter: 'userName sw "shape"' })).body.totalResults).to.equal(0);
  });
});
