// How a CSV file from an HR system becomes SCIM User attributes (pure: no I/O). The default columns are the
// fields most HR exports carry; a mapping file renames them to the file's own headers, adds columns mapped
// to further SCIM attributes, translates status values and reads day-first or month-first dates.
//
//   columns:    { employeeNumber: "Employee ID", userName: "Work Email" }   # broker field → the file's header
//   attributes: { Nickname: nickName, Division: division, "Middle name": name.middleName }   # header → attribute
//   values:     { employmentStatus: { Inactive: terminated, "On leave": leave } }
//   dateFormat: DD/MM/YYYY          # or MM/DD/YYYY; default YYYY-MM-DD (ISO 8601 timestamps are accepted too)
//   ignore:     [Notes, "Badge colour"]   # headers to skip; any other unknown header stops the import
//   delimiter:  ";"                 # , (default) ; tab or |
import SCIMMY from "scimmy";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ENTERPRISE_SCHEMA, EMPLOYMENT_STATUSES, HR_SCHEMA, declareSchemas } from "../scim/schemas.ts";
import { badRequest } from "../shared/errors.ts";

export const DEFAULT_COLUMNS = [
  "employeeNumber", "userName", "givenName", "familyName", "email", "department", "title", "userType",
  "employmentStatus", "startDate", "endDate", "manager", "costCenter", "location",
] as const;
export type Field = (typeof DEFAULT_COLUMNS)[number];
export const DATE_FORMATS = ["YYYY-MM-DD", "DD/MM/YYYY", "MM/DD/YYYY"] as const;
export type DateFormat = (typeof DATE_FORMATS)[number];

/** A place in the SCIM resource: keys from the top (an extension URN is one key). */
export type AttrPath = readonly string[];
type ValueKind = "string" | "boolean" | "number" | "date";

export interface ImportMapping {
  /** broker field → header in the file */
  columns: Record<Field, string>;
  /** more columns: header → SCIM attribute */
  attributes: Array<{ header: string; path: AttrPath; kind: ValueKind; name: string }>;
  employmentStatus: Map<string, string>;
  dateFormat: DateFormat;
  ignore: Set<string>;
  /** field delimiter (spreadsheets in many locales export ";") */
  delimiter: string;
}

/** Where each default field goes. `manager` and `email` have their own shapes (see rowToPatch). */
const FIELD_PATHS: Record<Exclude<Field, "email" | "manager" | "employmentStatus" | "startDate" | "endDate">, AttrPath> = {
  employeeNumber: [ENTERPRISE_SCHEMA, "employeeNumber"], userName: ["userName"], givenName: ["name", "givenName"],
  familyName: ["name", "familyName"], department: [ENTERPRISE_SCHEMA, "department"], title: ["title"], userType: ["userType"],
  costCenter: [ENTERPRISE_SCHEMA, "costCenter"], location: [HR_SCHEMA, "location"],
};
const RESERVED = new Set(["userName", "active", "emails", "groups", "password", "id", "meta", "schemas", "externalId",
  `${ENTERPRISE_SCHEMA}:manager`, `${HR_SCHEMA}:sponsor`]);

const mappingSchema = z.object({
  columns: z.partialRecord(z.enum(DEFAULT_COLUMNS), z.string().min(1)).optional(),
  attributes: z.record(z.string().min(1), z.string().min(1)).optional(),
  values: z.object({ employmentStatus: z.record(z.string(), z.enum(EMPLOYMENT_STATUSES)).optional() }).strict().optional(),
  dateFormat: z.enum(DATE_FORMATS).optional(),
  ignore: z.array(z.string().min(1)).optional(),
  delimiter: z.enum([",", ";", "\t", "|"]).optional(),
}).strict();

export const defaultMapping = (): ImportMapping => buildMapping({});

