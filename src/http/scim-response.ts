// SCIM responses: always application/scim+json (RFC 7644 §3.1), errors as §3.12 bodies.
import type { Response } from "express";
import { ERROR_SCHEMA, LIST_RESPONSE } from "../scim/schemas.ts";
import type { DomainError } from "../shared/errors.ts";

export const SCIM_CONTENT_TYPE = "application/scim+json; charset=utf-8";

export function sendScim(res: Response, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  res.status(status).set(headers);
  if (body === undefined) { res.end(); return; }
  res.set("Content-Type", SCIM_CONTENT_TYPE).send(JSON.stringify(body));
}

export function errorBody(e: Pick<DomainError, "status" | "scimType" | "message">) {
  return { schemas: [ERROR_SCHEMA], status: String(e.status), ...(e.scimType ? { scimType: e.scimType } : {}), detail: e.message };
}

export const listResponse = (page: { totalResults: number; Resources: unknown[]; startIndex?: number; itemsPerPage: number; nextCursor?: string }) => ({
  schemas: [LIST_RESPONSE], totalResults: page.totalResults, itemsPerPage: page.itemsPerPage,
  ...(page.startIndex !== undefined ? { startIndex: page.startIndex } : {}),
  ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
  Resources: page.Resources,
});
