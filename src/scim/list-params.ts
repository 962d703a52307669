// Query parameters of list and /.search requests (RFC 7644 §3.4.2, §3.4.3) and RFC 9865 cursors, from
// either a query string or a SearchRequest body, validated into one shape.
import { badRequest } from "../shared/errors.ts";
import { parseFilter, type FilterAst } from "./filter-parser.ts";
import { checkProjection, type Projection } from "./projection.ts";

export interface ListParams extends Projection {
  filter?: FilterAst; filterText?: string; sortBy?: string; sortOrder: "ascending" | "descending";
  startIndex: number; count: number; cursor?: string;
}

const list = (v: unknown): string[] | undefined => {
  if (v === undefined || v === null || v === "") return undefined;
  const arr = Array.isArray(v) ? v.map(String) : String(v).split(",");
  return arr.map((s) => s.trim()).filter(Boolean);
};

// Integers beyond 2^53 lose precision in JavaScript and beyond 2^63 overflow PostgreSQL's bigint (22003):
// both are refused rather than silently rounded or clamped.
function int(v: unknown, name: string): number | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  const n = typeof v === "number" ? v : /^\s*[+-]?\d{1,20}\s*$/.test(String(v)) ? Number(String(v)) : NaN;
  if (!Number.isSafeInteger(n)) throw badRequest("invalidValue", `${name} must be an integer between ${Number.MIN_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER}`);
  return n;
}

export function parseListParams(src: Record<string, unknown>, paging: { defaultPageSize: number; maxPageSize: number }): ListParams {
  const get = (name: string) => src[Object.keys(src).find((k) => k.toLowerCase() === name.toLowerCase()) ?? name];
  const filterText = get("filter") === undefined || get("filter") === "" ? undefined : String(get("filter"));
  const filter = filterText === undefined ? undefined : parseFilter(filterText);
  const sortOrderRaw = get("sortOrder");
  if (sortOrderRaw !== undefined && !["ascending", "descending"].includes(String(sortOrderRaw)))
    throw badRequest("invalidValue", "sortOrder must be 'ascending' or 'descending'");
  // RFC 7644 §3.4.2.4: startIndex < 1 is interpreted as 1; a negative count as 0; above max is capped.
  const startIndex = Math.max(1, int(get("startIndex"), "startIndex") ?? 1);
  const count = Math.min(Math.max(0, int(get("count"), "count") ?? paging.defaultPageSize), paging.maxPageSize);
  const cursorRaw = get("cursor");
  const cursor = cursorRaw === undefined ? undefined : String(cursorRaw);
  if (cursor !== undefined && get("startIndex") !== undefined) throw badRequest("invalidValue", "use either startIndex or cursor, not both (RFC 9865 §2)");
  const sortBy = get("sortBy") === undefined || get("sortBy") === "" ? undefined : String(get("sortBy"));
  const projection = { attributes: list(get("attributes")), excludedAttributes: list(get("excludedAttributes")) };
  checkProjection(projection);
  return {
    filter, filterText, sortBy, sortOrder: (sortOrderRaw as ListParams["sortOrder"]) ?? "ascending",
    startIndex, count, cursor, ...projection,
  };
}

// RFC 9865 cursor: opaque to clients; here the last row's seq (keyset pagination, constant time per
// page) plus a digest of the query it belongs to, so a cursor replayed with another filter is refused.
export function encodeCursor(seq: number, queryKey: string): string {
  return Buffer.from(JSON.stringify({ s: seq, q: queryKey })).toString("base64url");
}
export function decodeCursor(cursor: string, queryKey: string): number | null {
  if (cursor === "") return null; // first page
  try {
    const v = cursor.length <= 512 && /^[A-Za-z0-9_-]+$/.test(cursor) ? JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) : undefined;
    if (v && Number.isSafeInteger(v.s) && v.s >= 0 && v.q === queryKey) return v.s;
  } catch { /* fall through */ }
  throw badRequest("invalidCursor", "the cursor is not valid for this query (RFC 9865 §2.3)");
}
