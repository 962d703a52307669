import { expect } from "chai";
import { DomainError } from "../../../src/shared/errors.ts";
import { loadPolicy, PolicyError } from "../../../src/rules/policy-loader.ts";
import { authoriseUserWrite, keepUnasserted, refusedChanges } from "../../../src/rules/source-authority.ts";

const ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const HR = "urn:ietf:params:scim:schemas:extension:scim-broker:2.0:User";
const policy = loadPolicy(`
sources:
  - name: workday
    owner: hr-ops@example.com
    owns: [department, employmentStatus, active, manager, startDate]
  - name: entra
    owns: [title, emails]
`);
const owned = policy.owned;
const stored = {
  schemas: ["urn:ietf:params:scim:schemas:core:2.0:User", ENT, HR], userName: "ann", active: true, title: "Analyst",
  emails: [{ value: "ann@example.com", type: "work" }, { value: "a@home.example", type: "home" }],
  [ENT]: { department: "Finance", manager: { value: "m1" } }, [HR]: { employmentStatus: "active", startDate: "2026-01-01T00:00:00Z" },
};
const clone = () => structuredClone(stored) as Record<string, any>;

describe("rules/source-authority", () => {
  it("when the policy declares sources, then each owned name resolves to its attribute and owner", () => {
    expect(owned.map((o) => [o.name, o.owner, o.path.split(":").pop()])).to.deep.equal([
      ["department", "workday", "department"], ["employmentStatus", "workday", "employmentStatus"], ["active", "workday", "active"],
      ["manager", "workday", "manager"], ["startDate", "workday", "startDate"], ["title", "entra", "title"], ["emails", "entra", "emails"],
    ]);
    expect(policy.sources[0]).to.deep.include({ name: "workday", owner: "hr-ops@example.com" });
  });

  it("when a writer changes an attribute another source owns, then that attribute and its owner are named", () => {
    const after = clone(); after[ENT].department = "Sales"; after.title = "Lead"; after.active = false;
    expect(refusedChanges(owned, "entra", stored, after)).to.deep.equal([{ attribute: "department", owner: "workday" }, { attribute: "active", owner: "workday" }]);
    expect(refusedChanges(owned, "workday", stored, after)).to.deep.equal([{ attribute: "title", owner: "entra" }]);
    expect(refusedChanges(owned, null, stored, after)).to.have.length(3);
  });

  it("when the owned values are repeated unchanged (other order, other instant spelling), then nothing is refused", () => {
    const after = clone(); after.emails = [...after.emails].reverse(); after[HR].startDate = "2026-01-01T00:00:00.000Z"; after.displayName = "Ann";
    expect(refusedChanges(owned, "entra", stored, after)).to.deep.equal([]);
  });

  it("when a PUT omits attributes another source owns, then they keep the stored values; a PATCH remove is a change", () => {
    const put = { schemas: stored.schemas, userName: "ann", active: true, title: "Lead", emails: stored.emails };
    const kept = keepUnasserted(owned, "entra", stored, put);
    expect(kept[ENT]).to.deep.equal(stored[ENT]);
    expect(kept[HR]).to.deep.equal({ employmentStatus: "active", startDate: "2026-01-01T00:00:00Z" });
    expect(put).to.not.have.property(ENT); // the input is not changed
    expect(authoriseUserWrite(owned, { operation: "replace", writer: "entra", before: stored, resource: put })[ENT].department).to.equal("Finance");
    const removed = clone(); delete removed[ENT].department;
    expect(() => authoriseUserWrite(owned, { operation: "patch", writer: "entra", before: stored, resource: removed })).to.throw(DomainError, /'department' \(owned by source 'workday'\)/);
  });

  it("when the write is refused, then it is a 400 mutability naming the writer; a create counts every owned value it sets", () => {
    try {
      authoriseUserWrite(owned, { operation: "create", writer: "entra", before: null, resource: clone() });
      expect.fail("expected a refusal");
    } catch (e) {
      expect(e).to.be.instanceOf(DomainError);
      expect(e).to.include({ status: 400, scimType: "mutability" });
      expect((e as Error).message).to.match(/^source 'entra' may not change 'department'.*'employmentStatus'.*'manager'.*'startDate'/);
    }
    // the server's default active=true on create is not the writer's change; an explicit false is
    const mine = { schemas: stored.schemas, userName: "bob", active: true, title: "Analyst", emails: stored.emails };
    expect(authoriseUserWrite(owned, { operation: "create", writer: "entra", before: null, resource: mine })).to.equal(mine);
    expect(() => authoriseUserWrite(owned, { operation: "create", writer: "entra", before: null, resource: { ...mine, active: false } })).to.throw(DomainError, /'active'/);
    expect(authoriseUserWrite(loadPolicy("groups: []\n").owned, { operation: "create", writer: null, before: null, resource: mine })).to.equal(mine);
  });

  it("when sources name unknown, read-only or sub-attributes, or two sources own one attribute, then the policy is invalid with positions", () => {
    try {
      loadPolicy("sources:\n  - name: a\n    owns: [department, nosuch, id, name.givenName]\n  - name: a\n    owns: [Department]\n", { file: "s.yaml" });
      expect.fail("expected a PolicyError");
    } catch (e) {
      expect(e).to.be.instanceOf(PolicyError);
      const msgs = (e as PolicyError).issues.map((i) => `${i.line}:${i.path}: ${i.message}`);
      expect(msgs).to.deep.equal([
        "3:sources[0].owns[1]: unknown User attribute 'nosuch'",
        "3:sources[0].owns[2]: 'id' is read-only; no source writes it",
        "3:sources[0].owns[3]: 'name.givenName' is a sub-attribute; a source owns whole attributes (e.g. 'name')",
        '4:sources[1].name: duplicate source "a" (also sources[0])',
        '5:sources[1].owns[0]: "Department" is already owned by source "a" (sources[0]): one attribute, one owner',
      ]);
    }
  });

  it("when a policy has no sources or dataQuality section, then its version hash is unchanged by the new sections", () => {
    const text = 'groups:\n  - name: finance\n    when: department eq "Finance"\n';
    expect(loadPolicy(text).version).to.equal("2ab76ab89dd60a56"); // as before sources and dataQuality existed
    expect(loadPolicy(text).dataQuality).to.equal(null);
    expect(loadPolicy(text).owned).to.deep.equal([]);
    const dq = loadPolicy(`${text}dataQuality:\n  departments: [Finance]\n  flapping: { within: 2h }\n`).dataQuality!;
    expect(dq).to.deep.equal({ known: { department: ["Finance"] }, flappingWithinMs: 7_200_000, futureTerminationFlagMs: 30 * 86_400_000, action: "hold" });
  });
});
