// The bodies of SCIM answers that are not resources: the error body (RFC 7644 §3.12) and the list response
// (§3.4.2). Pure shapes: the HTTP edge (http/scim-response.ts) sends them, and Bulk (bulk-service.ts) nests
// error bodies in its per-operation results (§3.7.3).
import { ERROR_SCHEMA, LIST_RESPONSE } from "./schemas.ts";
import type { DomainError } from "../shared/errors.ts";

export function errorBody(e: Pick<DomainError, "status" | "scimType" | "message">) {
  return { schemas: [ERROR_SCHEMA], status: String(e.status), ...(e.scimType ? { scimType: e.scimType } : {}), detail: e.message };
}

export const listResponse = (page: { totalResults: number; Resources: unknown[]; startIndex?: number; itemsPerPage: number; nextCursor?: string }) => ({
  schemas: [LIST_RESPONSE], totalResults: page.totalResults, itemsPerPage: page.itemsPerPage,
  ...(page.startIndex !== undefined ? { startIndex: page.startIndex } : {}),
  ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
  Resources: page.Resources,
});
