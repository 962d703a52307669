import { expect } from "chai";
import { desiredUser, stateHash, wantsAccount, type DesiredUserApp } from "../../../src/fanout/delivery/desired-state.ts";
import { mapUser } from "../../../src/domain/app-mapping.ts";
import { compileCondition } from "../../../src/rules/condition.ts";
import type { UserRow } from "../../../src/store/rows.ts";

const NOW = new Date("2026-06-01T12:00:00Z");
const HR = "urn:ietf:params:scim:schemas:extension:scim-broker:2.0:User";

function row(over: Partial<UserRow> = {}): UserRow {
  const base = {
    id: "7d0e4b6c-3b0a-4c57-9d43-8f3e2c1a0b11", seq: 1, userName: "ann@example.com", userNameKey: "ann@example.com", externalId: null,
    active: true, displayName: "Ann", userType: null, title: null, department: "Finance", costCenter: null, division: null, organization: null,
    employeeNumber: null, managerId: null, employmentStatus: null, startDate: null, endDate: null, location: null, sponsorId: null,
    source: null, version: 1, createdAt: NOW, updatedAt: NOW,
  };
  const r = { ...base, ...over } as UserRow;
  r.data = over.data ?? {
    schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: r.userName, displayName: r.displayName, active: r.active,
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { department: r.department },
    ...(r.employmentStatus ? { [HR]: { employmentStatus: r.employmentStatus } } : {}),
  };
  return r;
}

function app(assign = "active eq true", deprovision: "disable" | "delete" = "disable"): DesiredUserApp {
  const c = compileCondition(assign);
  return { config: { deprovision }, isAssigned: (u) => c.matches(u), mapUser: (u) => mapUser(u) };
}

describe("fanout/desired-state", () => {
  it("when the user is assigned, then the app should hold the mapped resource, identified by a stable hash", () => {
    const d = desiredUser(app(), row(), [], NOW);
    expect(d.kind).to.equal("provision");
    if (d.kind !== "provision") return;
    expect(d.resource).to.include({ userName: "ann@example.com", active: true, externalId: row().id });
    expect(d.hash).to.equal(desiredUser(app(), row(), [], NOW).hash);
    expect(d.hash).to.not.equal((desiredUser(app(), row({ displayName: "Ann B" }), [], NOW) as { hash: string }).hash);
  });

  it("when the user is deleted, terminated or deactivated, then it is deprovisioned per the app's mode", () => {
    expect(desiredUser(app(), null, [], NOW)).to.deep.include({ kind: "deprovision", reason: "deleted", mode: "disable", resource: null });
    expect(desiredUser(app(), row({ employmentStatus: "terminated" }), [], NOW)).to.include({ kind: "deprovision", reason: "leaver" });
    const off = desiredUser(app("active eq true", "delete"), row({ active: false }), [], NOW);
    expect(off).to.include({ kind: "deprovision", reason: "leaver", mode: "delete", hash: "deprovision:delete" });
  });

  it("when a deprovisioned user still exists, then its resource is kept with active=false (PUT-only apps disable by PUT)", () => {
    const d = desiredUser(app(), row({ employmentStatus: "terminated" }), [], NOW);
    expect(d.kind === "deprovision" && d.resource).to.include({ userName: "ann@example.com", active: false });
  });

  it("when the user is not assigned (or a pre-hire), then nothing is created and an existing account is disabled", () => {
    expect(desiredUser(app('department eq "Sales"'), row(), [], NOW)).to.include({ kind: "deprovision", reason: "unassigned" });
    const prehire = row({ startDate: new Date("2026-07-01T00:00:00Z") });
    expect(desiredUser(app(), prehire, [], NOW)).to.include({ kind: "deprovision", reason: "unassigned" });
    expect(wantsAccount(app(), prehire, [], NOW)).to.equal(false);
    expect(wantsAccount(app(), row(), [], NOW)).to.equal(true);
  });

  it("when assign reads groups, then the user's groups are part of the evaluated resource", () => {
    const a = app('groups.display eq "finance"');
    expect(wantsAccount(a, row(), [{ value: "5b1e0d0a-9a4e-4f51-8a7f-2d7c3f9e6a10", display: "finance" }], NOW)).to.equal(true);
    expect(wantsAccount(a, row(), [], NOW)).to.equal(false);
  });

  it("when hashing, then equal resources hash equal and any change shows", () => {
    expect(stateHash({ a: 1, b: [1, { c: 2 }] })).to.equal(stateHash({ a: 1, b: [1, { c: 2 }] })).and.to.have.length(16);
    expect(stateHash({ a: 1, b: [1, { c: 2 }] })).to.not.equal(stateHash({ a: 1, b: [1, { c: 3 }] }));
  });
});