/** Parses a mapping file (YAML or JSON text); every problem is one 400 naming the key. */
export function parseMapping(text: string, file = "mapping"): ImportMapping {
  let raw: unknown;
  try { raw = parseYaml(text) ?? {}; } catch (e) { throw badRequest("invalidValue", `${file}: not valid YAML: ${(e as Error).message.split("\n")[0]}`); }
  const parsed = mappingSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`);
    throw badRequest("invalidValue", `${file}: ${issues.join("; ")} (expected keys columns, attributes, values, dateFormat, ignore, delimiter)`);
  }
  return buildMapping(parsed.data, file);
}

function buildMapping(m: z.infer<typeof mappingSchema>, file = "mapping"): ImportMapping {
  declareSchemas();
  const columns = Object.fromEntries(DEFAULT_COLUMNS.map((f) => [f, m.columns?.[f] ?? f])) as Record<Field, string>;
  const attributes = Object.entries(m.attributes ?? {}).map(([header, name]) => ({ header, name, ...resolveAttribute(name, file) }));
  const headers = [...Object.values(columns), ...attributes.map((a) => a.header)].map((h) => h.toLowerCase());
  const dup = headers.find((h, i) => headers.indexOf(h) !== i);
  if (dup) throw badRequest("invalidValue", `${file}: the header '${dup}' is mapped twice`);
  const status = new Map(Object.entries(m.values?.employmentStatus ?? {}).map(([k, v]) => [k.trim().toLowerCase(), v]));
  return { columns, attributes, employmentStatus: status, dateFormat: m.dateFormat ?? "YYYY-MM-DD", ignore: new Set((m.ignore ?? []).map((h) => h.toLowerCase())), delimiter: m.delimiter ?? "," };
}

/** A mapping target: a writable, single-valued, simple attribute of the User schema (core or extension). */
function resolveAttribute(name: string, file: string): { path: AttrPath; kind: ValueKind } {
  const def = SCIMMY.Schemas.User.definition;
  const candidates = name.startsWith("urn:") || name.includes(".") ? [name] : [name, `${ENTERPRISE_SCHEMA}:${name}`, `${HR_SCHEMA}:${name}`];
  for (const c of candidates) {
    type Attr = { type: string; config: { multiValued?: boolean; mutable?: unknown } };
    let attr: Attr;
    try { attr = def.attribute(c) as unknown as Attr; } catch { continue; }
    const path = splitPath(c);
    if (RESERVED.has(path.join(":")) || RESERVED.has(path[0]!) || Object.values(FIELD_PATHS).some((p) => p.join("\u0000") === path.join("\u0000")))
      throw badRequest("invalidValue", `${file}: attributes.${name}: this attribute has its own column (or is not writable by an import)`);
    if (attr.type === undefined || attr.type === "complex" || attr.config.multiValued || attr.config.mutable === false || attr.config.mutable === "readOnly")
      throw badRequest("invalidValue", `${file}: attributes.${name}: only single-valued, writable, simple attributes can be mapped`);
    const kind: ValueKind = attr.type === "boolean" ? "boolean" : attr.type === "dateTime" ? "date" : attr.type === "integer" || attr.type === "decimal" ? "number" : "string";
    return { path, kind };
  }
  throw badRequest("invalidValue", `${file}: attributes.${name}: no such User attribute (core, enterprise or HR extension)`);
}

function splitPath(name: string): string[] {
  for (const urn of [ENTERPRISE_SCHEMA, HR_SCHEMA]) {
    if (name.toLowerCase().startsWith(`${urn.toLowerCase()}:`)) return [urn, ...name.slice(urn.length + 1).split(".")];
  }
  return name.split(".");
}

// ---- the header ---------------------------------------------------------------------------------------

/** Column index of each field and extra attribute; fields absent from the file are left untouched. */
export interface HeaderPlan { fields: Partial<Record<Field, number>>; attributes: Array<ImportMapping["attributes"][number] & { index: number }> }

export function planHeader(header: string[], m: ImportMapping): HeaderPlan {
  const index = new Map<string, number>();
  header.forEach((h, i) => {
    const key = h.trim().toLowerCase();
    if (index.has(key)) throw badRequest("invalidValue", `line 1: the column '${h.trim()}' appears twice`);
    index.set(key, i);
  });
  const fields: HeaderPlan["fields"] = {};
  const known = new Set<string>();
  for (const f of DEFAULT_COLUMNS) {
    const i = index.get(m.columns[f].toLowerCase());
    if (i !== undefined) { fields[f] = i; known.add(m.columns[f].toLowerCase()); }
  }
  const attributes = m.attributes.flatMap((a) => {
    const i = index.get(a.header.toLowerCase());
    if (i === undefined) return [];
    known.add(a.header.toLowerCase());
    return [{ ...a, index: i }];
  });
  for (const f of ["employeeNumber", "userName"] as const) {
    if (fields[f] === undefined) throw badRequest("invalidValue", `line 1: no '${m.columns[f]}' column: rows are matched by employeeNumber within the source and need a userName`);
  }
  const unknown = header.map((h) => h.trim()).filter((h) => h !== "" && !known.has(h.toLowerCase()) && !m.ignore.has(h.toLowerCase()));
  if (unknown.length) {
    throw badRequest("invalidValue", `line 1: unknown column${unknown.length > 1 ? "s" : ""} ${unknown.map((h) => `'${h}'`).join(", ")}: map ${unknown.length > 1 ? "them" : "it"} (mapping file columns: or attributes:) or list ${unknown.length > 1 ? "them" : "it"} under ignore:`);
  }
  return { fields, attributes };
}

// ---- one row ------------------------------------------------------------------------------------------

/** What a row says: attribute path → value (null: the cell is empty, so the attribute is removed). */
export interface RowPatch {
  employeeNumber: string;
  userName: string;
  sets: Array<{ path: AttrPath; value: unknown }>;
  /** manager cell: an employeeNumber or userName of the same source (resolved by the importer); null = none */
  manager: string | null | undefined;
}

export class RowError extends Error {}

export function rowToPatch(cells: string[], plan: HeaderPlan, m: ImportMapping): RowPatch {
  const cell = (i: number | undefined) => (i === undefined ? undefined : (cells[i] ?? "").trim());
  const f = (name: Field) => cell(plan.fields[name]);
  const employeeNumber = f("employeeNumber");
  const userName = f("userName");
  if (!employeeNumber) throw new RowError("no employeeNumber (rows are matched by it within the source)");
  if (!userName) throw new RowError("no userName");
  const sets: RowPatch["sets"] = [];
  const put = (path: AttrPath, v: unknown) => sets.push({ path, value: v === "" || v === undefined ? null : v });
  for (const [name, path] of Object.entries(FIELD_PATHS) as Array<[Field, AttrPath]>) {
    const v = f(name);
    if (v !== undefined) put(path, v);
  }
  const email = f("email");
  if (email !== undefined) put(["emails"], email ? [{ value: email, type: "work", primary: true }] : null);
  const status = f("employmentStatus");
  if (status !== undefined) put([HR_SCHEMA, "employmentStatus"], status ? employmentStatus(status, m) : null);
  for (const name of ["startDate", "endDate"] as const) {
    const v = f(name);
    if (v !== undefined) put([HR_SCHEMA, name], v ? parseDate(v, m.dateFormat, name) : null);
  }
  for (const a of plan.attributes) {
    const v = cell(a.index)!;
    put(a.path, v === "" ? null : convert(v, a.kind, a.header, m.dateFormat));
  }
  const manager = f("manager");
  return { employeeNumber, userName, sets, manager: manager === undefined ? undefined : manager || null };
}

function employmentStatus(v: string, m: ImportMapping): string {
  const key = v.trim().toLowerCase();
  const mapped = m.employmentStatus.get(key) ?? key;
  if ((EMPLOYMENT_STATUSES as readonly string[]).includes(mapped)) return mapped;
  throw new RowError(`unknown employmentStatus '${v}' (expected ${EMPLOYMENT_STATUSES.join(", ")}; a mapping file's values: can translate others)`);
}

function convert(v: string, kind: ValueKind, header: string, fmt: DateFormat): unknown {
  if (kind === "date") return parseDate(v, fmt, header);
  if (kind === "boolean") {
    if (/^(true|yes|1)$/i.test(v)) return true;
    if (/^(false|no|0)$/i.test(v)) return false;
    throw new RowError(`${header}: '${v}' is not true or false`);
  }
  if (kind === "number") {
    if (!/^-?\d+(\.\d+)?$/.test(v)) throw new RowError(`${header}: '${v}' is not a number`);
    return Number(v);
  }
  return v;
}

const DATE_RE: Record<DateFormat, RegExp> = {
  "YYYY-MM-DD": /^(?<y>\d{4})-(?<m>\d{1,2})-(?<d>\d{1,2})$/,
  "DD/MM/YYYY": /^(?<d>\d{1,2})[/.-](?<m>\d{1,2})[/.-](?<y>\d{4})$/,
  "MM/DD/YYYY": /^(?<m>\d{1,2})[/.-](?<d>\d{1,2})[/.-](?<y>\d{4})$/,
};
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

/** A calendar date (midnight UTC, as HR dates are days) or an ISO 8601 timestamp with its zone. */
export function parseDate(v: string, fmt: DateFormat, column: string): string {
  if (ISO_TIMESTAMP.test(v) && !Number.isNaN(Date.parse(v))) return new Date(v).toISOString();
  const g = (DATE_RE[fmt].exec(v) ?? DATE_RE["YYYY-MM-DD"].exec(v))?.groups;
  if (g) {
    const [y, mo, d] = [Number(g.y), Number(g.m), Number(g.d)];
    const t = new Date(Date.UTC(y, mo - 1, d));
    if (t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d) return t.toISOString();
  }
  throw new RowError(`${column}: '${v}' is not a date (expected ${fmt}${fmt === "YYYY-MM-DD" ? "" : " or YYYY-MM-DD"}, or an ISO 8601 timestamp)`);
}
