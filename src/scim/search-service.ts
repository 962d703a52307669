// Lists and searches, executed in PostgreSQL: the filter compiles to a parameterised WHERE, paging is
// LIMIT/OFFSET (index) or keyset on seq (RFC 9865 cursor), and totalResults is a COUNT over the same
// WHERE — never by loading rows into memory.
import type pg from "pg";
import { createHash } from "node:crypto";
import { compileFilter, sortExpression } from "./filter-sql.ts";
import { expandAliases } from "./attribute-catalog.ts";
import { badRequest } from "../shared/errors.ts";
import { mapDbError } from "../store/database.ts";
import { USER_COLUMNS, rowToUser, groupsOfUsers } from "../store/user-repository.ts";
import { GROUP_COLUMNS, rowToGroup, membersOfGroups } from "../store/group-repository.ts";
import { userToScim, type UserRow } from "./user-resource.ts";
import { groupToScim, type GroupRow } from "./group-resource.ts";
import { project, wants } from "./projection.ts";
import { decodeCursor, encodeCursor, type ListParams } from "./list-params.ts";

export type ResourceType = "User" | "Group";
export interface Page { totalResults: number; Resources: Record<string, unknown>[]; startIndex?: number; itemsPerPage: number; nextCursor?: string }

const TABLE = { User: "scim_user u", Group: "scim_group g" } as const;
const ALIAS = { User: "u", Group: "g" } as const;

export class SearchService {
  constructor(private readonly pool: pg.Pool) {}

  /** Compiles the WHERE clause once; an unknown attribute for this type → 400 invalidFilter. */
  where(type: ResourceType, p: ListParams, first = 1): { sql: string; params: unknown[] } {
    if (!p.filter) return { sql: "TRUE", params: [] };
    // Short names of extension attributes (department, employmentStatus…) work in SCIM filters too, as
    // they do in broker.yaml conditions: one language for admins.
    return compileFilter(type === "User" ? expandAliases(p.filter as object[]) : p.filter, type, first);
  }

  async count(type: ResourceType, p: ListParams): Promise<number> {
    try { return await this.countWhere(type, this.where(type, p)); } catch (e) { mapDbError(e); }
  }

  /** Unfiltered: the trigger-kept counter (O(1)); filtered: COUNT(*) over the compiled WHERE. */
  private async countWhere(type: ResourceType, w: { sql: string; params: unknown[] }): Promise<number> {
    const { rows } = w.sql === "TRUE"
      ? await this.pool.query(`SELECT coalesce(sum(n), 0)::int AS n FROM resource_count WHERE resource_type = $1`, [type])
      : await this.pool.query(`SELECT count(*)::int AS n FROM ${TABLE[type]} WHERE ${w.sql}`, w.params);
    return rows[0].n;
  }

  async list(type: ResourceType, p: ListParams, baseUrl: string, window?: { offset: number; limit: number }): Promise<Page> {
    const a = ALIAS[type];
    const w = this.where(type, p);
    const params = [...w.params];
    let where = w.sql;
    let order = `${a}.seq ASC`;
    if (p.sortBy) {
      if (p.cursor !== undefined) throw badRequest("invalidValue", "sortBy is not supported together with cursor paging; page with startIndex instead");
      order = `${sortExpression(p.sortBy, type)} ${p.sortOrder === "descending" ? "DESC" : "ASC"}, ${a}.seq ASC`;
    }
    const queryKey = p.cursor !== undefined ? createHash("sha256").update(`${type}|${p.filterText ?? ""}`).digest("base64url").slice(0, 16) : "";
    if (p.cursor !== undefined) {
      const after = decodeCursor(p.cursor, queryKey);
      if (after !== null) { params.push(after); where = `(${where}) AND ${a}.seq > $${params.length}`; }
    }
    const offset = window?.offset ?? (p.cursor !== undefined ? 0 : p.startIndex - 1);
    const limit = window?.limit ?? p.count;
    const cols = type === "User" ? USER_COLUMNS.replace(/(^|,\s*)(\w)/g, `$1${a}.$2`) : GROUP_COLUMNS.replace(/(^|,\s*)(\w)/g, `$1${a}.$2`);
    try {
      const [total, rows] = await Promise.all([
        this.countWhere(type, w),
        limit === 0 ? Promise.resolve([]) : this.pool.query(`SELECT ${cols} FROM ${TABLE[type]} WHERE ${where} ORDER BY ${order} LIMIT ${limit + (p.cursor !== undefined ? 1 : 0)} OFFSET ${offset}`, params).then((r) => r.rows),
      ]);
      const more = p.cursor !== undefined && rows.length > limit;
      const pageRows = more ? rows.slice(0, limit) : rows;
      const Resources = type === "User"
        ? await this.renderUsers(pageRows.map(rowToUser), p, baseUrl)
        : await this.renderGroups(pageRows.map(rowToGroup), p, baseUrl);
      return {
        totalResults: total, Resources, itemsPerPage: Resources.length,
        ...(p.cursor !== undefined ? (more ? { nextCursor: encodeCursor(pageRows[pageRows.length - 1].seq, queryKey) } : {}) : { startIndex: p.startIndex }),
      };
    } catch (e) { mapDbError(e); }
  }

  async renderUsers(rows: UserRow[], p: ListParams, baseUrl: string) {
    const groups = wants(p, "groups") ? await groupsOfUsers(this.pool, rows.map((r) => r.id)) : undefined;
    return rows.map((r) => project(userToScim(r, groups ? groups.get(r.id) ?? [] : undefined, baseUrl), p));
  }

  async renderGroups(rows: GroupRow[], p: ListParams, baseUrl: string) {
    const members = wants(p, "members") ? await membersOfGroups(this.pool, rows.map((r) => r.id)) : undefined;
    return rows.map((r) => project(groupToScim(r, members ? members.get(r.id) ?? [] : undefined, baseUrl), p));
  }
}
