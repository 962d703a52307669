// Lists and searches, executed in PostgreSQL: the filter compiles to a parameterised WHERE, paging is
// LIMIT/OFFSET (index) or keyset on seq (RFC 9865 cursor), and totalResults is a COUNT over the same
// WHERE — never by loading rows into memory.
import type { ResourceType } from "./attribute-catalog.ts";
import type pg from "pg";
import { createHash } from "node:crypto";
import { compileFilter, sortExpression } from "./filter-sql.ts";
import { expandAliases } from "./attribute-catalog.ts";
import { badRequest } from "../shared/errors.ts";
import { mapDbError } from "../store/database.ts";
import { USER_COLUMNS, rowToUser, isUuid } from "../store/user-repository.ts";
import { GROUP_COLUMNS, rowToGroup } from "../store/group-repository.ts";
import { userToScim } from "./user-resource.ts";
import { groupToScim } from "./group-resource.ts";
import { project, wants } from "./projection.ts";
import { decodeCursor, encodeCursor, type ListParams } from "./list-params.ts";

export interface Page { totalResults: number; Resources: Record<string, unknown>[]; startIndex?: number; itemsPerPage: number; nextCursor?: string }

const qualify = (cols: string, type: ResourceType) => cols.replace(/(^|,\s*)(\w)/g, `$1${ALIAS[type]}.$2`);
/**
 * The columns a user's SCIM representation is built from (userToScim: the stored resource, id, version and
 * the two instants); a sorted page also needs the columns its ORDER BY reads again outside the page cut.
 * Fewer columns: less to send, and no per-row parsing of dates and texts the answer never shows.
 */
const columnsOf = (type: ResourceType, all = false) =>
  type === "User" ? qualify(all ? USER_COLUMNS : "id, seq, data, version, created_at, updated_at", type) : GROUP_COLUMNS; // read through `g` already

/** The read-only `groups` of a user / `members` of a group as a json column (distinct over sources). */
function relationColumn(type: ResourceType, p: ListParams): string {
  if (type === "User" && wants(p, "groups"))
    return `, (SELECT coalesce(json_agg(json_build_object('value', x.id, 'display', x.display_name) ORDER BY x.display_name), '[]')
        FROM (SELECT DISTINCT gg.id, gg.display_name FROM group_member gm JOIN scim_group gg ON gg.id = gm.group_id WHERE gm.user_id = u.id) x) AS rel_`;
  if (type === "Group" && wants(p, "members"))
    return `, (SELECT coalesce(json_agg(json_build_object('value', x.id, 'display', x.user_name) ORDER BY x.user_name), '[]')
        FROM (SELECT DISTINCT uu.id, uu.user_name FROM group_member gm JOIN scim_user uu ON uu.id = gm.user_id WHERE gm.group_id = g.id) x) AS rel_`;
  return "";
}

const TABLE = { User: "scim_user u", Group: "scim_group g" } as const;
const TABLE_NAME = { User: "scim_user", Group: "scim_group" } as const;

/**
 * The exact number of rows of a type, as the statement's snapshot sees them: the sum of the trigger-kept
 * block counts (migration 20261212100000_list_positions), never a scan of the rows.
 */
const totalOf = (type: ResourceType) =>
  `(SELECT coalesce(sum(n), 0)::int FROM resource_block_count WHERE resource_type = '${type}')`;

/**
 * totalResults (RFC 7644 §3.4.2) as a scalar subquery over the filter alone — never the cursor's position nor
 * the page cut — so PostgreSQL plans it apart from the page (an index-only count where the filter allows, e.g.
 * 16 ms for a filter that all 100,000 users match) instead of a window count over every matched row
 * carried through the page's sort (370 ms there). Unfiltered: the block counts.
 */
const countSql = (type: ResourceType, filterSql: string) =>
  filterSql === "TRUE" ? totalOf(type) : `(SELECT count(*)::int FROM ${TABLE[type]} WHERE ${filterSql})`;

/**
 * The block that holds the row at 0-based position `offset` in seq order, and how many of the block's rows
 * precede it: the first block whose running total of counts passes the offset. A CTE, so the statement
 * computes it once; no row when the offset lies past the last row.
 */
const seekBlock = (type: ResourceType, offset: string) => `WITH at_ AS (
  SELECT block_start, (${offset} - (upto - n))::bigint AS skip FROM (
    SELECT block_start, n, sum(n) OVER (ORDER BY block_start) AS upto
    FROM (SELECT block_start, sum(n) AS n FROM resource_block_count WHERE resource_type = '${type}' GROUP BY block_start) b) c
  WHERE upto > ${offset} ORDER BY block_start LIMIT 1)
`;

/**
 * The seq of the row seekBlock located (RFC 7644 §3.4.2.4: position startIndex - 1): at most one block of the
 * seq index is walked (index-only), however far the page is — instead of every row before it. NULL past the end.
 */
const seekPosition = (type: ResourceType) =>
  `(SELECT s.seq FROM ${TABLE_NAME[type]} s WHERE s.seq >= (SELECT block_start FROM at_) ORDER BY s.seq LIMIT 1 OFFSET (SELECT skip FROM at_))`;

const ALIAS = { User: "u", Group: "g" } as const;

/** How many distinct statement texts get a server-side prepared statement (per pooled connection). */
const PREPARED_MAX = 256;

export class SearchService {
  /** statement text → its prepared statement's name; bounded, so odd filters cannot grow it without end */
  private readonly prepared = new Map<string, string>();

