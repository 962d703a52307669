import { expect } from "chai";
import { DEFAULT_COLUMNS, defaultMapping, parseDate, parseMapping, planHeader, rowToPatch, RowError } from "../../../src/import/csv-mapping.ts";
import { mergeRow } from "../../../src/import/row-merge.ts";
import { ENTERPRISE_SCHEMA as ENT, HR_SCHEMA as HR, USER_SCHEMA } from "../../../src/scim/schemas.ts";

describe("CSV import: mapping and rows", () => {
  const m = defaultMapping();
  const plan = planHeader([...DEFAULT_COLUMNS], m);
  const row = (o: Partial<Record<(typeof DEFAULT_COLUMNS)[number], string>>) => DEFAULT_COLUMNS.map((c) => o[c] ?? "");

  it("when a date is read, then calendar days become midnight UTC and impossible ones are refused", () => {
    expect(parseDate("2025-01-31", "YYYY-MM-DD", "startDate")).to.equal("2025-01-31T00:00:00.000Z");
    expect(parseDate("31/01/2025", "DD/MM/YYYY", "startDate")).to.equal("2025-01-31T00:00:00.000Z");
    expect(parseDate("01/31/2025", "MM/DD/YYYY", "startDate")).to.equal("2025-01-31T00:00:00.000Z");
    expect(parseDate("2025-01-31", "DD/MM/YYYY", "startDate")).to.equal("2025-01-31T00:00:00.000Z"); // ISO always reads
    expect(parseDate("2025-01-31T18:00:00+02:00", "YYYY-MM-DD", "endDate")).to.equal("2025-01-31T16:00:00.000Z");
    for (const bad of ["2025-02-29", "31/01/2025", "2025-1-32", "tomorrow", "2025-01-31T25:00:00Z"]) {
      expect(() => parseDate(bad, "YYYY-MM-DD", "startDate"), bad).to.throw(RowError, /startDate: '.*' is not a date/);
    }
  });

  it("when a row is read, then empty cells clear their attribute and absent columns are not the row's to touch", () => {
    const p = rowToPatch(row({ employeeNumber: "E1", userName: "a@x", givenName: "A", email: "a@x", employmentStatus: "Active", department: "" }), plan, m);
    expect(p).to.include({ employeeNumber: "E1", userName: "a@x", manager: null });
    const sets = Object.fromEntries(p.sets.map((s) => [s.path.join("|"), s.value]));
    expect(sets["name|givenName"]).to.equal("A");
    expect(sets[`${ENT}|department`]).to.equal(null);
    expect(sets[`${HR}|employmentStatus`]).to.equal("active"); // case folded to the closed list
    expect(sets.emails).to.deep.equal([{ value: "a@x", type: "work", primary: true }]);
    const narrow = planHeader(["userName", "employeeNumber"], m);
    expect(rowToPatch(["b@x", "E2"], narrow, m)).to.deep.include({ sets: [{ path: [ENT, "employeeNumber"], value: "E2" }, { path: ["userName"], value: "b@x" }], manager: undefined });
    expect(() => rowToPatch(row({ userName: "a@x" }), plan, m)).to.throw(RowError, /no employeeNumber/);
    expect(() => rowToPatch(row({ employeeNumber: "E1", employmentStatus: "gone" }), plan, m)).to.throw(RowError, /no userName/);
    expect(() => rowToPatch(row({ employeeNumber: "E1", userName: "a@x", employmentStatus: "gone" }), plan, m)).to.throw(RowError, /unknown employmentStatus 'gone'/);
  });

  it("when a row is merged into a stored user, then other attributes stay, emptied objects go and active is left to the user-active rules", () => {
    const stored = { schemas: [USER_SCHEMA, ENT, HR], userName: "a@x", active: false, nickName: "keep", name: { givenName: "A" },
      [ENT]: { employeeNumber: "E1", department: "Sales", manager: { value: "m1" } }, [HR]: { location: "Paris" } };
    const plan2 = planHeader(["employeeNumber", "userName", "givenName", "location", "manager"], m);
    const merged = mergeRow(stored, rowToPatch(["E1", "a@x", "", "", "E9"], plan2, m), undefined);
    expect(merged).to.deep.equal({ schemas: [USER_SCHEMA, ENT], userName: "a@x", nickName: "keep", [ENT]: { employeeNumber: "E1", department: "Sales", manager: { value: "m1" } } });
    expect(mergeRow(stored, rowToPatch(["E1", "a@x", "A", "", ""], plan2, m), null)[ENT]).to.not.have.property("manager");
    expect(mergeRow(null, rowToPatch(["E2", "b@x", "B", "Rome", ""], plan2, m), null)).to.deep.equal({
      schemas: [USER_SCHEMA, ENT, HR], userName: "b@x", name: { givenName: "B" }, [ENT]: { employeeNumber: "E2" }, [HR]: { location: "Rome" } });
  });

  it("when a header is planned, then unknown or repeated columns and missing key columns stop the import with line 1", () => {
    expect(() => planHeader(["employeeNumber", "userName", "shoe"], m)).to.throw(/line 1: unknown column 'shoe'/);
    expect(() => planHeader(["employeeNumber", "userName", "UserName"], m)).to.throw(/appears twice/);
    expect(() => planHeader(["employeeNumber", "email"], m)).to.throw(/no 'userName' column/);
    expect(planHeader(["Employee Number", "userName"], parseMapping("columns: { employeeNumber: employee number }")).fields).to.deep.equal({ employeeNumber: 0, userName: 1 });
  });

  it("when a mapping file is wrong, then it is refused with the key and why", () => {
    expect(() => parseMapping("colums: {}")).to.throw(/Unrecognized key/);
    expect(() => parseMapping("attributes: { X: nope }")).to.throw(/attributes.nope: no such User attribute/);
    expect(() => parseMapping("attributes: { X: emails }")).to.throw(/own column/);
    expect(() => parseMapping("attributes: { X: name }")).to.throw(/only single-valued, writable, simple attributes/);
    expect(() => parseMapping("values: { employmentStatus: { Gone: fired } }")).to.throw(/values.employmentStatus.Gone/);
    expect(() => parseMapping("columns: { userName: email }")).to.throw(/mapped twice/);
    expect(() => parseMapping("a: [")).to.throw(/not valid YAML/);
  });
});
