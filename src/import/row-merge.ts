// The SCIM body an import row asks for (pure). An existing user keeps every attribute the file does not
// carry (a column absent from the header is not the file's to change); an empty cell removes its attribute.
// `active` is left unassigned, so the rules of src/scim/user-active.ts decide it exactly as for a SCIM PUT
// that omits it: a leaver is never re-enabled by an import, only by HR's employmentStatus becoming active.
import { ENTERPRISE_SCHEMA, HR_SCHEMA, USER_SCHEMA } from "../scim/schemas.ts";
import type { AttrPath, RowPatch } from "./csv-mapping.ts";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === "object" && !Array.isArray(v);

/**
 * @param base the stored resource (its `data`), or null for a new user
 * @param managerId the resolved manager's id; null removes the manager; undefined leaves it as it is
 */
export function mergeRow(base: Obj | null, patch: RowPatch, managerId: string | null | undefined): Obj {
  const body: Obj = base ? structuredClone(base) : { schemas: [USER_SCHEMA] };
  delete body.active; delete body.id; delete body.meta; delete body.groups;
  for (const s of patch.sets) setPath(body, s.path, s.value);
  if (managerId !== undefined) setPath(body, [ENTERPRISE_SCHEMA, "manager"], managerId === null ? null : { value: managerId });
  // schemas lists the extensions present (RFC 7643 §3), in a stable order: the stored order, then new ones.
  const listed = Array.isArray(body.schemas) ? (body.schemas as string[]) : [USER_SCHEMA];
  const schemas = listed.filter((s) => !(s === ENTERPRISE_SCHEMA || s === HR_SCHEMA) || isObj(body[s]));
  for (const ext of [ENTERPRISE_SCHEMA, HR_SCHEMA]) if (isObj(body[ext]) && !schemas.includes(ext)) schemas.push(ext);
  body.schemas = schemas;
  return body;
}

/** Sets a value at a path (creating objects), or removes it (null) and prunes the objects left empty. */
export function setPath(body: Obj, path: AttrPath, value: unknown): void {
  const parents: Obj[] = [body];
  let at = body;
  for (const key of path.slice(0, -1)) {
    if (!isObj(at[key])) {
      if (value === null) return; // nothing to remove
      at[key] = {};
    }
    at = at[key] as Obj;
    parents.push(at);
  }
  const last = path[path.length - 1]!;
  if (value !== null) { at[last] = value; return; }
  delete at[last];
  for (let i = parents.length - 1; i > 0; i--) {
    if (Object.keys(parents[i]!).length > 0) break;
    delete parents[i - 1]![path[i - 1]!];
  }
}