  constructor(private readonly pool: pg.Pool) {}

  /**
   * Runs a read. Values (filter values, LIMIT, OFFSET) are always parameters, so the text is the query's
   * shape: the first PREPARED_MAX shapes seen are named statements, which PostgreSQL parses and plans once per
   * connection instead of per request (planning these joins costs about as much as running them for one row).
   * Shapes beyond the bound run unnamed, as before.
   */
  private query(text: string, values: unknown[]) {
    let name = this.prepared.get(text);
    if (name === undefined && this.prepared.size < PREPARED_MAX) this.prepared.set(text, (name = `scim_read_${this.prepared.size}`));
    return this.pool.query(name === undefined ? { text, values } : { name, text, values });
  }

  /** Compiles the WHERE clause once; an unknown attribute for this type → 400 invalidFilter. */
  where(type: ResourceType, p: ListParams, first = 1): { sql: string; params: unknown[] } {
    if (!p.filter) return { sql: "TRUE", params: [] };
    // Short names of extension attributes (department, employmentStatus…) work in SCIM filters too, as
    // they do in broker.yaml conditions: one language for admins.
    return compileFilter(type === "User" ? expandAliases(p.filter) : p.filter, type, first);
  }

  async count(type: ResourceType, p: ListParams): Promise<number> {
    try { return await this.countWhere(type, this.where(type, p)); } catch (e) { mapDbError(e); }
  }

  /** totalResults on its own, for a page with no row to carry it (countSql). */
  private async countWhere(type: ResourceType, w: { sql: string; params: unknown[] }): Promise<number> {
    const { rows } = await this.query(`SELECT ${countSql(type, w.sql)} AS n`, w.params);
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
      // RFC 7644 §3.4.2.3: missing values last when ascending, first when descending (PostgreSQL's default)
      order = `${sortExpression(p.sortBy, type)} ${p.sortOrder === "descending" ? "DESC" : "ASC"}, ${a}.seq ASC`;
    }
    const cursor = p.cursor !== undefined;
    const queryKey = cursor ? createHash("sha256").update(`${type}|${p.filterText ?? ""}`).digest("base64url").slice(0, 16) : "";
    if (cursor) {
      const after = decodeCursor(p.cursor!, queryKey);
      if (after !== null) { params.push(after); where = `(${where}) AND ${a}.seq > $${params.length}`; }
    }
    const offset = window?.offset ?? (cursor ? 0 : p.startIndex - 1);
    const limit = window?.limit ?? p.count;
    // One round trip: the page carries its totalResults as a column computed once per statement (countSql);
    // groups/members come as a json column.
    const unfiltered = w.sql === "TRUE";
    // An unfiltered page in seq order at an offset starts at the row the block counts locate (seekPosition).
    const seek = unfiltered && !cursor && !p.sortBy && offset > 0;
    params.push(limit + (cursor ? 1 : 0));
    const limitParam = `$${params.length}`;
    params.push(offset);
    const offsetParam = `$${params.length}`;
    if (seek) where = `${a}.seq >= ${seekPosition(type)}`;
    // The page is cut in an inner query (aliased like the table, so `order` applies to it again outside);
    // groups/members are computed for the page's rows only, never for the rows OFFSET skips.
    const page = `SELECT ${columnsOf(type, !!p.sortBy)} FROM ${TABLE[type]} WHERE ${where}
      ORDER BY ${order} LIMIT ${limitParam}${seek ? "" : ` OFFSET ${offsetParam}`}`;
    const outer = `${seek ? seekBlock(type, offsetParam) : ""}SELECT ${a}.*${relationColumn(type, p)}, ${countSql(type, w.sql)} AS total_
      FROM (${page}) ${a} ORDER BY ${order}`;
    try {
      const rows = limit === 0 ? [] : (await this.query(outer, params)).rows;
      // No row to carry the count: none matched (an index page at offset 0), the page lies past the end, or
      // no rows were asked for.
      const total = rows.length ? Number(rows[0].total_) : offset === 0 && !cursor && limit > 0 ? 0 : await this.countWhere(type, w);
      const more = cursor && rows.length > limit;
      const pageRows = more ? rows.slice(0, limit) : rows;
      const Resources = pageRows.map((r) => this.render(type, r, p, baseUrl));
      return {
        totalResults: total, Resources, itemsPerPage: Resources.length,
        ...(cursor ? (more ? { nextCursor: encodeCursor(pageRows[pageRows.length - 1].seq, queryKey) } : {}) : { startIndex: p.startIndex }),
      };
    } catch (e) { mapDbError(e); }
  }

  /** One resource by id with its groups/members in the same query; null when absent. */
  async one(type: ResourceType, id: string, p: ListParams, baseUrl: string): Promise<{ version: number; resource: Record<string, unknown> } | null> {
    if (!isUuid(id)) return null;
    try {
      const { rows } = await this.query(`SELECT ${columnsOf(type)}${relationColumn(type, p)} FROM ${TABLE[type]} WHERE ${ALIAS[type]}.id = $1`, [id]);
      return rows[0] ? { version: rows[0].version, resource: this.render(type, rows[0], p, baseUrl) } : null;
    } catch (e) { mapDbError(e); }
  }

  private render(type: ResourceType, r: any, p: ListParams, baseUrl: string) {
    return type === "User"
      ? project(userToScim(rowToUser(r), r.rel_ ?? undefined, baseUrl), p)
      : project(groupToScim(rowToGroup(r), r.rel_ ?? undefined, baseUrl), p);
  }
}
